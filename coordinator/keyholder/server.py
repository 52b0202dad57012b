"""The key holder's gRPC edge (grpc.aio): mutual TLS, the node admitted by its certificate,
every field bounded before work, the evaluation off the event loop, refusals mapped to
status codes; gRPC health, reflection and metrics beside it.

`KeyHolderServer` runs inside an event loop (`samenloop keyholder serve`);
`BackgroundKeyHolder` runs one in a thread of its own for tests and the demo, with the
same start/stop shape as the coordinator and node servers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import threading
from concurrent import futures
from pathlib import Path
from typing import NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.metrics import KeyHolderMetrics
from samenloop.coordinator.keyholder.service import HolderError, KeyHolderService, RateLimited
from samenloop.coordinator.keyholder.shares import read_share_file
from samenloop.coordinator.keyholder.store import HolderAuditStore
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

log = logging.getLogger("samenloop.keyholder")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["KeyHolder"].full_name
# How often the directory and share files are looked at (a new edition, or a share added by
# `dkg finish --add-to`, is taken without a reload) and old audit records are removed.
HOUSEKEEPING_SECONDS = 15.0


class KeyHolderServicer(pb_grpc.KeyHolderServicer):
    def __init__(self, server: KeyHolderServer) -> None:
        self.server = server

    async def EvaluateShare(self, request: pb.EvaluateShareRequest,
                            context: grpc.aio.ServicerContext[pb.EvaluateShareRequest,
                                                              pb.EvaluateShareResponse]
                            ) -> pb.EvaluateShareResponse:
        """Admit (node certificate, field limits), then one call that does the work, in the
        executor: scalar multiplications and the proof would stall every other call."""
        service = self.server.service
        metrics = self.server.metrics
        loop = asyncio.get_running_loop()
        try:
            node = service.authorize(peer_identity(context))
        except HolderError as exc:
            metrics.requests.labels(exc.outcome).inc()
            await context.abort(exc.code, exc.message)
        why = limits.refusal(request)
        if why is not None:
            metrics.requests.labels("invalid").inc()
            # Accounted for like any request of a node; a request id that is itself what
            # is wrong is not kept.
            await loop.run_in_executor(
                self.server.executor, service.refused, node.node_id,
                "" if why.startswith("request_id") else request.request_id, request.epoch,
                len(request.blinded_elements), request.purpose, "invalid")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)
        try:
            epoch, evaluated, proof = await loop.run_in_executor(
                self.server.executor, service.evaluate, node.node_id, request.request_id,
                request.epoch, [bytes(b) for b in request.blinded_elements], request.purpose)
        except HolderError as exc:
            metrics.requests.labels(exc.outcome).inc()
            await _abort(context, exc)
        metrics.requests.labels("ok").inc()
        return pb.EvaluateShareResponse(holder_id=service.config.holder_id, epoch=epoch,
                                        request_id=request.request_id,
                                        evaluated_elements=evaluated, proof=proof)


async def _abort(context: grpc.aio.ServicerContext[pb.EvaluateShareRequest,
                                                   pb.EvaluateShareResponse],
                 exc: HolderError) -> NoReturn:
    """The refusal's status and message; an exhausted budget also says when to retry."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        context.set_trailing_metadata(
            ((RETRY_AFTER_MS, str(math.ceil(exc.retry_after * 1000))),))
    await context.abort(exc.code, exc.message)


def _load_directory(config: KeyHolderConfig) -> directory_mod.NodeDirectory:
    return directory_mod.parse_file(config.directory_file.read_bytes(),
                                    config.directory_verify_key)


class KeyHolderServer:
    """A running key holder. Construct anywhere; `start` inside the event loop it runs on."""

    def __init__(self, config: KeyHolderConfig, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        directory = _load_directory(config)
        self.audit = HolderAuditStore(config.audit_db)
        self.metrics = KeyHolderMetrics(config.tls)
        self.metrics.audit_records.set_function(self.audit.count)
        try:
            self.service = KeyHolderService(config, directory, self.audit, self.metrics)
        except BaseException:
            self.audit.close()
            raise
        self._observe_directory(directory)
        self._directory_version = self._file_version(config.directory_file)
        self._shares_version = self._file_version(config.share_file)
        self.executor = futures.ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="keyholder-eval")
        self.server: grpc.aio.Server | None = None
        self.health: health.aio.HealthServicer | None = None
        self.port = 0
        self.metrics_port: int | None = None
        self._housekeeping: asyncio.Task[None] | None = None

    @staticmethod
    def _file_version(path: Path) -> tuple[int, int, int, int]:
        """Changes when the file is replaced (a new inode), rewritten or chmod-ed."""
        try:
            stat = path.stat()
        except OSError:
            return (0, 0, 0, 0)
        return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_size)

    def _observe_directory(self, directory: directory_mod.NodeDirectory) -> None:
        self.metrics.directory_serial.set(directory.serial)
        self.metrics.directory_epoch.set(directory.current_epoch)

    async def start(self) -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        pb_grpc.add_KeyHolderServicer_to_server(KeyHolderServicer(self), server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        self.port = server.add_secure_port(self.config.listen,
                                           server_credentials(self.config.tls))
        if not self.port:
            raise OSError(f"cannot listen on {self.config.listen}")
        await server.start()
        self.server = server
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(self.config.metrics_listen)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._housekeeping = asyncio.get_running_loop().create_task(self._keep_house())
        log.info("key holder %s listening on %s (directory serial %d, epochs served %s)",
                 self.config.holder_id, self.config.listen, self.service.directory.serial,
                 sorted(self.service.shares) or "none")

    async def stop(self, grace: float = 1.0) -> None:
        """Graceful: NOT_SERVING first, running calls get `grace` seconds to finish."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
        self.executor.shutdown(wait=True)
        self.metrics.stop()
        self.audit.close()

    async def wait(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()

    def reload(self) -> None:
        """SIGHUP: re-read the config, share file and directory; on any error the running
        ones stay (the caller logs why)."""
        config = KeyHolderConfig.load(self.config_path) if self.config_path else self.config
        if config.holder_id != self.config.holder_id or config.listen != self.config.listen \
                or config.audit_db != self.config.audit_db:
            raise ValueError("holder_id, listen and audit_db take effect only on a restart")
        self._replace(config, _load_directory(config))
        self.config = config

    def _replace(self, config: KeyHolderConfig,
                 directory: directory_mod.NodeDirectory) -> None:
        if directory.serial < self.service.directory.serial:
            raise directory_mod.DirectoryError(
                f"directory serial {directory.serial} is older than the one in use "
                f"({self.service.directory.serial})")
        self.service = KeyHolderService(config, directory, self.audit, self.metrics,
                                        windows=self.service.windows)
        self._directory_version = self._file_version(config.directory_file)
        self._shares_version = self._file_version(config.share_file)
        self._observe_directory(directory)
        log.info("directory serial %d in use, epochs served %s", directory.serial,
                 sorted(self.service.shares) or "none")

    def refresh_directory(self) -> None:
        """Take a replaced directory file or share file (checked like at start) without a
        reload: during a rotation the holder adds the new epoch's share and the
        administrator signs the directory listing it, in either order, and the holder
        serves the epoch once both are in place."""
        directory_version = self._file_version(self.config.directory_file)
        shares_version = self._file_version(self.config.share_file)
        if (directory_version, shares_version) == (self._directory_version,
                                                   self._shares_version):
            return
        # A refused file is not retried every round, only once it changes again.
        self._directory_version, self._shares_version = directory_version, shares_version
        if self.config.share_file.stat().st_mode & 0o077:
            raise ValueError(f"{self.config.share_file} must not be readable by group or "
                             "others (chmod 600)")
        shares = read_share_file(self.config.share_file)
        if shares.holder_id != self.config.holder_id:
            raise ValueError(f"{self.config.share_file} holds the shares of "
                             f"{shares.holder_id!r}, not of {self.config.holder_id!r}")
        config = dataclasses.replace(self.config, shares=shares)
        self._replace(config, _load_directory(config))
        self.config = config

    async def _keep_house(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await loop.run_in_executor(self.executor, self.refresh_directory)
            except Exception as exc:
                log.error("new directory refused, keeping serial %d: %s",
                          self.service.directory.serial, exc)
            try:
                removed = await loop.run_in_executor(
                    self.executor, self.audit.delete_older_than, self.config.audit_retention_days)
                if removed:
                    log.info("audit retention: removed %d record(s)", removed)
            except Exception:
                log.exception("audit retention failed")


class BackgroundKeyHolder:
    """A KeyHolderServer on an event loop in its own thread (tests, the demo)."""

    def __init__(self, config: KeyHolderConfig, config_path: Path | None = None) -> None:
        self.holder = KeyHolderServer(config, config_path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"keyholder-{config.holder_id}",
                                        daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.holder.port

    @property
    def audit(self) -> HolderAuditStore:
        return self.holder.audit

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.holder.start())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def start(self) -> BackgroundKeyHolder:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self

    async def _shutdown(self, grace: float) -> None:
        """Stop the server, then end whatever gRPC left scheduled, so nothing is torn down
        half-run when the loop closes."""
        await self.holder.stop(grace)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def stop(self, grace: float = 0.0) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(grace), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        elif self._error is None and not self._started.is_set():  # never started
            self.holder.executor.shutdown(wait=False)
            self.holder.audit.close()
        self._loop.close()
