"""What a key holder does, apart from gRPC: authorise the node, check the epoch and the
batch, take from the node's budget, evaluate with its share and prove it, audit.

It sees blinded elements only (uniformly random group elements to it) and learns nothing
of identities or tags; its audit says who asked how much, never what.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import grpc
import pysodium

from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.metrics import KeyHolderMetrics
from samenloop.coordinator.keyholder.shares import EpochShare
from samenloop.coordinator.keyholder.store import HolderAuditRecord, HolderAuditStore
from samenloop.crypto import threshold, voprf
from samenloop.crypto.pki import COORDINATOR
from samenloop.proto import limits
from samenloop.proto.directory import DirectoryNode, NodeDirectory
from samenloop.proto.ratelimit import RateWindows
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.keyholder")

MAX_BATCH = limits.EVALUATE_MAX_ELEMENTS
MINUTE = 60.0
ELEMENT_BYTES = voprf.ELEMENT_BYTES
IDENTITY = bytes(ELEMENT_BYTES)


class HolderError(Exception):
    """A refusal; `code` is the gRPC status, `outcome` the metrics label."""

    code = grpc.StatusCode.INTERNAL
    outcome = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(HolderError):
    code = grpc.StatusCode.UNAUTHENTICATED
    outcome = "unauthenticated"


class PermissionDenied(HolderError):
    code = grpc.StatusCode.PERMISSION_DENIED
    outcome = "denied"


class InvalidRequest(HolderError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    outcome = "invalid"


class EpochUnavailable(HolderError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    outcome = "unavailable_epoch"


class RateLimited(HolderError):
    """`retry_after`: seconds until the same request fits, None if it never will."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    outcome = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def served_shares(holder_id: str, shares: dict[int, EpochShare],
                  directory: NodeDirectory) -> dict[int, EpochShare]:
    """The epochs this holder can serve: split in the directory with this holder's share,
    and the share file's index and P_i equal to the directory's. A disagreement is refused
    (every answer would fail the node's proof check); an epoch only one side knows is
    left out (a DKG share before its directory, a retired epoch)."""
    served: dict[int, EpochShare] = {}
    for epoch, split in directory.key_splits.items():
        listed = next((s for s in split.shares if s.holder_id == holder_id), None)
        share = shares.get(epoch)
        if listed is None or share is None:
            continue
        if listed.index != share.index or listed.public_share != share.public_share:
            raise ValueError(f"the share of epoch {epoch} in the share file does not match "
                             f"the directory's public share for {holder_id} (index "
                             f"{share.index} vs {listed.index})")
        served[epoch] = share
    return served


def valid_element(element: bytes) -> bool:
    """DeserializeElement's checks: canonical ristretto255, not the identity."""
    return (len(element) == ELEMENT_BYTES and element != IDENTITY
            and bool(pysodium.crypto_core_ristretto255_is_valid_point(element)))


class KeyHolderService:
    def __init__(self, config: KeyHolderConfig, directory: NodeDirectory,
                 audit: HolderAuditStore, metrics: KeyHolderMetrics,
                 clock: Callable[[], float] = time.time,
                 windows: RateWindows | None = None) -> None:
        self.config = config
        self.directory = directory
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        if directory.key_holder(config.holder_id) is None:
            raise ValueError(f"{config.holder_id} is not a key holder in the directory "
                             f"(serial {directory.serial})")
        self.shares = served_shares(config.holder_id, config.shares.shares, directory)
        self.windows = windows or RateWindows(audit.usage_since(clock() - RateWindows.DAY))
        metrics.share_epochs.set(len(self.shares))

    def authorize(self, peer: str | None) -> DirectoryNode:
        """Only nodes of the directory: not the coordinator, not another key holder."""
        if not peer:
            raise Unauthenticated("no client certificate")
        node = self.directory.node(peer) if peer != COORDINATOR else None
        if node is None:
            raise PermissionDenied(f"{peer} is not a node in the directory")
        return node

    def _share(self, epoch: int) -> tuple[int, EpochShare]:
        epoch = epoch or self.directory.current_epoch
        share = self.shares.get(epoch)
        if share is None:
            served = ", ".join(map(str, sorted(self.shares))) or "none"
            raise EpochUnavailable(f"epoch {epoch} is not split with a share of "
                                   f"{self.config.holder_id}; epochs served: {served}")
        return epoch, share

    def evaluate(self, node_id: str, request_id: str, epoch: int, blinded: list[bytes],
                 purpose: int = pb.EVALUATION_FOR_CHECK) -> tuple[int, list[bytes], bytes]:
        """Check everything before any work, take from the node's budget, evaluate, audit.
        Every request of a node is in the audit, refused ones with why (never an element)."""
        purpose_name = "import" if purpose == pb.EVALUATION_FOR_IMPORT else "check"
        if not blinded or len(blinded) > MAX_BATCH:
            self.refused(node_id, request_id, epoch, len(blinded), purpose, "invalid")
            raise InvalidRequest("blinded_elements: required" if not blinded else
                                 f"blinded_elements: at most {MAX_BATCH} items")
        try:
            epoch, share = self._share(epoch)
        except EpochUnavailable:
            self.refused(node_id, request_id, epoch, len(blinded), purpose, "unavailable_epoch")
            raise
        for index, element in enumerate(blinded):
            if not valid_element(element):
                self.refused(node_id, request_id, epoch, len(blinded), purpose, "invalid")
                raise InvalidRequest(f"blinded_elements[{index}]: not a valid ristretto255 "
                                     "element")
        self._limit(node_id, request_id, epoch, len(blinded), purpose_name)
        started = time.monotonic()
        evaluated, proof = threshold.evaluate_share(share.secret, blinded)
        self.metrics.seconds.observe(time.monotonic() - started)
        self.audit.record(HolderAuditRecord(self.clock(), node_id, request_id, epoch,
                                            len(blinded), purpose_name, "ok"))
        self.metrics.elements.labels(purpose_name).inc(len(blinded))
        log.info("evaluate share: node=%s request=%s elements=%d epoch=%d purpose=%s",
                 node_id, request_id, len(blinded), epoch, purpose_name)
        return epoch, evaluated, proof

    def refused(self, node_id: str, request_id: str, epoch: int, count: int, purpose: int,
                outcome: str) -> None:
        """The audit record of a node's request refused before any evaluation (epoch 0,
        "the current one", recorded as the epoch it meant)."""
        self.audit.record(HolderAuditRecord(
            self.clock(), node_id, request_id, epoch or self.directory.current_epoch, count,
            "import" if purpose == pb.EVALUATION_FOR_IMPORT else "check", outcome))

    def _limit(self, node_id: str, request_id: str, epoch: int, count: int,
               purpose: str) -> None:
        limits = self.config.rate_limits
        per_minute, per_day = ((limits.import_evaluations_per_minute,
                                limits.import_evaluations_per_day) if purpose == "import" else
                               (limits.evaluations_per_minute, limits.evaluations_per_day))
        now = self.clock()
        windows = ((MINUTE, per_minute, "minute"), (RateWindows.DAY, per_day, "day"))
        exceeded = self.windows.reserve(node_id, purpose, count, now, windows)
        if exceeded is None:
            return
        window, limit = (MINUTE, per_minute) if exceeded == "minute" else \
            (RateWindows.DAY, per_day)
        self.audit.record(HolderAuditRecord(now, node_id, request_id, epoch, count, purpose,
                                            "refused"))
        wait = self.windows.retry_after(node_id, purpose, count, now, window, limit)
        log.warning("rate limit: node=%s purpose=%s request=%s per-%s limit %d reached",
                    node_id, purpose, request_id, exceeded, limit)
        budget = f"{self.config.holder_id}'s {purpose} evaluation budget"
        if wait is None:
            raise RateLimited(f"{budget} is exhausted: one request of {count} elements "
                              f"exceeds the limit of {limit} per {exceeded} for node {node_id}")
        raise RateLimited(f"{budget} is exhausted: at most {limit} elements per {exceeded} "
                          f"for node {node_id}; try again in {wait:.0f} s", wait)
