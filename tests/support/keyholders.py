"""Key holders for tests: a PKI, a signed directory listing nodes and holders with an
epoch split t of n, share files and keyholder.toml files, written as an operator would.

The epoch's whole key is kept here only so tests can compare the threshold output with the
single-key output; in a deployment nobody holds it after the split.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pysodium

from samenloop.coordinator.keyholder.config import config_text
from samenloop.coordinator.keyholder.shares import EpochShare, write_share_file
from samenloop.crypto import pki, seal, signature, threshold, voprf
from samenloop.crypto.threshold import split_key
from samenloop.node.demo import free_port
from samenloop.proto import directory as directory_mod
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel

NODES = ("zvh-fryslan", "zvh-noord-limburg")
HOLDERS = ("houder-a", "houder-b", "houder-c")


class ShareLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def secret(self) -> bytes: ...


def reconstruct_key(shares: Sequence[ShareLike]) -> bytes:
    """k = Σ λ_i k_i over the given shares: done in tests only, to compare the threshold
    output with the single-key output; the protocol never rebuilds the key."""
    weights = threshold.lagrange_at_zero([s.index for s in shares])
    key = bytes(32)
    for share in shares:
        key = pysodium.crypto_core_ristretto255_scalar_add(
            key, pysodium.crypto_core_ristretto255_scalar_mul(weights[share.index], share.secret))
    return key


@dataclass
class HolderNetwork:
    root: Path
    key: bytes
    public_key: bytes
    threshold: int
    shares: dict[str, EpochShare]
    configs: dict[str, Path]
    endpoints: dict[str, str]
    admin_seed: bytes
    verify_key: bytes
    directory_file: Path
    channels: list[object] = field(default_factory=list)

    def tls(self, identity: str, ca: str = "pki") -> TlsFiles:
        folder = self.root / ca
        return TlsFiles(folder / "ca.crt", folder / f"{identity}.crt", folder / f"{identity}.key")

    def stub(self, holder: str, caller: str = NODES[0], ca: str = "pki"
             ) -> pb_grpc.KeyHolderStub:
        """A KeyHolder stub for `caller`'s certificate (of the network CA, or `ca`)."""
        channel = secure_channel(self.endpoints[holder], self.tls(caller, ca),
                                 expected_peer=holder)
        self.channels.append(channel)
        return pb_grpc.KeyHolderStub(channel)

    def sign_directory(self, serial: int, splits: bool = True) -> None:
        nodes = [directory_mod.DirectoryNode(n, n, f"127.0.0.1:{free_port()}",
                                             seal.generate_box_key_pair()[1])
                 for n in NODES]
        holders = [directory_mod.KeyHolder(h, f"Sleutelhouder {h}", self.endpoints[h])
                   for h in self.shares]
        split = directory_mod.KeySplit(self.threshold, tuple(
            directory_mod.PublicShare(h, s.index, s.public_share)
            for h, s in self.shares.items()))
        signed = directory_mod.build(
            network="test", serial=serial, issued_at=int(dt.datetime.now(dt.UTC).timestamp()),
            nodes=nodes, oprf_keys={1: self.public_key}, current_epoch=1,
            signing_key=self.admin_seed, key_holders=holders,
            key_splits={1: split} if splits else {})
        self.directory_file.write_bytes(signed.SerializeToString())

    def close(self) -> None:
        for channel in self.channels:
            channel.close()  # type: ignore[attr-defined]


def build_holders(root: Path, threshold: int = 2, holders: tuple[str, ...] = HOLDERS,
                  rate_limits: dict[str, int] | None = None) -> HolderNetwork:
    now = dt.datetime.now(dt.UTC)
    for ca_dir, network in ((root / "pki", "test"), (root / "foreign", "foreign")):
        ca_key, ca_cert = pki.new_ca(network, now=now)
        ca_dir.mkdir(parents=True, exist_ok=True)
        (ca_dir / "ca.crt").write_bytes(ca_cert)
        identities = (*NODES, *holders, pki.COORDINATOR, "zvh-onbekend") \
            if network == "test" else NODES
        for identity in identities:
            key, cert = pki.issue(ca_key, ca_cert, identity, now=now)
            (ca_dir / f"{identity}.key").write_bytes(key)
            (ca_dir / f"{identity}.key").chmod(0o600)
            (ca_dir / f"{identity}.crt").write_bytes(cert)
    admin_seed, verify_key = signature.generate_signing_key()
    key, public_key = voprf.generate_key_pair(voprf.Mode.VOPRF)
    split = split_key(key, threshold, len(holders))
    shares = {h: EpochShare(1, s.index, s.secret) for h, s in zip(holders, split, strict=True)}
    endpoints = {h: f"127.0.0.1:{free_port()}" for h in holders}
    network = HolderNetwork(root, key, public_key, threshold, shares, {}, endpoints,
                            admin_seed, verify_key, root / "directory.pb")
    network.sign_directory(serial=1)
    for holder in holders:
        folder = root / holder
        folder.mkdir()
        write_share_file(folder / "shares.toml", holder, [shares[holder]])
        config = folder / "keyholder.toml"
        config.write_text(config_text(
            holder, endpoints[holder], ca="../pki/ca.crt", cert=f"../pki/{holder}.crt",
            key=f"../pki/{holder}.key", shares="shares.toml", directory="../directory.pb",
            directory_public_key=verify_key, audit_db="data/audit.sqlite",
            rate_limits=rate_limits), encoding="utf-8")
        network.configs[holder] = config
    return network
