"""Deployment artefacts in deploy/: systemd units, container files, Kubernetes manifests,
Prometheus config and alert rules, the Grafana dashboard; and a real Prometheus scraping an
embedded network with them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.server import BackgroundKeyHolder
from samenloop.node.config import NodeConfig
from samenloop.node.demo import free_port
from samenloop.proto import directory as directory_mod
from tests.support.keyholders import build_holders
from tests.support.network import NOBODY, Harness
from tests.support.prometheus import PrometheusServer, find_or_install_prometheus

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to validate deploy/ YAML files")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
# The console script pyproject.toml installs beside the interpreter (and in the image).
HEALTHCHECK = Path(sys.executable).parent / "samenloop-healthcheck"
METRIC = re.compile(r"\bsamenloop_[a-z_]+\b")


def example_keys() -> set[str]:
    """Top-level and [section] keys documented in deploy/examples, plus metrics_listen."""
    keys = {"metrics_listen"}
    for name in ("coordinator.toml", "node.toml", "keyholder.toml"):
        data = tomllib.loads((DEPLOY / "examples" / name).read_text())
        for key, value in data.items():
            keys.add(key)
            if isinstance(value, dict):
                keys.update(f"{key}.{inner}" for inner in value)
    return keys


def config_keys(data: dict[str, Any]) -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(key)
        if isinstance(value, dict):
            keys.update(f"{key}.{inner}" for inner in value)
    return keys


def referenced_metrics(text: str) -> set[str]:
    return set(METRIC.findall(text))


# ---------------------------------------------------------------- systemd


def test_systemd_units_are_hardened_and_verify(tmp_path: Path) -> None:
    units = sorted((DEPLOY / "systemd").glob("samenloop-*.service"))
    assert {u.name for u in units} == {"samenloop-coordinator.service", "samenloop-node.service",
                                       "samenloop-node-import.service",
                                       "samenloop-keyholder.service"}
    for unit in units:
        text = unit.read_text()
        for directive in ("ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                          "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                          "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                          "SystemCallFilter=@system-service", "StateDirectory=",
                          "ConfigurationDirectory=samenloop", "ReadWritePaths=", "UMask=0077",
                          "User=samenloop"):
            assert directive in text, (unit.name, directive)
    serve = {u: (DEPLOY / "systemd" / f"samenloop-{u}.service").read_text()
             for u in ("coordinator", "node", "keyholder")}
    for text in serve.values():
        assert "Restart=on-failure" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text
    assert ("samenloop coordinator serve --config /etc/samenloop/coordinator.toml"
            in serve["coordinator"])
    assert "samenloop node serve --config /etc/samenloop/node.toml" in serve["node"]
    assert ("samenloop keyholder serve --config /etc/samenloop/keyholder.toml"
            in serve["keyholder"])
    importer = (DEPLOY / "systemd" / "samenloop-node-import.service").read_text()
    assert ("samenloop node import /var/lib/samenloop/export/active-cases.csv --sync "
            "--config /etc/samenloop/node.toml") in importer
    timer = (DEPLOY / "systemd" / "samenloop-node-import.timer").read_text()
    assert "OnCalendar=" in timer and "Unit=samenloop-node-import.service" in timer

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): units were "
                    "checked textually, not verified")
    # verify insists that ExecStart exists: point it at this checkout's samenloop.
    executable = Path(sys.executable).parent / "samenloop"
    assert executable.exists()
    for source in [*units, DEPLOY / "systemd" / "samenloop-node-import.timer"]:
        (tmp_path / source.name).write_text(
            source.read_text().replace("/opt/samenloop/bin/samenloop", str(executable)))
    copies = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    # verify exits 0 on unknown directives too, but names them on stderr.
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    for unit in ("samenloop-coordinator.service", "samenloop-node.service",
                 "samenloop-keyholder.service"):
        done = subprocess.run([analyze, "security", "--offline=yes", str(tmp_path / unit)],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
        level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
        assert level, done.stdout[-500:] + done.stderr
        assert float(level.group(1)) <= 2.5, (unit, level.group(0))


# ---------------------------------------------------------------- container


def test_containerfile_and_compose() -> None:
    containerfile = (DEPLOY / "container" / "Containerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", containerfile, re.M)
    assert "libsodium23" in containerfile
    assert re.search(r"^USER 10001:10001$", containerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["samenloop"\]$', containerfile, re.M)
    for source in re.findall(r"^COPY (\S+)", containerfile, re.M):
        assert (ROOT / source).exists(), source

    compose = yaml.safe_load((DEPLOY / "container" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"coordinator", "zvh-fryslan", "zvh-noord-limburg"}
    for name, service in services.items():
        assert service["image"].startswith("samenloop:"), name
        assert service["user"] == "10001:10001"
        assert service["healthcheck"]["test"][:2] == ["CMD", "samenloop-healthcheck"], name
        assert service["command"][1] == "serve"
        assert any(v.endswith(":/etc/samenloop:ro") for v in service["volumes"]), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)  # metrics on loopback only
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in compose["volumes"], (name, source)
    for node in ("zvh-fryslan", "zvh-noord-limburg"):
        assert services[node]["depends_on"]["coordinator"]["condition"] == "service_healthy"

    assert re.search(r"^EXPOSE .*\b7300\b.*\b9720\b", containerfile, re.M)
    holder = yaml.safe_load((DEPLOY / "container" / "keyholder.compose.yaml").read_text())
    service = holder["services"]["keyholder"]
    assert service["command"][:2] == ["keyholder", "serve"] and service["user"] == "10001:10001"
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["healthcheck"]["test"][:2] == ["CMD", "samenloop-healthcheck"]
    assert set(service["ports"]) == {"7300:7300", "127.0.0.1:9720:9720"}
    assert "./keyholder:/etc/samenloop:ro" in service["volumes"]


def test_make_network_creates_configs_the_processes_load(tmp_path: Path) -> None:
    """make-network.sh (the files compose.yaml mounts) yields configs, keys and a signed
    directory that the real config loaders accept."""
    out = tmp_path / "network"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    done = subprocess.run(["sh", str(DEPLOY / "container" / "make-network.sh"), str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    coordinator = CoordinatorConfig.load(out / "coordinator" / "coordinator.toml")
    assert coordinator.metrics_listen == "0.0.0.0:9700"
    directory = directory_mod.parse_file(coordinator.directory_file.read_bytes(),
                                         coordinator.directory_verify_key)
    assert {n.node_id: n.endpoint for n in directory.nodes} == {
        "zvh-fryslan": "zvh-fryslan:7101", "zvh-noord-limburg": "zvh-noord-limburg:7101"}
    for node_id in ("zvh-fryslan", "zvh-noord-limburg"):
        node = NodeConfig.load(out / node_id / "node.toml")
        assert node.node_id == node_id and node.coordinator == "coordinator:7000"
        assert node.metrics_listen == "0.0.0.0:9710"
        assert node.directory_verify_key == coordinator.directory_verify_key
    for path in out.rglob("*"):
        if path.suffix in (".key", ".box"):
            assert path.stat().st_mode & 0o077 == 0, path
    assert not list((out / "coordinator").rglob("ca.key")), "the CA key stays in admin/"
    compose = (DEPLOY / "container" / "compose.yaml").read_text()
    assert "./network/coordinator:/etc/samenloop:ro" in compose


# ---------------------------------------------------------------- kubernetes


def test_kubernetes_manifests() -> None:
    documents = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            assert document.get("apiVersion"), path.name
            assert document.get("kind"), path.name
            assert document.get("metadata", {}).get("name"), (path.name, document["kind"])
            documents.append(document)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    for expected in [("Namespace", "samenloop"), ("Deployment", "samenloop-coordinator"),
                     ("Service", "samenloop-coordinator"),
                     ("StatefulSet", "samenloop-node-zvh-fryslan"),
                     ("Deployment", "samenloop-keyholder"), ("Service", "samenloop-keyholder"),
                     ("Service", "samenloop-node-zvh-fryslan")]:
        assert expected in kinds, expected
    assert sum(d["kind"] == "NetworkPolicy" for d in documents) >= 3

    allowed = example_keys()
    for document in documents:
        if document["kind"] == "ConfigMap":
            for name, text in document["data"].items():
                config = tomllib.loads(text)
                assert config_keys(config) <= allowed, (name, config_keys(config) - allowed)
                assert config["metrics_listen"].endswith((":9700", ":9710", ":9720"))
        if document["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for volume in pod["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] in (0o400, 0o600), volume
        container = pod["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert set(ports) == {"grpc", "metrics"}
        for probe in ("livenessProbe", "readinessProbe"):
            command = container[probe]["exec"]["command"]
            assert command[0] == "samenloop-healthcheck", (document["metadata"]["name"], probe)
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        if document["kind"] == "StatefulSet":
            assert document["spec"]["volumeClaimTemplates"], "the node's SQLite needs a PVC"

    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    ingress_ports = {rule_port["port"] for p in policies for rule in p["spec"].get("ingress", [])
                     for rule_port in rule.get("ports", [])}
    assert ingress_ports == {7000, 7101, 7300, 9700, 9710, 9720, 5432, 8000}
    # A key holder admits node pods to its gRPC port, monitoring to metrics, nobody else,
    # and calls out to nobody.
    holder = next(p for p in policies if p["metadata"]["name"] == "samenloop-keyholder")
    assert holder["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] \
        == "keyholder"
    admitted = {(peer.get("podSelector", {}).get("matchLabels", {}).get(
                    "app.kubernetes.io/component"), "namespaceSelector" in peer,
                 tuple(port["port"] for port in rule["ports"]))
                for rule in holder["spec"]["ingress"] for peer in rule["from"]}
    assert admitted == {("node", False, (7300,)), (None, True, (9720,))}
    assert holder["spec"]["egress"] == []
    node = next(p for p in policies if p["metadata"]["name"] == "samenloop-node")
    assert 7300 in {port["port"] for rule in node["spec"]["egress"] for port in rule["ports"]}
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert "keyholder.yaml" in kustomization["resources"]
    assert any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
               and not p["spec"].get("egress") for p in policies), "a default deny"


def test_kubernetes_runs_two_coordinator_replicas_on_the_postgres_it_names() -> None:
    """Two replicas on two machines, a PodDisruptionBudget keeping one, no volume of their
    own, and [store] pointing at the CloudNativePG cluster's primary with its password
    Secret copied in by the init container."""
    documents = {(d["kind"], d["metadata"]["name"]): d
                 for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
                 for d in yaml.safe_load_all(path.read_text()) if d}
    deployment = documents[("Deployment", "samenloop-coordinator")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    spread = pod["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == labels
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"]), "stateless"
    budget = documents[("PodDisruptionBudget", "samenloop-coordinator")]
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == labels
    headless = documents[("Service", "samenloop-coordinator-replicas")]
    assert headless["spec"]["clusterIP"] == "None"

    cluster = documents[("Cluster", "samenloop-postgres")]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1" and cluster["spec"]["instances"] >= 2
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    database = cluster["spec"]["bootstrap"]["initdb"]["database"]
    config = tomllib.loads(
        documents[("ConfigMap", "samenloop-coordinator-config")]["data"]["coordinator.toml"])
    assert config["store"]["url"] == (
        f"postgresql://{owner}@samenloop-postgres-rw.samenloop.svc.cluster.local:5432/{database}")
    secret = next(v for v in pod["volumes"] if v["name"] == "postgres")["secret"]
    assert secret["secretName"] == "samenloop-postgres-app"  # CloudNativePG's app Secret
    install = " ".join(pod["initContainers"][0]["command"])
    assert f"/postgres/password {config['store']['password_file']}" in install
    node = tomllib.loads(documents[("ConfigMap", "samenloop-node-zvh-fryslan-config")]["data"]
                        ["node.toml"])
    assert node["coordinator"].startswith("samenloop-coordinator-replicas.")
    assert "postgres.yaml" in (DEPLOY / "kubernetes" / "kustomization.yaml").read_text()


# ---------------------------------------------------------------- grafana


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "samenloop-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


def test_grafana_dashboard_is_valid_json_with_the_panels() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "samenloop-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    text = "\n".join(dashboard_queries())
    for needle in ("samenloop_coordinator_checks_total",
                   "histogram_quantile(0.95, sum by (le) "
                   "(rate(samenloop_coordinator_check_duration_seconds_bucket",
                   "samenloop_coordinator_fanout_duration_seconds_bucket",
                   "samenloop_coordinator_node_reachable",
                   "samenloop_coordinator_rate_limit_refusals_total",
                   "samenloop_node_registrations", "certificate_expiry_seconds",
                   "samenloop_keyholder_evaluate_share_requests_total"):
        assert needle in text, needle


# ---------------------------------------------------------------- prometheus


@pytest.fixture(scope="module")
def promtool() -> str:
    path, why = find_or_install_prometheus()
    if path is None:
        pytest.skip(f"Prometheus is not available: {why}")
    return path


def test_prometheus_config_rules_and_rule_tests(promtool: str) -> None:
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"],
                 ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"SamenloopProcessDown", "SamenloopNodeUnreachable", "SamenloopChecksIncomplete",
            "SamenloopCoordinatorRateLimited", "SamenloopKeyHolderRefusing",
            "SamenloopCertificateExpiresSoon",
            "SamenloopRetentionSweeperStalled"} <= names
    tested = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    covered = {t["alertname"] for case in tested["tests"] for t in case["alert_rule_test"]}
    assert covered == names, names - covered


def _with_metrics(config: Path) -> str:
    target = f"127.0.0.1:{free_port()}"
    config.write_text(f'metrics_listen = "{target}"\n' + config.read_text())
    return target


def _prometheus_config(tmp_path: Path, coordinator: str, nodes: dict[str, str],
                       holders: dict[str, str]) -> Path:
    """deploy/prometheus/prometheus.yml with this test's targets, 1 s intervals and the real
    alerts.yml beside it."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"samenloop-coordinator", "samenloop-node", "samenloop-keyholder"}
    jobs["samenloop-keyholder"]["static_configs"] = [
        {"targets": [target], "labels": {"holder": holder}} for holder, target in holders.items()]
    jobs["samenloop-coordinator"]["static_configs"] = [{"targets": [coordinator]}]
    jobs["samenloop-node"]["static_configs"] = [
        {"targets": [target], "labels": {"node": node_id}} for node_id, target in nodes.items()]
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_healthcheck_is_an_installed_command(tmp_path: Path) -> None:
    """The README and the probes call `samenloop-healthcheck`: the package installs it, so
    operators outside a container have it too, and the image gets it the same way."""
    assert HEALTHCHECK.exists(), "pyproject.toml installs samenloop-healthcheck"
    usage = subprocess.run([str(HEALTHCHECK), "--help"], capture_output=True, text=True,
                           timeout=30)
    assert usage.returncode == 0 and "--live" in usage.stdout
    missing = _healthcheck(tmp_path / "absent.toml")
    assert missing.returncode == 2 and "unhealthy: cannot use" in missing.stderr
    containerfile = (DEPLOY / "container" / "Containerfile").read_text()
    assert "command -v samenloop-healthcheck" in containerfile


def _healthcheck(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HEALTHCHECK), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.slow
def test_prometheus_scrapes_a_live_network_with_the_deploy_config(
        tmp_path: Path, promtool: str) -> None:
    harness = Harness(tmp_path / "net", deadline_seconds=1.0)
    coordinator = _with_metrics(harness.layout.coordinator_config)
    nodes = {node_id: _with_metrics(config)
             for node_id, config in harness.layout.node_configs.items()}
    # A key holder beside it (its own PKI and directory: only its metrics matter here).
    key_holders = build_holders(tmp_path / "kh")
    holder_config = key_holders.configs["houder-a"]
    holder = _with_metrics(holder_config)
    config = _prometheus_config(tmp_path, coordinator, nodes, {"houder-a": holder})
    done = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    key_holder = BackgroundKeyHolder(KeyHolderConfig.load(holder_config))
    try:
        harness.start()
        key_holder.start()
        # The probe the container and Kubernetes use, against the real mTLS servers.
        for path in (harness.layout.coordinator_config, *harness.layout.node_configs.values(),
                     holder_config):
            probe = _healthcheck(path)
            assert probe.returncode == 0 and "SERVING" in probe.stdout, probe.stderr

        with PrometheusServer(config, tmp_path / "tsdb") as prometheus:
            for _ in range(3):
                harness.check("zvh-fryslan", "F-2026-001", NOBODY)

            def checks_counted() -> bool:
                result = prometheus.query("sum(samenloop_coordinator_checks_total)")
                return bool(result) and float(result[0]["value"][1]) >= 3

            prometheus.wait_until(checks_counted, 30, "Prometheus to scrape the 3 checks")
            complete = prometheus.query(
                'samenloop_coordinator_checks_total{outcome="complete"}')
            assert float(complete[0]["value"][1]) == 3
            assert complete[0]["metric"]["job"] == "samenloop-coordinator"

            targets = {coordinator: "up", holder: "up",
                       **{target: "up" for target in nodes.values()}}

            def all_up() -> bool:
                return {r["labels"]["instance"]: r["health"]
                        for r in prometheus.api("targets")["activeTargets"]} == targets

            prometheus.wait_until(all_up, 30, f"every target to be scraped: {targets}")
            assert {r["metric"]["instance"]: r["value"][1] for r in prometheus.query("up")} == {
                target: "1" for target in (coordinator, holder, *nodes.values())}

            # Lookups reach the central scrape without hit or no-hit: the nodes serve their
            # *_outcomes counts (for their own monitoring), the shipped config drops them.
            def lookups_scraped() -> bool:
                answered = prometheus.query(
                    'sum(samenloop_node_lookups_total{outcome="answered"})')
                return bool(answered) and float(answered[0]["value"][1]) >= 9

            prometheus.wait_until(lookups_scraped, 30, "Prometheus to scrape the lookups")
            assert prometheus.query('{__name__=~"samenloop_node_.*_outcomes_.*"}') == []
            assert prometheus.query('{__name__=~"samenloop_node_.*", outcome=~"hit|no_hit"}'
                                    ) == []
            served = urllib.request.urlopen(f"http://{nodes['zvh-noord-limburg']}/metrics",
                                            timeout=5).read().decode()
            assert 'samenloop_node_lookup_outcomes_total{outcome="no_hit"}' in served

            # Every samenloop_* metric the alerts and the dashboard use is exposed: as
            # series, or (a labelled counter before its first event) as a metric family.
            present = set(prometheus.api("label/__name__/values"))
            for family, entries in prometheus.api("metadata").items():
                present.add(family)
                if entries[0]["type"] == "counter":  # OpenMetrics names it without _total
                    present.add(f"{family.removesuffix('_total')}_total")
            used = referenced_metrics((PROMETHEUS / "alerts.yml").read_text())
            used |= referenced_metrics("\n".join(dashboard_queries()))
            assert used <= present, sorted(used - present)
            # And every dashboard query is valid PromQL.
            for expr in dashboard_queries():
                prometheus.query(expr.replace("$__rate_interval", "1m")
                                 .replace("$__range", "5m"))

            def rules_evaluated() -> list[dict[str, Any]]:
                rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
                return rules if rules and all(r["health"] == "ok" for r in rules) else []

            rules = prometheus.wait_until(rules_evaluated, 30, "the alert rules to evaluate")
            expected = {r["alert"] for g in yaml.safe_load(
                (PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]}
            assert {r["name"] for r in rules} == expected
            assert all(r["state"] == "inactive" for r in rules), [
                (r["name"], r["state"]) for r in rules if r["state"] != "inactive"]

            # A node goes away: its target goes down, the coordinator marks it unreachable,
            # and both alerts go pending (they fire after 5 minutes).
            harness.stop_node("zvh-rotterdam-rijnmond")
            harness.check("zvh-fryslan", "F-2026-001", NOBODY)
            stopped = _healthcheck(harness.layout.node_configs["zvh-rotterdam-rijnmond"],
                                   "--timeout", "1")
            assert stopped.returncode == 2, stopped.stdout

            def pending() -> set[tuple[str, str]]:
                alerts = {(a["labels"]["alertname"], a["labels"].get("node", ""))
                          for a in prometheus.api("alerts")["alerts"]
                          if a["state"] == "pending"}
                wanted = {("SamenloopNodeUnreachable", "zvh-rotterdam-rijnmond"),
                          ("SamenloopProcessDown", "zvh-rotterdam-rijnmond")}
                return alerts if wanted <= alerts else set()

            prometheus.wait_until(pending, 30, "the unreachable node's alerts to go pending")
    finally:
        key_holder.stop()
        key_holders.close()
        harness.close()
