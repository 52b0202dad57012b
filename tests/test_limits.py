"""Every field of every gRPC request is bounded at the edge (proto/limits.py): one row per
field, sent over mutual TLS to the real coordinator and node, refused with INVALID_ARGUMENT
naming the field, before anything reaches a log, an audit record or the service."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from samenloop.crypto import seal, voprf
from samenloop.proto import limits
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.network import Harness
from tests.test_keyholder import LIMIT_ROWS

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
ELEMENT = bytes(32)
SEALED = bytes(seal.sealed_size(seal.BUCKETS[0]))


@dataclass(frozen=True)
class Row:
    field: str        # full name in REQUEST_FIELDS
    named: str        # how the refusal names it
    build: Callable[[], Message]


def evaluate(**fields: object) -> pb.EvaluateRequest:
    base: dict[str, object] = {"epoch": 1, "blinded_elements": [ELEMENT], "request_id": "r-1"}
    return pb.EvaluateRequest(**{**base, **fields})


def check(**fields: object) -> pb.CheckRequest:
    base: dict[str, object] = {"query_id": "q" * 32,
                               "queries": [pb.SealedQuery(node_id=LIMBURG, sealed=SEALED)]}
    return pb.CheckRequest(**{**base, **fields})


def lookup(**fields: object) -> pb.LookupRequest:
    base: dict[str, object] = {"query_id": "q" * 32, "from_node": FRYSLAN, "sealed": SEALED}
    return pb.LookupRequest(**{**base, **fields})


N = "samenloop.v1."
ROWS = [
    # The finding: a 1 MB request id went into the coordinator's audit trail and its log.
    Row(N + "EvaluateRequest.request_id", "request_id", lambda: evaluate(request_id="a" * 2**20)),
    Row(N + "EvaluateRequest.request_id", "request_id", lambda: evaluate(request_id="a" * 129)),
    Row(N + "EvaluateRequest.request_id", "request_id", lambda: evaluate(request_id="a\nforged")),
    Row(N + "EvaluateRequest.request_id", "request_id", lambda: evaluate(request_id="")),
    Row(N + "EvaluateRequest.blinded_elements", "blinded_elements",
        lambda: evaluate(blinded_elements=[ELEMENT] * (limits.EVALUATE_MAX_ELEMENTS + 1))),
    Row(N + "EvaluateRequest.blinded_elements", "blinded_elements[1]",
        lambda: evaluate(blinded_elements=[ELEMENT, bytes(33)])),
    Row(N + "CheckRequest.query_id", "query_id", lambda: check(query_id="q" * 65)),
    Row(N + "CheckRequest.query_id", "query_id", lambda: check(query_id="q q")),
    Row(N + "CheckRequest.queries", "queries", lambda: check(queries=[
        pb.SealedQuery(node_id=f"n-{i}", sealed=b"") for i in
        range(limits.CHECK_MAX_QUERIES + 1)])),
    Row(N + "SealedQuery.node_id", "queries[0].node_id", lambda: check(queries=[
        pb.SealedQuery(node_id="n" * 64, sealed=SEALED)])),
    Row(N + "SealedQuery.node_id", "queries[0].node_id", lambda: check(queries=[
        pb.SealedQuery(node_id="ZVH A", sealed=SEALED)])),
    Row(N + "SealedQuery.sealed", "queries[0].sealed", lambda: check(queries=[
        pb.SealedQuery(node_id=LIMBURG, sealed=bytes(limits.SEALED_MAX_BYTES + 1))])),
    Row(N + "LookupRequest.query_id", "query_id", lambda: lookup(query_id="q" * 65)),
    Row(N + "LookupRequest.query_id", "query_id", lambda: lookup(query_id="")),
    Row(N + "LookupRequest.from_node", "from_node", lambda: lookup(from_node="z" * 64)),
    Row(N + "LookupRequest.from_node", "from_node", lambda: lookup(from_node="zvh-a\x00")),
    Row(N + "LookupRequest.sealed", "sealed",
        lambda: lookup(sealed=bytes(limits.SEALED_MAX_BYTES + 1))),
]


def _stub(network: Harness, request: Message) -> Callable[..., Message]:
    """The RPC the request belongs to, called as its legitimate caller: a node for the
    coordinator, the coordinator for a node."""
    pki_dir = network.layout.root / "pki"
    if isinstance(request, pb.LookupRequest):
        tls = TlsFiles(pki_dir / "ca.crt", pki_dir / "coordinator.crt",
                       pki_dir / "coordinator.key")
        channel = secure_channel(network.layout.node_endpoints[LIMBURG], tls, LIMBURG)
        return pb_grpc.NodeStub(channel).Lookup
    tls = TlsFiles(pki_dir / "ca.crt", pki_dir / f"{FRYSLAN}.crt", pki_dir / f"{FRYSLAN}.key")
    stub = pb_grpc.CoordinatorStub(secure_channel(network.layout.coordinator_endpoint, tls,
                                                  "coordinator"))
    return stub.Evaluate if isinstance(request, pb.EvaluateRequest) else stub.Check


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.field.split('.', 2)[2]}-{ROWS.index(r)}")
def test_each_field_beyond_its_limit_is_refused_by_name(
        network: Harness, row: Row, caplog: pytest.LogCaptureFixture) -> None:
    assert network.coordinator is not None
    audited = len(network.coordinator.audit.records())
    request = row.build()
    with caplog.at_level(logging.DEBUG), pytest.raises(grpc.RpcError) as info:
        _stub(network, request)(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert details.startswith(f"{row.named}: "), details
    assert len(details) < 200  # names the field, never quotes the value
    assert len(network.coordinator.audit.records()) == audited
    assert all(len(r.getMessage()) < 1000 and "forged" not in r.getMessage()
               for r in caplog.records)


def test_values_at_the_limit_pass_the_edge(unsplit_network: Harness) -> None:
    """A request id of exactly 128 allowed characters is evaluated and audited as sent (by
    a coordinator holding the key: split epochs are evaluated by the key holders)."""
    network = unsplit_network
    request_id = "import-" + secrets.token_hex(61)[:121]
    assert len(request_id) == 128
    assert limits.refusal(lookup(from_node="z" * 63, query_id="q" * 64)) is None
    _, element = voprf.blind(b"x", voprf.Mode.VOPRF)
    request = evaluate(request_id=request_id, blinded_elements=[element])
    assert _stub(network, request)(request, timeout=30).evaluated_elements
    assert network.coordinator is not None
    assert request_id in {r.request_id for r in network.coordinator.audit.records()}


def test_the_table_covers_every_field_of_every_request_and_each_has_a_row() -> None:
    unbounded = set()
    seen: set[str] = set()

    def walk(descriptor: object) -> None:
        for field in descriptor.fields:  # type: ignore[attr-defined]
            if (field.is_repeated
                    or field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES,
                                      FieldDescriptor.TYPE_MESSAGE)):
                unbounded.add(field.full_name)
            if field.type == FieldDescriptor.TYPE_MESSAGE and field.full_name not in seen:
                seen.add(field.full_name)
                walk(field.message_type)

    for message in limits.REQUEST_MESSAGES:
        walk(message)
    assert unbounded == set(limits.REQUEST_FIELDS)
    # The key holder's fields have their rows in tests/test_keyholder.py (its own servers).
    assert {r.field for r in ROWS} | LIMIT_ROWS == set(limits.REQUEST_FIELDS)
