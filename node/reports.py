"""The auditor's oversight, read from the audit trail: checks one by one, and the periodic
report the covenants ask for (evaluation, PDCA).

The audit trail holds users, case references and counts, never identifiers, so nothing
here can show one. A check writes its `check` record before anything leaves the node and a
`check_result` record after; a check without a result was interrupted or refused by the
network and is shown as such, never as a "no hit". Periods are in the node's local time,
like the audit page's months.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from samenloop.node.model import STRENGTHS
from samenloop.node.registration import CASE_REF
from samenloop.node.store import (
    ENDED_AFSCHALING,
    ENDED_EXPIRED,
    ENDED_NOT_ACCEPTED,
    ENDED_NOT_LISTED,
    NodeStore,
)

# Strongest first, as the result page lists them.
STRENGTH_ORDER = tuple(sorted(STRENGTHS, key=STRENGTHS.__getitem__, reverse=True))
PERIOD_KINDS = ("maand", "kwartaal")
MAX_PERIODS = 60           # five years of months: a page, not a data dump
RESULT_GRACE_SECONDS = 3600.0  # a check's result is written moments after the check
FILTER_CHARS = 64
USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_DUTCH_DAY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december")


class InvalidFilter(Exception):
    """Refused filter input: (field, Dutch message) pairs, every field checked in one pass.
    The messages never repeat what was typed."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


def parse_day(text: str) -> dt.date:
    """dd-mm-jjjj (also with / or .) or ISO jjjj-mm-dd, as a browser's date field sends it;
    ValueError with a Dutch message otherwise."""
    text = text.strip()
    if m := _DUTCH_DAY.match(text):
        day, month, year = m.groups()
    elif m := _ISO_DAY.match(text):
        year, month, day = m.groups()
    else:
        raise ValueError("vul een datum in als dd-mm-jjjj")
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError("deze datum bestaat niet") from None


def _start_of(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day).timestamp()


@dataclass(frozen=True)
class CheckFilter:
    """Which checks the auditor looks at; days inclusive, in local time."""

    user: str | None = None
    case_ref: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    @property
    def start(self) -> float:
        return _start_of(self.since) if self.since else 0.0

    @property
    def end(self) -> float | None:
        return _start_of(self.until + dt.timedelta(days=1)) if self.until else None


def _dates(since: str, until: str, problems: list[tuple[str, str]]
           ) -> tuple[dt.date | None, dt.date | None]:
    days: dict[str, dt.date | None] = {}
    for name, text in (("van", since), ("tot", until)):
        days[name] = None
        if len(text) > FILTER_CHARS:
            problems.append((name, "de datum is te lang; vul een datum in als dd-mm-jjjj"))
        elif text.strip():
            try:
                days[name] = parse_day(text)
            except ValueError as exc:
                problems.append((name, f"{exc}"))
    if days["van"] and days["tot"] and days["van"] > days["tot"]:
        problems.append(("tot", "de einddatum ligt voor de begindatum"))
    return days["van"], days["tot"]


def parse_check_filter(user: str, case_ref: str, since: str, until: str) -> CheckFilter:
    """The check list's filter as typed; InvalidFilter naming every wrong field."""
    problems: list[tuple[str, str]] = []
    user, case_ref = user.strip(), case_ref.strip()
    if user and (len(user) > FILTER_CHARS or not USER.match(user)):
        problems.append(("gebruiker", "een gebruikersnaam bestaat uit letters, cijfers, '.', "
                                      "'_' en '-' (ten hoogste 64 tekens)"))
    if case_ref and (len(case_ref) > FILTER_CHARS or not CASE_REF.match(case_ref)):
        problems.append(("casus", "een casusnummer bestaat uit letters, cijfers, '.', '_', "
                                  "'/' en '-' (ten hoogste 64 tekens)"))
    day_since, day_until = _dates(since, until, problems)
    if problems:
        raise InvalidFilter(problems)
    return CheckFilter(user or None, case_ref or None, day_since, day_until)


@dataclass(frozen=True)
class CheckRow:
    """One check as the audit trail knows it: who, when, for which case and purpose, and
    what came back (counts per strength and coverage), or that nothing came back."""

    at: float
    user: str
    case_ref: str
    procesregisseur_id: str
    purpose: str
    note: str
    phase: str
    reach: str                   # "eigen" (aanmelding) or "netwerk"
    subjects: int
    query_id: str
    finished: bool               # False: interrupted or refused by the network
    hits: dict[str, int] = field(default_factory=dict)  # strength -> hits
    nodes: int = 0
    answered: int = 0

    @property
    def hit_count(self) -> int:
        return sum(self.hits.values())

    @property
    def missing(self) -> int:
        return self.nodes - self.answered

    @property
    def complete(self) -> bool:
        return self.finished and self.nodes > 0 and self.answered == self.nodes


def _hits(strengths: object) -> dict[str, int]:
    counts = dict.fromkeys(STRENGTH_ORDER, 0)
    for name in strengths if isinstance(strengths, list) else []:
        if name in counts:
            counts[name] += 1
    return counts


def check_rows(store: NodeStore, check_filter: CheckFilter) -> list[CheckRow]:
    """Every check matching the filter, newest first, each joined to its result by query
    id. A result comes from the same user for the same case, a moment later: it is looked
    for from the filter's start on, without its end."""
    checks = store.audit_entries_between(("check",), check_filter.start, check_filter.end,
                                         actor=check_filter.user,
                                         case_ref=check_filter.case_ref)
    if not checks:
        return []
    results = {str(e.details.get("query_id", "")): e.details for e in
               store.audit_entries_between(("check_result",), checks[0].at,
                                           actor=check_filter.user,
                                           case_ref=check_filter.case_ref)}
    rows = []
    for entry in reversed(checks):
        d = entry.details
        query_id = str(d.get("query_id", ""))
        result = results.get(query_id)
        rows.append(CheckRow(
            at=entry.at, user=entry.actor, case_ref=str(d.get("case_ref", "")),
            procesregisseur_id=str(d.get("procesregisseur_id", "")),
            purpose=str(d.get("purpose", "")), note=str(d.get("note", "")),
            phase=str(d.get("phase", "")), reach=str(d.get("reach", "netwerk")),
            subjects=int(d.get("subjects", 0)), query_id=query_id,
            finished=result is not None,
            hits=_hits(result.get("hits")) if result else {},
            nodes=int(result.get("nodes", 0)) if result else 0,
            answered=int(result.get("answered", 0)) if result else 0))
    return rows


# ------------------------------------------------------------------ periodic report


@dataclass(frozen=True)
class Period:
    key: str                     # "2026-11" or "2026-K4": sortable, for CSV
    label: str                   # "november 2026" or "4e kwartaal 2026"
    start: float
    end: float


@dataclass
class PeriodCounts:
    """What happened in one period: the covenants' evaluation figures."""

    period: Period
    checks: int = 0
    checks_with_hit: int = 0
    interrupted: int = 0         # a check without a result
    incomplete: int = 0          # a result without every ZVH's answer
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STRENGTH_ORDER, 0))
    meldingen_received: int = 0
    meldingen_handled: int = 0
    registered: int = 0          # aanmeldingen and cases new in an import
    closed: int = 0              # afschaling
    not_accepted: int = 0
    expired: int = 0
    not_listed: int = 0          # no longer in the case system's export

    def add(self, other: PeriodCounts) -> None:
        for name in ("checks", "checks_with_hit", "interrupted", "incomplete",
                     "meldingen_received", "meldingen_handled", "registered", "closed",
                     "not_accepted", "expired", "not_listed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for strength, count in other.hits.items():
            self.hits[strength] += count


@dataclass(frozen=True)
class PeriodicReport:
    per: str
    periods: list[PeriodCounts]
    total: PeriodCounts


def _month(year: int, month: int) -> dt.date:
    """The first day of a month, counting months past December into the next years."""
    return dt.date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def report_periods(per: str, since: dt.date | None, until: dt.date | None,
                   today: dt.date) -> list[Period]:
    """The months or quarters from `since` to `until` (whole periods); by default the last
    twelve months or the last four quarters, up to today's."""
    step = 1 if per == "maand" else 3
    last = until or today
    last_start = _month(last.year, last.month - (last.month - 1) % step)
    if since is None:
        count = 12 if per == "maand" else 4
        first_start = _month(last_start.year, last_start.month - step * (count - 1))
    else:
        first_start = _month(since.year, since.month - (since.month - 1) % step)
    periods = []
    start = first_start
    while start <= last_start:
        end = _month(start.year, start.month + step)
        if per == "maand":
            key, label = f"{start:%Y-%m}", f"{MONTHS[start.month - 1]} {start.year}"
        else:
            quarter = (start.month - 1) // 3 + 1
            key, label = f"{start.year}-K{quarter}", f"{quarter}e kwartaal {start.year}"
        periods.append(Period(key, label, _start_of(start), _start_of(end)))
        start = end
    return periods


def parse_report_request(per: str, since: str, until: str, today: dt.date
                         ) -> list[Period]:
    """The report's periods as asked; InvalidFilter naming every wrong field."""
    problems: list[tuple[str, str]] = []
    per = per.strip() or "maand"
    if per not in PERIOD_KINDS:
        problems.append(("per", "kies per maand of per kwartaal"))
    day_since, day_until = _dates(since, until, problems)
    if day_since and day_since > today:
        problems.append(("van", "de begindatum ligt in de toekomst"))
    if problems:
        raise InvalidFilter(problems)
    periods = report_periods(per, day_since, day_until, today)
    if len(periods) > MAX_PERIODS:
        raise InvalidFilter([("van", f"kies ten hoogste {MAX_PERIODS} maanden of "
                                     f"kwartalen tegelijk")])
    return periods


def periodic_report(store: NodeStore, per: str, periods: list[Period]) -> PeriodicReport:
    """Per period: checks (with a hit, interrupted, with incomplete coverage), hits per
    strength, meldingen received at this node as holder and handled, cases registered
    (aanmelding or new in an import), and cases ended per reason (from the case endings,
    which are kept as long as the audit trail)."""
    rows = [PeriodCounts(p) for p in periods]
    total = PeriodCounts(Period("totaal", "Totaal", periods[0].start if periods else 0.0,
                                periods[-1].end if periods else 0.0))
    if not periods:
        return PeriodicReport(per, rows, total)
    start, end = periods[0].start, periods[-1].end

    def bucket(at: float) -> PeriodCounts | None:
        return next((r for r in rows if r.period.start <= at < r.period.end), None)

    checks: dict[str, PeriodCounts] = {}
    for entry in store.audit_entries_between(
            ("check", "melding", "melding_handled", "intake", "import"), start, end):
        row = bucket(entry.at)
        if row is None:
            continue
        d = entry.details
        if entry.action == "check":
            row.checks += 1
            row.interrupted += 1   # until its result shows up
            checks[str(d.get("query_id", ""))] = row
        elif entry.action == "melding":
            row.meldingen_received += 1
        elif entry.action == "melding_handled":
            row.meldingen_handled += 1
        elif entry.action == "intake":
            row.registered += 1
        elif entry.action == "import":
            row.registered += int(d.get("added", 0))
    # A result belongs to the period of its check, also when it came just after the end.
    for entry in store.audit_entries_between(("check_result",), start,
                                             end + RESULT_GRACE_SECONDS):
        d = entry.details
        owner = checks.pop(str(d.get("query_id", "")), None)
        if owner is None:
            continue
        owner.interrupted -= 1
        hits = _hits(d.get("hits"))
        owner.checks_with_hit += any(hits.values())
        for strength, count in hits.items():
            owner.hits[strength] += count
        if d.get("reach") != "eigen" and int(d.get("answered", 0)) < int(d.get("nodes", 0)):
            owner.incomplete += 1
    reasons = {ENDED_AFSCHALING: "closed", ENDED_NOT_ACCEPTED: "not_accepted",
               ENDED_EXPIRED: "expired", ENDED_NOT_LISTED: "not_listed"}
    for _case_ref, _registered, ended_at, reason in store.case_endings(start):
        row = bucket(ended_at)
        if row is not None and reason in reasons:
            setattr(row, reasons[reason], getattr(row, reasons[reason]) + 1)
    for row in rows:
        total.add(row)
    return PeriodicReport(per, rows, total)
