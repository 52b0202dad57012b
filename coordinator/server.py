"""The coordinator's gRPC edge: parse, call the service, map refusals to status codes."""

from __future__ import annotations

import logging
import math
import threading
from concurrent import futures
from pathlib import Path
from typing import NoReturn, cast

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
from samenloop.coordinator.store import StoreUnavailable, open_store
from samenloop.proto import directory as directory_mod
from samenloop.proto import limits
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


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    def __init__(self, service: CoordinatorService) -> None:
        self.service = service

    def admit(self, request: Message, context: grpc.ServicerContext) -> None:
        """A node of the directory, then every field within proto/limits.py's table
        (INVALID_ARGUMENT naming the field), before any work, log line or audit record."""
        try:
            self.service.authorize(peer_identity(context))
        except CoordinatorError as exc:
            context.abort(exc.code, exc.message)
        why = limits.refusal(request)
        if why is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)

    def Evaluate(self, request: pb.EvaluateRequest, context: grpc.ServicerContext
                 ) -> pb.EvaluateResponse:
        self.admit(request, context)
        try:
            epoch, evaluated, proof = self.service.evaluate(
                peer_identity(context), request.request_id, request.epoch,
                [bytes(b) for b in request.blinded_elements], request.purpose)
        except CoordinatorError as exc:
            _abort(context, exc)
        return pb.EvaluateResponse(epoch=epoch, evaluated_elements=evaluated, proof=proof)

    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext
              ) -> pb.CheckResponse:
        self.admit(request, context)
        payloads: dict[str, bytes] = {}
        for query in request.queries:
            if query.node_id in payloads:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"queries: node {query.node_id} appears twice")
            payloads[query.node_id] = bytes(query.sealed)
        try:
            outcomes = self.service.check(peer_identity(context), request.query_id, payloads)
        except CoordinatorError as exc:
            _abort(context, exc)
        return pb.CheckResponse(query_id=request.query_id, results=[
            pb.NodeResult(node_id=o.node_id, status=cast("pb.NodeStatus", o.status),
                          sealed_answer=o.sealed_answer,
                          detail=o.detail) for o in outcomes])

    def GetDirectory(self, request: pb.GetDirectoryRequest, context: grpc.ServicerContext
                     ) -> pb.SignedDirectory:
        self.admit(request, context)
        return self.service.directory.signed


def _abort(context: grpc.ServicerContext, exc: CoordinatorError) -> NoReturn:
    """The refusal's status and message; an exhausted budget also says when to retry."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        context.set_trailing_metadata(
            ((RETRY_AFTER_MS, str(math.ceil(exc.retry_after * 1000))),))
    context.abort(exc.code, exc.message)


class CoordinatorServer:
    """A running coordinator: gRPC with mTLS, health and reflection."""

    def __init__(self, config: CoordinatorConfig,
                 interceptors: tuple[grpc.ServerInterceptor, ...] = (),
                 config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        directory = directory_mod.parse_file(config.directory_file.read_bytes(),
                                             config.directory_verify_key)
        self.audit = open_store(config)
        self.metrics = CoordinatorMetrics(config.tls)
        self.metrics.directory_serial.set(directory.serial)
        self.metrics.directory_epoch.set(directory.current_epoch)
        self.metrics.audit_records.set_function(self._audit_count)
        for node in directory.nodes:  # series exist from the start, for alerts and rate()
            self.metrics.node_up.labels(node.node_id).set(0)
            for status in ("ANSWERED", "UNREACHABLE", "TIMEOUT", "ERROR"):
                self.metrics.lookups.labels(node.node_id, status)
        self.fanout = Fanout(config.tls)
        self.service = CoordinatorService(config, directory, self.audit, self.fanout,
                                          self.metrics)
        self.metrics_port: int | None = None
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                                  interceptors=list(interceptors), options=SERVER_OPTIONS)
        self.servicer = CoordinatorServicer(self.service)
        pb_grpc.add_CoordinatorServicer_to_server(self.servicer, self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (pb.DESCRIPTOR.services_by_name["Coordinator"].full_name,
             health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.port = self.server.add_secure_port(config.listen, server_credentials(config.tls))
        if not self.port:
            raise OSError(f"cannot listen on {config.listen}")

    def _audit_count(self) -> float:
        """For /metrics: NaN while the shared store is unreachable, so the other series
        (and the alert on them) still arrive."""
        try:
            return float(self.audit.count())
        except StoreUnavailable:
            return float("nan")

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
        self.service.observe_nodes(
            self.fanout.probe_all(self.service.directory.nodes, timeout=2.0), probe=True)

    def _probe(self) -> None:
        while not self._stop.wait(PROBE_SECONDS):
            try:
                self.probe_nodes()
            except Exception:
                log.exception("health probe failed")
            try:
                removed = self.audit.delete_older_than(self.config.audit_retention_days)
                if removed:
                    log.info("audit retention: removed %d record(s)", removed)
            except Exception:
                log.exception("audit retention failed")

    def start(self) -> None:
        self.server.start()
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(self.config.metrics_listen)
        self._prober = threading.Thread(target=self._probe, name="probe", daemon=True)
        self._prober.start()
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.health.set("samenloop.v1.Coordinator", health_pb2.HealthCheckResponse.SERVING)
        log.info("coordinator listening on %s (directory serial %d, %d nodes, epoch %d)",
                 self.config.listen, self.service.directory.serial,
                 len(self.service.directory.nodes), self.service.directory.current_epoch)

    def stop(self, grace: float = 1.0) -> None:
        self._stop.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self._prober:
            self._prober.join(timeout=5)
        self.metrics.stop()
        self.fanout.close()
        self.audit.close()
