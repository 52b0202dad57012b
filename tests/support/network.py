"""An embedded network for tests: the real coordinator, key holder and node servers, in this
process, on loopback with mutual TLS, built by the same code as `samenloop demo`. The OPRF
key is split 2 of 3 over the key holders unless built with `key_holders=()` (a network as
before the split, the key at the coordinator)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.server import BackgroundKeyHolder
from samenloop.coordinator.keyholder.shares import read_share_file
from samenloop.coordinator.server import CoordinatorServer
from samenloop.crypto.identity import Subject, parse_subject
from samenloop.node.cases import register_intake
from samenloop.node.check import CheckRequest, run_check
from samenloop.node.config import STANDARD_PURPOSES, NodeConfig
from samenloop.node.demo import NetworkLayout, build_network
from samenloop.node.model import CheckResult
from samenloop.node.registration import import_cases
from samenloop.node.server import NodeServer
from samenloop.node.store import ImportSummary
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.keyholders import reconstruct_key


def person(surname: str, given_names: str, date_of_birth: str, place_of_birth: str = "",
           prefix: str = "") -> Subject:
    return parse_subject(surname=surname, prefix=prefix, given_names=given_names,
                         date_of_birth=date_of_birth, place_of_birth=place_of_birth)


# Registered by the demo exports (node/demo.py), typed as another ZVH would type them.
PIETER_VAN_DEN_BERG = dict(surname="Van den Berg", given_names="Pieter",
                           date_of_birth="12-3-1985", place_of_birth="Venlo")  # NL-2026-014
TJEERD_DIJKSTRA = dict(surname="Dijkstra", given_names="Tjeerd Jan",
                       date_of_birth="30-07-1979", place_of_birth="Sneek")   # F-2026-002
NOBODY = dict(surname="Visser", given_names="Karin", date_of_birth="1975-05-05")


def oprf_key(layout: NetworkLayout, epoch: int = 1) -> bytes:
    """The epoch's whole OPRF key, for tests that compute expected pseudonyms: the
    coordinator's key file, or (split network) recombined from t holders' share files,
    here in the test only; no process of the network ever holds it."""
    key_file = layout.root / "keys" / f"oprf-epoch-{epoch}.key"
    if key_file.exists():
        return bytes.fromhex(key_file.read_text().strip())
    return reconstruct_key([
        read_share_file(layout.root / "keys" / "holders" / f"{h}.shares.toml").shares[epoch]
        for h in list(layout.holder_configs)[:layout.threshold]])


class Harness:
    def __init__(self, root: Path, *, interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
                 **build: object) -> None:
        self.layout: NetworkLayout = build_network(root, **build)  # type: ignore[arg-type]
        self.interceptors = interceptors
        self.coordinator: CoordinatorServer | None = None
        self.nodes: dict[str, NodeServer] = {}
        self.holders: dict[str, BackgroundKeyHolder] = {}

    def start(self, import_demo_cases: bool = True) -> Harness:
        for holder_id in self.layout.holder_configs:
            self.start_holder(holder_id)
        self.start_coordinator()
        for node_id in self.layout.node_configs:
            self.start_node(node_id)
        if import_demo_cases:
            for node_id in self.layout.node_configs:
                self.import_cases(node_id)
        return self

    def start_coordinator(self) -> CoordinatorServer:
        self.coordinator = CoordinatorServer(
            CoordinatorConfig.load(self.layout.coordinator_config), self.interceptors,
            config_path=self.layout.coordinator_config)
        self.coordinator.start()
        return self.coordinator

    def stop_coordinator(self) -> None:
        if self.coordinator:
            self.coordinator.stop(0)
            self.coordinator = None

    def start_holder(self, holder_id: str) -> BackgroundKeyHolder:
        path = self.layout.holder_configs[holder_id]
        holder = BackgroundKeyHolder(KeyHolderConfig.load(path), config_path=path).start()
        self.holders[holder_id] = holder
        return holder

    def stop_holder(self, holder_id: str) -> None:
        self.holders.pop(holder_id).stop(0)

    def start_node(self, node_id: str) -> NodeServer:
        node = NodeServer(NodeConfig.load(self.layout.node_configs[node_id]))
        node.start()
        self.nodes[node_id] = node
        return node

    def stop_node(self, node_id: str) -> None:
        self.nodes.pop(node_id).stop(0)

    def import_cases(self, node_id: str, path: Path | None = None, *, sync: bool = True,
                     now: Callable[[], float] = time.time) -> ImportSummary:
        node = self.nodes[node_id]
        return import_cases(node.config, node.store, node.network,
                            path or self.layout.case_files[node_id], sync=sync, now=now)

    def check(self, node_id: str, case_ref: str, *subjects: dict[str, str] | Subject,
              purpose: str = STANDARD_PURPOSES[0], note: str = "",
              actor: str = "test", procesregisseur_id: str | None = None) -> CheckResult:
        node = self.nodes[node_id]
        parsed = tuple(s if isinstance(s, Subject) else person(**s) for s in subjects)
        result = run_check(node.config, node.store, node.network,
                           CheckRequest(case_ref, purpose, parsed, actor=actor, note=note,
                                        procesregisseur_id=procesregisseur_id),
                           metrics=node.metrics)
        self.flush_meldingen()
        return result

    def flush_meldingen(self) -> None:
        """Holders write meldingen just after answering: wait for them to be written."""
        for node in self.nodes.values():
            assert node.meldingen.flush(), "a node's melding writer is stuck"

    def intake(self, node_id: str, case_ref: str, procesregisseur_id: str = "pr-1") -> None:
        """A new aanmelding, registered as a procesregisseur would."""
        register_intake(self.nodes[node_id].store, case_ref, procesregisseur_id, actor="test",
                        now=time.time())

    def close(self) -> None:
        for node_id in list(self.nodes):
            self.stop_node(node_id)
        self.stop_coordinator()
        for holder_id in list(self.holders):
            self.stop_holder(holder_id)


class NodeProcess:
    """One node of a Harness as its own `samenloop node serve` process (optionally with a
    fault at a kill point, see tests/support/killpoint.py), ready when its health service
    says SERVING to a client with the coordinator's certificate."""

    def __init__(self, harness: Harness, node_id: str, point: str = "none") -> None:
        if node_id in harness.nodes:
            harness.stop_node(node_id)
        self.node_id = node_id
        self.config = harness.layout.node_configs[node_id]
        self.endpoint = harness.layout.node_endpoints[node_id]
        self.log = harness.layout.root / f"{node_id}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.killpoint", point, "node", "serve",
                 "--config", str(self.config)],
                cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=subprocess.STDOUT)
        pki_dir = harness.layout.root / "pki"
        self.coordinator_tls = TlsFiles(pki_dir / "ca.crt", pki_dir / "coordinator.crt",
                                        pki_dir / "coordinator.key")
        self.channel = secure_channel(self.endpoint, self.coordinator_tls,
                                      expected_peer=node_id)
        self._wait_serving()

    def _wait_serving(self, seconds: float = 30.0) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited: {self.output()}")
            try:
                status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.node_id} not serving after {seconds} s")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the process (if it still runs) and wait for its exit code."""
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
