"""The privacy role's pages (functionaris/privacy-adviseur): the landing page and the
incident register with its 72-hour clock towards the Autoriteit Persoonsgegevens and the
36-hour report to the Manager. The auditor's pages stay read-only oversight."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from samenloop.node import incidents
from samenloop.node.store import Incident
from samenloop.node.web.actions import FieldError
from samenloop.node.web.pages import render
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


def _labels() -> dict[str, object]:
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
