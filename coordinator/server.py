"""The coordinator's gRPC edge: parse, call the service, map refusals to status codes."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path
from typing import Any, NoReturn, cast

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.metrics import CoordinatorMetrics
from samenloop.coordinator.service import (
    CoordinatorError,
    CoordinatorService,
    Fanout,
    RateLimited,
)
from samenloop.coordinator.store import AuditStore
from samenloop.proto import directory as directory_mod
from samenloop.proto import limits
from samenloop.proto.runtime import LoopThread, in_executor
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import (
    RETRY_AFTER_MS,
    SERVER_OPTIONS,
    peer_identity,
    server_credentials,
)

log = logging.getLogger("samenloop.coordinator")

PROBE_SECONDS = 15.0
Context = grpc.aio.ServicerContext[Any, Any]


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    """The RPCs, on the server's event loop; blocking work goes to its executor."""

    def __init__(self, service: CoordinatorService) -> None:
        self.service = service

    async def admit(self, request: Message, context: Context) -> CoordinatorService:
        """A node of the directory, then every field within proto/limits.py's table
        (INVALID_ARGUMENT naming the field), before any work, log line or audit record.
        Returns the service in use (a reload may replace it meanwhile)."""
        service = self.service
        try:
            service.authorize(peer_identity(context))
        except CoordinatorError as exc:
            await context.abort(exc.code, exc.message)
        why = limits.refusal(request)
        if why is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)
        return service

    async def Evaluate(self, request: pb.EvaluateRequest, context: Context
                       ) -> pb.EvaluateResponse:
        service = await self.admit(request, context)
        try:
            epoch, evaluated, proof = await in_executor(
                service.evaluate, peer_identity(context), request.request_id, request.epoch,
                [bytes(b) for b in request.blinded_elements], request.purpose)
        except CoordinatorError as exc:
            await _abort(context, exc)
        return pb.EvaluateResponse(epoch=epoch, evaluated_elements=evaluated, proof=proof)

    async def Check(self, request: pb.CheckRequest, context: Context) -> pb.CheckResponse:
        service = await self.admit(request, context)
        payloads: dict[str, bytes] = {}
        for query in request.queries:
            if query.node_id in payloads:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"queries: node {query.node_id} appears twice")
            payloads[query.node_id] = bytes(query.sealed)
        try:
            outcomes = await service.check(peer_identity(context), request.query_id, payloads)
        except CoordinatorError as exc:
            await _abort(context, exc)
        return pb.CheckResponse(query_id=request.query_id, results=[
            pb.NodeResult(node_id=o.node_id, status=cast("pb.NodeStatus", o.status),
                          sealed_answer=o.sealed_answer,
                          detail=o.detail) for o in outcomes])

    async def GetDirectory(self, request: pb.GetDirectoryRequest, context: Context
                           ) -> pb.SignedDirectory:
        service = await self.admit(request, context)
        return service.directory.signed


async def _abort(context: Context, exc: CoordinatorError) -> NoReturn:
    """The refusal's status and message; an exhausted budget also says when to retry."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        context.set_trailing_metadata(
            ((RETRY_AFTER_MS, str(math.ceil(exc.retry_after * 1000))),))
    await context.abort(exc.code, exc.message)


class CoordinatorServer:
    """A running coordinator: a grpc.aio server with mTLS, health and reflection, on an
    event loop in a thread of its own (`runtime`, or one shared with other servers)."""

    def __init__(self, config: CoordinatorConfig,
                 interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
                 config_path: Path | None = None, runtime: LoopThread | None = None) -> None:
        self.config = config
        self.config_path = config_path
        directory = directory_mod.parse_file(config.directory_file.read_bytes(),
                                             config.directory_verify_key)
        self.audit = AuditStore(config.data_dir / "coordinator-audit.sqlite")
        self.metrics = CoordinatorMetrics(config.tls)
        self.metrics.directory_serial.set(directory.serial)
        self.metrics.directory_epoch.set(directory.current_epoch)
        self.metrics.audit_records.set_function(self.audit.count)
        for node in directory.nodes:  # series exist from the start, for alerts and rate()
            self.metrics.node_up.labels(node.node_id).set(0)
            for status in ("ANSWERED", "UNREACHABLE", "TIMEOUT", "ERROR"):
                self.metrics.lookups.labels(node.node_id, status)
        self.fanout = Fanout(config.tls)
        self.service = CoordinatorService(config, directory, self.audit, self.fanout,
                                          self.metrics)
        self.metrics_port: int | None = None
        self._prober: asyncio.Task[None] | None = None
        self.servicer = CoordinatorServicer(self.service)
        self._own_runtime = runtime is None
        self.runtime = runtime or LoopThread("coordinator")
        try:
            self.server, self.health, self.port = self.runtime.run(self._build(interceptors))
        except BaseException:
            self.audit.close()
            if self._own_runtime:
                self.runtime.close()
            raise

    async def _build(self, interceptors: tuple[grpc.aio.ServerInterceptor, ...]
                     ) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
        """The server and its health service, created on the loop that runs them."""
        server = grpc.aio.server(interceptors=list(interceptors), options=SERVER_OPTIONS)
        pb_grpc.add_CoordinatorServicer_to_server(self.servicer, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (pb.DESCRIPTOR.services_by_name["Coordinator"].full_name,
             health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        port = server.add_secure_port(self.config.listen, server_credentials(self.config.tls))
        if not port:
            raise OSError(f"cannot listen on {self.config.listen}")
        return server, health_servicer, port

    def reload(self) -> None:
        """SIGHUP: re-read the config file and the signed directory (new OPRF epochs, rate
        limits, deadline) without dropping a connection. On any error the old ones stay."""
        if self.config_path is None:
            raise ValueError("no configuration file to reload")
        config = CoordinatorConfig.load(self.config_path)
        directory = directory_mod.parse_file(config.directory_file.read_bytes(),
                                             config.directory_verify_key)
        if directory.serial < self.service.directory.serial:
            raise directory_mod.DirectoryError(
                f"directory serial {directory.serial} is older than the one in use "
                f"({self.service.directory.serial})")
        service = CoordinatorService(config, directory, self.audit, self.fanout, self.metrics,
                                     windows=self.service.windows)
        self.servicer.service = self.service = service
        self.config = config
        self.metrics.directory_serial.set(directory.serial)
        self.metrics.directory_epoch.set(directory.current_epoch)
        log.info("reloaded: directory serial %d, %d nodes, epochs %s (current %d)",
                 directory.serial, len(directory.nodes), sorted(directory.oprf_keys),
                 directory.current_epoch)

    def probe_nodes(self) -> None:
        """Ask every node's health service and record who is reachable."""
        self.runtime.run(self._probe_nodes())

    async def _probe_nodes(self) -> None:
        service = self.service
        service.observe_nodes(await self.fanout.probe_all(service.directory.nodes,
                                                          timeout=2.0), probe=True)

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await self._probe_nodes()
            except Exception:
                log.exception("health probe failed")
            try:
                removed = await in_executor(self.audit.delete_older_than,
                                            self.config.audit_retention_days)
                if removed:
                    log.info("audit retention: removed %d record(s)", removed)
            except Exception:
                log.exception("audit retention failed")

    async def _start(self) -> None:
        await self.server.start()
        self._prober = asyncio.create_task(self._probe(), name="probe")
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("samenloop.v1.Coordinator", health_pb2.HealthCheckResponse.SERVING)

    def start(self) -> None:
        self.runtime.run(self._start())
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(self.config.metrics_listen)
        log.info("coordinator listening on %s (directory serial %d, %d nodes, epoch %d)",
                 self.config.listen, self.service.directory.serial,
                 len(self.service.directory.nodes), self.service.directory.current_epoch)

    async def _stop(self, grace: float) -> None:
        """Health says NOT_SERVING, calls under way get `grace` seconds, then channels close."""
        if self._prober:
            self._prober.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.fanout.close()

    def stop(self, grace: float = 1.0) -> None:
        try:
            self.runtime.run(self._stop(grace))
        finally:
            self.metrics.stop()
            self.audit.close()
            if self._own_runtime:
                self.runtime.close()
