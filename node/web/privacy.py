"""The privacy role's pages (functionaris/privacy-adviseur): the landing page and the
incident register with its 72-hour clock towards the Autoriteit Persoonsgegevens and the
36-hour report to the Manager. The auditor's pages stay read-only oversight."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from samenloop.crypto.identity import Subject
from samenloop.node import cases, incidents, privacy_docs, rights
from samenloop.node.model import PHASE_LABELS
from samenloop.node.network import NetworkError
from samenloop.node.store import Incident
from samenloop.node.web import actions
from samenloop.node.web.actions import FieldError
from samenloop.node.web.pages import csv_response, render
from samenloop.node.web.security import Viewer, context, page_user, posted_form

router = APIRouter(include_in_schema=False)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class IncidentRow:
    """An incident with its two clocks as they stand now."""

    incident: Incident
    ap: incidents.Clock
    manager: incidents.Clock


def _rows(incident_list: list[Incident], now: float) -> list[IncidentRow]:
    return [IncidentRow(i, incidents.ap_clock(i, now), incidents.manager_clock(i, now))
            for i in incident_list]


def _labels() -> dict[str, Any]:
    return {"CATEGORIES": incidents.CATEGORIES, "PERSONAL_DATA": incidents.PERSONAL_DATA,
            "AP_DECISIONS": incidents.AP_DECISIONS,
            "NOT_NOTIFIED_REASONS": incidents.NOT_NOTIFIED_REASONS,
            "DESCRIPTION_CHARS": incidents.DESCRIPTION_CHARS}


@router.get("/privacy")
def privacy_home(request: Request,
                 viewer: Viewer = Depends(page_user("privacy"))  # noqa: B008
                 ) -> HTMLResponse:
    """Open incidents first, with their clocks, and counts."""
    ctx = context(request)
    now = ctx.clock()
    all_incidents = ctx.store.incidents()
    open_rows = _rows([i for i in all_incidents if i.closed_at is None], now)
    return render(request, "privacy.html", viewer, rows=open_rows,
                  total=len(all_incidents), open_count=len(open_rows),
                  overdue=sum(1 for r in open_rows if r.ap.overdue or r.manager.overdue),
                  **_labels())


def _register(request: Request, viewer: Viewer, *, message: str | None = None,
              errors: list[FieldError] | None = None, values: dict[str, str] | None = None,
              status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "incidenten.html", viewer, status,
                  rows=_rows(ctx.store.incidents(), ctx.clock()), message=message,
                  errors=errors or [], values=values or {}, **_labels())


@router.get("/privacy/incidenten")
def incident_register(request: Request,
                      viewer: Viewer = Depends(page_user("privacy"))  # noqa: B008
                      ) -> HTMLResponse:
    return _register(request, viewer)


@router.post("/privacy/incidenten")
def incident_new(request: Request,
                 viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
                 ) -> Response:
    ctx = context(request)
    form = posted_form(request)
    values = {k: _text(form, k) for k in ("categorie", "omschrijving", "persoonsgegevens",
                                          "ontdekt_op")}
    try:
        incident_id = incidents.register(
            ctx.store, category=values["categorie"], description=values["omschrijving"],
            personal_data=values["persoonsgegevens"], discovered=values["ontdekt_op"],
            actor=viewer.username, now=ctx.clock())
    except incidents.IncidentRefused as exc:
        # The description comes back only when it was not the field refused.
        if exc.field == "omschrijving":
            values["omschrijving"] = ""
        return _register(request, viewer, errors=[FieldError(exc.field, exc.message)],
                         values=values, status=422)
    return RedirectResponse(f"/privacy/incidenten#incident-{incident_id}", 303)


@router.post("/privacy/incidenten/{incident_id}")
def incident_decide(request: Request, incident_id: int,
                    viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
                    ) -> Response:
    ctx = context(request)
    form = posted_form(request)
    try:
        incidents.decide(
            ctx.store, incident_id, personal_data=_text(form, "persoonsgegevens"),
            ap_decision=_text(form, "besluit_ap"), ap_reported=_text(form, "gemeld_ap_op"),
            ap_reason=_text(form, "reden_niet_melden"),
            manager_informed=_text(form, "manager_op"), close=_text(form, "afsluiten") == "ja",
            actor=viewer.username, now=ctx.clock())
    except incidents.IncidentRefused as exc:
        status = 404 if exc.field == "incident" else 422
        return _register(request, viewer, status=status,
                         errors=[FieldError(exc.field, f"incident {incident_id}: {exc.message}")])
    return RedirectResponse(f"/privacy/incidenten#incident-{incident_id}", 303)


# ------------------------------------------------------------------ the person's rights

PERSON_FIELDS = ("achternaam", "tussenvoegsel", "voornamen", "geboortedatum", "geboorteplaats",
                 "bsn")


def _requests(request: Request, viewer: Viewer, *, message: str | None = None,
              errors: list[FieldError] | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    now = ctx.clock()
    return render(request, "privacy_verzoeken.html", viewer, status, message=message,
                  errors=errors or [], now=now, requests=ctx.store.rights_requests(),
                  notices=ctx.store.rights_notices(), blocks=ctx.store.blocks(),
                  bsn_enabled=actions.bsn_enabled(ctx),
                  report=cases.informing_report(ctx.store, dt.date.fromtimestamp(now)),
                  KINDS=KIND_LABELS)


KIND_LABELS = {"inzage": "inzage", "verwijdering": "verwijdering uit een casus",
               "bezwaar": "bezwaar gehonoreerd"}


@router.get("/privacy/verzoeken")
def rights_requests(request: Request,
                    viewer: Viewer = Depends(page_user("privacy"))  # noqa: B008
                    ) -> HTMLResponse:
    """Requests made here with their due dates, notices of requests made elsewhere, blocks,
    and the informing report."""
    return _requests(request, viewer)


def _person(request: Request, form: FormData) -> Subject:
    raw = [{f: _text(form, f) for f in PERSON_FIELDS}]
    return actions.parse_subjects(raw, bsn_enabled=actions.bsn_enabled(context(request)))[0]


@router.post("/privacy/inzage")
def inzage(request: Request,
           viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
           ) -> Response:
    """An inzage request at this contact point: this node and every other, one answer."""
    ctx = context(request)
    form = posted_form(request)
    try:
        person = _person(request, form)
        result = rights.inzage(ctx.config, ctx.store, ctx.network, (person,),
                               actor=viewer.username, now=ctx.clock)
    except actions.Refused as exc:
        return _requests(request, viewer, errors=exc.errors, status=422)
    except rights.CheckRefused as exc:
        return _requests(request, viewer, errors=[FieldError(exc.field, exc.message)],
                         status=actions.status_of(exc, actions.CHECK_STATUS))
    overview_id = ctx.pending.keep(viewer.session.token_hash, "inzage", result, ctx.clock())
    return RedirectResponse(f"/privacy/inzage/{overview_id}", 303)


@router.get("/privacy/inzage/{overview_id}")
def inzage_overview(request: Request, overview_id: str,
                    viewer: Viewer = Depends(page_user("privacy"))  # noqa: B008
                    ) -> HTMLResponse:
    """The letter-ready overview, from the server's memory for this session only."""
    ctx = context(request)
    result = ctx.pending.kept(viewer.session.token_hash, "inzage", overview_id, ctx.clock())
    if result is None:
        return render(request, "fout.html", viewer, 404, message=(
            "Dit overzicht is niet meer beschikbaar; het wordt niet bewaard. Doe zo nodig "
            "een nieuw inzageverzoek."))
    return render(request, "privacy_inzage.html", viewer, result=result,
                  PHASE_LABELS=PHASE_LABELS, ENDING_LABELS=actions.ENDING_LABELS)


@router.post("/privacy/blokkade")
def block(request: Request,
          viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
          ) -> HTMLResponse:
    """Removal of one person from a case, or an upheld objection (every case)."""
    ctx = context(request)
    form = posted_form(request)
    kind = _text(form, "soort")
    case_ref = _text(form, "casus").strip() or None
    try:
        person = _person(request, form)
        _, removed = rights.block_person(ctx.config, ctx.store, ctx.network, person,
                                         kind=kind, case_ref=case_ref,
                                         actor=viewer.username, now=ctx.clock)
    except actions.Refused as exc:
        return _requests(request, viewer, errors=exc.errors, status=422)
    except rights.CheckRefused as exc:
        return _requests(request, viewer, errors=[FieldError(exc.field, exc.message)],
                         status=actions.status_of(exc, actions.CHECK_STATUS))
    return _requests(request, viewer, message=(
        f"{KIND_LABELS.get(kind, kind).capitalize()}: de persoon is uit {removed} casus(sen) "
        f"verwijderd. Een blokkade houdt de persoon uit nieuwe registraties tot u die opheft."))


def _act(request: Request, viewer: Viewer, action: Callable[..., None], number: int,
         message: str) -> HTMLResponse:
    """One of the privacy role's one-step actions on a numbered item; refused: not found."""
    ctx = context(request)
    try:
        action(ctx.store, number, actor=viewer.username, now=ctx.clock())
    except rights.CheckRefused as exc:
        return _requests(request, viewer, errors=[FieldError(exc.field, exc.message)],
                         status=404)
    return _requests(request, viewer, message=message)


@router.post("/privacy/blokkade/{block_id}/opheffen")
def unblock(request: Request, block_id: int,
            viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
            ) -> HTMLResponse:
    return _act(request, viewer, rights.lift_block, block_id,
                "De blokkade is opgeheven: een volgende import of check mag de persoon weer "
                "registreren.")


@router.post("/privacy/verzoeken/{request_id}/afgehandeld")
def request_done(request: Request, request_id: int,
                 viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
                 ) -> HTMLResponse:
    return _act(request, viewer, rights.close_request, request_id,
                "Het verzoek is afgehandeld.")


@router.post("/privacy/kennisgevingen/{notice_id}/afgehandeld")
def notice_done(request: Request, notice_id: int,
                viewer: Viewer = Depends(page_user("privacy", form=True))  # noqa: B008
                ) -> HTMLResponse:
    return _act(request, viewer, rights.handle_notice, notice_id,
                "De kennisgeving is afgehandeld.")


@router.get("/privacy/informeren.csv")
def informing_csv(request: Request,
                  viewer: Viewer = Depends(page_user("privacy"))  # noqa: B008
                  ) -> Response:
    """Cases in triage or later without an informing status, and overdue postponements."""
    ctx = context(request)
    report = cases.informing_report(ctx.store, dt.date.fromtimestamp(ctx.clock()))
    rows = ([[c.case_ref, c.phase, c.procesregisseur_id, "geen status", ""]
             for c in report.without_status]
            + [[c.case_ref, c.phase, c.procesregisseur_id,
                f"uitgesteld: {c.inform_postponed}", c.reassess_on]
               for c in report.reassessment_due])
    return csv_response("informeren.csv", ["casus", "fase", "procesregisseur", "status",
                                           "herbeoordeling_op"], rows)


@router.get("/privacy/documenten")
def documents(request: Request,
              viewer: Viewer = Depends(page_user("privacy"))  # noqa: B008
              ) -> HTMLResponse:
    """The register entry, the information text and the DPIA input, generated from this
    node's configuration and the signed directory, so they stay true."""
    ctx = context(request)
    try:
        docs = privacy_docs.render(ctx.config, ctx.network.directory())
    except (privacy_docs.PrivacyDocsError, NetworkError):
        return render(request, "fout.html", viewer, 503, message=(
            "De documenten kunnen nu niet worden gemaakt: het netwerkoverzicht (directory) "
            "is niet beschikbaar."))
    return render(request, "privacy_documenten.html", viewer, docs=docs)
