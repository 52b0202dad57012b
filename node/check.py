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
from samenloop.crypto.identity import Subject, match_keys
from samenloop.crypto.tags import node_tags
from samenloop.node.config import NodeConfig, Procesregisseur
from samenloop.node.lookup import answer_bucket
from samenloop.node.metrics import NodeMetrics
from samenloop.node.model import (
    CHECK_PHASES,
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
    match_key_versions,
    new_query_id,
)
from samenloop.node.registration import CASE_REF
from samenloop.node.store import NodeStore
from samenloop.proto.directory import NodeDirectory
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.node")

MIN_PURPOSE = 5
NO_CONTACT = Procesregisseur("", "", "", "")
DIRECTORY_MAX_AGE_SECONDS = 60.0


class CheckRefused(Exception):
    """A check that may not or cannot run; `field` and a Dutch message for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CheckRequest:
    case_ref: str
    purpose: str
    subjects: tuple[Subject, ...]
    actor: str                       # the user (or CLI operator) asking
    procesregisseur_id: str | None = None  # defaults to the case's procesregisseur
    # For a case not yet in the registry: the phase (aanmelding or triage) it is registered
    # with at intake. Without it, a check needs an existing own case.
    phase: str | None = None


def authorise_check(config: NodeConfig, store: NodeStore, request: CheckRequest,
                    now: float) -> Procesregisseur:
    """Only for an own open case at intake or triage, with a purpose, within the user's
    limits: the web app, the API and the CLI all pass here, so there is no way around it."""
    case = store.case(request.case_ref)
    if case is None and request.phase is None:
        raise CheckRefused("casus", "deze casus is geen lopende casus van dit Zorg- en "
                                    "Veiligheidshuis; kies de fase om een nieuwe aanmelding "
                                    "te registreren")
    if case is None and not CASE_REF.match(request.case_ref):
        raise CheckRefused("casus", "het casusnummer mag alleen letters, cijfers, '.', '_', "
                                    "'/' en '-' bevatten (ten hoogste 64 tekens)")
    phase = case.phase if case else request.phase
    if phase not in CHECK_PHASES:
        raise CheckRefused("fase", f"een samenloopcheck kan alleen in de fase aanmelding of "
                                   f"triage; deze casus is in de fase {phase}")
    if len(request.purpose.strip()) < MIN_PURPOSE:
        raise CheckRefused("doel", "geef het doel van de check op")
    if not request.subjects:
        raise CheckRefused("personen", "geef ten minste één persoon op")
    if len(request.subjects) > config.max_subjects_per_check:
        raise CheckRefused("personen", f"ten hoogste {config.max_subjects_per_check} personen "
                                       f"per check")
    for window, limit, label in ((3600, config.checks_per_user_per_hour, "uur"),
                                 (86400, config.checks_per_user_per_day, "dag")):
        if store.count_audit("check", request.actor, now - window) >= limit:
            raise CheckRefused("limiet", f"u heeft het maximum van {limit} checks per {label} "
                                         f"bereikt; probeer het later opnieuw of neem contact "
                                         f"op met de beheerder")
    regisseur_id = request.procesregisseur_id or (case.procesregisseur_id if case else None)
    person = store.procesregisseur(regisseur_id) if regisseur_id else None
    if person is None:
        raise CheckRefused("procesregisseur", "onbekende procesregisseur")
    return person


@dataclass(frozen=True)
class PreparedQueries:
    sealed: list[pb.SealedQuery]          # one per directory node, all in one size bucket
    own_tags: list[tuple[bytes, int, int]]  # (tag, epoch, strength) for registering here


def prepare_queries(config: NodeConfig, network: Network, directory: NodeDirectory,
                    request: CheckRequest, requester: Procesregisseur, query_id: str,
                    now: Callable[[], float] = time.time) -> PreparedQueries:
    """Identifiers in, sealed per-node payloads out: match keys, one proof-checked
    pseudonymisation per live epoch, per-node tags, one sealed payload per node.

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
                 for k in match_keys(s, bsn_enabled=config.bsn_enabled, version=v)])
            for i, s in enumerate(request.subjects)]
    elements = [k for _, ks in keys for k in ks]  # every subject's keys, in subject order
    inputs = [k.oprf_input for k in elements]
    node_ids = [n.node_id for n in directory.nodes]
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
        raise CheckRefused("netwerk", "het netwerk weigert tijdelijk meer checks van dit Zorg- "
                                      "en Veiligheidshuis (evaluatielimiet van de coördinator "
                                      "bereikt); probeer het later opnieuw") from None
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
            answer_bucket=bucket_for_answer,
            exclude_case_ref=request.case_ref if node.node_id == config.node_id else "")
        payloads[node.node_id] = payload.SerializeToString()
    bucket = seal.bucket_for(max(len(p) for p in payloads.values()))
    sealed = [pb.SealedQuery(node_id=n.node_id, sealed=network.sealer.seal(
        payloads[n.node_id], n.box_public_key, bucket=bucket)) for n in directory.nodes]
    return PreparedQueries(sealed, own_tags)


def run_check(config: NodeConfig, store: NodeStore, network: Network, request: CheckRequest,
              now: Callable[[], float] = time.time,
              metrics: NodeMetrics | None = None) -> CheckResult:
    started = time.monotonic()
    try:
        requester = authorise_check(config, store, request, now())
    except CheckRefused as exc:
        if metrics is not None and exc.field == "limiet":
            metrics.rate_limited.inc()
        raise
    query_id = new_query_id()
    try:
        # A copy verified within the last minute will do: the node process refreshes it in
        # the background, and a one-off CLI check fetches it on first use.
        directory = network.directory(refresh=True, timeout=3.0,
                                      max_age=DIRECTORY_MAX_AGE_SECONDS)
        queries = prepare_queries(config, network, directory, request, requester, query_id,
                                  now)
    except NetworkError as exc:
        log.error("check %s: %s", query_id, exc)
        raise CheckRefused("netwerk", "de coördinator is niet bereikbaar; de check is niet "
                                      "uitgevoerd. Probeer het later opnieuw.") from None
    try:
        response = network.stub.Check(pb.CheckRequest(query_id=query_id,
                                                      queries=queries.sealed),
                                      timeout=config.coordinator_timeout_seconds)
    except grpc.RpcError as exc:
        log.error("check %s: coordinator refused: %s %s", query_id, exc.code().name,
                  exc.details())
        if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise CheckRefused("netwerk", "het netwerk weigert tijdelijk meer checks van dit "
                                          "Zorg- en Veiligheidshuis (limiet bereikt)") from None
        raise CheckRefused("netwerk", "de coördinator is niet bereikbaar; de check is niet "
                                      "uitgevoerd. Probeer het later opnieuw.") from None

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
            # A bulk check's hit past the contact budget comes without a contact: still a
            # hit, and the result says to contact that ZVH.
            contact = (contacts[hit.contact - 1] if 0 < hit.contact <= len(contacts)
                       else NO_CONTACT)
            hits.append(Hit(hit.subject, STRENGTH_NAMES[hit.strength], node.node_id,
                            node.display_name, contact))
    coverage = Coverage(len(directory.nodes), tuple(answered), tuple(missing))
    result = CheckResult(query_id, len(request.subjects), tuple(hits), coverage,
                         tuple(truncated))
    # Checking registers: later checks elsewhere find this case, and holders were told.
    created = store.register_check(request.case_ref, queries.own_tags, now=now(),
                                   create_phase=request.phase,
                                   procesregisseur_id=requester.id)
    store.append_audit("check", request.actor, {
        "registered": True, "case_created": created,
        "case_ref": request.case_ref, "purpose": request.purpose.strip(),
        "query_id": query_id, "subjects": len(request.subjects),
        "hits": sorted(h.strength for h in hits), "nodes": coverage.total,
        "answered": len(answered), "missing": [m.node_id for m in missing]}, now())
    if metrics is not None:
        metrics.checks.labels("incomplete" if not coverage.complete
                              else "hit" if hits else "no_hit").inc()
        metrics.check_seconds.observe(time.monotonic() - started)
    log.info("check %s: subjects=%d hits=%d answered=%d/%d", query_id,
             len(request.subjects), len(hits), len(answered), coverage.total)
    return result
