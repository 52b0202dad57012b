"""An embedded network for tests: the real coordinator and node servers, in this process,
on loopback with mutual TLS, built by the same code as `samenloop demo`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc

from samenloop.coordinator.config import CoordinatorConfig
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


class Harness:
    def __init__(self, root: Path, *, interceptors: tuple[grpc.ServerInterceptor, ...] = (),
                 **build: object) -> None:
        self.layout: NetworkLayout = build_network(root, **build)  # type: ignore[arg-type]
        self.interceptors = interceptors
        self.coordinator: CoordinatorServer | None = None
        self.nodes: dict[str, NodeServer] = {}

    def start(self, import_demo_cases: bool = True) -> Harness:
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
        return run_check(node.config, node.store, node.network,
                         CheckRequest(case_ref, purpose, parsed, actor=actor, note=note,
                                      procesregisseur_id=procesregisseur_id),
                         metrics=node.metrics)

    def intake(self, node_id: str, case_ref: str, procesregisseur_id: str = "pr-1") -> None:
        """A new aanmelding, registered as a procesregisseur would."""
        register_intake(self.nodes[node_id].store, case_ref, procesregisseur_id, actor="test",
                        now=time.time())

    def close(self) -> None:
        for node_id in list(self.nodes):
            self.stop_node(node_id)
        self.stop_coordinator()
