"""Key rotation and certificate renewal while the network keeps answering."""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from samenloop.coordinator.keyholder import ceremony
from samenloop.coordinator.keyholder.shares import read_share_file
from samenloop.crypto import pki, voprf
from samenloop.node.check import KEY_HOLDERS_UNAVAILABLE, KeyHoldersUnavailable
from samenloop.node.cli import app as cli_app
from samenloop.node.demo import build_network
from samenloop.proto import directory as directory_mod
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.network import PIETER_VAN_DEN_BERG, Harness

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
EL_AMRANI = dict(surname="El Amrani", given_names="Mohammed", date_of_birth="21-06-1990")


def _publish(h: Harness, serial: int, keys: dict[int, bytes], current: int) -> None:
    """What the network operator does: sign a new edition and reload everyone."""
    old = directory_mod.parse_file(h.layout.directory_file.read_bytes(), h.layout.verify_key)
    admin = bytes.fromhex(h.layout.admin_key.read_text().strip())
    signed = directory_mod.build(network=old.network, serial=serial, issued_at=int(time.time()),
                                 nodes=old.nodes, oprf_keys=keys, current_epoch=current,
                                 signing_key=admin)
    h.layout.directory_file.write_bytes(signed.SerializeToString())
    assert h.coordinator is not None
    h.coordinator.reload()
    for node in h.nodes.values():
        node.reload()


def test_rotation_keeps_finding_hits_throughout(unsplit_network: Harness) -> None:
    """Coordinator-held epochs (before the split, #13) rotate as before."""
    network = unsplit_network
    keys_dir = network.layout.root / "keys"
    pk1 = voprf.public_key(bytes.fromhex((keys_dir / "oprf-epoch-1.key").read_text().strip()))
    sk2, pk2 = voprf.generate_key_pair(voprf.Mode.VOPRF)
    (keys_dir / "oprf-epoch-2.key").write_text(sk2.hex())
    (keys_dir / "oprf-epoch-2.key").chmod(0o600)
    config = network.layout.coordinator_config
    config.write_text(config.read_text()
                      + '\n[[oprf_keys]]\nepoch = 2\nkey = "keys/oprf-epoch-2.key"\n')

    # Overlap: both epochs listed, new evaluations use epoch 2; Limburg still has epoch 1.
    _publish(network, 2, {1: pk1, 2: pk2}, current=2)
    assert [h.node_id for h in network.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).hits
            ] == [LIMBURG]
    network.import_cases(LIMBURG)  # Limburg re-imports: its tags move to epoch 2
    assert [h.node_id for h in network.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).hits
            ] == [LIMBURG]

    # Retire epoch 1: Limburg (re-imported) still matches; Rijnmond, which never
    # re-imported, no longer does: the runbook's "every node re-imports" is required.
    _publish(network, 3, {2: pk2}, current=2)
    assert [h.node_id for h in network.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).hits
            ] == [LIMBURG]
    assert network.check(FRYSLAN, "F-2026-001", EL_AMRANI).hits == ()
    network.import_cases("zvh-rotterdam-rijnmond")
    assert [h.node_id for h in network.check(FRYSLAN, "F-2026-001", EL_AMRANI).hits] == [
        "zvh-rotterdam-rijnmond"]


def test_reload_refuses_an_older_directory(unsplit_network: Harness) -> None:
    network = unsplit_network
    keys_dir = network.layout.root / "keys"
    pk1 = voprf.public_key(bytes.fromhex((keys_dir / "oprf-epoch-1.key").read_text().strip()))
    _publish(network, 5, {1: pk1}, current=1)
    with pytest.raises(directory_mod.DirectoryError, match="older"):
        _publish(network, 4, {1: pk1}, current=1)
    assert network.coordinator is not None
    assert network.coordinator.service.directory.serial == 5


def _served_certificate(endpoint: str, pki_dir: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    context.check_hostname = False
    context.load_cert_chain(pki_dir / "coordinator.crt", pki_dir / "coordinator.key")
    context.set_alpn_protocols(["h2"])
    host, _, port = endpoint.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw, \
            context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_certificate_renewal_without_restart(network: Harness) -> None:
    pki_dir = network.layout.root / "pki"
    endpoint = network.layout.node_endpoints[LIMBURG]
    before = _served_certificate(endpoint, pki_dir)
    key, cert = pki.issue((pki_dir / "ca.key").read_bytes(), (pki_dir / "ca.crt").read_bytes(),
                          LIMBURG, now=dt.datetime.now(dt.UTC), days=30)
    (pki_dir / f"{LIMBURG}.key").write_bytes(key)
    (pki_dir / f"{LIMBURG}.crt").write_bytes(cert)
    after = _served_certificate(endpoint, pki_dir)
    assert after != before
    assert after == x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    # The coordinator keeps reaching the node, and the node keeps reaching the coordinator.
    assert network.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).coverage.complete


# ---------------------------------------------------------------- a split network (#13)


def _cli(*args: object, ok: bool = True) -> str:
    result = CliRunner().invoke(cli_app, [str(a) for a in args])
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def _spec_blocks(spec: str) -> tuple[str, dict[int, str], str]:
    """directory.toml as (header, epoch -> its [[oprf_keys]] block, the rest), for the
    operator's edits below: the blocks are the public-shares files pasted in."""
    header, _, rest = spec.partition("# Epoch ")
    rest = "# Epoch " + rest
    blocks: dict[int, str] = {}
    while rest.startswith("# Epoch "):
        epoch = int(rest.removeprefix("# Epoch ").split(",", 1)[0])
        end = min(i for i in (rest.find("\n[[key_holders]]"), rest.find("\n# Epoch ", 1))
                  if i >= 0)
        blocks[epoch], rest = rest[:end + 1], rest[end + 1:]
    return header, blocks, rest


def _sign_spec(h: Harness, serial: int, current: int, blocks: dict[int, str]) -> None:
    """The administrator edits directory.toml (epochs, current_epoch, a raised serial),
    signs it with `samenloop directory sign`, and everyone reloads."""
    spec = h.layout.directory_spec
    header, _, rest = _spec_blocks(spec.read_text())
    header = re.sub(r"(?m)^serial = \d+$", f"serial = {serial}", header)
    header = re.sub(r"(?m)^current_epoch = \d+$", f"current_epoch = {current}", header)
    spec.write_text(header + "".join(blocks[e] for e in sorted(blocks)) + "\n" + rest,
                    encoding="utf-8")
    _cli("directory", "sign", "--spec", spec, "--key", h.layout.admin_key, "--out",
         h.layout.directory_file)
    assert h.coordinator is not None
    h.coordinator.reload()
    for holder in h.holders.values():
        holder.holder.refresh_directory()
    for node in h.nodes.values():
        node.reload()


def _evaluate_share(h: Harness, holder: str, epoch: int) -> pb.EvaluateShareResponse:
    pki_dir = h.layout.root / "pki"
    tls = TlsFiles(pki_dir / "ca.crt", pki_dir / f"{FRYSLAN}.crt", pki_dir / f"{FRYSLAN}.key")
    channel = secure_channel(h.layout.holder_endpoints[holder], tls, expected_peer=holder)
    try:
        element = voprf.blind(b"rotation", voprf.Mode.VOPRF)[1]
        return pb_grpc.KeyHolderStub(channel).EvaluateShare(pb.EvaluateShareRequest(
            epoch=epoch, blinded_elements=[element], request_id=f"r-{holder}-{epoch}"),
            timeout=30)
    finally:
        channel.close()


def _hits(h: Harness, subject: dict[str, str]) -> list[str]:
    result = h.check(FRYSLAN, "F-2026-001", subject)
    assert result.coverage.complete
    return [hit.node_id for hit in result.hits]


def test_a_split_network_rotates_to_a_dkg_epoch_and_keeps_finding_hits(
        network: Harness, tmp_path: Path) -> None:
    """Epoch 1 split by a dealer; epoch 2 generated by the three holders without a dealer
    (`keyholder dkg`), added to each holder's share file; both epochs signed; nodes
    re-import under epoch 2; epoch 1 dropped. Checks find hits at every step, and a holder
    asked for an epoch it does not hold refuses clearly."""
    holders = list(network.layout.holder_configs)
    shares_of = {h: network.layout.root / "keys" / "holders" / f"{h}.shares.toml"
                 for h in holders}
    # The ceremony: box keys, ceremony.toml, dealings, and each holder's finish --add-to.
    participants = []
    for index, holder in enumerate(holders, 1):
        public = _cli("keyholder", "dkg", "keygen", "--out", tmp_path / holder / "box.key")
        participants.append(ceremony.Participant(holder, index, bytes.fromhex(public.strip())))
    ceremony_file = tmp_path / "ceremony.toml"
    ceremony_file.write_text(ceremony.ceremony_text(2, network.layout.threshold, participants),
                             encoding="utf-8")
    for holder in holders:
        _cli("keyholder", "dkg", "deal", "--ceremony", ceremony_file, "--holder", holder,
             "--box-key", tmp_path / holder / "box.key", "--out", tmp_path / "dealings")

    def finish(holder: str) -> None:
        _cli("keyholder", "dkg", "finish", "--ceremony", ceremony_file, "--holder", holder,
             "--box-key", tmp_path / holder / "box.key", "--dealings", tmp_path / "dealings",
             "--out", tmp_path / holder, "--add-to", shares_of[holder])
        assert set(read_share_file(shares_of[holder]).shares) == {1, 2}

    late = holders[2]  # this holder finishes its part of the ceremony only later
    finish(holders[0])
    network.holders[holders[0]].holder.reload()  # SIGHUP

    # Overlap: both epochs split and signed, new evaluations under epoch 2; nobody has
    # re-imported yet, so Limburg's tags are still epoch 1's.
    _, blocks, _ = _spec_blocks(network.layout.directory_spec.read_text())
    blocks[2] = (tmp_path / holders[0] / "public-shares-epoch-2.toml").read_text()
    _sign_spec(network, 2, 2, blocks)
    directory = network.nodes[FRYSLAN].network.directory()
    assert sorted(directory.key_splits) == [1, 2] and directory.current_epoch == 2
    # A holder that has not finished its part refuses epoch 2, naming what it serves, and
    # answers epoch 1 as before: never an answer under a wrong key.
    with pytest.raises(grpc.RpcError) as refused:
        _evaluate_share(network, late, 2)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"epoch 2 is not split with a share of {late}; epochs served: 1" in (
        refused.value.details() or "")
    assert _evaluate_share(network, late, 1).epoch == 1
    # Signed too early: one holder serves epoch 2, fewer than t. The check is refused,
    # although epoch 1 alone would have answered (and missed every re-imported registry):
    # never a "no hit".
    with pytest.raises(KeyHoldersUnavailable) as unavailable:
        network.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG)
    assert KEY_HOLDERS_UNAVAILABLE in unavailable.value.message
    finish(holders[1])
    network.holders[holders[1]].holder.reload()
    assert _hits(network, PIETER_VAN_DEN_BERG) == [LIMBURG]
    # A share still in use cannot be destroyed.
    early = _cli("keyholder", "retire-share", "--config", network.layout.holder_configs[late],
                 "--epoch", 1, ok=False)
    assert "epoch 1 is still listed in the directory (serial 2)" in early
    assert set(read_share_file(shares_of[late]).shares) == {1}

    network.import_cases(LIMBURG)  # Limburg re-imports: its tags move to epoch 2
    assert _hits(network, PIETER_VAN_DEN_BERG) == [LIMBURG]
    # The late holder finishes; without a reload its service takes the added share at
    # its next look at its files (every 15 s), as it takes a new directory.
    finish(late)
    network.holders[late].holder.refresh_directory()
    assert _evaluate_share(network, late, 2).epoch == 2
    assert len({(tmp_path / h / "public-shares-epoch-2.toml").read_text() for h in holders}
               ) == 1, "every holder derived the public shares the directory lists"
    # The late holder's DKG share counts: with the first holder down, it and the second
    # still find Limburg under epoch 2 and Rijnmond under epoch 1.
    network.stop_holder(holders[0])
    assert _hits(network, PIETER_VAN_DEN_BERG) == [LIMBURG]
    assert _hits(network, EL_AMRANI) == ["zvh-rotterdam-rijnmond"]
    network.start_holder(holders[0])

    # Retire epoch 1: the holders stop serving it; Rijnmond, which never re-imported, no
    # longer matches until it does.
    _sign_spec(network, 3, 2, {2: blocks[2]})
    with pytest.raises(grpc.RpcError) as retired:
        _evaluate_share(network, holders[1], 1)
    assert retired.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _hits(network, PIETER_VAN_DEN_BERG) == [LIMBURG]
    assert _hits(network, EL_AMRANI) == []
    network.import_cases("zvh-rotterdam-rijnmond")
    assert _hits(network, EL_AMRANI) == ["zvh-rotterdam-rijnmond"]
    # The holders destroy their retired shares; the running services take the files.
    for holder in holders:
        printed = _cli("keyholder", "retire-share", "--config",
                       network.layout.holder_configs[holder], "--epoch", 1)
        assert "epochs held: 2." in printed
        assert set(read_share_file(shares_of[holder]).shares) == {2}
        assert shares_of[holder].stat().st_mode & 0o777 == 0o600
        network.holders[holder].holder.refresh_directory()
        assert sorted(network.holders[holder].holder.service.shares) == [2]
    assert _hits(network, PIETER_VAN_DEN_BERG) == [LIMBURG]
    last = _cli("keyholder", "retire-share", "--config", network.layout.holder_configs[late],
                "--epoch", 2, ok=False)
    assert "epoch 2 is still listed in the directory" in last


def test_rotate_key_on_a_split_network_refuses_and_points_to_the_ceremony(
        tmp_path: Path) -> None:
    """`coordinator rotate-key` made the next key at the coordinator; on a split network
    (no coordinator key) it crashed. It refuses, naming the key holders' ceremony."""
    layout = build_network(tmp_path / "net")
    refused = _cli("coordinator", "rotate-key", "--config", layout.coordinator_config,
                   ok=False)
    assert "splits the OPRF key over key holders (split epochs: 1)" in refused
    assert "must not hold epoch 2's key" in refused and "finish --add-to" in refused
    assert not list(layout.root.rglob("oprf-epoch-2.key"))
    # Before the split it makes the next key, as before.
    unsplit = build_network(tmp_path / "unsplit", key_holders=())
    made = _cli("coordinator", "rotate-key", "--config", unsplit.coordinator_config)
    assert "(epoch 2)" in made and len(list(unsplit.root.rglob("oprf-epoch-2.key"))) == 1
