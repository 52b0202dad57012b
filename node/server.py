"""The node process: the Lookup service for the coordinator, plus the retention sweeper,
directory refresh and melding writer running beside it."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from samenloop.crypto.pki import COORDINATOR
from samenloop.node import incidents
from samenloop.node.config import NodeConfig
from samenloop.node.lookup import (
    LookupOutcome,
    LookupRefused,
    PendingWrite,
    ReplayGuard,
    answer_query,
)
from samenloop.node.metrics import NodeMetrics
from samenloop.node.network import Network, NetworkError
from samenloop.node.store import NodeStore
from samenloop.proto import limits
from samenloop.proto.directory import NodeDirectory
from samenloop.proto.runtime import LoopThread
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import SERVER_OPTIONS, peer_identity, server_credentials

log = logging.getLogger("samenloop.node")
Context = grpc.aio.ServicerContext[Any, Any]

DIRECTORY_REFRESH_SECONDS = 60
WRITE_ATTEMPTS = 5  # of a hit's meldingen; each waits up to the store's 30 s busy timeout
# A Lookup's answer leaves on a time grid: at 2 ms, or in steps of 12.5% above it. The
# meldingen of a hit are written after the answer; what a hit still computes more than a
# no-hit before answering (a row, a contact: tens of microseconds) then shows only when it
# pushes a lookup across a grid line, which the coordinator cannot tell from noise. A
# lookup slower than 2 ms (a bulk check, a busy node) waits at most an eighth longer.
ANSWER_GRID_FIRST_SECONDS = 0.002
ANSWER_GRID_STEP = 1.125


def answer_time(elapsed: float) -> float:
    """The first grid point at or after `elapsed` seconds."""
    at = ANSWER_GRID_FIRST_SECONDS
    while at < elapsed:
        at *= ANSWER_GRID_STEP
    return at


def sweep(config: NodeConfig, store: NodeStore, now: float,
          metrics: NodeMetrics | None = None) -> int:
    """Retention: cases without new data for max_inactive_days (six months) end with their
    meldingen, handled meldingen go after melding_retention_days, audit records after
    audit_retention_days (the chain then starts at a signed checkpoint). The audit trail is
    verified first: a break opens an incident before pruning could take the broken records
    along."""
    incidents.audit_chain_checked(store, store.verify_audit(config.audit_key),
                                  source="sweep", now=now)
    removed, meldingen = store.sweep(
        refreshed_before=now - config.max_inactive_days * 86400,
        handled_before=now - config.melding_retention_days * 86400, now=now,
        endings_before=now - config.audit_retention_days * 86400)
    pruned = store.prune_audit(now - config.audit_retention_days * 86400, now=now,
                               signing_key=config.audit_key)
    if metrics is not None:
        metrics.swept(removed)
    if removed or meldingen or pruned:
        log.info("retention: removed %d expired case(s), %d handled melding(en), %d audit "
                 "record(s)", removed, meldingen, pruned)
    return removed


class MeldingWriter:
    """Writes the meldingen of hits, and their audit records, after the answers have left:
    one thread, one queue, its own connection to the store (WAL: a Lookup's read never
    waits for a write). On a clean stop it drains its queue first."""

    def __init__(self, store_path: Path) -> None:
        self.store = NodeStore(store_path)
        self._queue: queue.Queue[PendingWrite | None] = queue.Queue()
        self._unwritten = 0  # answered but not yet written: handed over or on its way
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="meldingen", daemon=True)
        self._thread.start()

    def expect(self) -> None:
        """A hit's answer is about to leave; its meldingen follow with `submit`."""
        with self._idle:
            self._unwritten += 1

    def submit(self, pending: PendingWrite) -> None:
        self._queue.put(pending)

    def hand_over(self, pending: PendingWrite | None) -> None:
        """Once a Lookup's answer has left: a hit's meldingen to the queue (one `expect`
        was counted for them); nothing for a no-hit."""
        if pending is not None:
            self.submit(pending)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every answered hit is written (tests, and a clean stop)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unwritten == 0, timeout)

    def _run(self) -> None:
        while (pending := self._queue.get()) is not None:
            self._write_or_log(pending)

    def _write_or_log(self, pending: PendingWrite) -> None:
        """Write, trying again while the store is busy (a long import holds it); what still
        fails is logged, never dropped silently."""
        try:
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    self.write(pending)
                    return
                except Exception:
                    log.exception("meldingen of query %s not written (attempt %d of %d)",
                                  pending.query_id, attempt, WRITE_ATTEMPTS)
                    time.sleep(1.0)
            log.error("meldingen of query %s could not be written", pending.query_id)
        finally:
            with self._idle:
                self._unwritten -= 1
                self._idle.notify_all()

    def write(self, pending: PendingWrite) -> None:
        pending.record(self.store)
        log.info("lookup: from=%s query=%s hit: %d melding(en) filed", pending.from_node,
                 pending.query_id, len(pending.hits))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop (after the server: no answer is still on its
        way, and one handed over during the server's shutdown is written here)."""
        self._queue.put(None)
        self._thread.join(timeout)
        while not self._thread.is_alive() and not self._queue.empty():
            pending = self._queue.get_nowait()
            if pending is not None:
                self._write_or_log(pending)
        self.store.close()


class NodeServicer(pb_grpc.NodeServicer):
    """Lookup on the server's event loop; the work and the wait for the answer grid run in
    its executor (a precise sleep: the loop's timers wake on whole milliseconds counted
    from when it last polled, which would carry a hit's extra microseconds past the grid)."""

    def __init__(self, node: NodeServer) -> None:
        self.node = node

    async def Lookup(self, request: pb.LookupRequest, context: Context) -> pb.LookupResponse:
        node = self.node
        metrics = node.metrics
        if peer_identity(context) != COORDINATOR:
            metrics.lookups.labels("refused").inc()
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "only the coordinator may call Lookup")
        why = limits.refusal(request)
        if why is not None:
            metrics.lookups.labels("refused").inc()
            log.warning("lookup refused: %s", why)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)
        started = time.monotonic()
        work = asyncio.get_running_loop().run_in_executor(None, node.answer_on_grid,
                                                          request, started)
        try:
            outcome = await asyncio.shield(work)
        except LookupRefused as exc:
            metrics.lookups.labels("refused").inc()
            log.warning("lookup refused: from=%s query=%s: %s", request.from_node,
                        request.query_id[:64], exc.message)
            await context.abort(exc.code, exc.message)
        except NetworkError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except asyncio.CancelledError:
            # The coordinator gave up waiting: the holder still learns it was asked.
            work.add_done_callback(self._hand_over_abandoned)
            raise
        # The same steps for hit and no-hit from here: the answer leaves, then a hit's
        # meldingen go to the writer.
        # The stub types the callback as a class of its own; any callable of the context works.
        context.add_done_callback(
            lambda _: node.meldingen.hand_over(outcome.pending))  # type: ignore[arg-type]
        metrics.lookup_seconds.observe(time.monotonic() - started)
        return pb.LookupResponse(sealed_answer=outcome.sealed_answer)

    def _hand_over_abandoned(self, work: asyncio.Future[LookupOutcome]) -> None:
        if not work.cancelled() and work.exception() is None:
            self.node.meldingen.hand_over(work.result().pending)


class NodeServer:
    """A running node: a grpc.aio server with mTLS, health and reflection, on an event loop
    in a thread of its own (`runtime`, or one shared with other servers), and beside it the
    sweeper thread and the melding writer."""

    def __init__(self, config: NodeConfig, runtime: LoopThread | None = None) -> None:
        self.config = config
        self.store = NodeStore(config.store_path)
        self.store.upsert_procesregisseurs(config.procesregisseurs)
        self.meldingen = MeldingWriter(config.store_path)
        self.network = Network(config, on_refused=self._directory_refused)
        self.metrics = NodeMetrics(config.tls, self.store)
        self.replay_guard = ReplayGuard(config.replay_window_seconds, time.time())
        self._live_epochs: set[int] = set()
        self.metrics_port: int | None = None
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._own_runtime = runtime is None
        self.runtime = runtime or LoopThread(f"node-{config.node_id}")
        try:
            self.server, self.health, self.port = self.runtime.run(self._build())
        except BaseException:
            self.meldingen.close()
            self.store.close()
            if self._own_runtime:
                self.runtime.close()
            raise

    async def _build(self) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
        """The server and its health service, created on the loop that runs them."""
        server = grpc.aio.server(options=SERVER_OPTIONS)
        pb_grpc.add_NodeServicer_to_server(NodeServicer(self), server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (pb.DESCRIPTOR.services_by_name["Node"].full_name, health.SERVICE_NAME,
             reflection.SERVICE_NAME), server)
        port = server.add_secure_port(self.config.listen, server_credentials(self.config.tls))
        if not port:
            raise OSError(f"cannot listen on {self.config.listen}")
        return server, health_servicer, port

    def answer_on_grid(self, request: pb.LookupRequest, started: float) -> LookupOutcome:
        """Answer the query, then wait for the answer grid (in the executor): everything
        that differs between hit and no-hit happens before the wait."""
        outcome = answer_query(self.config, self.store, self.directory(),
                               self.network.sealer, self.replay_guard, request.from_node,
                               request.query_id, bytes(request.sealed), now=time.time)
        self.metrics.lookups.labels("answered").inc()
        self.metrics.lookup_outcomes.labels("hit" if outcome.hits else "no_hit").inc()
        if outcome.pending is not None:
            self.meldingen.expect()
        elapsed = time.monotonic() - started
        time.sleep(answer_time(elapsed) - elapsed)
        return outcome

    def _directory_refused(self, signed: bytes, source: str) -> None:
        incidents.directory_refused(self.store, signed, source, now=time.time())

    def directory(self) -> NodeDirectory:
        """The verified directory; the background thread refreshes it every minute, so a
        Lookup never waits for the coordinator."""
        return self.network.directory()

    def reload(self) -> None:
        """SIGHUP: fetch the directory now (TLS files are picked up when they change)."""
        self._refresh_directory()

    def _refresh_directory(self, timeout: float | None = None) -> bool:
        """Ready (SERVING) only with a verified directory: without one a Lookup cannot
        know who sent it."""
        try:
            directory = self.network.directory(refresh=True, timeout=timeout)
        except NetworkError as exc:
            log.warning("directory refresh failed: %s", exc)
            if self.network.cached_directory() is None:
                self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
            return False
        self.metrics.directory_serial.set(directory.serial)
        self.metrics.directory_epoch.set(directory.current_epoch)
        live = set(directory.oprf_keys)
        if live != self._live_epochs:  # only when a rotation changed them, not every minute
            retired = self.store.retire_epochs(live)
            self._live_epochs = live
            if retired:
                log.info("key rotation: removed %d tag(s) of retired epochs", retired)
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        return True

    def _set_health(self, status: int) -> None:
        """From the sweeper thread or the caller's: the health service lives on the loop."""
        if self.runtime.running:
            self.runtime.run(self._set_health_on_loop(status))

    async def _set_health_on_loop(self, status: int) -> None:
        await self.health.set("", status)
        await self.health.set("samenloop.v1.Node", status)

    def _background(self) -> None:
        next_sweep = 0.0
        next_refresh = time.monotonic() + (
            DIRECTORY_REFRESH_SECONDS if self.network.cached_directory() else 2.0)
        while not self._stop.is_set():
            if time.monotonic() >= next_refresh:
                ready = self._refresh_directory()
                # Not ready yet (coordinator down at start): try again soon, not in a minute.
                next_refresh = time.monotonic() + (DIRECTORY_REFRESH_SECONDS if ready else 2.0)
            if time.monotonic() >= next_sweep:
                try:
                    sweep(self.config, self.store, time.time(), self.metrics)
                except Exception:
                    log.exception("retention sweep failed")
                next_sweep = time.monotonic() + self.config.sweep_interval_seconds
            self._stop.wait(1.0)

    def start(self) -> None:
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.runtime.run(self.server.start())
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(self.config.metrics_listen)
        self._refresh_directory(timeout=2.0)
        self._worker = threading.Thread(target=self._background, name="sweeper", daemon=True)
        self._worker.start()
        log.info("node %s listening on %s", self.config.node_id, self.config.listen)

    async def _stop_serving(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)

    def stop(self, grace: float = 1.0) -> None:
        """Health says NOT_SERVING, lookups under way get `grace` seconds, then every hit's
        meldingen are written before the store closes."""
        self._stop.set()
        try:
            self.runtime.run(self._stop_serving(grace))
        finally:
            if self._worker:
                self._worker.join(timeout=5)
            self.meldingen.close()  # after the server: no new answers, every hit written
            self.metrics.stop()
            self.network.close()
            self.store.close()
            if self._own_runtime:
                self.runtime.close()
