"""A melding names the requesting ZVH as the signed directory does, never as the sender
wrote it; a payload whose sealed sender is not the authenticated one is refused."""

from __future__ import annotations

import time

import grpc
import pytest

from samenloop.node.check import CheckRequest, authorise_check, prepare_queries
from samenloop.node.network import new_query_id
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.network import PIETER_VAN_DEN_BERG, Harness, person

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
TRIAGE_CASE = "F-2026-001"
FORGED = "Zorg- en Veiligheidshuis B (echt waar)"


def _hit_payload(network: Harness) -> pb.QueryPayload:
    """Fryslân's real payload to Noord-Limburg for a person registered there, opened with
    Noord-Limburg's key so the test can change what the sender wrote."""
    fryslan, limburg = network.nodes[FRYSLAN], network.nodes[LIMBURG]
    directory = fryslan.network.directory()
    request = CheckRequest(TRIAGE_CASE, "triage: samenloop met ander ZVH",
                           (person(**PIETER_VAN_DEN_BERG),), actor="t")
    requester = authorise_check(fryslan.config, fryslan.store, request, time.time()).requester
    prepared = prepare_queries(fryslan.config, fryslan.network, directory, request,
                               requester, new_query_id())
    [sealed] = [q.sealed for q in prepared.sealed if q.node_id == LIMBURG]
    return pb.QueryPayload.FromString(limburg.network.sealer.open(
        bytes(sealed), directory.node(FRYSLAN).box_public_key))


def _lookup(network: Harness, payload: pb.QueryPayload, from_node: str) -> pb.LookupResponse:
    """Node.Lookup at Noord-Limburg as the coordinator calls it, sealed with Fryslân's key."""
    fryslan = network.nodes[FRYSLAN]
    key = fryslan.network.directory().node(LIMBURG).box_public_key
    payload.timestamp_ms = int(time.time() * 1000)
    sealed = fryslan.network.sealer.seal(payload.SerializeToString(), key, bucket=4096)
    pki_dir = network.layout.root / "pki"
    tls = TlsFiles(pki_dir / "ca.crt", pki_dir / "coordinator.crt", pki_dir / "coordinator.key")
    with secure_channel(network.layout.node_endpoints[LIMBURG], tls,
                        expected_peer=LIMBURG) as channel:
        return pb_grpc.NodeStub(channel).Lookup(
            pb.LookupRequest(query_id=payload.query_id, from_node=from_node, sealed=sealed),
            timeout=5)


def test_a_forged_sender_name_never_reaches_the_melding(network: Harness) -> None:
    payload = _hit_payload(network)
    payload.from_zvh = FORGED
    assert _lookup(network, payload, FRYSLAN).sealed_answer
    network.flush_meldingen()
    [melding] = network.nodes[LIMBURG].store.notifications()
    assert melding.from_node == FRYSLAN
    assert melding.from_zvh == "Zorg- en Veiligheidshuis Fryslân"  # the signed directory's
    assert all(FORGED not in str(e.details)
               for e in network.nodes[LIMBURG].store.audit_entries())


def test_a_sealed_sender_other_than_the_authenticated_one_is_refused(
        network: Harness) -> None:
    payload = _hit_payload(network)
    payload.from_node = RIJNMOND  # sealed by Fryslân, claiming to be Rijnmond inside
    with pytest.raises(grpc.RpcError) as info:
        _lookup(network, payload, FRYSLAN)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "from_node" in (info.value.details() or "")
    network.flush_meldingen()
    assert network.nodes[LIMBURG].store.notifications() == []
