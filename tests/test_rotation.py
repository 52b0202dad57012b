"""Key rotation and certificate renewal while the network keeps answering."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from samenloop.crypto import pki, voprf
from samenloop.proto import directory as directory_mod
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
