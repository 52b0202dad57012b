"""The coordinator's Prometheus metrics (labels: node ids, outcomes, kinds; nothing else)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from samenloop.proto.observability import ProcessMetrics
from samenloop.proto.transport import TlsFiles

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class CoordinatorMetrics(ProcessMetrics):
    def __init__(self, tls: TlsFiles) -> None:
        super().__init__("samenloop_coordinator", tls)
        r = self.registry
        self.checks = Counter("samenloop_coordinator_checks", "Checks relayed, by outcome "
                              "(complete: every node answered)", ["outcome"], registry=r)
        self.evaluations = Counter("samenloop_coordinator_evaluations",
                                   "Evaluate requests, by outcome", ["outcome"], registry=r)
        self.evaluated_elements = Counter("samenloop_coordinator_evaluated_elements",
                                          "Blinded elements evaluated", registry=r)
        self.check_seconds = Histogram("samenloop_coordinator_check_duration_seconds",
                                       "Time to serve one Check", buckets=LATENCY_BUCKETS,
                                       registry=r)
        self.fanout_seconds = Histogram("samenloop_coordinator_fanout_duration_seconds",
                                        "Time from fan-out to the last answer or the deadline",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.lookups = Counter("samenloop_coordinator_node_lookups",
                               "Lookups per node and status", ["node", "status"], registry=r)
        self.node_up = Gauge("samenloop_coordinator_node_reachable",
                             "1 if the node answered its last lookup or health probe",
                             ["node"], registry=r)
        self.node_last_seen = Gauge("samenloop_coordinator_node_last_seen_timestamp_seconds",
                                    "When the node last answered", ["node"], registry=r)
        self.rate_limited = Counter("samenloop_coordinator_rate_limit_refusals",
                                    "Requests refused by a node's rate limit", ["kind"],
                                    registry=r)
        self.audit_records = Gauge("samenloop_coordinator_audit_records",
                                   "Records in the audit log", registry=r)
        for kind in ("evaluate", "evaluate_import", "check"):
            self.rate_limited.labels(kind)
        for family in (self.checks, self.evaluations):
            for outcome in (("complete", "incomplete") if family is self.checks
                            else ("ok", "refused", "invalid")):
                family.labels(outcome)
