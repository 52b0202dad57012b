"""The person's rights at one contact point (AVG, WGS): inzage across the network, removal
of one person from a case, an upheld objection, and lifting a block.

A rights request is made once, at this node, by its privacy role. It travels the same sealed,
padded path as a check, so the coordinator cannot tell the two apart; every node that holds
the person answers with its privacy contact and files a rights-request notice for its own
privacy role (never a samenloopmelding). Identifiers exist only in memory during the request;
what is kept is case references, counts, coverage and this node's tags of a blocked person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from samenloop.crypto.identity import Subject
from samenloop.node.check import (
    KEY_HOLDERS_UNAVAILABLE,
    CheckRefused,
    CheckRequest,
    KeyHoldersUnavailable,
    NetworkUnavailable,
    PreparedQueries,
    RateLimited,
    fan_out,
    prepare_queries,
    refuse_bsn_unless_enabled,
)
from samenloop.node.config import MAX_SUBJECTS, NodeConfig, Procesregisseur
from samenloop.node.model import Coverage, Hit
from samenloop.node.network import Network, NetworkError, TooFewKeyHolders, new_query_id
from samenloop.node.store import (
    RIGHTS_TERM_SECONDS,
    AuditRecord,
    CaseRow,
    NodeStore,
    Notification,
)
from samenloop.proto.directory import NodeDirectory
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.node")

INZAGE_PURPOSE = "rechten: inzageverzoek"
KINDS = {"inzage": "inzage", "verwijdering": "verwijdering", "bezwaar": "bezwaar"}


class RightsRefused(CheckRefused):
    """A rights request that cannot run; `field` and a Dutch message for the privacy role."""


@dataclass(frozen=True)
class CaseOverview:
    """One own case the person is registered in, with what happened around it."""

    case: CaseRow
    meldingen: list[Notification]    # received: other ZVHs checked a person of this case
    checks: int
    sent: list[tuple[float, str]] = field(default_factory=list)  # (when, ZVH) a check's melding


@dataclass(frozen=True)
class InzageResult:
    query_id: str
    at: float
    due_at: float
    own_zvh: str
    own_cases: list[CaseOverview]
    elsewhere: list[Hit]          # other ZVHs holding the person, with their privacy contact
    coverage: Coverage
    request_id: int
    endings: list[tuple[str, float, float, str]] = field(default_factory=list)

    @property
    def holders(self) -> list[str]:
        return sorted({h.zvh for h in self.elsewhere})


def _own_contact(config: NodeConfig, zvh: str) -> Procesregisseur:
    return config.privacy_contact or Procesregisseur("privacy", f"Privacy {zvh}"[:100], "", "")


def _prepare(config: NodeConfig, network: Network, subjects: tuple[Subject, ...],
             query_id: str, now: Callable[[], float], *, own_only: bool
             ) -> tuple[NodeDirectory, PreparedQueries, str]:
    if not subjects or len(subjects) > MAX_SUBJECTS:
        raise RightsRefused("personen", "geef de persoon op")
    try:
        directory = network.directory(refresh=True, timeout=3.0, max_age=60.0)
        refuse_bsn_unless_enabled(subjects, directory.bsn_enabled)
        own = directory.node(config.node_id)
        zvh = own.display_name if own else config.node_id
        request = CheckRequest("", INZAGE_PURPOSE, subjects, actor="privacy")
        queries = prepare_queries(config, network, directory, request,
                                  _own_contact(config, zvh), query_id, now,
                                  own_only=own_only, kind=pb.RIGHTS_REQUEST)
    except TooFewKeyHolders as exc:
        log.error("rights request %s: %s", query_id, exc)
        raise KeyHoldersUnavailable("netwerk", f"{KEY_HOLDERS_UNAVAILABLE}; het verzoek is "
                                               f"niet uitgevoerd. Probeer het later opnieuw."
                                    ) from None
    except NetworkError as exc:
        log.error("rights request %s: %s", query_id, exc)
        raise NetworkUnavailable("netwerk", "de coördinator is niet bereikbaar; het verzoek "
                                            "is niet uitgevoerd. Probeer het later opnieuw."
                                 ) from None
    return directory, queries, zvh


def inzage(config: NodeConfig, store: NodeStore, network: Network,
           subjects: tuple[Subject, ...], *, actor: str,
           now: Callable[[], float] = time.time) -> InzageResult:
    """"What do you hold about me?" at this node and every other: the own cases the
    person is registered in (no identifiers), their meldingen and checks, and which other
    ZVHs hold the person, with their privacy contact; always with coverage."""
    if store.count_audit("rights_request", actor, now() - 86400) >= config.checks_per_user_per_day:
        raise RateLimited("limiet", f"u heeft het maximum van {config.checks_per_user_per_day} "
                                    f"verzoeken per dag bereikt")
    query_id = new_query_id()
    store.append_audit("rights_request", actor, {"kind": "inzage", "query_id": query_id,
                                                 "persons": len(subjects)}, now())
    directory, queries, zvh = _prepare(config, network, subjects, query_id, now,
                                       own_only=False)
    request = CheckRequest("", INZAGE_PURPOSE, subjects, actor=actor)
    hits, coverage, _ = fan_out(config, network, directory, request, queries, query_id)
    own_tags = [(tag, epoch) for tag, epoch, _ in queries.own_tags]
    cases = store.cases_with_tags(own_tags)
    checks: dict[str, int] = {}
    for entry in store.audit_entries("check"):
        ref = str(entry.details.get("case_ref", ""))
        checks[ref] = checks.get(ref, 0) + 1
    names = {n.node_id: n.display_name for n in directory.nodes}
    sent: dict[str, list[tuple[float, str]]] = {}
    for entry in store.audit_entries("check_result"):
        for node_id in entry.details.get("melding_at", []):
            sent.setdefault(str(entry.details.get("case_ref", "")), []).append(
                (entry.at, names.get(str(node_id), str(node_id))))
    refs = {c.case_ref for c in cases}
    meldingen = [n for n in store.notifications() if n.case_ref in refs]
    overview = [CaseOverview(c, [m for m in meldingen if m.case_ref == c.case_ref],
                             checks.get(c.case_ref, 0), sent.get(c.case_ref, []))
                for c in cases]
    elsewhere = [h for h in hits if h.node_id != config.node_id]
    at = now()
    outcome = {"own_cases": len(cases), "holders": len({h.node_id for h in elsewhere}),
               "nodes": coverage.total, "answered": len(coverage.answered),
               "missing": [m.node_id for m in coverage.missing]}
    request_id = store.add_rights_request("inzage", query_id, outcome, now=at,
                                          audit=AuditRecord("rights_request_result", actor, {
                                              "kind": "inzage", "query_id": query_id,
                                              **outcome}))
    return InzageResult(query_id, at, at + RIGHTS_TERM_SECONDS, zvh, overview, elsewhere,
                        coverage, request_id,
                        [e for e in store.case_endings() if e[0] in refs])


def block_person(config: NodeConfig, store: NodeStore, network: Network,
                 subject: Subject, *, kind: str, case_ref: str | None, actor: str,
                 now: Callable[[], float] = time.time) -> tuple[int, int]:
    """Removal of one person from a case (`verwijdering`, with `case_ref`) or an upheld
    objection (`bezwaar`, every case): the person's registrations at this node go, and a
    block of this node's tags of the person keeps imports and checks from registering the
    person again until the privacy role lifts it. (block id, cases removed from)."""
    if kind not in ("verwijdering", "bezwaar"):
        raise RightsRefused("soort", "kies verwijdering of bezwaar")
    if kind == "verwijdering" and not (case_ref and store.case(case_ref)):
        raise RightsRefused("casus", "geen lopende casus met dit casusnummer")
    query_id = new_query_id()
    _, queries, _ = _prepare(config, network, (subject,), query_id, now, own_only=True)
    tags = sorted({(tag, epoch) for tag, epoch, _ in queries.own_tags})
    block_id, removed = store.block_person(
        kind, tags, case_ref if kind == "verwijdering" else None, now=now(),
        audit=AuditRecord("rights_block", actor, {"kind": kind, "case_ref": case_ref,
                                                  "query_id": query_id}))
    store.add_rights_request(kind, query_id, {"removed": removed, "block": block_id},
                             now=now(), audit=AuditRecord("rights_request_result", actor, {
                                 "kind": kind, "query_id": query_id, "removed": removed,
                                 "block": block_id}))
    return block_id, removed


def lift_block(store: NodeStore, block_id: int, *, actor: str, now: float) -> None:
    try:
        store.lift_block(block_id, now=now, audit=AuditRecord("rights_block_lifted", actor,
                                                              {"block": block_id}))
    except KeyError:
        raise RightsRefused("blokkade", "deze blokkade bestaat niet of is al opgeheven"
                            ) from None


def close_request(store: NodeStore, request_id: int, *, actor: str, now: float) -> None:
    """The person has had the answer: the request leaves the list of open ones."""
    try:
        store.close_rights_request(request_id, now=now, audit=AuditRecord(
            "rights_request_closed", actor, {"request": request_id}))
    except KeyError:
        raise RightsRefused("verzoek", "dit verzoek bestaat niet of is al afgehandeld"
                            ) from None


def handle_notice(store: NodeStore, notice_id: int, *, actor: str, now: float) -> None:
    """Another ZVH's request, answered by this node's privacy role."""
    try:
        store.handle_rights_notice(notice_id, now=now, audit=AuditRecord(
            "rights_notice_handled", actor, {"notice": notice_id}))
    except KeyError:
        raise RightsRefused("kennisgeving", "deze kennisgeving bestaat niet of is al "
                                            "afgehandeld") from None
