"""Monitoring: every process serves /metrics, and no label ever carries a case reference,
a user's name, an identifier or a tag."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from samenloop.node.demo import free_port
from tests.support.network import NOBODY, PIETER_VAN_DEN_BERG, Harness

ALLOWED_LABELS = {"outcome", "node", "status", "kind", "phase", "version", "le"}
FORBIDDEN = ["F-2026-001", "NL-2026-014", "Anne de Vries", "Joris Meijer", "Sjoukje Bosma",
             "Wiebe Postma", "Berg", "Pieter",
             "Visser", "Karin", "1985", "1975", "Venlo", "test"]


def _with_metrics(config: Path) -> int:
    port = free_port()
    config.write_text(f'metrics_listen = "127.0.0.1:{port}"\n' + config.read_text())
    return port


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, [])
               if all(found.get(k) == x for k, x in labels.items()))


def test_metrics_count_checks_and_carry_no_identifying_labels(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "net", deadline_seconds=1.0)
    ports = {"coordinator": _with_metrics(harness.layout.coordinator_config)}
    for node_id, config in harness.layout.node_configs.items():
        ports[node_id] = _with_metrics(config)
    try:
        harness.start()
        harness.check("zvh-fryslan", "F-2026-001", PIETER_VAN_DEN_BERG)
        harness.check("zvh-fryslan", "F-2026-001", NOBODY)
        harness.stop_node("zvh-rotterdam-rijnmond")
        harness.check("zvh-fryslan", "F-2026-001", NOBODY)

        coordinator = scrape(ports["coordinator"])
        assert value(coordinator, "samenloop_coordinator_checks_total", outcome="complete") == 2
        assert value(coordinator, "samenloop_coordinator_checks_total", outcome="incomplete") == 1
        assert value(coordinator, "samenloop_coordinator_node_reachable",
                     node="zvh-rotterdam-rijnmond") == 0
        assert value(coordinator, "samenloop_coordinator_node_reachable",
                     node="zvh-noord-limburg") == 1
        assert value(coordinator, "samenloop_coordinator_node_lookups_total",
                     node="zvh-rotterdam-rijnmond", status="UNREACHABLE") == 1
        assert value(coordinator, "samenloop_coordinator_check_duration_seconds_count") == 3
        # The key is split over key holders (#13): the coordinator evaluates nothing.
        assert value(coordinator, "samenloop_coordinator_evaluations_total", outcome="ok") == 0
        assert value(coordinator, "samenloop_coordinator_certificate_expiry_seconds") > 86400
        assert value(coordinator, "samenloop_coordinator_directory_serial") == 1
        assert value(coordinator, "samenloop_coordinator_audit_records") >= 3  # the checks
        # The health probe (every 15 s in production) sees the same, without any check.
        assert harness.coordinator is not None
        harness.coordinator.probe_nodes()
        probed = scrape(ports["coordinator"])
        assert value(probed, "samenloop_coordinator_node_reachable",
                     node="zvh-rotterdam-rijnmond") == 0
        assert value(probed, "samenloop_coordinator_node_reachable", node="zvh-fryslan") == 1
        assert value(probed, "samenloop_coordinator_node_last_seen_timestamp_seconds",
                     node="zvh-fryslan") > value(
            coordinator, "samenloop_coordinator_node_last_seen_timestamp_seconds",
            node="zvh-fryslan")

        fryslan = scrape(ports["zvh-fryslan"])
        assert value(fryslan, "samenloop_node_checks_total", outcome="complete") == 2
        assert value(fryslan, "samenloop_node_checks_total", outcome="incomplete") == 1
        assert value(fryslan, "samenloop_node_check_outcomes_total", outcome="hit") == 1
        assert value(fryslan, "samenloop_node_check_outcomes_total", outcome="no_hit") == 1
        assert value(fryslan, "samenloop_node_registrations", phase="triage") == 1
        assert value(fryslan, "samenloop_node_directory_epoch") == 1
        assert value(fryslan, "samenloop_node_last_sweep_timestamp_seconds") > 0
        limburg = scrape(ports["zvh-noord-limburg"])
        assert value(limburg, "samenloop_node_lookups_total", outcome="answered") == 3
        assert value(limburg, "samenloop_node_lookup_outcomes_total", outcome="hit") == 1
        assert value(limburg, "samenloop_node_lookup_outcomes_total", outcome="no_hit") == 2
        # Only the *_outcomes families say hit or no hit: the ones the central scrape
        # drops (deploy/prometheus/prometheus.yml; tests/test_deploy.py).
        for samples in (fryslan, limburg):
            for name, entries in samples.items():
                if "_outcomes_" not in name:
                    assert all(labels.get("outcome") not in ("hit", "no_hit")
                               for labels, _ in entries), name
        assert value(limburg, "samenloop_node_imports_total", outcome="applied") == 1

        for samples in (coordinator, fryslan, limburg):
            for name, entries in samples.items():
                for labels, _ in entries:
                    assert set(labels) <= ALLOWED_LABELS, (name, labels)
                    for label_value in labels.values():
                        assert not any(f.lower() in label_value.lower() for f in FORBIDDEN), (
                            name, labels)
    finally:
        harness.close()


def test_health_reports_readiness(tmp_path: Path) -> None:
    """A node is ready only with a verified directory: before it can reach the coordinator
    for the first time its health is NOT_SERVING, then SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from samenloop.proto.transport import TlsFiles, secure_channel

    harness = Harness(tmp_path / "net")
    try:
        node = harness.start_node("zvh-fryslan")  # the coordinator is not running yet
        pki_dir = harness.layout.root / "pki"
        tls = TlsFiles(pki_dir / "ca.crt", pki_dir / "coordinator.crt",
                       pki_dir / "coordinator.key")
        health = health_pb2_grpc.HealthStub(secure_channel(
            harness.layout.node_endpoints["zvh-fryslan"], tls, expected_peer="zvh-fryslan"))

        def status() -> int:
            return health.Check(health_pb2.HealthCheckRequest(service="samenloop.v1.Node"),
                                timeout=3).status

        assert status() == health_pb2.HealthCheckResponse.NOT_SERVING
        harness.start_coordinator()
        node.reload()
        assert status() == health_pb2.HealthCheckResponse.SERVING
        coordinator_health = health_pb2_grpc.HealthStub(secure_channel(
            harness.layout.coordinator_endpoint,
            TlsFiles(pki_dir / "ca.crt", pki_dir / "zvh-fryslan.crt", pki_dir / "zvh-fryslan.key"),
            expected_peer="coordinator"))
        assert coordinator_health.Check(health_pb2.HealthCheckRequest(
            service="samenloop.v1.Coordinator"), timeout=3).status == \
            health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError):
            coordinator_health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=3)
    finally:
        harness.close()
