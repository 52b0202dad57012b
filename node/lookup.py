"""Answering a sealed query from another node (the holding side of a check).

The node opens the payload, refuses replays, looks its own tags up, files a melding for
its procesregisseur on a hit, and seals an answer padded to the size the query fixed.
Incoming tags are compared in memory and dropped.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import grpc
from google.protobuf.message import DecodeError

from samenloop.crypto import seal
from samenloop.node.config import (
    CONTACT_EMAIL_BYTES,
    CONTACT_NAME_CHARS,
    CONTACT_PHONE_CHARS,
    MAX_SUBJECTS,
    NodeConfig,
    Procesregisseur,
)
from samenloop.node.model import StoredHit
from samenloop.node.store import NodeStore
from samenloop.proto.directory import NodeDirectory
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.node")

MAX_HITS_PER_SUBJECT = 4
MAX_TAGS_PER_SUBJECT = 256
# Upper bounds of the encoded parts of an answer, so its bucket follows from the number of
# subjects only. A hit: subject, strength and contact index. A contact: the config's limits
# (name 100 characters, at most 400 bytes of UTF-8; phone 30 ASCII; e-mail 254 bytes) and
# framing; tests/test_lookup.py fills an answer with the worst case.
HIT_BYTES = 12
CONTACT_BYTES = 700
ANSWER_HEADER_BYTES = 160
# Every hit of a household check (64 subjects and three more hits) carries its contact; a
# bulk check's answer names at most this many procesregisseurs per node.
CONTACT_BUDGET = 67


def hit_budget(subjects: int) -> int:
    """Hits an answer carries at most: every subject's strongest hit, and three more."""
    return subjects + 3


def contact_budget(subjects: int) -> int:
    return min(hit_budget(subjects), CONTACT_BUDGET)


def answer_bucket(subjects: int) -> int:
    """The padded size of an answer to a query about `subjects` persons."""
    return seal.bucket_for(ANSWER_HEADER_BYTES + hit_budget(subjects) * HIT_BYTES
                           + contact_budget(subjects) * CONTACT_BYTES)


class ReplayGuard:
    """Query ids seen within the replay window, in memory only: a node keeps no trace of
    the queries it answered. A query stamped before this process started is refused, so a
    restart does not reopen the window for payloads captured earlier."""

    REPLAYED = "query id already seen (replay)"

    def __init__(self, window: float, started: float) -> None:
        self.window = window
        self.started = started
        self._seen: dict[str, float] = {}  # in arrival order, so the oldest come first
        self._lock = threading.Lock()

    def admit(self, query_id: str, stamped: float, now: float) -> str | None:
        """None if the query may be answered, else why not."""
        if abs(now - stamped) > self.window:
            return f"query timestamp outside the replay window of {self.window:g} s"
        if stamped < self.started:
            return "query stamped before this node started"
        with self._lock:
            # A query older than twice the window is refused by its timestamp already.
            cutoff = now - 2 * self.window
            for oldest, seen_at in list(itertools.islice(self._seen.items(), 64)):
                if seen_at >= cutoff:
                    break
                del self._seen[oldest]
            if query_id in self._seen:
                return self.REPLAYED
            self._seen[query_id] = now
        return None


def choose_hits(best: dict[tuple[int, str], StoredHit],
                budget: int) -> tuple[list[tuple[int, StoredHit]], bool]:
    """One hit per subject and procesregisseur, at most MAX_HITS_PER_SUBJECT per subject and
    `budget` in all, and whether any was left out. Every subject's strongest hit comes
    first, so a subject with a hit is never answered as if it had none."""
    per_person: dict[tuple[int, str], StoredHit] = {}
    for (subject, _), hit in best.items():
        person = (subject, hit.procesregisseur.id)
        if person not in per_person or per_person[person].strength < hit.strength:
            per_person[person] = hit
    ranked = sorted(per_person.items(), key=lambda kv: (kv[0][0], -kv[1].strength))
    firsts: list[tuple[int, StoredHit]] = []
    rest: list[tuple[int, StoredHit]] = []
    seen: set[int] = set()
    for (subject, _), hit in ranked:
        (rest if subject in seen else firsts).append((subject, hit))
        seen.add(subject)
    chosen: list[tuple[int, StoredHit]] = []
    per_subject: Counter[int] = Counter()
    for subject, hit in firsts + sorted(rest, key=lambda sh: -sh[1].strength):
        if len(chosen) < budget and per_subject[subject] < MAX_HITS_PER_SUBJECT:
            chosen.append((subject, hit))
            per_subject[subject] += 1
    return sorted(chosen, key=lambda sh: (sh[0], -sh[1].strength)), len(chosen) < len(ranked)


def answer_payload(query_id: str, node_id: str, best: dict[tuple[int, str], StoredHit],
                   subjects: int) -> pb.AnswerPayload:
    """The hits that fit the budgets of a query about `subjects` persons, each
    procesregisseur's contact once; a hit past the contact budget goes without one."""
    answer = pb.AnswerPayload(query_id=query_id, node_id=node_id)
    chosen, answer.truncated = choose_hits(best, hit_budget(subjects))
    index: dict[str, int] = {}
    room = contact_budget(subjects)
    for subject, hit in chosen:
        p = hit.procesregisseur
        if p.id not in index and len(index) < room:
            answer.contacts.append(pb.Contact(name=p.name, phone=p.phone, email=p.email))
            index[p.id] = len(answer.contacts)
        answer.truncated |= p.id not in index
        # The generated stub takes the enum's type; protobuf takes its int values too.
        answer.hits.append(pb.Hit(subject=subject, strength=cast("pb.Strength", hit.strength),
                                  contact=index.get(p.id, 0)))
    return answer


class LookupRefused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LookupOutcome:
    sealed_answer: bytes
    hits: int


def _contact(contact: pb.Contact) -> Procesregisseur:
    if not (0 < len(contact.name) <= CONTACT_NAME_CHARS
            and len(contact.phone) <= CONTACT_PHONE_CHARS
            and len(contact.email.encode("utf-8")) <= CONTACT_EMAIL_BYTES):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "requester contact is malformed")
    return Procesregisseur("", contact.name, contact.phone, contact.email)


def answer_query(config: NodeConfig, store: NodeStore, directory: NodeDirectory,
                 sealer: seal.Sealer, guard: ReplayGuard, from_node: str, query_id: str,
                 sealed: bytes, now: Callable[[], float]) -> LookupOutcome:
    sender = directory.node(from_node)
    if sender is None:
        raise LookupRefused(grpc.StatusCode.PERMISSION_DENIED,
                            f"querying node {from_node} is not in the directory")
    try:
        plaintext = sealer.open(sealed, sender.box_public_key)
        query = pb.QueryPayload.FromString(plaintext)
    except (seal.SealError, DecodeError):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            f"payload from {from_node} does not open or parse") from None
    if query.query_id != query_id or query.from_node != from_node:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            "payload does not belong to this request")
    at = now()
    subjects = {s.subject for e in query.epochs for s in e.subjects}
    if not subjects or len(subjects) > MAX_SUBJECTS or max(subjects) >= MAX_SUBJECTS:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "query names no valid subjects")
    if any(len(s.tags) > MAX_TAGS_PER_SUBJECT for e in query.epochs for s in e.subjects):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "too many tags for one subject")
    bucket = answer_bucket(max(subjects) + 1)
    if query.answer_bucket != bucket:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "answer_bucket is not standard")
    requester = _contact(query.requester)
    refusal = guard.admit(query_id, query.timestamp_ms / 1000, at)
    if refusal is not None:
        code = (grpc.StatusCode.ALREADY_EXISTS if refusal == ReplayGuard.REPLAYED
                else grpc.StatusCode.FAILED_PRECONDITION)
        raise LookupRefused(code, refusal)

    active_since = at - config.max_inactive_days * 86400
    best: dict[tuple[int, str], StoredHit] = {}  # (subject, case_ref) -> hit
    for epoch_tags in query.epochs:
        subject_of = {bytes(t): s.subject for s in epoch_tags.subjects for t in s.tags}
        for tag, hit in store.find_tagged(list(subject_of), epoch_tags.epoch, active_since):
            if from_node == config.node_id and hit.case_ref == query.exclude_case_ref:
                continue  # the case the check is run for is not samenloop with itself
            key = (subject_of[tag], hit.case_ref)
            if key not in best or best[key].strength < hit.strength:
                best[key] = hit
    answer = answer_payload(query_id, config.node_id, best, max(subjects) + 1)
    if best:
        store.add_notifications(
            [(hit, from_node, query.from_zvh[:100] or from_node, requester)
             for hit in best.values()], now=at, query_id=query_id)
        for hit in {h.case_ref: h for h in best.values()}.values():
            store.append_audit("melding", "lookup", {
                "case_ref": hit.case_ref, "from_node": from_node, "query_id": query_id,
                "strength": hit.strength}, at)
    # A no-hit answer is in the coordinator's log and audit under the same query id; the
    # node's own line for it costs a quarter of a lookup's CPU, so it is DEBUG.
    log.log(logging.INFO if best else logging.DEBUG,
            "lookup: from=%s query=%s subjects=%d hit=%s", from_node, query_id, len(subjects),
            bool(best))
    sealed_answer = sealer.seal(answer.SerializeToString(), sender.box_public_key,
                                bucket=bucket)
    return LookupOutcome(sealed_answer, len(answer.hits))
