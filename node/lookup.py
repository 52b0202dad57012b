"""Answering a sealed query from another node (the holding side of a check).

The node opens the payload, refuses replays, looks its own tags up, files a melding for
its procesregisseur on a hit, and seals an answer padded to the size the query fixed.
Incoming tags are compared in memory and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from samenloop.crypto import seal
from samenloop.node.config import NodeConfig, Procesregisseur
from samenloop.node.model import StoredHit
from samenloop.node.store import NodeStore
from samenloop.proto.directory import NodeDirectory
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.node")

MAX_HITS_PER_SUBJECT = 4
MAX_SUBJECTS = 64
MAX_TAGS_PER_SUBJECT = 256
# Upper bound of one encoded Hit: contact fields are length-limited at the querying node
# and in the node config, so an answer's bucket follows from the number of subjects only.
HIT_BYTES = 520
ANSWER_HEADER_BYTES = 160


def answer_bucket(subjects: int) -> int:
    """The padded size of an answer to a query about `subjects` persons."""
    return seal.bucket_for(ANSWER_HEADER_BYTES + subjects * MAX_HITS_PER_SUBJECT * HIT_BYTES)


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
    if not (0 < len(contact.name) <= 100 and len(contact.phone) <= 30
            and len(contact.email) <= 254):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "requester contact is malformed")
    return Procesregisseur("", contact.name, contact.phone, contact.email)


def answer_query(config: NodeConfig, store: NodeStore, directory: NodeDirectory,
                 from_node: str, query_id: str, sealed: bytes,
                 now: Callable[[], float]) -> LookupOutcome:
    sender = directory.node(from_node)
    if sender is None:
        raise LookupRefused(grpc.StatusCode.PERMISSION_DENIED,
                            f"querying node {from_node} is not in the directory")
    try:
        plaintext = seal.open_sealed(sealed, config.box_secret_key, sender.box_public_key)
        query = pb.QueryPayload.FromString(plaintext)
    except (seal.SealError, DecodeError):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            f"payload from {from_node} does not open or parse") from None
    if query.query_id != query_id or query.from_node != from_node:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            "payload does not belong to this request")
    at = now()
    window = config.replay_window_seconds
    if abs(at - query.timestamp_ms / 1000) > window:
        raise LookupRefused(grpc.StatusCode.FAILED_PRECONDITION,
                            f"query timestamp outside the replay window of {window} s")
    subjects = {s.subject for e in query.epochs for s in e.subjects}
    if not subjects or len(subjects) > MAX_SUBJECTS or max(subjects) >= MAX_SUBJECTS:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "query names no valid subjects")
    if any(len(s.tags) > MAX_TAGS_PER_SUBJECT for e in query.epochs for s in e.subjects):
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "too many tags for one subject")
    bucket = answer_bucket(max(subjects) + 1)
    if query.answer_bucket != bucket:
        raise LookupRefused(grpc.StatusCode.INVALID_ARGUMENT, "answer_bucket is not standard")
    requester = _contact(query.requester)
    if not store.remember_query(query_id, at, forget_before=at - 2 * window):
        raise LookupRefused(grpc.StatusCode.ALREADY_EXISTS, "query id already seen (replay)")

    active_since = at - config.max_inactive_days * 86400
    best: dict[tuple[int, str], StoredHit] = {}  # (subject, case_ref) -> hit
    for epoch_tags in query.epochs:
        for subject in epoch_tags.subjects:
            tags = [bytes(t) for t in subject.tags]
            for hit in store.find_hits(tags, epoch_tags.epoch, active_since):
                if from_node == config.node_id and hit.case_ref == query.exclude_case_ref:
                    continue  # the case the check is run for is not samenloop with itself
                key = (subject.subject, hit.case_ref)
                if key not in best or best[key].strength < hit.strength:
                    best[key] = hit
    own = directory.node(config.node_id)
    zvh = own.display_name if own else config.node_id
    answer = pb.AnswerPayload(query_id=query_id, node_id=config.node_id)
    per_person: dict[tuple[int, str], int] = {}  # one hit per subject and procesregisseur
    for (subject, _), hit in sorted(best.items(), key=lambda kv: (kv[0][0], -kv[1].strength)):
        person = (subject, hit.procesregisseur.id)
        if person in per_person:
            continue
        if sum(1 for s, _ in per_person if s == subject) >= MAX_HITS_PER_SUBJECT:
            answer.truncated = True
            continue
        per_person[person] = hit.strength
        p = hit.procesregisseur
        answer.hits.append(pb.Hit(subject=subject, strength=hit.strength, zvh=zvh,
                                  procesregisseur=pb.Contact(name=p.name, phone=p.phone,
                                                             email=p.email)))
    if best:
        store.add_notifications(
            [(hit, from_node, query.from_zvh[:100] or from_node, requester)
             for hit in best.values()], now=at, query_id=query_id)
        for hit in {h.case_ref: h for h in best.values()}.values():
            store.append_audit("melding", "lookup", {
                "case_ref": hit.case_ref, "from_node": from_node, "query_id": query_id,
                "strength": hit.strength}, at)
    log.info("lookup: from=%s query=%s subjects=%d hit=%s", from_node, query_id, len(subjects),
             bool(best))
    sealed_answer = seal.seal(answer.SerializeToString(), config.box_secret_key,
                              sender.box_public_key, bucket=bucket)
    return LookupOutcome(sealed_answer, len(answer.hits))
