"""The coordinator's fan-out holds no thread while it waits for a node (grpc.aio).

With the sync server, every check held one of the coordinator's 32 worker threads until its
slowest node answered or the deadline passed: with one slow node, the 33rd check at once
queued behind a full deadline, the 65th behind two. Now every check waits on one event loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from samenloop.crypto import seal
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.config import NodeConfig
from samenloop.node.demo import free_port
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import secure_channel
from tests.support.network import PIETER_VAN_DEN_BERG, Harness
from tests.support.tcpproxy import TcpProxy

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
TRIAGE_CASE = "F-2026-001"
DEADLINE = 1.0
CHECKS = 100  # more than three times the sync server's 32 worker threads
RATE_LIMITS = {"checks_per_minute": 10_000, "checks_per_day": 100_000}


@pytest.fixture
def slow_limburg(tmp_path: Path) -> Iterator[Harness]:
    """Noord-Limburg behind a relay that, once the connection is up, delays its answers
    beyond the deadline (a node that hangs after accepting the calls)."""
    public, private = free_port(), free_port()
    harness = Harness(tmp_path / "net", deadline_seconds=DEADLINE, rate_limits=RATE_LIMITS,
                      node_ports={LIMBURG: public}, listen_ports={LIMBURG: private})
    proxy = TcpProxy(public, private)
    try:
        harness.start()
        assert harness.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).coverage.complete
        proxy.delay = 4.0
        yield harness
    finally:
        proxy.close()
        harness.close()


def test_a_slow_node_holds_up_no_other_check(slow_limburg: Harness) -> None:
    """100 checks at once, each addressed to the slow node: every one comes back after one
    deadline with that node TIMEOUT (never a no-hit), none waits for another's. The client
    allows two deadlines and a half: the sync server needed four."""
    harness = slow_limburg
    tls = NodeConfig.load(harness.layout.node_configs[FRYSLAN]).tls
    channel = secure_channel(harness.layout.coordinator_endpoint, tls,
                             expected_peer=COORDINATOR)
    stub = pb_grpc.CoordinatorStub(channel)
    sealed = os.urandom(seal.BUCKETS[0] + seal.OVERHEAD)
    failed: list[str] = []
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        calls = [stub.Check.future(
            pb.CheckRequest(query_id=f"q-{i:03d}", queries=[
                pb.SealedQuery(node_id=LIMBURG, sealed=sealed)]),
            timeout=DEADLINE * 2.5) for i in range(CHECKS)]
        for call in calls:
            try:
                response = call.result()
            except grpc.RpcError as exc:
                failed.append(exc.code().name)
                continue
            statuses = {r.node_id: pb.NodeStatus.Name(r.status) for r in response.results}
            assert statuses[LIMBURG] == "TIMEOUT", statuses
    finally:
        channel.close()
    assert not failed, f"{len(failed)} of {CHECKS} checks failed at the client: {failed[:3]}"
