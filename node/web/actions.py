"""What the web pages and the API do, once their input is parsed: one function per action.

Handlers in `app.py` parse and validate, call one of these, and map errors. Identifiers
pass through memory only: parsed subjects go to `run_check`, an uploaded export is read
from an in-memory text, and nothing here logs or stores them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import grpc

from samenloop.crypto.identity import InvalidSubject, InvalidSubjects, Subject, parse_subject
from samenloop.crypto.pki import certificate_not_after
from samenloop.node import cases, incidents
from samenloop.node.check import (
    KEY_HOLDERS_UNAVAILABLE,
    CheckRefused,
    CheckRequest,
    KeyHoldersUnavailable,
    NetworkUnavailable,
    NoAccess,
    RateLimited,
    UnknownCase,
    run_check,
)
from samenloop.node.config import NodeConfig, WebConfig
from samenloop.node.metrics import NodeMetrics
from samenloop.node.model import CheckResult
from samenloop.node.network import (
    EvaluationBudgetExhausted,
    Network,
    NetworkError,
    TooFewKeyHolders,
)
from samenloop.node.registration import (
    COLUMN_COUNT,
    COLUMNS,
    MAX_JSON_DEPTH,
    NOT_JSON,
    ImportRefused,
    RowError,
    file_columns,
    import_cases,
    parse_rows,
    validate,
)
from samenloop.node.store import CaseRow, ImportSummary, Informing, NodeStore
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.web")

SUBJECT_FIELDS = ("achternaam", "tussenvoegsel", "voornamen", "geboortedatum",
                  "geboorteplaats", "bsn")
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class FieldError:
    """One refused field: the API sends these as `{"field", "message"}`; pages show them
    next to the field. `person` is 1 for the main person, 2.. for household members."""

    field: str
    message: str
    person: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.person is not None:
            out["persoon"] = self.person
        return out


class Refused(Exception):
    """A use case's refusal at the web's edge: the fields, and the status its class maps to
    (CHECK_STATUS, CASE_STATUS); `retry_after` seconds for a limit (429)."""

    def __init__(self, errors: list[FieldError], status: int = 422,
                 retry_after: int | None = None) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors
        self.status = status
        self.retry_after = retry_after


@dataclass
class NodeContext:
    """Everything the web app shares with the node process: config, store, network."""

    config: NodeConfig
    web: WebConfig
    store: NodeStore
    network: Network
    clock: Callable[[], float] = time.time
    pending: PendingStore = field(default_factory=lambda: PendingStore())
    metrics: NodeMetrics | None = None  # the node process's, when the app runs inside it


class PendingStore:
    """Short-lived, in-memory only: a check to retry or an uploaded export awaiting
    "apply", per session. Never on disk; gone on logout, restart or after `ttl`."""

    def __init__(self, ttl: float = 900.0) -> None:
        self.ttl = ttl
        self._items: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def put(self, session: str, kind: str, value: Any, now: float) -> None:
        with self._lock:
            self._expire(now)
            self._items[(session, kind)] = (now + self.ttl, value)

    def get(self, session: str, kind: str, now: float) -> Any | None:
        with self._lock:
            self._expire(now)
            item = self._items.get((session, kind))
        return item[1] if item else None

    def keep(self, session: str, kind: str, value: Any, now: float) -> str:
        """Keep `value` under a new random id (a check result, an inzage overview) for a
        redirect to show it: the id goes in the address, the value never does."""
        item_id = secrets.token_urlsafe(16)
        self.put(session, f"{kind}:{item_id}", value, now)
        return item_id

    def kept(self, session: str, kind: str, item_id: str, now: float) -> Any | None:
        """What `keep` kept for this session under an id from an address or form."""
        return self.get(session, f"{kind}:{item_id[:64]}", now)

    def drop(self, session: str, kind: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == session and kind in (None, k[1])]:
                del self._items[key]

    def _expire(self, now: float) -> None:
        for key in [k for k, (until, _) in self._items.items() if until < now]:
            del self._items[key]


# ------------------------------------------------------------------ checks


def parse_subjects(raw: Sequence[Mapping[str, str | None]], *, bsn_enabled: bool,
                   today: date | None = None) -> tuple[Subject, ...]:
    """Every person of the form or API body, or Refused naming each bad field (no values).
    A BSN is refused unless the network's directory enables BSN matching."""
    subjects: list[Subject] = []
    errors: list[FieldError] = []
    for number, item in enumerate(raw, start=1):
        bsn = (item.get("bsn") or "").strip()
        if bsn and not bsn_enabled:
            errors.append(FieldError("bsn", "in dit netwerk wordt niet op BSN gezocht; laat "
                                            "het BSN leeg", number))
            bsn = ""  # the other fields are still checked: every problem in one pass
        try:
            subjects.append(parse_subject(
                surname=item.get("achternaam") or "", prefix=item.get("tussenvoegsel") or "",
                given_names=item.get("voornamen") or "",
                date_of_birth=item.get("geboortedatum") or "",
                place_of_birth=item.get("geboorteplaats") or "", bsn=bsn or None, today=today))
        except InvalidSubjects as exc:
            errors += [FieldError(p.field, p.message, number) for p in exc.problems]
        except InvalidSubject as exc:
            errors.append(FieldError(exc.field, exc.message, number))
    if not raw:
        errors.append(FieldError("personen", "geef ten minste één persoon op"))
    if errors:
        raise Refused(errors)
    return tuple(subjects)


def bsn_enabled(ctx: NodeContext) -> bool:
    """The network's decision, from the signed directory this node last verified."""
    directory = ctx.network.cached_directory()
    return bool(directory and directory.bsn_enabled)


# What each kind of refusal is at the HTTP edge.
CHECK_STATUS: dict[type[CheckRefused], int] = {
    UnknownCase: 404, NoAccess: 403, RateLimited: 429, NetworkUnavailable: 503,
    KeyHoldersUnavailable: 503, CheckRefused: 422,
}
CASE_STATUS: dict[type[cases.CaseActionRefused], int] = {
    cases.CaseNotFound: 404, cases.NotPermitted: 403, cases.AlreadyExists: 409,
    cases.CaseActionRefused: 422,
}


def status_of(exc: Exception, table: Mapping[type[Any], int]) -> int:
    """The status of the most specific class of `exc` in `table`: a subclass added later
    (RightsRefused under CheckRefused) gets its base's status, never a KeyError (a 500)."""
    return next(table[cls] for cls in type(exc).__mro__ if cls in table)


def samenloopcheck(ctx: NodeContext, *, actor: str, procesregisseur_id: str | None,
                   case_ref: str, purpose: str, note: str,
                   subjects: tuple[Subject, ...],
                   informing: Informing | None = None) -> CheckResult:
    """A check for an own case at aanmelding or triage: run_check enforces case, access,
    purpose, note and limits."""
    try:
        return run_check(ctx.config, ctx.store, ctx.network, CheckRequest(
            case_ref=case_ref.strip(), purpose=purpose.strip(), subjects=subjects,
            actor=actor, procesregisseur_id=procesregisseur_id, note=note.strip(),
            informing=informing),
            now=ctx.clock, metrics=ctx.metrics)
    except CheckRefused as exc:
        raise Refused([FieldError(exc.field, exc.message)], status_of(exc, CHECK_STATUS),
                      exc.retry_after if isinstance(exc, RateLimited) else None) from None


def case_action(action: Callable[[], Any]) -> Any:
    """Run a case use case, mapping its refusal to the web's."""
    try:
        return action()
    except cases.CaseActionRefused as exc:
        raise Refused([FieldError(exc.field, exc.message)],
                      status_of(exc, CASE_STATUS)) from None


# ------------------------------------------------------------------ meldingen


MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER range


def handle_melding(ctx: NodeContext, *, actor: str, procesregisseur_id: str,
                   melding_id: int, action: str) -> None:
    case_action(lambda: cases.handle_melding(ctx.store, melding_id, action,
                                             procesregisseur_id=procesregisseur_id,
                                             actor=actor, now=ctx.clock()))


# ------------------------------------------------------------------ imports


def decode_upload(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused([FieldError("bestand", "het bestand is geen UTF-8-tekst (CSV of JSON)")]
                      ) from None


# The English reasons of registration.py (for the operator's CLI), in the beheerder's
# words: (pattern, Dutch text with the pattern's groups as {1}, {2}).
IMPORT_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), dutch) for pattern, dutch in (
        (r"has (\d+) fields, expected (\d+)", "heeft {1} kolommen, verwacht {2}"),
        (r"must be 1-64 letters, digits, .*", "moet 1 tot 64 letters, cijfers, '.', '_', '/' "
                                              "of '-' bevatten"),
        (r"must be one of (.*) \(mapped in node\.toml \[import\] phases\)",
         "moet een van deze fasen zijn: {1} (andere namen van het casussysteem vertaalt de "
         "node via [import] phases in node.toml)"),
        (r"must be one of (.*)", "moet een van deze waarden zijn: {1}"),
        (r"must be ja or nee", "moet ja of nee zijn"),
        (r"lies in the future", "ligt in de toekomst"),
        (r"not a valid date", "is geen geldige datum"),
        (r"needed when informing is postponed", "is nodig als het informeren is uitgesteld"),
        (r"unknown procesregisseur.*", "onbekende procesregisseur: hij moet eerst aan de node "
                                       "worden toegevoegd (node.toml of `samenloop node "
                                       "procesregisseur add`)"),
        (r"phase or procesregisseur differs from line (\d+) of the same case",
         "fase of procesregisseur verschilt van regel {1} van dezelfde casus"),
        (r"column missing \(one of (.*)\)", "deze kolom ontbreekt (kopje: een van {1})"),
        (r"no rows", "het bestand bevat geen regels"),
        (r"empty file or no header row", "het bestand is leeg of heeft geen kopregel"),
        (r"not valid CSV", "geen geldige CSV"),
        (r"each record must be an object", "elk record moet een object zijn"),
        (r"not UTF-8 text", "het bestand is geen UTF-8-tekst"),
    ))
# parse_subject names its fields in Dutch already; the export's field they come from.
SUBJECT_COLUMNS = {"achternaam": "surname", "tussenvoegsel": "prefix",
                   "voornamen": "given_names", "geboortedatum": "date_of_birth",
                   "geboorteplaats": "place_of_birth", "bsn": "bsn"}


def _in_dutch(error: RowError, columns: Mapping[str, str] | None = None) -> RowError:
    """A problem in the beheerder's words: the column as the file's header spells it, and
    the reason in Dutch. A row with the wrong number of fields is reported as such."""
    if error.field == "file" and error.reason.startswith(NOT_JSON):
        deep = f" (dieper genest dan {MAX_JSON_DEPTH} niveaus)" \
            if "nested" in error.reason else ""
        return RowError(error.line, "bestand", f"geen geldige JSON{deep}")
    reason = error.reason
    for pattern, dutch in IMPORT_REASONS:
        found = pattern.match(reason)
        if found:
            reason = dutch.format(None, *found.groups())
            break
    if error.field == COLUMN_COUNT:
        missing = re.search(r"missing from column '(.*)' on", error.reason)
        extra = re.search(r"extra from field (\d+) on", error.reason)
        where = (f"vanaf {missing.group(1)}" if missing else
                 f"vanaf kolom {extra.group(1)} (zonder kopje)" if extra else "kolommen")
        return RowError(error.line, where, f"regel {error.line} {reason}")
    if error.field == "file":
        return RowError(error.line, "bestand", reason)
    name = SUBJECT_COLUMNS.get(error.field, error.field)
    column = (columns or {}).get(name)
    if column is None:  # not in the file (a missing column): its usual Dutch heading
        aliases = COLUMNS.get(name, (name,))
        column = next((a for a in aliases if a != name), aliases[0])
    return RowError(error.line, column, reason)


def check_import(ctx: NodeContext, text: str) -> tuple[int, int, list[RowError]]:
    """(rows, cases, problems) without changing anything: the report before applying,
    in Dutch with the file's own column names."""
    try:
        rows = validate(parse_rows(text), ctx.store.procesregisseur_ids(),
                        date.fromtimestamp(ctx.clock()), ctx.config.phase_names)
    except ImportRefused as exc:
        columns = file_columns(text)
        return 0, 0, [_in_dutch(e, columns) for e in exc.errors]
    return len(rows), len({r.case_ref for r in rows}), []


def apply_import(ctx: NodeContext, text: str, *, sync: bool, actor: str) -> ImportSummary:
    try:
        summary = import_cases(ctx.config, ctx.store, ctx.network, text, sync=sync,
                               actor=actor, now=ctx.clock)
    except ImportRefused as exc:
        columns = file_columns(text)
        raise Refused([FieldError(f"regel {e.line}, kolom {e.field}", e.reason)
                       for e in (_in_dutch(e, columns) for e in exc.errors[:200])]) from None
    except EvaluationBudgetExhausted:
        raise Refused([FieldError("netwerk", "het importbudget van dit Zorg- en "
                                             "Veiligheidshuis bij de coördinator of de "
                                             "sleutelhouders is op "
                                             "(limiet bereikt); er is niets gewijzigd. Probeer "
                                             "het later opnieuw of vraag de netwerkbeheerder "
                                             "de limiet te verhogen.")], 429) from None
    except TooFewKeyHolders:
        raise Refused([FieldError("netwerk", f"{KEY_HOLDERS_UNAVAILABLE}; er is niets "
                                             f"gewijzigd")], 503) from None
    except NetworkError:
        raise Refused([FieldError("netwerk", "de coördinator is niet bereikbaar; er is niets "
                                             "gewijzigd")], 503) from None
    return summary


# ------------------------------------------------------------------ cases and status


def close_case(ctx: NodeContext, case_ref: str, *, actor: str, not_accepted: bool = False,
               acting_for: str | None = None) -> None:
    case_action(lambda: cases.end_case(ctx.store, case_ref, not_accepted=not_accepted,
                                       actor=actor, now=ctx.clock(), acting_for=acting_for))


@dataclass(frozen=True)
class NodeStatus:
    coordinator_reachable: bool
    directory_serial: int | None
    directory_epoch: int | None
    directory_nodes: int
    certificate_not_after: dt.datetime | None
    counts_by_phase: dict[str, int]
    tags: int
    expiring: list[CaseRow]
    expiry_days: int


def node_status(ctx: NodeContext) -> NodeStatus:
    try:
        ctx.network.stub.GetDirectory(pb.GetDirectoryRequest(), timeout=3)
        reachable = True
    except grpc.RpcError:
        reachable = False
    try:
        directory = ctx.network.directory()
    except NetworkError:
        directory = None
    try:
        not_after: dt.datetime | None = certificate_not_after(ctx.config.tls.cert.read_bytes())
    except (OSError, ValueError):
        not_after = None
    now = ctx.clock()
    max_age = ctx.config.max_inactive_days * 86400
    expiring = ctx.store.expiring_cases(now - max_age + EXPIRY_WARNING_DAYS * 86400)
    return NodeStatus(reachable, directory.serial if directory else None,
                      directory.current_epoch if directory else None,
                      len(directory.nodes) if directory else 0, not_after,
                      ctx.store.counts_by_phase(), ctx.store.tag_count(), expiring,
                      ctx.config.max_inactive_days)


# ------------------------------------------------------------------ audit


@dataclass(frozen=True)
class QuietClose:
    """A case checked or registered at intake, then closed without a case conference."""

    case_ref: str
    closed_at: float
    closed_by: str
    checks: int
    checked_by: tuple[str, ...]


@dataclass(frozen=True)
class CaseEnding:
    """A case that stopped being active: when, why, and by when the region's covenant
    wants its file destroyed (no identifiers: the node never had any)."""

    case_ref: str
    registered_at: float
    ended_at: float
    reason: str
    destroy_by: float


ENDING_LABELS = {
    "afschaling": "afschaling",
    "niet_in_behandeling": "niet in behandeling genomen",
    "verlopen": "verlopen (zes maanden geen nieuwe gegevens)",
    "niet_meer_in_export": "niet meer in de export",
}


@dataclass(frozen=True)
class AuditReport:
    per_month: list[tuple[str, str, int]]
    above_threshold: list[tuple[str, str, int]]
    threshold: int
    quiet_closes: list[QuietClose]
    broken_at: int | None
    entries: int
    endings: list[CaseEnding] = field(default_factory=list)
    destroy_after_days: int = 365


def audit_report(ctx: NodeContext) -> AuditReport:
    """Checks per user per month, users above the threshold, quiet closes, chain status.

    A quiet close: a case that was created or checked at aanmelding/triage and then closed
    (audit action "close") without ever reaching phase "uitvoering" — checks then served
    no case conference, which a privacy officer wants to see.
    """
    store = ctx.store
    per_month = store.checks_per_user_per_month()
    threshold = ctx.web.audit_monthly_threshold
    checks: dict[str, list[str]] = {}
    for entry in store.audit_entries("check"):
        checks.setdefault(str(entry.details.get("case_ref", "")), []).append(entry.actor)
    quiet = []
    for entry in store.audit_entries("close"):
        case_ref = str(entry.details.get("case_ref", ""))
        phases = store.phases_reached(case_ref)
        if "uitvoering" in phases or "nazorg" in phases:
            continue
        if case_ref in checks or phases & {"aanmelding", "triage"}:
            done = checks.get(case_ref, [])
            quiet.append(QuietClose(case_ref, entry.at, entry.actor, len(done),
                                    tuple(sorted(set(done)))))
    term = ctx.config.destroy_after_end_days
    endings = [CaseEnding(ref, registered, ended, reason, ended + term * 86400)
               for ref, registered, ended, reason in store.case_endings()]
    broken_at = store.verify_audit(ctx.config.audit_key)
    incidents.audit_chain_checked(store, broken_at, source="auditpagina", now=ctx.clock())
    return AuditReport(per_month, [r for r in per_month if r[2] > threshold], threshold,
                       quiet, broken_at,
                       len(store.audit_entries()), endings, term)
