"""The coordinator sees nothing it could learn from (DESIGN.md, "Trust and threats").

Every byte the coordinator receives and sends during checks of registered and
unregistered persons is recorded at its gRPC edge; none of it may contain an identifier,
a pseudonym or a tag, and hit and no-hit answers must be equally long.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from samenloop.crypto import voprf
from samenloop.crypto.identity import match_keys
from samenloop.crypto.tags import node_tag
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from tests.support.network import NOBODY, PIETER_VAN_DEN_BERG, TJEERD_DIJKSTRA, Harness, person


class Recorder(grpc.aio.ServerInterceptor):
    """Keeps the serialised request and response of every call the coordinator serves."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.directions: list[str] = []
        self.lock = threading.Lock()

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = details.method

        async def recorded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            response = await inner(request, context)
            with self.lock:
                self.messages.append((method, request.SerializeToString()))
                self.messages.append((method, response.SerializeToString()))
                self.directions += ["in", "out"]
            return response

        return grpc.unary_unary_rpc_method_handler(
            recorded, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Harness, Recorder]]:
    recorder = Recorder()
    harness = Harness(tmp_path / "net", interceptors=(recorder,))
    try:
        harness.start()
        recorder.messages.clear()  # imports are evaluations too, but checks are what we test
        recorder.directions.clear()
        yield harness, recorder
    finally:
        harness.close()


def _secrets_of(harness: Harness, subjects: list[dict[str, str]]) -> list[bytes]:
    """Everything that would identify these persons: their fields, pseudonyms and tags."""
    key = bytes.fromhex((harness.layout.root / "keys" / "oprf-epoch-1.key").read_text().strip())
    found: list[bytes] = []
    for fields in subjects:
        found += [v.encode() for v in fields.values() if len(v) >= 4]
        found += [v.lower().encode() for v in fields.values() if len(v) >= 4]
        for key_ in match_keys(person(**fields)):
            found.append(key_.oprf_input)
            psi = voprf.evaluate(key, key_.oprf_input, voprf.Mode.VOPRF)
            found.append(psi)
            found += [node_tag(psi, node_id) for node_id in harness.layout.node_configs]
    return found


def test_coordinator_sees_no_identifier_pseudonym_or_tag(
        recorded: tuple[Harness, Recorder]) -> None:
    harness, recorder = recorded
    subjects = [PIETER_VAN_DEN_BERG, NOBODY, TJEERD_DIJKSTRA]
    for subject in subjects:
        harness.check("zvh-fryslan", "F-2026-001", subject)
    methods = {m for m, _ in recorder.messages}
    assert {"/samenloop.v1.Coordinator/Evaluate", "/samenloop.v1.Coordinator/Check"} <= methods
    secrets = _secrets_of(harness, subjects)
    assert len(secrets) > 50
    for method, data in recorder.messages:
        for secret in secrets:
            assert secret not in data, f"{method} carried identifying material"


def test_hit_and_no_hit_answers_have_the_same_length(
        recorded: tuple[Harness, Recorder]) -> None:
    harness, recorder = recorded
    hit = harness.check("zvh-fryslan", "F-2026-001", PIETER_VAN_DEN_BERG)
    miss = harness.check("zvh-fryslan", "F-2026-001", NOBODY)
    assert hit.hits and not miss.hits
    checks = [(d, data) for (method, data), d in zip(recorder.messages, recorder.directions,
                                                       strict=True) if method.endswith("/Check")]
    responses = [pb.CheckResponse.FromString(data) for d, data in checks if d == "out"]
    requests = [pb.CheckRequest.FromString(data) for d, data in checks if d == "in"]
    assert len(responses) == len(requests) == 2
    lengths = {len(r.sealed_answer) for response in responses for r in response.results}
    assert len(lengths) == 1 and all(len(r.results) == 3 for r in responses)
    assert len({len(q.sealed) for r in requests for q in r.queries}) == 1
