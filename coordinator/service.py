"""What the coordinator does, apart from gRPC: authorise, rate-limit, evaluate, fan out, audit.

It only ever handles blinded elements and sealed bytes; there is nothing here that could
learn an identifier, a tag, or whether a check hit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.metrics import CoordinatorMetrics
from samenloop.coordinator.store import AuditRecord, AuditStore
from samenloop.crypto import seal, voprf
from samenloop.crypto.pki import COORDINATOR
from samenloop.proto import limits
from samenloop.proto.directory import DirectoryNode, NodeDirectory
from samenloop.proto.ratelimit import RateWindows
from samenloop.proto.runtime import in_executor
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, aio_secure_channel

log = logging.getLogger("samenloop.coordinator")

MAX_BATCH = limits.EVALUATE_MAX_ELEMENTS
MINUTE = 60.0  # the short rate window, in seconds
# Budget -> (audit kind, purpose) of its records.
AUDIT_KINDS = {"check": ("check", ""), "evaluate": ("evaluate", "check"),
               "evaluate_import": ("evaluate", "import")}
# What each budget is called in refusals (operators read them, and nodes pass them on).
BUDGET_NAMES = {"check": "check budget", "evaluate": "check evaluation budget",
                "evaluate_import": "import evaluation budget"}


class CoordinatorError(Exception):
    """A refusal; `code` is the gRPC status the handler returns."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(CoordinatorError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(CoordinatorError):
    code = grpc.StatusCode.PERMISSION_DENIED


class InvalidRequest(CoordinatorError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class RateLimited(CoordinatorError):
    """A budget is exhausted; `retry_after` is the wait in seconds after which the same
    request fits again, None when waiting cannot help (it exceeds the limit on its own)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EpochUnavailable(CoordinatorError):
    code = grpc.StatusCode.FAILED_PRECONDITION


@dataclass(frozen=True)
class NodeOutcome:
    node_id: str
    status: int  # pb.NodeStatus
    sealed_answer: bytes = b""
    detail: str = ""


class Fanout:
    """One grpc.aio channel per node, kept open across checks (gRPC reconnects a restarted
    node). Every call runs on the server's event loop: a fan-out to 400 nodes is 400
    pending calls on one loop, not 400 threads."""

    def __init__(self, tls: TlsFiles) -> None:
        self._tls = tls
        self._channels: dict[tuple[str, str], grpc.aio.Channel] = {}
        self._closing: set[asyncio.Future[None]] = set()  # channels of a renewed certificate
        self._tls_version = tls.version()

    def _channel(self, node: DirectoryNode) -> grpc.aio.Channel:
        key = (node.node_id, node.endpoint)
        version = self._tls.version()
        if version != self._tls_version:  # renewed certificate: reconnect everywhere
            for old in self._channels.values():  # calls under way may finish
                closing = asyncio.ensure_future(old.close(grace=1.0))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            self._channels.clear()
            self._tls_version = version
        channel = self._channels.get(key)
        if channel is None:
            channel = aio_secure_channel(node.endpoint, self._tls, expected_peer=node.node_id)
            self._channels[key] = channel
        return channel

    async def probe_all(self, nodes: tuple[DirectoryNode, ...], timeout: float
                        ) -> list[NodeOutcome]:
        """The standard health check on every node, so a silent region shows up in
        monitoring even when nobody runs checks."""
        request = health_pb2.HealthCheckRequest(service="samenloop.v1.Node")
        calls = {n.node_id: asyncio.ensure_future(
            health_pb2_grpc.HealthStub(self._channel(n)).Check(request, timeout=timeout))
            for n in nodes}
        await _wait_all(calls.values(), timeout + 0.5)
        return [_probe_outcome(node_id, call) for node_id, call in calls.items()]

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        await asyncio.gather(*(c.close() for c in channels), return_exceptions=True)

    async def lookup_all(self, from_node: str, query_id: str, payloads: dict[str, bytes],
                         nodes: tuple[DirectoryNode, ...], deadline: float
                         ) -> list[NodeOutcome]:
        """Ask every node at once; whoever has not answered when `deadline` passes is
        TIMEOUT, and every node gets an outcome (one that did not answer is no no-hit)."""
        calls = {}
        for node in nodes:
            request = pb.LookupRequest(query_id=query_id, from_node=from_node,
                                       sealed=payloads[node.node_id])
            calls[node.node_id] = asyncio.ensure_future(
                pb_grpc.NodeStub(self._channel(node)).Lookup(request, timeout=deadline))
        await _wait_all(calls.values(), deadline + 0.5)
        return [_outcome(node_id, call) for node_id, call in calls.items()]


async def _wait_all(calls: Collection[asyncio.Future[Any]], seconds: float) -> None:
    """Until every call is done or `seconds` pass; what is still pending is cancelled
    (its node counts as TIMEOUT)."""
    if not calls:
        return
    _, pending = await asyncio.wait(calls, timeout=seconds)
    for call in pending:
        call.cancel()
    if pending:
        await asyncio.wait(pending)  # let the cancellations land before reading outcomes


def _probe_outcome(node_id: str, call: asyncio.Future[Any]) -> NodeOutcome:
    """A health probe counts as an answer only when the node says it is SERVING."""
    outcome = _outcome(node_id, call, lambda response: b"")
    if outcome.status == pb.ANSWERED and \
            call.result().status != health_pb2.HealthCheckResponse.SERVING:
        return NodeOutcome(node_id, pb.ERROR, detail="node is not ready")
    return outcome


def _outcome(node_id: str, call: asyncio.Future[Any],
             answer_of: Callable[[pb.LookupResponse], bytes] = lambda r: r.sealed_answer
             ) -> NodeOutcome:
    if not call.done() or call.cancelled():
        return NodeOutcome(node_id, pb.TIMEOUT, detail="no answer before the deadline")
    exc = call.exception()
    if isinstance(exc, grpc.RpcError):
        code = exc.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return NodeOutcome(node_id, pb.TIMEOUT, detail="no answer before the deadline")
        if code == grpc.StatusCode.UNAVAILABLE:
            return NodeOutcome(node_id, pb.UNREACHABLE, detail="node not reachable")
        if code == grpc.StatusCode.CANCELLED:
            return NodeOutcome(node_id, pb.TIMEOUT, detail="no answer before the deadline")
        return NodeOutcome(node_id, pb.ERROR, detail=f"{code.name}: {exc.details()}"[:200])
    if exc is not None:
        return NodeOutcome(node_id, pb.ERROR, detail=f"{type(exc).__name__}"[:200])
    return NodeOutcome(node_id, pb.ANSWERED, sealed_answer=answer_of(call.result()))


class CoordinatorService:
    def __init__(self, config: CoordinatorConfig, directory: NodeDirectory, audit: AuditStore,
                 fanout: Fanout, metrics: CoordinatorMetrics,
                 clock: Callable[[], float] = time.time,
                 windows: RateWindows | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self.windows = windows or RateWindows(audit.usage_since(clock() - RateWindows.DAY))
        self.directory = directory
        self.audit = audit
        self.fanout = fanout
        self.clock = clock
        self._public_keys = {e: voprf.public_key(k) for e, k in config.oprf_keys.items()}
        self._check_keys_match_directory()

    def _check_keys_match_directory(self) -> None:
        for epoch, pk in self.directory.oprf_keys.items():
            if epoch in self._public_keys and self._public_keys[epoch] != pk:
                raise ValueError(f"OPRF key of epoch {epoch} does not match the directory")
        if self.directory.current_epoch not in self._public_keys:
            raise ValueError(f"no OPRF key for the directory's current epoch "
                             f"{self.directory.current_epoch}")

    def authorize(self, peer: str | None) -> DirectoryNode:
        if not peer:
            raise Unauthenticated("no client certificate")
        node = self.directory.node(peer) if peer != COORDINATOR else None
        if node is None:
            raise PermissionDenied(f"{peer} is not a node in the directory")
        return node

    def _limit(self, node_id: str, kind: str, count: int, request_id: str,
               per_minute: int, per_day: int) -> None:
        """Take `count` from the node's `kind` budget, or refuse saying which budget and
        when the request would fit again."""
        now = self.clock()
        limits = ((MINUTE, per_minute, "minute"), (RateWindows.DAY, per_day, "day"))
        exceeded = self.windows.reserve(node_id, kind, count, now, limits)
        if exceeded is not None:
            window, limit = (MINUTE, per_minute) if exceeded == "minute" else \
                (RateWindows.DAY, per_day)
            audit_kind, purpose = AUDIT_KINDS[kind]
            self.audit.record(AuditRecord(now, audit_kind, node_id, request_id, count,
                                          "refused", 0, {}, purpose))
            self.metrics.rate_limited.labels(kind).inc()
            wait = self.windows.retry_after(node_id, kind, count, now, window, limit)
            log.warning("rate limit: node=%s kind=%s request=%s per-%s limit %d reached",
                        node_id, kind, request_id, exceeded, limit)
            if kind == "check":
                raise RateLimited(f"rate limit for check reached: at most {limit} per "
                                  f"{exceeded} for node {node_id}; try again later", wait)
            if wait is None:
                raise RateLimited(f"the coordinator's {BUDGET_NAMES[kind]} is exhausted: one "
                                  f"request of {count} elements exceeds the limit of {limit} "
                                  f"per {exceeded} for node {node_id}")
            raise RateLimited(f"the coordinator's {BUDGET_NAMES[kind]} is exhausted: at most "
                              f"{limit} elements per {exceeded} for node {node_id}; try again "
                              f"in {wait:.0f} s", wait)

    def evaluate(self, peer: str | None, request_id: str, epoch: int,
                 blinded: list[bytes], purpose: int = pb.EVALUATION_FOR_CHECK
                 ) -> tuple[int, list[bytes], bytes]:
        """One batch evaluation with its proof, counted against the node's check or import
        budget (an unspecified purpose counts as a check, as before purposes existed)."""
        node = self.authorize(peer)
        if not blinded:
            raise InvalidRequest("blinded_elements is empty")
        if len(blinded) > MAX_BATCH:
            raise InvalidRequest(f"blinded_elements has {len(blinded)} elements; at most "
                                 f"{MAX_BATCH} per call")
        epoch = epoch or self.directory.current_epoch
        if epoch not in self.directory.oprf_keys or epoch not in self.config.oprf_keys:
            raise EpochUnavailable(f"epoch {epoch} is not live; the current epoch is "
                                   f"{self.directory.current_epoch}")
        limits = self.config.rate_limits
        for_import = purpose == pb.EVALUATION_FOR_IMPORT
        try:
            if for_import:
                self._limit(node.node_id, "evaluate_import", len(blinded), request_id,
                            limits.import_evaluations_per_minute,
                            limits.import_evaluations_per_day)
            else:
                self._limit(node.node_id, "evaluate", len(blinded), request_id,
                            limits.evaluations_per_minute, limits.evaluations_per_day)
        except RateLimited:
            self.metrics.evaluations.labels("refused").inc()
            raise
        try:
            evaluated, proof = voprf.blind_evaluate_verifiable(
                self.config.oprf_keys[epoch], self._public_keys[epoch], blinded)
        except voprf.VoprfError as exc:
            self.metrics.evaluations.labels("invalid").inc()
            raise InvalidRequest(f"blinded_elements: {exc}") from None
        self.metrics.evaluations.labels("ok").inc()
        self.metrics.evaluated_elements.inc(len(blinded))
        purpose_name = "import" if for_import else "check"
        self.audit.record(AuditRecord(self.clock(), "evaluate", node.node_id, request_id,
                                      len(blinded), "ok", 0, {}, purpose_name))
        log.info("evaluate: node=%s request=%s elements=%d epoch=%d purpose=%s", node.node_id,
                 request_id, len(blinded), epoch, purpose_name)
        return epoch, evaluated, proof

    async def check(self, peer: str | None, query_id: str,
                    payloads: dict[str, bytes]) -> list[NodeOutcome]:
        """Admit (validation, budget), fan out, record. On the server's event loop: the
        admission and the audit record touch SQLite and run in its executor."""
        node, addressed = await in_executor(self.admit_check, peer, query_id, payloads)
        started = self.clock()
        fanout_started = time.monotonic()
        outcomes = await self.fanout.lookup_all(node.node_id, query_id, payloads, addressed,
                                                self.config.deadline_seconds)
        self.metrics.fanout_seconds.observe(time.monotonic() - fanout_started)
        outcomes += [NodeOutcome(n.node_id, pb.ERROR, detail="no payload for this node")
                     for n in self.directory.nodes if n.node_id not in payloads]
        await in_executor(self.record_check, node, query_id, len(payloads), outcomes, started)
        return outcomes

    def admit_check(self, peer: str | None, query_id: str, payloads: dict[str, bytes]
                    ) -> tuple[DirectoryNode, tuple[DirectoryNode, ...]]:
        """The checking node and the nodes to ask, after validation and its check budget."""
        node = self.authorize(peer)
        if not query_id or len(query_id) > 64:
            raise InvalidRequest("query_id must be 1-64 characters")
        listed = {n.node_id for n in self.directory.nodes}
        unknown = sorted(set(payloads) - listed)
        if unknown:
            raise InvalidRequest(f"queries name nodes not in the directory: {', '.join(unknown)}")
        sizes = {len(p) for p in payloads.values()}
        if len(sizes) > 1 or any(s - seal.OVERHEAD not in seal.BUCKETS for s in sizes):
            raise InvalidRequest("queries must all be sealed to one padding bucket")
        limits = self.config.rate_limits
        self._limit(node.node_id, "check", 1, query_id, limits.checks_per_minute,
                    limits.checks_per_day)
        return node, tuple(n for n in self.directory.nodes if n.node_id in payloads)

    def record_check(self, node: DirectoryNode, query_id: str, queries: int,
                     outcomes: list[NodeOutcome], started: float) -> None:
        """Metrics, audit record and log line of a check, every node's status in them."""
        statuses = {o.node_id: pb.NodeStatus.Name(o.status) for o in outcomes}
        reached = sum(o.status == pb.ANSWERED for o in outcomes)
        outcome = "complete" if reached == len(self.directory.nodes) else "incomplete"
        self.observe_nodes(outcomes)
        self.metrics.checks.labels(outcome).inc()
        self.metrics.check_seconds.observe(self.clock() - started)
        self.audit.record(AuditRecord(started, "check", node.node_id, query_id, queries,
                                      outcome, reached, statuses))
        log.info("check: node=%s query=%s nodes=%d reached=%d outcome=%s seconds=%.3f",
                 node.node_id, query_id, len(self.directory.nodes), reached, outcome,
                 self.clock() - started)

    def observe_nodes(self, outcomes: list[NodeOutcome], probe: bool = False) -> None:
        """Reachability per node, from lookups and from the health probe."""
        now = time.time()
        for o in outcomes:
            if not probe:
                self.metrics.lookups.labels(o.node_id, pb.NodeStatus.Name(o.status)).inc()
            up = o.status == pb.ANSWERED
            self.metrics.node_up.labels(o.node_id).set(1 if up else 0)
            if up:
                self.metrics.node_last_seen.labels(o.node_id).set(now)
