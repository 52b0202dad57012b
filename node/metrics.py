"""The node's Prometheus metrics (labels: outcomes and phases only; never case references,
users, identifiers or tags).

Hit and no-hit counts (`*_outcomes_total`) are for the node's own monitoring only: the
central scrape (deploy/prometheus/prometheus.yml) drops them, because counts that move
with every lookup or check would tell whoever runs it which ones hit."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from samenloop.node.model import PHASES
from samenloop.node.store import NodeStore
from samenloop.proto.observability import ProcessMetrics
from samenloop.proto.transport import TlsFiles

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class RegistryCollector(Collector):
    """Figures read from the store at scrape time, so imports and checks run by the CLI in
    another process are counted too."""

    def __init__(self, store: NodeStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        counts = self.store.counts_by_phase()
        phases = GaugeMetricFamily("samenloop_node_registrations",
                                   "Active cases registered, by phase", labels=["phase"])
        for phase in PHASES:
            phases.add_metric([phase], counts.get(phase, 0))
        yield phases
        yield GaugeMetricFamily("samenloop_node_tags", "Tags stored",
                                value=self.store.tag_count())
        yield GaugeMetricFamily("samenloop_node_audit_records", "Records in the audit trail",
                                value=self.store.audit_count())
        imports = CounterMetricFamily("samenloop_node_imports", "Imports applied (any "
                                      "process: CLI, web, timer)", labels=["outcome"])
        imports.add_metric(["applied"], self.store.count_audit("import", None, 0.0))
        yield imports


class NodeMetrics(ProcessMetrics):
    def __init__(self, tls: TlsFiles, store: NodeStore) -> None:
        super().__init__("samenloop_node", tls)
        r = self.registry
        self.lookups = Counter("samenloop_node_lookups", "Sealed queries from other nodes, "
                               "answered or refused", ["outcome"], registry=r)
        self.lookup_outcomes = Counter("samenloop_node_lookup_outcomes", "Answered lookups by "
                                       "hit or no hit: for the node's own monitoring only",
                                       ["outcome"], registry=r)
        self.lookup_seconds = Histogram("samenloop_node_lookup_duration_seconds",
                                        "Time to answer one Lookup", buckets=LATENCY_BUCKETS,
                                        registry=r)
        self.checks = Counter("samenloop_node_checks", "Checks run from this process, "
                              "complete or incomplete (a node did not answer)", ["outcome"],
                              registry=r)
        self.check_outcomes = Counter("samenloop_node_check_outcomes", "Complete checks by "
                                      "hit or no hit: for the node's own monitoring only",
                                      ["outcome"], registry=r)
        self.check_seconds = Histogram("samenloop_node_check_duration_seconds",
                                       "Time for one check, end to end",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.expirations = Counter("samenloop_node_expirations",
                                   "Registrations removed by the retention sweeper",
                                   registry=r)
        self.sweeps = Counter("samenloop_node_sweeps", "Retention sweeper runs", registry=r)
        self.last_sweep = Gauge("samenloop_node_last_sweep_timestamp_seconds",
                                "When the retention sweeper last ran", registry=r)
        self.rate_limited = Counter("samenloop_node_rate_limit_refusals",
                                    "Checks refused by a user's limit", registry=r)
        for outcome in ("answered", "refused"):
            self.lookups.labels(outcome)
        for outcome in ("complete", "incomplete"):
            self.checks.labels(outcome)
        for outcome in ("hit", "no_hit"):
            self.lookup_outcomes.labels(outcome)
            self.check_outcomes.labels(outcome)
        r.register(RegistryCollector(store))

    def swept(self, removed: int) -> None:
        self.sweeps.inc()
        self.expirations.inc(removed)
        self.last_sweep.set(time.time())
