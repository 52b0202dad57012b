"""Running a samenloop check at the querying node (DESIGN.md, "A check, step by step").

Identifiers live only in this function's memory: they become match keys, blinded
elements, pseudonyms and per-node tags, and every node gets its own sealed payload.
The result always states its coverage; a node that did not answer is never a "no hit".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from samenloop.crypto import seal
from samenloop.crypto.identity import Subject, match_keys, mentions_identifiers
from samenloop.crypto.tags import node_tags
from samenloop.node.config import NodeConfig, Procesregisseur
from samenloop.node.lookup import (
    answer_bucket,
    choose_hits,
    find_hits,
    hit_budget,
    record_meldingen,
)
from samenloop.node.metrics import NodeMetrics
from samenloop.node.model import (
    CHECK_PHASES,
    LOCAL_PHASE,
    PHASE_LABELS,
    STRENGTH_NAMES,
    STRENGTHS,
    CheckResult,
    Coverage,
    Hit,
    Missing,
)
from samenloop.node.network import (
    EvaluationBudgetExhausted,
    Network,
    NetworkError,
    TooFewKeyHolders,
    match_key_versions,
    new_query_id,
)
from samenloop.node.store import AuditRecord, CaseRow, Informing, NodeStore
from samenloop.proto.directory import NodeDirectory
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.node")

NO_CONTACT = Procesregisseur("", "", "", "")
DIRECTORY_MAX_AGE_SECONDS = 60.0
NOTE_CHARS = 200


class CheckRefused(Exception):
    """A check that may not or cannot run: `field` names what to change, `message` says it
    in Dutch for the procesregisseur. Subclasses tell the edges which status to give."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownCase(CheckRefused):
    """No such own case: an aanmelding is registered first, never by a check."""


class NoAccess(CheckRefused):
    """The user is not the case's procesregisseur nor a named vervanger."""


class RateLimited(CheckRefused):
    """The user's (or this ZVH's) limit of checks is reached; `retry_after` is how many
    seconds until the limit allows a check again (at most; the edges send it on)."""

    def __init__(self, field: str, message: str, retry_after: int = 60) -> None:
        super().__init__(field, message)
        self.retry_after = retry_after


class NetworkUnavailable(CheckRefused):
    """The coordinator could not be reached or refused; nothing was checked."""


class KeyHoldersUnavailable(NetworkUnavailable):
    """Fewer than t key holders of a split key epoch gave a valid answer: nothing could be
    pseudonymised, so nothing was checked (never a "no hit")."""


KEY_HOLDERS_UNAVAILABLE = ("pseudonimiseren is nu niet mogelijk: te weinig sleutelhouders "
                           "bereikbaar")


@dataclass(frozen=True)
class CheckRequest:
    case_ref: str
    purpose: str                     # a category from the node's list
    subjects: tuple[Subject, ...]
    actor: str                       # the user (or CLI operator) asking
    # The procesregisseur asking: the user's own. Defaults to the case's (the CLI).
    procesregisseur_id: str | None = None
    note: str = ""                   # optional; refused when it holds identifiers
    # From triage on, a check asks whether the person was informed when the case has no
    # status yet; given here, it is recorded with the check.
    informing: Informing | None = None


@dataclass(frozen=True)
class Authorised:
    case: CaseRow
    requester: Procesregisseur       # whose contact a holder receives

    @property
    def own_only(self) -> bool:
        """At aanmelding a check asks only the own registry (covenants: "checken of iemand
        al bij het eigen ZVH 'in behandeling' is"); other ZVHs from triage on."""
        return self.case.phase == LOCAL_PHASE


def authorise_check(config: NodeConfig, store: NodeStore, request: CheckRequest,
                    now: float) -> Authorised:
    """Only for an own case at aanmelding or triage, by its procesregisseur or a named
    vervanger, with a purpose from the list and a note without identifiers, within the
    user's limits: the web app, the API and the CLI all pass here."""
    case = store.case(request.case_ref)
    if case is None:
        raise UnknownCase("casus", "onbekende casus; registreer eerst de aanmelding")
    if case.phase not in CHECK_PHASES:
        raise CheckRefused("fase", f"een samenloopcheck kan alleen in de fase aanmelding of "
                                   f"triage; deze casus is in de fase "
                                   f"{PHASE_LABELS.get(case.phase, case.phase)}")
    acting = request.procesregisseur_id or case.procesregisseur_id
    requester = store.procesregisseur(acting)
    if requester is None:
        raise CheckRefused("procesregisseur", "onbekende procesregisseur")
    if case.procesregisseur_id not in store.acts_for(acting):
        store.append_audit("check_refused", request.actor, {
            "case_ref": case.case_ref, "reason": "geen_toegang"}, now)
        raise NoAccess("casus", "u bent niet de procesregisseur van deze casus en ook niet "
                                "als vervanger aangewezen")
    if request.purpose not in config.purposes:
        raise CheckRefused("doel", "kies het doel van de check uit de lijst")
    if len(request.note) > NOTE_CHARS:
        raise CheckRefused("toelichting", f"de toelichting mag ten hoogste {NOTE_CHARS} tekens "
                                          f"hebben")
    if not request.subjects:
        raise CheckRefused("personen", "geef ten minste één persoon op")
    if len(request.subjects) > config.max_subjects_per_check:
        raise CheckRefused("personen", f"ten hoogste {config.max_subjects_per_check} personen "
                                       f"per check: de personen van één casus")
    if request.note and mentions_identifiers(request.note, request.subjects):
        raise CheckRefused("toelichting", "de toelichting mag geen persoonsgegevens bevatten")
    for window, limit, label in ((3600, config.checks_per_user_per_hour, "uur"),
                                 (86400, config.checks_per_user_per_day, "dag")):
        if store.count_audit("check", request.actor, now - window) >= limit:
            raise RateLimited("limiet", f"u heeft het maximum van {limit} checks per {label} "
                                        f"bereikt; probeer het later opnieuw of neem contact "
                                        f"op met de beheerder", retry_after=window)
    return Authorised(case, requester)


def refuse_bsn_unless_enabled(subjects: tuple[Subject, ...], bsn_enabled: bool) -> None:
    """BSN matching is the network's decision, carried in the signed directory."""
    if not bsn_enabled and any(s.bsn for s in subjects):
        raise CheckRefused("bsn", "in dit netwerk wordt niet op BSN gezocht; laat het BSN leeg")


@dataclass(frozen=True)
class PreparedQueries:
    sealed: list[pb.SealedQuery]          # one per directory node, all in one size bucket
    own_tags: list[tuple[bytes, int, int]]  # (tag, epoch, strength) for registering here
    # For a check at aanmelding: epoch -> {own tag: subject}, looked up here, not sent.
    local: dict[int, dict[bytes, int]]


def prepare_queries(config: NodeConfig, network: Network, directory: NodeDirectory,
                    request: CheckRequest, requester: Procesregisseur, query_id: str,
                    now: Callable[[], float] = time.time, *,
                    own_only: bool = False,
                    kind: pb.QueryKind = pb.CHECK) -> PreparedQueries:
    """Identifiers in, sealed per-node payloads out: match keys, one proof-checked
    pseudonymisation per live epoch, per-node tags, one sealed payload per node (none with
    `own_only`: then only the own tags are needed).

    Every (epoch, match-key version) pair the network lists is asked: each epoch's tags of
    a subject hold its keys of every version, so a holder that registered with either
    version during a rollout is found."""
    try:
        versions = match_key_versions(config, directory)
    except NetworkError as exc:
        log.error("check %s: %s", query_id, exc)
        raise CheckRefused("netwerk", "deze node gebruikt geen versie van de matchsleutels die "
                                      "het netwerk accepteert; de check is niet uitgevoerd. "
                                      "Neem contact op met de beheerder.") from None
    keys = [(i, [k for v in versions
                 for k in match_keys(s, bsn_enabled=directory.bsn_enabled, version=v)])
            for i, s in enumerate(request.subjects)]
    elements = [k for _, ks in keys for k in ks]  # every subject's keys, in subject order
    inputs = [k.oprf_input for k in elements]
    node_ids = [] if own_only else [n.node_id for n in directory.nodes]
    if config.node_id not in node_ids:
        node_ids.append(config.node_id)
    own_column = node_ids.index(config.node_id)

    def tags_of(pseudonyms: list[bytes]) -> list[list[bytes]]:
        return [node_tags(p, node_ids) for p in pseudonyms]

    # One tag per node for every input; pseudonyms exist only inside a chunk's evaluation.
    # During a key rotation every live epoch is asked: a holder that has not yet
    # re-imported still has tags of the old epoch.
    try:
        by_epoch = {epoch: network.pseudonymise(inputs, f"{query_id}/e{epoch}", epoch,
                                                then=tags_of)[1]
                    for epoch in sorted(directory.oprf_keys)}
    except EvaluationBudgetExhausted as exc:
        log.error("check %s: %s", query_id, exc)
        raise RateLimited("netwerk", "het netwerk weigert tijdelijk meer checks van dit Zorg- "
                                     "en Veiligheidshuis (evaluatielimiet van de coördinator "
                                     "of de sleutelhouders bereikt); probeer het later "
                                     "opnieuw") from None
    del inputs  # identifiers' derivatives: gone once the tags are built
    own_tags = [(tags[own_column], epoch, STRENGTHS[k.strength])
                for epoch, element_tags in by_epoch.items()
                for k, tags in zip(elements, element_tags, strict=True)]
    # Per epoch, the elements of each subject: (subject, first element, element count).
    spans, offset = [], 0
    for index, ks in keys:
        spans.append((index, offset, len(ks)))
        offset += len(ks)

    own = directory.node(config.node_id)
    bucket_for_answer = answer_bucket(len(request.subjects))
    payloads: dict[str, bytes] = {}
    if own_only:
        return PreparedQueries([], own_tags, _epoch_tags(by_epoch, spans, own_column))
    for column, node in enumerate(directory.nodes):
        payload = pb.QueryPayload(
            query_id=query_id, timestamp_ms=int(now() * 1000), from_node=config.node_id,
            from_zvh=own.display_name if own else config.node_id,
            requester=pb.Contact(name=requester.name, phone=requester.phone,
                                 email=requester.email),
            epochs=[pb.EpochTags(epoch=epoch, subjects=[
                pb.SubjectTags(subject=index, tags=[
                    element_tags[e][column] for e in range(first, first + count)])
                for index, first, count in spans])
                for epoch, element_tags in by_epoch.items()],
            answer_bucket=bucket_for_answer, purpose=request.purpose, kind=kind,
            exclude_case_ref=request.case_ref if node.node_id == config.node_id else "")
        payloads[node.node_id] = payload.SerializeToString()
    bucket = seal.bucket_for(max(len(p) for p in payloads.values()))
    sealed = [pb.SealedQuery(node_id=n.node_id, sealed=network.sealer.seal(
        payloads[n.node_id], n.box_public_key, bucket=bucket)) for n in directory.nodes]
    return PreparedQueries(sealed, own_tags, {})


def _epoch_tags(by_epoch: dict[int, list[list[bytes]]], spans: list[tuple[int, int, int]],
                column: int) -> dict[int, dict[bytes, int]]:
    """Per epoch, each own tag with the subject it belongs to: the own-registry lookup."""
    return {epoch: {element_tags[e][column]: index for index, first, count in spans
                    for e in range(first, first + count)}
            for epoch, element_tags in by_epoch.items()}


def run_check(config: NodeConfig, store: NodeStore, network: Network, request: CheckRequest,
              now: Callable[[], float] = time.time,
              metrics: NodeMetrics | None = None) -> CheckResult:
    """One check, accounted for before anything leaves the node: its record is written
    first, so a check that is interrupted after holders filed meldingen still shows in
    the own audit trail; the outcome and the registration of the checked persons follow in
    one commit."""
    started = time.monotonic()
    try:
        allowed = authorise_check(config, store, request, now())
    except CheckRefused as exc:
        if metrics is not None and isinstance(exc, RateLimited):
            metrics.rate_limited.inc()
        raise
    if request.informing:
        store.set_informing(request.case_ref, request.informing, now=now(), audit=AuditRecord(
            "informing", request.actor, {"case_ref": request.case_ref,
                                         "informed": bool(request.informing.informed_on),
                                         "postponed": request.informing.postponed}))
    query_id = new_query_id()
    store.append_audit("check", request.actor, {
        "case_ref": request.case_ref, "purpose": request.purpose, "note": request.note,
        "query_id": query_id, "subjects": len(request.subjects), "phase": allowed.case.phase,
        "reach": "eigen" if allowed.own_only else "netwerk",
        "procesregisseur_id": allowed.requester.id}, now())
    try:
        # A copy verified within the last minute will do: the node process refreshes it in
        # the background, and a one-off CLI check fetches it on first use.
        directory = network.directory(refresh=True, timeout=3.0,
                                      max_age=DIRECTORY_MAX_AGE_SECONDS)
        refuse_bsn_unless_enabled(request.subjects, directory.bsn_enabled)
        queries = prepare_queries(config, network, directory, request, allowed.requester,
                                  query_id, now, own_only=allowed.own_only)
    except TooFewKeyHolders as exc:
        log.error("check %s: %s", query_id, exc)
        raise KeyHoldersUnavailable("netwerk", f"{KEY_HOLDERS_UNAVAILABLE}; de check is niet "
                                               f"uitgevoerd. Probeer het later opnieuw."
                                    ) from None
    except NetworkError as exc:
        log.error("check %s: %s", query_id, exc)
        raise NetworkUnavailable("netwerk", "de coördinator is niet bereikbaar; de check is "
                                            "niet uitgevoerd. Probeer het later opnieuw."
                                 ) from None
    if allowed.own_only:
        hits, coverage, truncated = _look_up_locally(config, store, directory, request,
                                                     allowed, queries, query_id, now())
    else:
        hits, coverage, truncated = fan_out(config, network, directory, request, queries,
                                             query_id)
    informed = request.informing or allowed.case.informing_status
    result = CheckResult(query_id, len(request.subjects), tuple(hits), coverage,
                         tuple(truncated),
                         needs_informing=not allowed.own_only and not informed)
    outcome = AuditRecord("check_result", request.actor, {
        "case_ref": request.case_ref, "query_id": query_id,
        "hits": sorted(h.strength for h in hits), "nodes": coverage.total,
        # Where the check's hits filed a melding (ZVHs, no persons): a rights request can
        # then tell which meldingen were sent about the case.
        "melding_at": sorted({h.node_id for h in hits}),
        # Per person the strengths of its hits (no identifiers): the own check history.
        "per_subject": [sorted(h.strength for h in hits if h.subject == i)
                        for i in range(len(request.subjects))],
        "answered": len(coverage.answered), "missing": [m.node_id for m in coverage.missing],
        "reach": "eigen" if allowed.own_only else "netwerk"})
    try:
        # Checking registers: later checks elsewhere find this case.
        store.register_check(request.case_ref, queries.own_tags, now=now(), audit=outcome)
    except KeyError:  # the case was closed while the check ran: nothing to register
        store.append_audit(outcome.action, outcome.actor, outcome.details, now())
    if metrics is not None:
        metrics.checks.labels("complete" if coverage.complete else "incomplete").inc()
        if coverage.complete:
            metrics.check_outcomes.labels("hit" if hits else "no_hit").inc()
        metrics.check_seconds.observe(time.monotonic() - started)
    log.info("check %s: subjects=%d hits=%d answered=%d/%d reach=%s", query_id,
             len(request.subjects), len(hits), len(coverage.answered), coverage.total,
             "own" if allowed.own_only else "network")
    return result


def _look_up_locally(config: NodeConfig, store: NodeStore, directory: NodeDirectory,
                     request: CheckRequest, allowed: Authorised, queries: PreparedQueries,
                     query_id: str, at: float) -> tuple[list[Hit], Coverage, list[str]]:
    """A check at aanmelding: the own registry only, no fan-out, so no other node receives
    a lookup. Another own case with a hit gets its melding as with any check."""
    own = directory.node(config.node_id)
    zvh = own.display_name if own else config.node_id
    best = find_hits(config, store, queries.local, at=at, local=True,
                     exclude_case_ref=request.case_ref)
    record_meldingen(store, config.node_id, zvh, allowed.requester, request.purpose,
                     query_id, best, at)
    chosen, truncated = choose_hits(best, hit_budget(len(request.subjects)))
    hits = [Hit(subject, STRENGTH_NAMES[hit.strength], config.node_id, zvh,
                NO_CONTACT if hit.assess_first else hit.procesregisseur, hit.assess_first)
            for subject, hit in chosen]
    return hits, Coverage(1, (config.node_id,), (), own_only=True), (
        [config.node_id] if truncated else [])


def fan_out(config: NodeConfig, network: Network, directory: NodeDirectory,
             request: CheckRequest, queries: PreparedQueries,
             query_id: str) -> tuple[list[Hit], Coverage, list[str]]:
    """From triage on: every node of the directory, the own one included, through the
    coordinator; each answer opened and checked, each node that did not answer named."""
    try:
        check = pb.CheckRequest(query_id=query_id, queries=queries.sealed)
        response = network.call_with_failover(lambda stub, **call: stub.Check(check, **call),
                                              f"check {query_id}",
                                              config.coordinator_timeout_seconds)
    except grpc.RpcError as exc:
        log.error("check %s: coordinator refused: %s %s", query_id, exc.code().name,
                  exc.details())
        if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise RateLimited("netwerk", "het netwerk weigert tijdelijk meer checks van dit "
                                         "Zorg- en Veiligheidshuis (limiet bereikt)") from None
        raise NetworkUnavailable("netwerk", "de coördinator is niet bereikbaar; de check is "
                                            "niet uitgevoerd. Probeer het later opnieuw."
                                 ) from None
    hits: list[Hit] = []
    answered: list[str] = []
    missing: list[Missing] = []
    truncated: list[str] = []
    results = {r.node_id: r for r in response.results}
    for node in directory.nodes:
        result = results.get(node.node_id)
        if result is None:
            missing.append(Missing(node.node_id, node.display_name, "ERROR", "geen antwoord"))
            continue
        if result.status != pb.ANSWERED:
            missing.append(Missing(node.node_id, node.display_name,
                                   pb.NodeStatus.Name(result.status), result.detail))
            continue
        try:
            answer = pb.AnswerPayload.FromString(network.sealer.open(
                bytes(result.sealed_answer), node.box_public_key))
        except (seal.SealError, DecodeError):
            missing.append(Missing(node.node_id, node.display_name, "ERROR",
                                   "antwoord niet te openen"))
            continue
        if answer.query_id != query_id or answer.node_id != node.node_id:
            missing.append(Missing(node.node_id, node.display_name, "ERROR",
                                   "antwoord hoort niet bij deze check"))
            continue
        answered.append(node.node_id)
        if answer.truncated:
            truncated.append(node.node_id)
        contacts = [Procesregisseur("", c.name, c.phone, c.email) for c in answer.contacts]
        for hit in answer.hits:
            if hit.subject >= len(request.subjects) or hit.strength not in STRENGTH_NAMES:
                continue
            # A hit on a case "beoordeling vooraf" comes without a contact: the holder's
            # procesregisseur assesses the question and makes contact.
            contact = (contacts[hit.contact - 1] if 0 < hit.contact <= len(contacts)
                       and not hit.assess_first else NO_CONTACT)
            hits.append(Hit(hit.subject, STRENGTH_NAMES[hit.strength], node.node_id,
                            node.display_name, contact, hit.assess_first))
    return hits, Coverage(len(directory.nodes), tuple(answered), tuple(missing)), truncated
