"""Answering a sealed query from another node (the holding side of a check).

The node opens the payload, refuses replays, looks its own tags up and seals an answer
padded to the size the query fixed. Incoming tags are compared in memory and dropped.
A hit's meldingen and audit records are described here (`PendingMeldingen`) and written
after the answer has left (node/server.py `MeldingWriter`): hit and no-hit do the same
work before answering, so the coordinator cannot tell them apart by timing.
"""

from __future__ import annotations

import hashlib
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
    PURPOSE_CHARS,
    NodeConfig,
    Procesregisseur,
)
from samenloop.node.model import StoredHit
from samenloop.node.store import AuditRecord, NewMelding, NodeStore
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
    # A query sent again by its node through another coordinator replica (the first died)
    # gets the answer it was given, for this long and only byte for byte the same query.
    KEEP_ANSWER_SECONDS = 60.0
    MAX_KEPT_ANSWERS = 10_000
    # A repeat that arrives while the first is still being answered waits this long for it.
    WAIT_FOR_FIRST_SECONDS = 2.0

    def __init__(self, window: float, started: float) -> None:
        self.window = window
        self.started = started
        self._seen: dict[str, float] = {}  # in arrival order, so the oldest come first
        # query id -> the answer given (or being made), in memory only, in arrival order.
        self._answers: dict[str, _KeptAnswer] = {}
        self._lock = threading.Lock()

    def answering(self, query_id: str, from_node: str, sealed_query: bytes, now: float) -> None:
        """An admitted query is being answered: a repeat of it waits for its answer."""
        kept = _KeptAnswer(from_node, hashlib.sha256(sealed_query).digest(), now)
        with self._lock:
            while self._answers:
                oldest = next(iter(self._answers))
                if len(self._answers) < self.MAX_KEPT_ANSWERS and \
                        now - self._answers[oldest].at <= self.KEEP_ANSWER_SECONDS:
                    break
                del self._answers[oldest]
            self._answers[query_id] = kept

    def keep_answer(self, query_id: str, answer: bytes, hits: int) -> None:
        with self._lock:
            kept = self._answers.get(query_id)
        if kept is not None:
            kept.answer, kept.hits = answer, hits
            kept.ready.set()

    def answered(self, query_id: str, from_node: str, sealed_query: bytes,
                 now: float) -> tuple[bytes, int] | None:
        """The sealed answer (and its number of hits) already given to exactly this query
        from this node within KEEP_ANSWER_SECONDS: the same answer again, and no second
        melding. A different payload under the same id is a replay (None)."""
        with self._lock:
            kept = self._answers.get(query_id)
        if kept is None or now - kept.at > self.KEEP_ANSWER_SECONDS \
                or kept.from_node != from_node \
                or kept.digest != hashlib.sha256(sealed_query).digest():
            return None
        if not kept.ready.wait(self.WAIT_FOR_FIRST_SECONDS) or kept.answer is None:
            return None
        return kept.answer, kept.hits

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


class _KeptAnswer:
    """The answer to one query, kept briefly for its node's retry through another replica."""

    def __init__(self, from_node: str, digest: bytes, at: float) -> None:
        self.from_node = from_node
        self.digest = digest
        self.at = at
        self.ready = threading.Event()
        self.answer: bytes | None = None
        self.hits = 0


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
        if hit.assess_first:  # "beoordeling vooraf": the holder makes contact, no contact here
            answer.hits.append(pb.Hit(subject=subject,
                                      strength=cast("pb.Strength", hit.strength),
                                      assess_first=True))
            continue
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
class PendingMeldingen:
    """What a hit leaves at this node, written after the answer: a melding per matching
    case for its procesregisseur, with its audit record. Case references and contacts
    only, no identifiers."""

    query_id: str
    from_node: str
    from_zvh: str
    requester: Procesregisseur
    purpose: str
    hits: dict[tuple[int, str], StoredHit]
    at: float

    def record(self, store: NodeStore) -> None:
        record_meldingen(store, self.from_node, self.from_zvh, self.requester, self.purpose,
                         self.query_id, self.hits, self.at)


# A node without a configured privacy contact answers a rights request with its name only.
NO_PRIVACY_CONTACT = Procesregisseur("privacy", "", "", "")


@dataclass(frozen=True)
class PendingRightsNotice:
    """A rights request made at another ZVH found the person here: a notice for the own
    privacy role (answer within a month), never a samenloopmelding."""

    query_id: str
    from_node: str
    from_zvh: str
    cases: list[str]
    at: float

    @property
    def hits(self) -> list[str]:
        return self.cases

    def record(self, store: NodeStore) -> None:
        store.record_rights_notice(self.from_node, self.from_zvh, self.query_id, self.cases,
                                   now=self.at, audit=AuditRecord(
                                       "rights_notice", "lookup",
                                       {"from_node": self.from_node, "query_id": self.query_id,
                                        "cases": self.cases}))


PendingWrite = PendingMeldingen | PendingRightsNotice


@dataclass(frozen=True)
class LookupOutcome:
    sealed_answer: bytes
    hits: int
    pending: PendingWrite | None  # None for a no-hit: nothing to write


def _contact(contact: pb.Contact) -> Procesregisseur:
    if not (0 < len(contact.name) <= CONTACT_NAME_CHARS
            and len(contact.phone) <= CONTACT_PHONE_CHARS
            and len(contact.email.encode("utf-8")) <= CONTACT_EMAIL_BYTES):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "requester contact is malformed")
    return Procesregisseur("", contact.name, contact.phone, contact.email)


def find_hits(config: NodeConfig, store: NodeStore, epochs: dict[int, dict[bytes, int]],
              *, at: float, local: bool, exclude_case_ref: str = ""
              ) -> dict[tuple[int, str], StoredHit]:
    """Every own active case sharing a tag with a subject, its strongest hit per (subject,
    case). Cases at aanmelding are found only by the own node's checks (`local`)."""
    active_since = at - config.max_inactive_days * 86400
    best: dict[tuple[int, str], StoredHit] = {}
    for epoch, subject_of in epochs.items():
        for tag, hit in store.find_tagged(list(subject_of), epoch, active_since, local=local):
            if local and hit.case_ref == exclude_case_ref:
                continue  # the case the check is run for is not samenloop with itself
            key = (subject_of[tag], hit.case_ref)
            if key not in best or best[key].strength < hit.strength:
                best[key] = hit
    return best


def record_meldingen(store: NodeStore, from_node: str, from_zvh: str,
                     requester: Procesregisseur, purpose: str, query_id: str,
                     best: dict[tuple[int, str], StoredHit], at: float) -> None:
    """A melding for the procesregisseur of every own case with a hit, and the audit
    record that it was filed, in one commit."""
    if not best:
        return
    per_case = {h.case_ref: h for h in sorted(best.values(), key=lambda h: h.strength)}
    store.record_meldingen(
        [NewMelding(h.case_ref, h.procesregisseur.id, from_node, from_zvh, requester,
                    h.strength, query_id, purpose, h.assess_first)
         for h in per_case.values()], now=at,
        audit=[AuditRecord("melding", "lookup", {
            "case_ref": h.case_ref, "from_node": from_node, "query_id": query_id,
            "strength": h.strength, "assess_first": h.assess_first})
            for h in per_case.values()])


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
    if query.query_id != query_id:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            "payload does not belong to this request (query_id)")
    if query.from_node != from_node:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            "payload does not belong to this request (sealed from_node "
                            "is not the authenticated sender)")
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
    again = guard.answered(query_id, from_node, sealed, at)
    if again is not None:
        # The asking node sent this very query again (a coordinator replica died before
        # passing our answer on): the same answer, and its meldingen are already filed.
        log.debug("lookup: from=%s query=%s answered again", from_node, query_id)
        return LookupOutcome(again[0], again[1], None)
    refusal = guard.admit(query_id, query.timestamp_ms / 1000, at)
    if refusal is not None:
        code = (grpc.StatusCode.ALREADY_EXISTS if refusal == ReplayGuard.REPLAYED
                else grpc.StatusCode.FAILED_PRECONDITION)
        raise LookupRefused(code, refusal)
    guard.answering(query_id, from_node, sealed, at)

    rights = query.kind == pb.RIGHTS_REQUEST
    best = find_hits(config, store,
                     {e.epoch: {bytes(t): s.subject for s in e.subjects for t in s.tags}
                      for e in query.epochs},
                     at=at, local=rights or from_node == config.node_id,
                     exclude_case_ref="" if rights else query.exclude_case_ref)
    pending: PendingWrite | None = None
    if rights:
        # Whether the person is registered here, with the privacy contact, not the cases'
        # procesregisseurs; a case at aanmelding counts too (it is data held).
        contact = config.privacy_contact or NO_PRIVACY_CONTACT
        best = {key: StoredHit(hit.case_ref, contact, hit.strength)
                for key, hit in best.items()}
        if best and from_node != config.node_id:  # the own request is no notice to itself
            pending = PendingRightsNotice(query_id, from_node, sender.display_name,
                                          sorted({h.case_ref for h in best.values()}), at)
    answer = answer_payload(query_id, config.node_id, best, max(subjects) + 1)
    # The asking ZVH is named by the signed directory entry whose key opened the payload,
    # never by what the payload says (from_zvh is not used).
    if best and not rights:
        pending = PendingMeldingen(query_id, from_node, sender.display_name, requester,
                                   query.purpose[:PURPOSE_CHARS], best, at)
    # Both outcomes log the same way before the answer leaves; the writer logs a melding.
    log.debug("lookup: from=%s query=%s subjects=%d", from_node, query_id, len(subjects))
    sealed_answer = sealer.seal(answer.SerializeToString(), sender.box_public_key,
                                bucket=bucket)
    guard.keep_answer(query_id, sealed_answer, len(answer.hits))
    return LookupOutcome(sealed_answer, len(answer.hits), pending)
