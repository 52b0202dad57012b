"""Coordinator replicas for tests: each its own `samenloop coordinator serve` process on a
free port, all on one PostgreSQL, and the Harness's nodes pointed at all of them.

    python -m tests.support.replicas POINT coordinator serve --config FILE

POINT "die-after-fanout" makes the replica SIGKILL itself once a check's fan-out is done and
before its answer leaves (the holders have answered, and filed their meldingen); "none"
runs it as it is.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from samenloop.crypto.pki import COORDINATOR
from samenloop.node.demo import NetworkLayout, free_port
from samenloop.proto.transport import TlsFiles, secure_channel

POINTS = ("die-after-fanout", "none")
ROOT = Path(__file__).resolve().parents[2]


class CoordinatorProcess:
    """One replica: its config is the layout's coordinator.toml with its own listen port and
    data_dir, and `[store] url` on the shared database."""

    def __init__(self, layout: NetworkLayout, name: str, url: str, password_file: Path,
                 point: str = "none") -> None:
        self.name = name
        self.endpoint = f"127.0.0.1:{free_port()}"
        text = layout.coordinator_config.read_text(encoding="utf-8")
        text = re.sub(r'^listen = ".*"$', f'listen = "{self.endpoint}"', text, flags=re.M)
        text = re.sub(r'^data_dir = ".*"$', f'data_dir = "data/{name}"', text, flags=re.M)
        self.config = layout.root / f"{name}.toml"
        self.config.write_text(f'{text}\n[store]\nurl = "{url}"\n'
                               f'password_file = "{password_file}"\n', encoding="utf-8")
        self.log = layout.root / f"{name}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.replicas", point, "coordinator", "serve",
                 "--config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        pki_dir = layout.root / "pki"
        node = next(iter(layout.node_configs))
        self.channel = secure_channel(self.endpoint, TlsFiles(
            pki_dir / "ca.crt", pki_dir / f"{node}.crt", pki_dir / f"{node}.key"),
            expected_peer=COORDINATOR)
        self._wait_serving()

    def _wait_serving(self, seconds: float = 60.0) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.output()}")
            try:
                status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not serving after {seconds} s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> int:
        """SIGKILL: no clean stop, connections reset mid-call."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=20)

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def point_nodes_at(layout: NetworkLayout, endpoints: list[str]) -> None:
    """Every node's `coordinator` becomes the list of replicas."""
    listed = "[" + ", ".join(f'"{e}"' for e in endpoints) + "]"
    for config in layout.node_configs.values():
        text = config.read_text(encoding="utf-8")
        config.write_text(re.sub(r'^coordinator = ".*"$', f"coordinator = {listed}", text,
                                 flags=re.M), encoding="utf-8")


def _die_after_fanout() -> None:
    """Wrap the service's check: the fan-out runs (holders answer and file meldingen), then
    the process dies before the answer leaves."""
    from samenloop.coordinator import service

    check = service.CoordinatorService.check

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if inspect.iscoroutinefunction(check):
        async def check_then_die_async(*args: Any, **kwargs: Any) -> Any:
            await check(*args, **kwargs)
            die()

        service.CoordinatorService.check = check_then_die_async  # type: ignore[method-assign]
        return

    def check_then_die(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        die()

    service.CoordinatorService.check = check_then_die  # type: ignore[method-assign]


if __name__ == "__main__":
    point = sys.argv[1]
    if point not in POINTS:
        sys.exit(f"unknown point {point}; one of {', '.join(POINTS)}")
    if point == "die-after-fanout":
        _die_after_fanout()
    from samenloop.node import cli

    sys.argv = ["samenloop", *sys.argv[2:]]
    cli.main()
