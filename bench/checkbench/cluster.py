"""The running network: the servers this benchmark started, and the querying node."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from checkbench.cpu import process_cpu
from checkbench.floors import Sizes, start_floor, tls_files
from checkbench.population import Population, fill_registries, parse, person, write_export
from checkbench.settings import (
    DEADLINE_SECONDS,
    ENTRY,
    HOLDER_RATE_LIMITS,
    NODE_SETTINGS,
    OWN_CASE,
    PURPOSE,
    RATE_LIMITS,
    log,
)
from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.server import BackgroundKeyHolder
from samenloop.coordinator.server import CoordinatorServer
from samenloop.crypto.identity import Subject
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.check import CheckRequest, run_check
from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout, build_network, free_port, wait_for_port
from samenloop.node.model import (
    CheckResult,
)
from samenloop.node.network import Network
from samenloop.node.registration import import_cases
from samenloop.node.server import NodeServer
from samenloop.node.store import NodeStore
from samenloop.proto.runtime import LoopThread
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]


class Servers:
    """The processes or in-process servers this benchmark started; stops only those.

    Process mode runs the coordinator as `samenloop coordinator serve`, and the nodes either
    one per process (`samenloop node serve`, as operators run them) or `per_process` of them
    sharing one event loop in each of several host processes (400 nodes on 2 cores). The
    floor's echo servers are grouped the same way. In-process mode runs every server on one
    event loop thread of this process."""

    def __init__(self, mode: str, logs: Path) -> None:
        self.mode = mode
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.roles: list[str] = []
        self.stoppers: list[Callable[[], None]] = []
        self.last_start = time.time()  # when the last process that loads project code began
        self.runtime = LoopThread("bench-servers") if mode == "inprocess" else None

    def spawn(self, name: str, args: Sequence[str], cwd: Path) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.last_start = time.time()
        self.processes.append(subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=log, cwd=cwd, start_new_session=True))
        self.roles.append("coordinator" if name == "coordinator" else "relay"
                          if name == "floor-relay" else "echo servers"
                          if name.startswith("floor-") else "grid relay"
                          if name == "grid-relay" else "grid echo servers"
                          if name.startswith("grid-") else "key holders"
                          if name.startswith("holder-") else "nodes")
        log.close()

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by role: this process ("client"; with in-process servers
        everything) and the sums over the coordinator, nodes, relay and echo processes."""
        used = {"client": time.process_time()}
        for role, process in zip(self.roles, self.processes, strict=True):
            used[role] = used.get(role, 0.0) + process_cpu(process.pid)
        return used

    def holders(self, layout: NetworkLayout) -> None:
        """Start the key holders of a split network (#13), as `samenloop keyholder serve`
        processes, or in this process; none for a network whose coordinator holds the key."""
        for holder_id, config in layout.holder_configs.items():
            if self.runtime is None:
                self.spawn(f"holder-{holder_id}", ["-m", "samenloop.node", "keyholder",
                                                   "serve", "--config", str(config)],
                           config.parent)
            else:
                holder = BackgroundKeyHolder(KeyHolderConfig.load(config),
                                             config_path=config).start()
                self.stoppers.append(lambda h=holder: h.stop(0))  # type: ignore[misc]
        for endpoint in layout.holder_endpoints.values():
            wait_for_port(endpoint, seconds=30.0)

    def coordinator(self, layout: NetworkLayout) -> None:
        if self.runtime is None:
            self.spawn("coordinator", ["-m", "samenloop.node", "coordinator", "serve",
                                       "--config", str(layout.coordinator_config)], layout.root)
        else:
            server = CoordinatorServer(CoordinatorConfig.load(layout.coordinator_config),
                                       runtime=self.runtime)
            server.start()
            self.stoppers.append(lambda: server.stop(0))
        wait_for_port(layout.coordinator_endpoint, seconds=30.0)

    def nodes(self, layout: NetworkLayout, per_process: int = 1) -> int:
        """Start every node; returns the number of processes they run in (0: in-process)."""
        configs = list(layout.node_configs.items())
        hosts = 0
        if self.runtime is not None:
            for _, config in configs:
                server = NodeServer(NodeConfig.load(config), runtime=self.runtime)
                server.start()
                self.stoppers.append(lambda s=server: s.stop(0))  # type: ignore[misc]
        elif per_process <= 1:
            for node_id, config in configs:
                self.spawn(node_id, ["-m", "samenloop.node", "node", "serve", "--config",
                                     str(config)], config.parent)
            hosts = len(configs)
        else:
            for index, group in enumerate(chunks(configs, per_process)):
                path = self.logs / f"node-host-{index:02d}.json"
                path.write_text(json.dumps([str(config) for _, config in group]))
                self.spawn(f"node-host-{index:02d}", [str(ENTRY), "--serve-nodes", str(path)],
                           layout.root)
                hosts += 1
        for endpoint in layout.node_endpoints.values():
            wait_for_port(endpoint, seconds=120.0)
        return hosts

    def floor(self, layout: NetworkLayout, sizes: Sizes, per_process: int = 1,
              on_grid: bool = False) -> str:
        """Start an echo server per node (grouped as the nodes are) and the relay; returns
        the relay's endpoint. `on_grid`: echo servers that answer on the node's answer
        grid (a second floor, its processes named "grid-")."""
        peers = [(f"127.0.0.1:{free_port()}", node_id) for node_id in layout.node_configs]
        relay = f"127.0.0.1:{free_port()}"
        prefix = "grid" if on_grid else "floor"
        specs: list[tuple[str, dict[str, Any]]] = [
            (f"{prefix}-echo-{index:03d}", {
                "role": "echo", "response_bytes": sizes.lookup_response, "on_grid": on_grid,
                "servers": [{"listen": endpoint,
                             "tls": [str(p) for p in
                                     asdict(tls_files(layout.root, peer)).values()]}
                            for endpoint, peer in group]})
            for index, group in enumerate(chunks(peers, max(1, per_process)))]
        specs.append((f"{prefix}-relay", {
            "role": "relay", "listen": relay,
            "tls": [str(p) for p in asdict(tls_files(layout.root, COORDINATOR)).values()],
            "peers": peers, "lookup_bytes": sizes.lookup_request,
            "response_bytes": sizes.check_response, "deadline": DEADLINE_SECONDS}))
        for name, spec in specs:
            if self.runtime is None:
                path = self.logs / f"{name}.json"
                path.write_text(json.dumps(spec))
                self.spawn(name, [str(ENTRY), "--serve-floor", str(path)], layout.root)
            else:
                runtime = self.runtime
                for server in runtime.run(start_floor(spec)):
                    self.stoppers.append(
                        lambda s=server, r=runtime: r.run(s.stop(0)))  # type: ignore[misc]
        for endpoint, _ in peers:
            wait_for_port(endpoint, seconds=120.0)
        wait_for_port(relay, seconds=30.0)
        return relay

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stop()
        self.stoppers.clear()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.runtime is not None:
            self.runtime.close()


def serve_nodes(spec_path: Path) -> None:
    """Subprocess entry: several `NodeServer`s on one event loop until SIGTERM."""
    configs = [Path(p) for p in json.loads(spec_path.read_text())]
    runtime = LoopThread("nodes")
    servers = []
    try:
        for config in configs:
            server = NodeServer(NodeConfig.load(config), runtime=runtime)
            server.start()
            servers.append(server)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop(0)
        runtime.close()


# --------------------------------------------------------------------------- the querying node


class Querier:
    """Node 1 as its web app runs checks: its config, registry and coordinator channel."""

    def __init__(self, layout: NetworkLayout) -> None:
        self.node_id = next(iter(layout.node_configs))
        self.config = NodeConfig.load(layout.node_configs[self.node_id])
        self.store = NodeStore(self.config.store_path)
        self.network = Network(self.config)

    def check(self, *subjects: Subject, actor: str = "bench") -> CheckResult:
        return run_check(self.config, self.store, self.network,
                         CheckRequest(OWN_CASE, PURPOSE, subjects, actor=actor))

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




@dataclass
class Running:
    """A built, filled and started network with its querying node."""

    layout: NetworkLayout
    population: Population
    servers: Servers
    querier: Querier
    node_processes: int  # 0: every server in this process


@contextlib.contextmanager
def running_network(root: Path, nodes: int, subjects_per_node: int, seed: int, mode: str,
                    per_process: int = 1, warm_up: int | None = None, split: bool = True
                    ) -> Iterator[Running]:
    """Build a network of `nodes` nodes (its key split 2 of 3 over key holders, as every
    network now runs, or with `split=False` held by the coordinator), fill every registry,
    start the key holders, the coordinator and the nodes, import the querying node's own
    case, and check one registered person at `warm_up` nodes (every node when None): a
    warm-up, and proof that the filled tags are what the real path derives.
    Stops what it started on leaving."""
    named = tuple((f"zvh-bench-{i:03d}" if nodes > 99 else f"zvh-bench-{i:02d}",
                   f"Zorg- en Veiligheidshuis Bench {i:02d}") for i in range(1, nodes + 1))
    layout = build_network(root / "net", nodes=named, deadline_seconds=DEADLINE_SECONDS,
                           rate_limits=RATE_LIMITS, node_settings=NODE_SETTINGS,
                           holder_rate_limits=HOLDER_RATE_LIMITS,
                           **({} if split else {"key_holders": ()}))
    keys = "key split 2 of 3 over key holders" if split else "key at the coordinator"
    log(f"network of {nodes} nodes ({keys}) in {layout.root}")
    population = fill_registries(layout, subjects_per_node, seed,
                                 workers=len(os.sched_getaffinity(0)))
    log(f"filled {nodes} x {subjects_per_node} subjects ({population.tags:,} tags) in "
        f"{population.seconds:.1f} s")
    servers = Servers(mode, root / "logs")
    querier: Querier | None = None
    try:
        servers.holders(layout)
        servers.coordinator(layout)
        hosts = servers.nodes(layout, per_process)
        querier = Querier(layout)
        own = root / "own-cases.csv"
        rng = random.Random(f"{seed}/own")
        write_export(own, [person(rng) for _ in range(3)], rng, "Q", OWN_CASE)
        import_cases(querier.config, querier.store, querier.network, own, sync=False)
        log(f"servers up ({mode}, {hosts} node processes); own case imported")
        probe = random.Random(f"{seed}/probe")
        probed = list(population.rows.items())
        if warm_up is not None:
            probed = probe.sample(probed, min(warm_up, len(probed)))
        for node_id, rows in probed:
            if not population.findable[node_id]:
                raise RuntimeError(f"every case at {node_id} is at aanmelding: too few "
                                   f"subjects per node")
            subject = parse(rows[probe.choice(population.findable[node_id])])
            tries = 0
            while True:  # the nodes of a host process become ready one by one
                tries += 1
                result = querier.check(subject)
                if result.coverage.complete or tries == 10:
                    break
                time.sleep(1.0)
            if not any(h.node_id == node_id for h in result.hits):
                missing = [(m.node_id, m.status) for m in result.coverage.missing]
                raise RuntimeError(f"no hit at {node_id} for a person registered there "
                                   f"(after {tries} checks; not answered: "
                                   f"{missing[:5]})")
        yield Running(layout, population, servers, querier, hosts)
    finally:
        if querier:
            querier.close()
        servers.close()
