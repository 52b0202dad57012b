"""Hit and no-hit look the same to the coordinator: also in how long a Lookup takes."""

from __future__ import annotations

import random
import time

from samenloop.crypto import seal
from samenloop.node.check import CheckRequest, authorise_check, prepare_queries
from samenloop.node.config import NodeConfig
from samenloop.node.network import new_query_id
from samenloop.node.store import NodeStore
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from tests.support.network import NOBODY, PIETER_VAN_DEN_BERG, Harness, NodeProcess, person

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
TRIAGE_CASE = "F-2026-001"
CALLS_PER_OUTCOME = 100
MAX_ACCURACY = 0.65


def best_threshold_accuracy(hits: list[float], no_hits: list[float]) -> float:
    """The share of calls the best single time threshold puts on the right side (either
    way round): 0.5 is a coin toss."""
    calls = sorted([(t, 1) for t in hits] + [(t, 0) for t in no_hits])
    correct = len(hits)  # threshold below every call: all are called hits
    best = max(correct, len(no_hits))
    for _, is_hit in calls:  # move the threshold past one call at a time
        correct += -1 if is_hit else 1  # it is now called a no-hit
        best = max(best, correct, len(calls) - correct)
    return best / len(calls)


def _query_template(network: Harness, subject: dict[str, str]) -> pb.QueryPayload:
    """Fryslân's real payload to Noord-Limburg for one person, opened with Noord-Limburg's
    key so the test can stamp it with a fresh query id for every call."""
    fryslan, limburg = network.nodes[FRYSLAN], network.nodes[LIMBURG]
    directory = fryslan.network.directory()
    request = CheckRequest(TRIAGE_CASE, "triage: samenloop met ander ZVH", (person(**subject),),
                           actor="t")
    requester = authorise_check(fryslan.config, fryslan.store, request, time.time()).requester
    prepared = prepare_queries(fryslan.config, fryslan.network, directory, request,
                               requester, new_query_id())
    [sealed] = [q.sealed for q in prepared.sealed if q.node_id == LIMBURG]
    opened = limburg.network.sealer.open(bytes(sealed),
                                         directory.node(FRYSLAN).box_public_key)
    return pb.QueryPayload.FromString(opened)


def test_a_hit_takes_as_long_as_a_no_hit_for_the_coordinator(network: Harness) -> None:
    """Measured where the coordinator sits: a client with the coordinator's certificate
    calling Node.Lookup of a node running as its own process, hits and no-hits in random order.
    While meldingen were written before answering, a threshold told them apart in more
    than 90% of the calls."""
    fryslan = network.nodes[FRYSLAN]
    directory = fryslan.network.directory()
    templates = {True: _query_template(network, PIETER_VAN_DEN_BERG),
                 False: _query_template(network, NOBODY)}
    limburg_key = directory.node(LIMBURG).box_public_key
    bucket = seal.bucket_for(max(t.ByteSize() for t in templates.values()) + 64)
    limburg = NodeProcess(network, LIMBURG)
    try:
        stub = pb_grpc.NodeStub(limburg.channel)

        def lookup(hit: bool) -> float:
            payload = pb.QueryPayload()
            payload.CopyFrom(templates[hit])
            payload.query_id, payload.timestamp_ms = new_query_id(), int(time.time() * 1000)
            sealed = fryslan.network.sealer.seal(payload.SerializeToString(), limburg_key,
                                                 bucket=bucket)
            request = pb.LookupRequest(query_id=payload.query_id, from_node=FRYSLAN,
                                       sealed=sealed)
            started = time.perf_counter()
            response = stub.Lookup(request, timeout=5)
            elapsed = time.perf_counter() - started
            answer = pb.AnswerPayload.FromString(fryslan.network.sealer.open(
                bytes(response.sealed_answer), limburg_key))
            assert bool(answer.hits) == hit
            return elapsed

        for hit in (True, False) * 5:  # warm up the channel and the node
            lookup(hit)
        order = [True] * CALLS_PER_OUTCOME + [False] * CALLS_PER_OUTCOME
        random.Random(10).shuffle(order)
        times: dict[bool, list[float]] = {True: [], False: []}
        for hit in order:
            times[hit].append(lookup(hit))
    finally:
        assert limburg.stop() == 0, limburg.output()
    # Every hit's meldingen were written, after its answer (SIGTERM waited for them).
    store = NodeStore(NodeConfig.load(limburg.config).store_path)
    assert sum(m.times for m in store.notifications()) == CALLS_PER_OUTCOME + 5
    assert len(store.audit_entries("melding")) == CALLS_PER_OUTCOME + 5
    assert store.verify_audit() is None
    store.close()

    accuracy = best_threshold_accuracy(times[True], times[False])
    median = {k: sorted(v)[len(v) // 2] * 1000 for k, v in times.items()}
    assert accuracy <= MAX_ACCURACY, (
        f"a threshold tells hit from no-hit in {accuracy:.0%} of calls (median hit "
        f"{median[True]:.2f} ms, no-hit {median[False]:.2f} ms)")


def test_the_threshold_classifier() -> None:
    assert best_threshold_accuracy([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert best_threshold_accuracy([1.0, 2.0], [3.0, 4.0]) == 1.0
    assert best_threshold_accuracy([1.0, 4.0], [2.0, 3.0]) == 0.75
