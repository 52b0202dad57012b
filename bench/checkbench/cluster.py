"""The running network: the servers this benchmark started, and the querying node."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from checkbench.cpu import process_cpu
from checkbench.floors import Sizes, start_echo, start_relay, tls_files
from checkbench.settings import DEADLINE_SECONDS, ENTRY, OWN_CASE, PURPOSE
from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.server import CoordinatorServer
from samenloop.crypto.identity import Subject
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.check import CheckRequest, run_check
from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout, free_port, wait_for_port
from samenloop.node.model import (
    CheckResult,
)
from samenloop.node.network import Network
from samenloop.node.server import NodeServer
from samenloop.node.store import NodeStore
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.transport import (
    TlsFiles,
)


class Servers:
    """The processes or in-process servers this benchmark started; stops only those."""

    def __init__(self, mode: str, logs: Path) -> None:
        self.mode = mode
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.roles: list[str] = []
        self.stoppers: list[Callable[[], None]] = []
        self.last_start = time.time()  # when the last process that loads project code began

    def spawn(self, name: str, args: Sequence[str], cwd: Path) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.last_start = time.time()
        self.processes.append(subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=log, cwd=cwd, start_new_session=True))
        self.roles.append("coordinator" if name == "coordinator" else "relay"
                          if name == "floor-relay" else "echo servers"
                          if name.startswith("floor-") else "nodes")
        log.close()

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by role: this process ("client"; with in-process servers
        everything) and the sums over the coordinator, nodes, relay and echo processes."""
        used = {"client": time.process_time()}
        for role, process in zip(self.roles, self.processes, strict=True):
            used[role] = used.get(role, 0.0) + process_cpu(process.pid)
        return used

    def coordinator(self, layout: NetworkLayout) -> None:
        if self.mode == "process":
            self.spawn("coordinator", ["-m", "samenloop.node", "coordinator", "serve",
                                       "--config", str(layout.coordinator_config)], layout.root)
        else:
            server = CoordinatorServer(CoordinatorConfig.load(layout.coordinator_config))
            server.start()
            self.stoppers.append(lambda: server.stop(0))
        wait_for_port(layout.coordinator_endpoint, seconds=30.0)

    def nodes(self, layout: NetworkLayout) -> None:
        for node_id, config in layout.node_configs.items():
            if self.mode == "process":
                self.spawn(node_id, ["-m", "samenloop.node", "node", "serve", "--config",
                                     str(config)], config.parent)
            else:
                server = NodeServer(NodeConfig.load(config))
                server.start()
                self.stoppers.append(lambda s=server: s.stop(0))  # type: ignore[misc]
        for endpoint in layout.node_endpoints.values():
            wait_for_port(endpoint, seconds=30.0)

    def floor(self, layout: NetworkLayout, sizes: Sizes) -> str:
        """Start 25 echo servers and the relay; returns the relay's endpoint."""
        peers = [(f"127.0.0.1:{free_port()}", node_id) for node_id in layout.node_configs]
        relay = f"127.0.0.1:{free_port()}"
        specs: list[tuple[str, dict[str, Any]]] = [
            (f"floor-{peer}", {"role": "echo", "listen": endpoint,
                               "tls": [str(p) for p in
                                       asdict(tls_files(layout.root, peer)).values()],
                               "response_bytes": sizes.lookup_response})
            for endpoint, peer in peers]
        specs.append(("floor-relay", {
            "role": "relay", "listen": relay,
            "tls": [str(p) for p in asdict(tls_files(layout.root, COORDINATOR)).values()],
            "peers": peers, "lookup_bytes": sizes.lookup_request,
            "response_bytes": sizes.check_response, "deadline": DEADLINE_SECONDS}))
        for name, spec in specs:
            if self.mode == "process":
                path = self.logs / f"{name}.json"
                path.write_text(json.dumps(spec))
                self.spawn(name, [str(ENTRY), "--serve-floor", str(path)],
                           layout.root)
            else:
                tls = TlsFiles(*(Path(p) for p in spec["tls"]))
                if spec["role"] == "echo":
                    server = start_echo(spec["listen"], tls, spec["response_bytes"])
                else:
                    server = start_relay(spec["listen"], tls, peers, spec["lookup_bytes"],
                                         spec["response_bytes"], spec["deadline"])
                self.stoppers.append(lambda s=server: s.stop(0).wait())  # type: ignore[misc]
        for endpoint, _ in peers:
            wait_for_port(endpoint, seconds=30.0)
        wait_for_port(relay, seconds=30.0)
        return relay

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stop()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------- the querying node


class Querier:
    """Node 1 as its web app runs checks: its config, registry and coordinator channel."""

    def __init__(self, layout: NetworkLayout) -> None:
        self.node_id = next(iter(layout.node_configs))
        self.config = NodeConfig.load(layout.node_configs[self.node_id])
        self.store = NodeStore(self.config.store_path)
        self.network = Network(self.config)

    def check(self, *subjects: Subject) -> CheckResult:
        return run_check(self.config, self.store, self.network,
                         CheckRequest(OWN_CASE, PURPOSE, subjects, actor="bench"))

    def sizes(self, subject: Subject) -> Sizes:
        """Run one check and record its real message sizes."""
        inner = self.network.stub.Check
        seen: dict[str, Any] = {}

        def recording(request: pb.CheckRequest, **kwargs: Any) -> pb.CheckResponse:
            response = inner(request, **kwargs)
            seen.update(request=request, response=response)
            return response

        self.network.stub.Check = recording
        try:
            self.check(subject)
        finally:
            self.network.stub.Check = inner
        request, response = seen["request"], seen["response"]
        lookup = pb.LookupRequest(query_id=request.query_id, from_node=self.node_id,
                                  sealed=request.queries[0].sealed)
        answer = pb.LookupResponse(sealed_answer=response.results[0].sealed_answer)
        return Sizes(request.ByteSize(), lookup.ByteSize(), answer.ByteSize(),
                     response.ByteSize())

    def close(self) -> None:
        self.network.close()
        self.store.close()


