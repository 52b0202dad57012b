"""The auditor's (privacy officer's) pages beyond the audit overview: the checks one by one
with filters, and the periodic report the covenants ask for, each also as CSV.

Read-only oversight from the audit trail, which holds no identifiers. Query parameters are
checked field by field; a refusal names the field in Dutch and never repeats what was sent.
Charts are SVG drawn on the server: no JavaScript, and every number is also in a table.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import QueryParams

from samenloop.node import reports
from samenloop.node.model import PHASE_LABELS, STRENGTH_LABELS
from samenloop.node.web.actions import FieldError
from samenloop.node.web.pages import csv_response, render
from samenloop.node.web.security import Viewer, context, page_user

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 100_000
CHECK_FIELDS = ("gebruiker", "casus", "van", "tot")
REPORT_FIELDS = ("per", "van", "tot")
# Bar colours with at least 3:1 contrast on white (WCAG 1.4.11), told apart by the legend
# and the table too, never by colour alone.
COLOURS = ("#0b4f8a", "#a0161b", "#1e6b34", "#5c3b00", "#5a2d82")


def _params(query: QueryParams, names: tuple[str, ...]) -> dict[str, str]:
    return {name: query.get(name, "") for name in names}


FIELD_LABELS = {"gebruiker": "Gebruiker", "casus": "Casusnummer", "van": "Van",
                "tot": "Tot en met", "per": "Per", "pagina": "Pagina"}


def _errors(exc: reports.InvalidFilter) -> list[FieldError]:
    """Each message starts with the field's label, as the error summary lists them."""
    return [FieldError(field, f"{FIELD_LABELS.get(field, field)}: {message}")
            for field, message in exc.problems]


def _kept(values: dict[str, str], errors: list[FieldError]) -> dict[str, str]:
    """The form's values to show again: only the fields that passed, so nothing refused is
    ever echoed."""
    wrong = {e.field for e in errors}
    return {k: ("" if k in wrong else v.strip()) for k, v in values.items()}


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


def _csv_text(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# ------------------------------------------------------------------ checks one by one


@router.get("/audit/checks")
def checks_page(request: Request, viewer: Viewer = Depends(page_user("auditor")),  # noqa: B008
                ) -> HTMLResponse:
    values = _params(request.query_params, (*CHECK_FIELDS, "pagina"))
    errors: list[FieldError] = []
    try:
        check_filter = reports.parse_check_filter(*(values[f] for f in CHECK_FIELDS))
    except reports.InvalidFilter as exc:
        errors = _errors(exc)
    page = 1
    if values["pagina"].strip():
        text = values["pagina"].strip()
        if text.isdigit() and 1 <= len(text) <= 6 and 1 <= int(text) <= MAX_PAGE:
            page = int(text)
        else:
            errors.append(FieldError("pagina", "Pagina: het paginanummer moet een geheel "
                                               "getal vanaf 1 zijn"))
    if errors:
        return render(request, "audit_checks.html", viewer, 422, errors=errors,
                      values=_kept(values, errors), rows=[], total=0, page=1, pages=1,
                      query="", **_labels())
    rows = reports.check_rows(context(request).store, check_filter)
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(page, pages)
    kept = _kept(values, [])
    query = urlencode({k: v for k, v in kept.items() if k != "pagina" and v})
    return render(request, "audit_checks.html", viewer, errors=[], values=kept,
                  rows=rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], total=len(rows),
                  page=page, pages=pages, query=query, **_labels())


def _labels() -> dict[str, Any]:
    return {"PHASE_LABELS": PHASE_LABELS, "STRENGTH_ORDER": reports.STRENGTH_ORDER,
            "STRENGTH_LABELS": STRENGTH_LABELS}


@router.get("/audit/checks.csv")
def checks_csv(request: Request, viewer: Viewer = Depends(page_user("auditor")),  # noqa: B008
               ) -> Response:
    """The same rows as the page, all of them (no pages), times in ISO 8601 with zone."""
    values = _params(request.query_params, CHECK_FIELDS)
    try:
        check_filter = reports.parse_check_filter(*(values[f] for f in CHECK_FIELDS))
    except reports.InvalidFilter as exc:
        errors = _errors(exc)
        return render(request, "audit_checks.html", viewer, 422, errors=errors,
                      values=_kept({**values, "pagina": ""}, errors), rows=[], total=0,
                      page=1, pages=1, query="", **_labels())
    rows = reports.check_rows(context(request).store, check_filter)
    header = ["tijdstip", "gebruiker", "casus", "procesregisseur", "doel", "toelichting",
              "fase", "bereik", "personen", "uitkomst",
              *(f"treffers_{s}" for s in reports.STRENGTH_ORDER),
              "huizen", "beantwoord", "niet_beantwoord", "checkreferentie"]
    return csv_response("checks.csv", header, [[_csv_text(v) for v in (
        _iso(r.at), r.user, r.case_ref, r.procesregisseur_id, r.purpose, r.note, r.phase,
        r.reach, r.subjects, "afgerond" if r.finished else "onderbroken",
        *((r.hits.get(s, 0) if r.finished else "") for s in reports.STRENGTH_ORDER),
        r.nodes if r.finished else "", r.answered if r.finished else "",
        r.missing if r.finished else "", r.query_id)] for r in rows])


# ------------------------------------------------------------------ periodic report


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    colour: str


@dataclass(frozen=True)
class BarGroup:
    label: str
    y: float                     # the label's baseline
    bars: list[Bar]


@dataclass(frozen=True)
class Chart:
    """A horizontal grouped bar chart, drawn by the template as inline SVG, with the same
    numbers for its table."""

    id: str
    title: str
    summary: str                 # the chart's accessible description
    width: int
    height: int
    legend: list[tuple[str, str, float]]   # (name, colour, x)
    groups: list[BarGroup]
    series: list[str]
    rows: list[tuple[str, list[int]]]      # (period, a value per series)
    totals: list[int]


LABEL_WIDTH = 170
CHART_WIDTH = 720
BAR_HEIGHT = 12
BAR_GAP = 2
GROUP_GAP = 12
LEGEND_HEIGHT = 32


def bar_chart(chart_id: str, title: str, periods: list[reports.PeriodCounts],
              series: list[tuple[str, Any]]) -> Chart:
    """One group of bars per period, one bar per series; `series` holds (name, the value
    of a period)."""
    values = [[int(value(p)) for _, value in series] for p in periods]
    top = max((v for row in values for v in row), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 40  # room for the number after the longest bar
    legend, x = [], 0.0
    for index, (name, _) in enumerate(series):
        legend.append((name, COLOURS[index % len(COLOURS)], x))
        x += 30 + 8 * len(name)
    groups = []
    y = float(LEGEND_HEIGHT)
    group_height = len(series) * (BAR_HEIGHT + BAR_GAP)
    for period, row in zip(periods, values, strict=True):
        bars = [Bar(LABEL_WIDTH, y + i * (BAR_HEIGHT + BAR_GAP), span * v / top,
                    BAR_HEIGHT, v, COLOURS[i % len(COLOURS)]) for i, v in enumerate(row)]
        groups.append(BarGroup(period.period.label, y + group_height / 2 + 4, bars))
        y += group_height + GROUP_GAP
    totals = [sum(row[i] for row in values) for i in range(len(series))]
    said = ", ".join(f"{name} {total}" for (name, _), total in zip(series, totals, strict=True))
    return Chart(chart_id, title, f"{title} per periode; in totaal: {said}.",
                 max(CHART_WIDTH, int(x)), int(y), legend, groups,
                 [name for name, _ in series],
                 [(p.period.label, row) for p, row in zip(periods, values, strict=True)],
                 totals)


def report_charts(report: reports.PeriodicReport) -> list[Chart]:
    """Four charts, each with its own short table: the figures of one kind together."""
    periods = report.periods
    strengths = [(s, lambda p, s=s: p.hits[s]) for s in reports.STRENGTH_ORDER]
    return [
        bar_chart("grafiek-checks", "Checks", periods, [
            ("checks", lambda p: p.checks), ("met treffer", lambda p: p.checks_with_hit),
            ("onderbroken", lambda p: p.interrupted),
            ("onvolledige dekking", lambda p: p.incomplete)]),
        bar_chart("grafiek-treffers", "Treffers per sterkte", periods, strengths),
        bar_chart("grafiek-meldingen", "Samenloopmeldingen", periods, [
            ("ontvangen", lambda p: p.meldingen_received),
            ("afgehandeld", lambda p: p.meldingen_handled)]),
        bar_chart("grafiek-casussen", "Casussen", periods, [
            ("geregistreerd", lambda p: p.registered), ("afgeschaald", lambda p: p.closed),
            ("niet in behandeling", lambda p: p.not_accepted),
            ("verlopen", lambda p: p.expired),
            ("niet meer in export", lambda p: p.not_listed)]),
    ]


def _report(request: Request) -> tuple[dict[str, str], reports.PeriodicReport | None,
                                       list[FieldError]]:
    ctx = context(request)
    values = _params(request.query_params, REPORT_FIELDS)
    today = dt.date.fromtimestamp(ctx.clock())
    try:
        periods = reports.parse_report_request(values["per"], values["van"], values["tot"],
                                               today)
    except reports.InvalidFilter as exc:
        errors = _errors(exc)
        return _kept(values, errors), None, errors
    kept = _kept(values, [])
    kept["per"] = kept["per"] or "maand"
    return kept, reports.periodic_report(ctx.store, kept["per"], periods), []


@router.get("/audit/rapportage")
def report_page(request: Request, viewer: Viewer = Depends(page_user("auditor")),  # noqa: B008
                ) -> HTMLResponse:
    values, report, errors = _report(request)
    query = urlencode({k: v for k, v in values.items() if v})
    return render(request, "audit_rapportage.html", viewer, 422 if errors else 200,
                  errors=errors, values=values, report=report,
                  charts=report_charts(report) if report else [], query=query)


REPORT_COLUMNS = (
    ("checks", lambda p: p.checks), ("checks_met_treffer", lambda p: p.checks_with_hit),
    ("checks_onderbroken", lambda p: p.interrupted),
    ("checks_onvolledige_dekking", lambda p: p.incomplete),
    *((f"treffers_{s}", lambda p, s=s: p.hits[s]) for s in reports.STRENGTH_ORDER),
    ("meldingen_ontvangen", lambda p: p.meldingen_received),
    ("meldingen_afgehandeld", lambda p: p.meldingen_handled),
    ("casussen_geregistreerd", lambda p: p.registered),
    ("casussen_afgeschaald", lambda p: p.closed),
    ("casussen_niet_in_behandeling", lambda p: p.not_accepted),
    ("casussen_verlopen", lambda p: p.expired),
    ("casussen_niet_meer_in_export", lambda p: p.not_listed),
)


@router.get("/audit/rapportage.csv")
def report_csv(request: Request, viewer: Viewer = Depends(page_user("auditor")),  # noqa: B008
               ) -> Response:
    values, report, errors = _report(request)
    if report is None:
        return render(request, "audit_rapportage.html", viewer, 422, errors=errors,
                      values=values, report=None, charts=[], query="")
    day = "%Y-%m-%d"
    return csv_response(f"rapportage-per-{report.per}.csv",
                        ["periode", "van", "tot_en_met", *(n for n, _ in REPORT_COLUMNS)],
                        [[p.period.key, time.strftime(day, time.localtime(p.period.start)),
                          time.strftime(day, time.localtime(p.period.end - 1)),
                          *(value(p) for _, value in REPORT_COLUMNS)]
                         for p in (*report.periods, report.total)])
