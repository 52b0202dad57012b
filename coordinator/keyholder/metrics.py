"""The key holder's Prometheus metrics. Labels: outcome and purpose only; no node ids (the
holder is another organisation: what a node asks is the coordinator's to expose, not its)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from samenloop.proto.observability import ProcessMetrics
from samenloop.proto.transport import TlsFiles

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
OUTCOMES = ("ok", "unauthenticated", "denied", "invalid", "unavailable_epoch", "rate_limited")


class KeyHolderMetrics(ProcessMetrics):
    def __init__(self, tls: TlsFiles) -> None:
        super().__init__("samenloop_keyholder", tls)
        r = self.registry
        self.requests = Counter("samenloop_keyholder_evaluate_share_requests",
                                "EvaluateShare requests, by outcome", ["outcome"], registry=r)
        self.elements = Counter("samenloop_keyholder_evaluated_elements",
                                "Blinded elements evaluated with this holder's share, by "
                                "purpose", ["purpose"], registry=r)
        self.seconds = Histogram("samenloop_keyholder_evaluate_share_duration_seconds",
                                 "Time to evaluate one request and prove it",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.audit_records = Gauge("samenloop_keyholder_audit_records",
                                   "Records in the audit log", registry=r)
        self.share_epochs = Gauge("samenloop_keyholder_served_epochs",
                                  "Split epochs this holder serves (its share and the "
                                  "directory agree)", registry=r)
        for outcome in OUTCOMES:  # series exist from the start, for alerts and rate()
            self.requests.labels(outcome)
        for purpose in ("check", "import"):
            self.elements.labels(purpose)
