"""The signed node directory: who is in the network, where, and with which public keys.

Every process verifies it against the network administrator's pinned Ed25519 key before
using any of it (DESIGN.md, "Trust and threats").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from samenloop.crypto import signature
from samenloop.crypto.pki import COORDINATOR
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

NODE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
# Match-key input versions: an edition signed before versions existed accepts only v1.
DEFAULT_MATCH_KEY_VERSIONS = (1,)
MAX_MATCH_KEY_VERSIONS = 4


class DirectoryError(ValueError):
    """The directory is unsigned, altered, or inconsistent."""


@dataclass(frozen=True)
class DirectoryNode:
    node_id: str
    display_name: str
    endpoint: str
    box_public_key: bytes


@dataclass(frozen=True)
class KeyHolder:
    """An organisation holding one share of split OPRF keys (#13), reached by nodes directly."""

    holder_id: str
    display_name: str
    endpoint: str


@dataclass(frozen=True)
class PublicShare:
    holder_id: str
    index: int  # Shamir x-coordinate, 1..255
    public_share: bytes  # P_i = k_i * G


@dataclass(frozen=True)
class KeySplit:
    """How an epoch's key is split: any `threshold` of `shares` evaluate it together."""

    threshold: int
    shares: tuple[PublicShare, ...]


@dataclass(frozen=True)
class NodeDirectory:
    network: str
    serial: int
    issued_at: int
    nodes: tuple[DirectoryNode, ...]
    oprf_keys: dict[int, bytes]
    current_epoch: int
    signed: pb.SignedDirectory = field(repr=False, compare=False)
    # BSN as a match key is the network's decision (off by default), never one node's.
    bsn_enabled: bool = False
    match_key_versions: tuple[int, ...] = DEFAULT_MATCH_KEY_VERSIONS
    key_holders: tuple[KeyHolder, ...] = ()
    # Epochs whose key is split over key holders; an epoch not here is one coordinator key.
    key_splits: dict[int, KeySplit] = field(default_factory=dict)

    def node(self, node_id: str) -> DirectoryNode | None:
        for entry in self.nodes:
            if entry.node_id == node_id:
                return entry
        return None

    def key_holder(self, holder_id: str) -> KeyHolder | None:
        for entry in self.key_holders:
            if entry.holder_id == holder_id:
                return entry
        return None

    @property
    def current_key(self) -> bytes:
        return self.oprf_keys[self.current_epoch]


def validate_node_id(node_id: str) -> str:
    if not NODE_ID.match(node_id) or node_id == COORDINATOR:
        raise DirectoryError(
            f"node id {node_id!r} must be 1-63 lowercase letters, digits, '-' or '_' "
            f"and not '{COORDINATOR}'"
        )
    return node_id


def validate_match_key_versions(versions: Iterable[object]) -> tuple[int, ...]:
    """1-4 distinct versions, each 1-255, in ascending order."""
    values = list(versions)
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 255
               for v in values):
        raise DirectoryError("match key versions must be whole numbers from 1 to 255")
    if not 1 <= len(values) <= MAX_MATCH_KEY_VERSIONS or len(set(values)) != len(values):
        raise DirectoryError(f"match key versions must list 1-{MAX_MATCH_KEY_VERSIONS} "
                             f"distinct versions")
    return tuple(sorted(values))  # type: ignore[arg-type]


def build(
    *,
    network: str,
    serial: int,
    issued_at: int,
    nodes: Iterable[DirectoryNode],
    oprf_keys: dict[int, bytes],
    current_epoch: int,
    signing_key: bytes,
    bsn_enabled: bool = False,
    match_key_versions: Iterable[int] = DEFAULT_MATCH_KEY_VERSIONS,
    key_holders: Iterable[KeyHolder] = (),
    key_splits: dict[int, KeySplit] | None = None,
) -> pb.SignedDirectory:
    """Validate and sign a directory edition."""
    message = pb.Directory(
        network=network, serial=serial, issued_at=issued_at, current_epoch=current_epoch,
        bsn_enabled=bsn_enabled,
        match_key_versions=validate_match_key_versions(match_key_versions),
        nodes=[
            pb.DirectoryNode(node_id=n.node_id, display_name=n.display_name,
                             endpoint=n.endpoint, box_public_key=n.box_public_key)
            for n in nodes
        ],
        oprf_keys=[_oprf_key(e, k, (key_splits or {}).get(e))
                   for e, k in sorted(oprf_keys.items())],
        key_holders=[pb.KeyHolderEntry(holder_id=h.holder_id, display_name=h.display_name,
                                       endpoint=h.endpoint) for h in key_holders],
    )
    if set(key_splits or {}) - set(oprf_keys):
        raise DirectoryError("a key split names an epoch without an OPRF key")
    _check(message)
    raw = message.SerializeToString(deterministic=True)
    return pb.SignedDirectory(directory=raw, signature=signature.sign_directory(raw, signing_key))


def verify(signed: pb.SignedDirectory, verify_key: bytes) -> NodeDirectory:
    """The directory, if and only if the administrator signed exactly these bytes."""
    try:
        signature.verify_directory(signed.directory, signed.signature, verify_key)
    except signature.SignatureError as exc:
        raise DirectoryError(str(exc)) from None
    message = pb.Directory()
    try:
        message.ParseFromString(signed.directory)
    except DecodeError:
        raise DirectoryError("directory does not parse") from None
    _check(message)
    return NodeDirectory(
        network=message.network,
        serial=message.serial,
        issued_at=message.issued_at,
        nodes=tuple(
            DirectoryNode(n.node_id, n.display_name, n.endpoint, bytes(n.box_public_key))
            for n in message.nodes
        ),
        oprf_keys={k.epoch: bytes(k.public_key) for k in message.oprf_keys},
        current_epoch=message.current_epoch,
        signed=signed,
        bsn_enabled=message.bsn_enabled,
        match_key_versions=tuple(message.match_key_versions) or DEFAULT_MATCH_KEY_VERSIONS,
        key_holders=tuple(KeyHolder(h.holder_id, h.display_name, h.endpoint)
                          for h in message.key_holders),
        key_splits={
            k.epoch: KeySplit(k.threshold, tuple(
                PublicShare(s.holder_id, s.index, bytes(s.public_share))
                for s in k.public_shares))
            for k in message.oprf_keys if k.threshold
        },
    )


def _oprf_key(epoch: int, public_key: bytes, split: KeySplit | None) -> pb.OprfKey:
    if split is None:
        return pb.OprfKey(epoch=epoch, public_key=public_key)
    return pb.OprfKey(
        epoch=epoch, public_key=public_key, threshold=split.threshold,
        public_shares=[pb.PublicShare(holder_id=s.holder_id, index=s.index,
                                      public_share=s.public_share) for s in split.shares])


def parse_file(data: bytes, verify_key: bytes) -> NodeDirectory:
    signed = pb.SignedDirectory()
    try:
        signed.ParseFromString(data)
    except DecodeError:
        raise DirectoryError("directory file does not parse") from None
    return verify(signed, verify_key)


def _check(message: pb.Directory) -> None:
    if not message.network:
        raise DirectoryError("directory has no network name")
    seen: set[str] = set()
    for n in message.nodes:
        validate_node_id(n.node_id)
        if n.node_id in seen:
            raise DirectoryError(f"node {n.node_id} is listed twice")
        seen.add(n.node_id)
        if not 0 < len(n.display_name) <= 100:
            raise DirectoryError(f"node {n.node_id} display name must be 1-100 characters")
        if not ENDPOINT.match(n.endpoint):
            raise DirectoryError(f"node {n.node_id} endpoint must be host:port")
        if len(n.box_public_key) != 32:
            raise DirectoryError(f"node {n.node_id} box public key must be 32 bytes")
    if not seen:
        raise DirectoryError("directory lists no nodes")
    epochs = {k.epoch for k in message.oprf_keys}
    if any(len(k.public_key) != 32 for k in message.oprf_keys):
        raise DirectoryError("OPRF public keys must be 32 bytes")
    if message.current_epoch not in epochs:
        raise DirectoryError(f"current epoch {message.current_epoch} has no OPRF key")
    if message.match_key_versions:
        validate_match_key_versions(message.match_key_versions)
    holders: set[str] = set()
    for h in message.key_holders:
        validate_node_id(h.holder_id)
        if h.holder_id in seen or h.holder_id in holders:
            raise DirectoryError(f"key holder {h.holder_id} is listed twice or is also a node")
        holders.add(h.holder_id)
        if not 0 < len(h.display_name) <= 100:
            raise DirectoryError(f"key holder {h.holder_id} display name must be 1-100 characters")
        if not ENDPOINT.match(h.endpoint):
            raise DirectoryError(f"key holder {h.holder_id} endpoint must be host:port")
    for k in message.oprf_keys:
        _check_split(k, holders)


def _check_split(key: pb.OprfKey, holders: set[str]) -> None:
    """A split epoch: t of n distinct holders with distinct indices 1..255, each listed."""
    if not key.threshold:
        if key.public_shares:
            raise DirectoryError(f"epoch {key.epoch} lists public shares but no threshold")
        return
    shares = key.public_shares
    if not 1 <= key.threshold <= len(shares):
        raise DirectoryError(f"epoch {key.epoch} threshold {key.threshold} must be 1 to the "
                             f"number of shares ({len(shares)})")
    if len({s.holder_id for s in shares}) != len(shares) or \
            len({s.index for s in shares}) != len(shares):
        raise DirectoryError(f"epoch {key.epoch} lists a key holder or share index twice")
    for s in shares:
        if s.holder_id not in holders:
            raise DirectoryError(f"epoch {key.epoch} share of {s.holder_id}, "
                                 f"who is not a listed key holder")
        if not 1 <= s.index <= 255:
            raise DirectoryError(f"epoch {key.epoch} share index {s.index} must be 1-255")
        if len(s.public_share) != 32:
            raise DirectoryError(f"epoch {key.epoch} public share of {s.holder_id} "
                                 f"must be 32 bytes")
