"""The Dutch web pages. POST for everything that carries identifiers or changes state;
every form carries the session's CSRF token; results are never cached.

Handlers are synchronous `def`s: FastAPI runs them in worker threads, so a check, an
import or a login's password hashing never holds up the event loop and other users'
pages. Their forms are read (in memory) by the async `page_user` dependency."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from samenloop.node import cases
from samenloop.node.model import (
    INFORM_POSTPONED,
    PHASE_LABELS,
    PHASES,
    STRENGTH_LABELS,
    STRENGTH_NAMES,
)
from samenloop.node.registration import CASE_REF
from samenloop.node.store import Notification, Session
from samenloop.node.web import accounts, actions, totp
from samenloop.node.web.actions import FieldError, NodeContext, Refused
from samenloop.node.web.limits import size_text
from samenloop.node.web.security import (
    SESSION_COOKIE,
    Viewer,
    context,
    page_session,
    page_user,
    posted_form,
    read_form,
)

INFORMING_FIELDS = ("geinformeerd_op", "informeren_uitgesteld", "herbeoordeling_op")
HOME = {"procesregisseur": "/check", "beheerder": "/beheer", "auditor": "/audit",
        "privacy": "/privacy"}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent
                                          / "templates"))


def _when(at: float | None) -> str:
    return time.strftime("%d-%m-%Y %H:%M", time.localtime(at)) if at else ""


templates.env.filters["wanneer"] = _when
templates.env.filters["datum"] = lambda at: time.strftime("%d-%m-%Y", time.localtime(at))
templates.env.filters["tel"] = lambda phone: re.sub(r"[^0-9+]", "", phone or "")
templates.env.filters["hoofdletter"] = lambda text: (text[:1].upper() + text[1:]
                                                     if isinstance(text, str) else text)
templates.env.globals["STRENGTH_LABELS"] = STRENGTH_LABELS
templates.env.globals["STRENGTH_NAMES"] = STRENGTH_NAMES


def render(request: Request, name: str, viewer: Viewer | None, status: int = 200,
           **values: Any) -> HTMLResponse:
    """A page with the navigation; a procesregisseur's shows the open meldingen count."""
    ctx = context(request)
    open_meldingen = (ctx.store.open_notification_count(viewer.user.procesregisseur_id or "")
                      if viewer and viewer.user.role == "procesregisseur" else 0)
    return templates.TemplateResponse(request, name, {
        "viewer": viewer, "csrf": viewer.session.csrf_token if viewer else "",
        "zvh": _zvh_name(ctx), "open_meldingen": open_meldingen, **values},
        status_code=status)


def _zvh_name(ctx: NodeContext) -> str:
    try:
        own = ctx.network.directory().node(ctx.config.node_id)
    except Exception:  # the page must render when the coordinator is away
        own = None
    return own.display_name if own else ctx.config.node_id


def _set_session_cookie(response: Response, ctx: NodeContext, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=ctx.web.secure_cookies, path="/",
                        max_age=ctx.web.session_max_hours * 3600)


# ------------------------------------------------------------------ login


@router.get("/")
def home(request: Request) -> Response:
    ctx = context(request)
    session = page_session(request)
    user = ctx.store.user(session.username) if session and session.username else None
    return RedirectResponse(HOME[user.role] if user else "/inloggen", 303)


@router.get("/inloggen")
def login_form(request: Request) -> Response:
    ctx = context(request)
    session = page_session(request)
    new = None
    if session is None:
        new = accounts.start_session(ctx.store, ctx.web, None, now=ctx.clock())
        session = new.session
    response = templates.TemplateResponse(request, "login.html", {
        "viewer": None, "csrf": session.csrf_token, "zvh": _zvh_name(ctx), "error": None})
    if new:
        _set_session_cookie(response, ctx, new.token)
    return response


async def _login_attempt(request: Request) -> tuple[Session, FormData] | None:
    """The login page's session and the posted form; without that session the body is
    not even read."""
    session = page_session(request)
    return None if session is None else (session, await read_form(request))


@router.post("/inloggen")
def login(request: Request,
          attempt: tuple[Session, FormData] | None = Depends(_login_attempt),
          ) -> Response:
    """Synchronous, so FastAPI runs it (and its password hashing) in a worker thread."""
    ctx = context(request)
    if attempt is None:
        return RedirectResponse("/inloggen", 303)
    session, form = attempt
    if not accounts.csrf_ok(session, _text(form, "csrf_token")):
        return RedirectResponse("/inloggen", 303)
    try:
        user = accounts.login(ctx.store, ctx.web, _text(form, "gebruikersnaam"),
                              _text(form, "wachtwoord"), now=ctx.clock())
    except accounts.LoginRefused as exc:
        return templates.TemplateResponse(request, "login.html", {
            "viewer": None, "csrf": session.csrf_token, "zvh": _zvh_name(ctx),
            "error": exc.message}, status_code=401)
    ctx.store.end_session(session.token_hash)  # a new token at login: no session fixation
    ctx.pending.drop(session.token_hash)
    step = totp.next_step(ctx.store, ctx.web, user)
    # With a second factor, the new session stays without a user until the code: only the
    # second step's pages know the pending login (node/web/second_step.py).
    new = accounts.start_session(ctx.store, ctx.web, None if step else user.username,
                                 now=ctx.clock())
    if step:
        ctx.pending.put(new.session.token_hash, totp.PENDING, {"username": user.username},
                        ctx.clock())
    response = RedirectResponse(f"/inloggen/{step}" if step else HOME[user.role], 303)
    _set_session_cookie(response, ctx, new.token)
    return response


@router.post("/uitloggen")
def logout(request: Request,
                 viewer: Viewer = Depends(page_user(*accounts.ROLES,  # noqa: B008
                                                    form=True))) -> Response:
    ctx = context(request)
    ctx.store.end_session(viewer.session.token_hash)
    ctx.pending.drop(viewer.session.token_hash)
    ctx.store.append_audit("logout", viewer.username, {}, ctx.clock())
    from samenloop.node.web import oidc  # its pages render with this module's templates

    provider_logout = oidc.logout_page(request, viewer)
    if provider_logout is not None:  # also at the organisation's provider
        return provider_logout
    response = RedirectResponse("/inloggen", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ------------------------------------------------------------------ samenloopcheck


CHECK_FIELDS = ("casus", "doel", "toelichting", *INFORMING_FIELDS)


def _check_form(request: Request, viewer: Viewer, *, persons: int = 1,
                values: dict[str, str] | None = None, errors: list[FieldError] | None = None,
                status: int = 200, focus: int | None = None) -> HTMLResponse:
    """The form; `focus` is the block (0-based) whose first field gets the focus (a member
    just added). After an error the summary takes the focus."""
    ctx = context(request)
    errors = errors or []
    return render(request, "check.html", viewer, status, values=values or {},
                  persons=persons, max_persons=ctx.config.max_subjects_per_check,
                  focus=None if errors else focus, error_fields=CHECK_FIELDS,
                  purposes=ctx.config.purposes, bsn_enabled=actions.bsn_enabled(ctx),
                  inform_postponed=INFORM_POSTPONED,
                  errors=errors, field_errors={(e.person or 0, e.field): e.message
                                               for e in errors})


@router.get("/check")
def check_form(request: Request, casus: str | None = None, doel: str | None = None,
               viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
               ) -> HTMLResponse:
    """`?casus=..&doel=..` ("Nog een persoon voor deze casus") prefills the case and the
    purpose: neither is an identifier. Nothing else is ever taken from the address."""
    if casus is None and doel is None:
        return _check_form(request, viewer)
    values, errors = _prefill(context(request), viewer, casus or "", doel or "")
    return _check_form(request, viewer, values=values, errors=errors,
                       status=422 if errors else 200)


def _prefill(ctx: NodeContext, viewer: Viewer, casus: str, doel: str
             ) -> tuple[dict[str, str], list[FieldError]]:
    """Only an own case the user may check and a purpose from the list are prefilled."""
    values: dict[str, str] = {}
    errors: list[FieldError] = []
    case = ctx.store.case(casus) if CASE_REF.match(casus) else None
    if case is None or case.procesregisseur_id not in ctx.store.acts_for(
            viewer.user.procesregisseur_id or ""):
        errors.append(FieldError("casus", "het casusnummer in de link is geen eigen casus; "
                                          "vul het casusnummer zelf in"))
    else:
        values["casus"] = case.case_ref
    if doel in ctx.config.purposes:
        values["doel"] = doel
    elif doel:
        errors.append(FieldError("doel", "het doel in de link staat niet in de lijst; kies "
                                         "het doel zelf"))
    return values, errors


@router.post("/check")
def check(request: Request,
                viewer: Viewer = Depends(page_user("procesregisseur", form=True))  # noqa: B008
                ) -> Response:
    """Run a check and send the browser to its result (post/redirect/get: reloading or
    going back never runs it again); "gezinslid toevoegen" re-renders with one more person
    block, and "opnieuw" re-runs a check whose coverage was incomplete, from memory (no
    identifiers in the browser's history or in hidden fields)."""
    ctx = context(request)
    form = posted_form(request)
    action = _text(form, "actie")
    key = viewer.session.token_hash
    if action == "opnieuw":
        last = ctx.pending.kept(key, "uitkomst", _text(form, "uitkomst"), ctx.clock())
        if last is None:
            return _check_form(request, viewer, errors=[FieldError(
                "check", "de vorige check is niet meer bewaard; vul het formulier opnieuw in")],
                status=410)
        return _run_check(request, viewer, {"casus": last["request"]["case_ref"]},
                          **last["request"])
    try:
        persons = max(1, min(int(_text(form, "aantal") or "1"),
                             ctx.config.max_subjects_per_check))
    except ValueError:
        persons = 1
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if action == "gezinslid_toevoegen":
        added = min(persons + 1, ctx.config.max_subjects_per_check)
        return _check_form(request, viewer, persons=added, values=values, focus=added - 1)
    if action.startswith("verwijder_"):
        removed = action.removeprefix("verwijder_")
        if removed.isdigit() and 0 < int(removed) < persons:
            values = _without_member(values, int(removed), persons)
            persons -= 1
        return _check_form(request, viewer, persons=persons, values=values)
    raw = [{f: _text(form, f"p{i}_{f}") for f in actions.SUBJECT_FIELDS}
           for i in range(persons)]
    # A household block left empty is not a person; errors keep the number of their block.
    blocks = [i for i, r in enumerate(raw) if i == 0 or any(v.strip() for v in r.values())]
    errors: list[FieldError] = []
    if not _text(form, "casus").strip():
        errors.append(FieldError("casus", "vul het casusnummer van uw eigen casus in"))
    if _text(form, "doel") not in ctx.config.purposes:
        errors.append(FieldError("doel", "kies het doel van de check"))
    try:
        subjects = actions.parse_subjects([raw[i] for i in blocks],
                                          bsn_enabled=actions.bsn_enabled(ctx))
    except Refused as exc:
        errors += [FieldError(e.field, e.message, blocks[e.person - 1] + 1) if e.person
                   else e for e in exc.errors]
        subjects = ()
    informing = None
    if any(_text(form, f).strip() for f in INFORMING_FIELDS):
        try:
            informing = actions.case_action(lambda: cases.parse_informing(
                *(_text(form, f) for f in INFORMING_FIELDS),
                today=dt.date.fromtimestamp(ctx.clock())))
        except Refused as exc:
            errors += exc.errors
    if errors:  # every field checked in one pass, every problem shown at once
        return _check_form(request, viewer, persons=persons, values=values, errors=errors,
                           status=422)
    request_args = dict(case_ref=_text(form, "casus"), purpose=_text(form, "doel"),
                        note=_text(form, "toelichting"), subjects=subjects,
                        informing=informing)
    return _run_check(request, viewer, values, persons, **request_args)


def _without_member(values: dict[str, str], removed: int, persons: int) -> dict[str, str]:
    """The form's values with member block `removed` taken out and later blocks moved up."""
    kept = {k: v for k, v in values.items() if not re.match(r"p[0-9]+_", k)}
    for i in range(persons):
        if i == removed:
            continue
        to = i if i < removed else i - 1
        for name in actions.SUBJECT_FIELDS:
            if f"p{i}_{name}" in values:
                kept[f"p{to}_{name}"] = values[f"p{i}_{name}"]
    return kept


def _run_check(request: Request, viewer: Viewer, values: dict[str, str], persons: int = 1,
               **request_args: Any) -> Response:
    ctx = context(request)
    try:
        result = actions.samenloopcheck(ctx, actor=viewer.username,
                                        procesregisseur_id=viewer.user.procesregisseur_id,
                                        **request_args)
    except Refused as exc:
        # What the user typed comes back only in this no-store POST response.
        return _check_form(request, viewer, persons=persons, values=values,
                           errors=exc.errors, status=exc.status)
    result_id = ctx.pending.keep(viewer.session.token_hash, "uitkomst",
                                 {"request": request_args, "result": result,
                                  "at": ctx.clock()}, ctx.clock())
    return RedirectResponse(f"/check/uitkomst/{result_id}", 303)


@router.get("/check/uitkomst/{result_id}")
def check_result(request: Request, result_id: str,
                 viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
                 ) -> HTMLResponse:
    """A result, shown from the server's memory for this session only (never run again)."""
    ctx = context(request)
    shown = ctx.pending.kept(viewer.session.token_hash, "uitkomst", result_id, ctx.clock())
    if shown is None:
        return render(request, "fout.html", viewer, 404, message=(
            "Deze uitkomst is niet meer beschikbaar. Uitkomsten worden niet bewaard; doe zo "
            "nodig een nieuwe check."))
    return render(request, "result.html", viewer, result=shown["result"],
                  subjects=shown["request"]["subjects"], case_ref=shown["request"]["case_ref"],
                  checked_at=shown["at"], result_id=result_id,
                  purpose=shown["request"]["purpose"], own_node=ctx.config.node_id)


# ------------------------------------------------------------------ aanmelding and cases


@router.get("/aanmelding")
def intake_form(request: Request,
                viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
                ) -> HTMLResponse:
    return render(request, "aanmelding.html", viewer, values={}, errors=[], message=None)


@router.post("/aanmelding")
def intake(request: Request,
                 viewer: Viewer = Depends(page_user("procesregisseur", form=True))  # noqa: B008
                 ) -> HTMLResponse:
    """Register a new aanmelding: the case number typed twice, so a typo cannot create a
    phantom case that other ZVHs would later find."""
    ctx = context(request)
    form = posted_form(request)
    case_ref, repeated = _text(form, "casus").strip(), _text(form, "casus_herhaald").strip()
    values = {"casus": case_ref}
    if case_ref != repeated:
        return render(request, "aanmelding.html", viewer, 422, values=values, message=None,
                      errors=[FieldError("casus_herhaald", "de twee casusnummers zijn niet "
                                                           "gelijk")])
    try:
        actions.case_action(lambda: cases.register_intake(
            ctx.store, case_ref, viewer.user.procesregisseur_id or "",
            actor=viewer.username, now=ctx.clock()))
    except Refused as exc:
        return render(request, "aanmelding.html", viewer, exc.status, values=values,
                      message=None, errors=exc.errors)
    return render(request, "aanmelding.html", viewer, values={}, errors=[], message=(
        f"Aanmelding {case_ref} is geregistreerd. U kunt nu een samenloopcheck doen; die "
        f"zoekt alleen in het eigen Zorg- en Veiligheidshuis tot de casus in triage is."))


def _own_cases(request: Request, viewer: Viewer, *, message: str | None = None,
               errors: list[FieldError] | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    mine = ctx.store.acts_for(viewer.user.procesregisseur_id or "")
    return render(request, "casussen.html", viewer, status, message=message,
                  errors=errors or [], PHASE_LABELS=PHASE_LABELS,
                  INFORM_POSTPONED=INFORM_POSTPONED,
                  cases=[c for c in ctx.store.cases() if c.procesregisseur_id in mine])


@router.get("/casussen")
def own_cases(request: Request,
              viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
              ) -> HTMLResponse:
    return _own_cases(request, viewer)


@router.post("/casussen/informeren")
def informing(request: Request,
              viewer: Viewer = Depends(page_user("procesregisseur", form=True))  # noqa: B008
              ) -> HTMLResponse:
    """Record whether the person of an own case was informed, or why not yet."""
    ctx = context(request)
    form = posted_form(request)
    case_ref = _text(form, "casus").strip()
    try:
        actions.case_action(lambda: cases.set_informing(
            ctx.store, case_ref, cases.parse_informing(
                *(_text(form, f) for f in INFORMING_FIELDS),
                today=dt.date.fromtimestamp(ctx.clock())),
            actor=viewer.username, now=ctx.clock(),
            acting_for=viewer.user.procesregisseur_id or ""))
    except Refused as exc:
        return _own_cases(request, viewer, errors=exc.errors, status=exc.status)
    return _own_cases(request, viewer, message=f"Voor casus {case_ref} is vastgelegd of de "
                                               f"persoon is geïnformeerd.")


@router.post("/casussen/niet-in-behandeling")
def not_accepted(request: Request,
                       viewer: Viewer = Depends(page_user("procesregisseur",  # noqa: B008
                                                          form=True))) -> HTMLResponse:
    ctx = context(request)
    form = posted_form(request)
    case_ref = _text(form, "casus").strip()
    if _text(form, "bevestigd") != "ja":
        return _own_cases(request, viewer, status=422, errors=[FieldError(
            "bevestigd", "bevestig dat de aanmelding niet in behandeling is genomen")])
    try:
        actions.close_case(ctx, case_ref, actor=viewer.username, not_accepted=True,
                           acting_for=viewer.user.procesregisseur_id or "")
    except Refused as exc:
        return _own_cases(request, viewer, errors=exc.errors, status=exc.status)
    return _own_cases(request, viewer, message=(
        f"Casus {case_ref} is niet in behandeling genomen: de registratie en de meldingen "
        f"zijn verwijderd."))


# ------------------------------------------------------------------ meldingen


MELDINGEN_PER_PAGE = 25
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class MeldingenFilter:
    """The meldingen page's filter from its address: case, period and a page per
    section; every value validated (a bad one is named, never echoed)."""

    casus: str = ""
    van: dt.date | None = None
    tot: dt.date | None = None
    pagina_open: int = 1
    pagina_afgehandeld: int = 1

    def query(self, **change: int) -> str:
        """The address of this filter with another page of a section."""
        values: dict[str, str | int] = {
            "casus": self.casus, "van": self.van.isoformat() if self.van else "",
            "tot": self.tot.isoformat() if self.tot else "",
            "pagina_open": change.get("pagina_open", self.pagina_open),
            "pagina_afgehandeld": change.get("pagina_afgehandeld", self.pagina_afgehandeld)}
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", 1)})


def _form_date(text: str) -> dt.date:
    """A date as a date field sends it (jjjj-mm-dd) or as typed (dd-mm-jjjj)."""
    for pattern in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


def _meldingen_filter(query: dict[str, str]) -> tuple[MeldingenFilter, list[FieldError]]:
    errors: list[FieldError] = []
    casus = query.get("casus", "").strip()
    if casus and not CASE_REF.match(casus):
        errors.append(FieldError("casus", "het casusnummer bestaat uit letters, cijfers en "
                                          "'.', '_', '/' of '-' (hoogstens 64 tekens)"))
        casus = ""
    dates: dict[str, dt.date | None] = {}
    for name, label in (("van", "Van"), ("tot", "Tot en met")):
        text = query.get(name, "").strip()
        dates[name] = None
        if text:
            try:
                dates[name] = _form_date(text[:20])
            except ValueError:
                errors.append(FieldError(name, f"de datum bij {label} bestaat niet; "
                                               f"gebruik dd-mm-jjjj"))
    if dates["van"] and dates["tot"] and dates["van"] > dates["tot"]:
        errors.append(FieldError("tot", "de datum bij Tot en met ligt voor de datum bij "
                                        "Van"))
    pages: dict[str, int] = {}
    for name in ("pagina_open", "pagina_afgehandeld"):
        text = query.get(name, "1").strip() or "1"
        pages[name] = int(text) if re.fullmatch(r"[0-9]{1,7}", text) else 0
        pages[name] = pages[name] if pages[name] <= MAX_PAGE else 0
        if not pages[name]:
            errors.append(FieldError(name, "het paginanummer moet een getal vanaf 1 zijn"))
            pages[name] = 1
    return MeldingenFilter(casus, dates["van"], dates["tot"], **pages), errors


def _page(items: list[Notification], page: int) -> tuple[list[Notification], int, int]:
    """One page of `items`, the page shown (at most the last) and the number of pages."""
    pages = max(1, -(-len(items) // MELDINGEN_PER_PAGE))
    page = min(page, pages)
    return items[(page - 1) * MELDINGEN_PER_PAGE:page * MELDINGEN_PER_PAGE], page, pages


@router.get("/meldingen")
def meldingen(request: Request,
              viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
              ) -> HTMLResponse:
    """Open and handled meldingen apart, filtered by case and period, 25 to a page."""
    chosen, errors = _meldingen_filter(dict(request.query_params))
    return _meldingen(request, viewer, chosen=chosen, errors=errors,
                      status=422 if errors else 200)


def _meldingen(request: Request, viewer: Viewer, *, chosen: MeldingenFilter | None = None,
               errors: list[FieldError] | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    chosen = chosen or MeldingenFilter()
    items = cases.meldingen_for(ctx.store, viewer.user.procesregisseur_id or "")
    now = ctx.clock()
    total_open = sum(1 for m in items if m.handled_at is None)
    start = (time.mktime(chosen.van.timetuple()) if chosen.van else None)
    end = (time.mktime((chosen.tot + dt.timedelta(days=1)).timetuple()) if chosen.tot
           else None)
    shown = [m for m in items
             if (not chosen.casus or m.case_ref.lower() == chosen.casus.lower())
             and (start is None or m.last_at >= start) and (end is None or m.at < end)]
    open_page, open_at, open_pages = _page([m for m in shown if m.handled_at is None],
                                           chosen.pagina_open)
    done = [m for m in shown if m.handled_at is not None]
    done_page, done_at, done_pages = _page(done, chosen.pagina_afgehandeld)
    return render(request, "meldingen.html", viewer, status, errors=errors or [],
                  error_fields=("casus", "van", "tot"),
                  open=total_open, open_items=open_page, open_at=open_at,
                  open_pages=open_pages, open_count=sum(1 for m in shown
                                                        if m.handled_at is None),
                  done_items=done_page, done_at=done_at, done_pages=done_pages,
                  done_count=len(done), chosen=chosen,
                  filtered=bool(chosen.casus or chosen.van or chosen.tot),
                  choices=cases.handling_choices,
                  overdue={m.id for m in items if cases.assessment_overdue(m, now)})


@router.post("/meldingen/{melding_id}/afgehandeld")
def melding_handled(request: Request, melding_id: int,
                          viewer: Viewer = Depends(page_user("procesregisseur",  # noqa: B008
                                                             form=True))) -> Response:
    ctx = context(request)
    form = posted_form(request)
    try:
        actions.handle_melding(ctx, actor=viewer.username,
                               procesregisseur_id=viewer.user.procesregisseur_id or "",
                               melding_id=melding_id, action=_text(form, "actie"))
    except Refused as exc:
        return _meldingen(request, viewer, errors=exc.errors, status=exc.status)
    return RedirectResponse("/meldingen", 303)


# ------------------------------------------------------------------ beheer
#
# Every beheer POST that succeeds redirects (303) to a GET page (post/redirect/get): the
# message, and a new password shown once, wait in the session's pending store (memory
# only) and are shown by the next GET of that page, then dropped. Never in the address.


def _done(request: Request, viewer: Viewer, page: str, message: str,
          secret: tuple[str, str] | None = None) -> RedirectResponse:
    ctx = context(request)
    ctx.pending.put(viewer.session.token_hash, f"bericht:{page}",
                    {"message": message, "secret": secret}, ctx.clock())
    return RedirectResponse(page, 303)


def _shown_once(request: Request, viewer: Viewer, page: str) -> dict[str, Any]:
    """The message waiting for this page, if any; gone after this call."""
    ctx = context(request)
    key = viewer.session.token_hash
    waiting = ctx.pending.get(key, f"bericht:{page}", ctx.clock())
    ctx.pending.drop(key, f"bericht:{page}")
    return waiting or {"message": None, "secret": None}


def _regisseur_names(ctx: NodeContext) -> dict[str, str]:
    """Procesregisseur id -> "Name (id)", for pickers and tables."""
    names = {}
    for regisseur_id in sorted(ctx.store.procesregisseur_ids()):
        person = ctx.store.procesregisseur(regisseur_id)
        names[regisseur_id] = f"{person.name} ({regisseur_id})" if person else regisseur_id
    return names


@router.get("/beheer")
def beheer(request: Request, viewer: Viewer = Depends(page_user("beheerder")),  # noqa: B008
           ) -> HTMLResponse:
    return _beheer(request, viewer, message=_shown_once(request, viewer, "/beheer")["message"])


def _beheer(request: Request, viewer: Viewer, *, message: str | None = None,
            errors: list[FieldError] | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "beheer.html", viewer, status, status_info=actions.node_status(ctx),
                  phases=PHASES, message=message, errors=errors or [], PHASE_LABELS=PHASE_LABELS,
                  vervangers=ctx.store.vervangers(),
                  regisseur_names=_regisseur_names(ctx))


@router.get("/beheer/casussen")
def case_list(request: Request, casus: str = "", fase: str = "", procesregisseur: str = "",
              viewer: Viewer = Depends(page_user("beheerder"))  # noqa: B008
              ) -> HTMLResponse:
    """Every running case, searchable by case number (its beginning), phase and
    procesregisseur; each links to its own page to close it or hand it over."""
    ctx = context(request)
    search = {"casus": casus.strip()[:64], "fase": fase if fase in PHASES else "",
              "procesregisseur": procesregisseur[:64]}
    found = [c for c in ctx.store.cases()
             if c.case_ref.lower().startswith(search["casus"].lower())
             and search["fase"] in ("", c.phase)
             and search["procesregisseur"] in ("", c.procesregisseur_id)]
    waiting = _shown_once(request, viewer, "/beheer/casussen")
    return render(request, "beheer_casussen.html", viewer, cases=found, search=search,
                  total=len(ctx.store.cases()), tags=ctx.store.tag_counts(),
                  phases=PHASES, PHASE_LABELS=PHASE_LABELS,
                  regisseur_names=_regisseur_names(ctx),
                  expiry_seconds=ctx.config.max_inactive_days * 86400,
                  message=waiting["message"], errors=[])


@router.get("/beheer/casus")
def case_page(request: Request, casus: str = "",
              viewer: Viewer = Depends(page_user("beheerder"))  # noqa: B008
              ) -> HTMLResponse:
    return _case_page(request, viewer, casus.strip()[:64])


def _case_page(request: Request, viewer: Viewer, case_ref: str, *,
               errors: list[FieldError] | None = None, status: int = 200) -> HTMLResponse:
    """One case with its actions; closing and "niet in behandeling" ask for confirmation."""
    ctx = context(request)
    case = ctx.store.case(case_ref) if CASE_REF.match(case_ref) else None
    if case is None:
        return render(request, "fout.html", viewer, 404, message=(
            "Er is geen lopende casus met dit casusnummer. Zoek de casus in de lijst."))
    return render(request, "beheer_casus.html", viewer, status, case=case,
                  tags=ctx.store.tag_counts().get(case.case_ref, 0),
                  PHASE_LABELS=PHASE_LABELS, regisseur_names=_regisseur_names(ctx),
                  expiry_seconds=ctx.config.max_inactive_days * 86400,
                  message=None, errors=errors or [])


@router.post("/beheer/casus-sluiten")
def close_case(request: Request,
                     viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                     ) -> Response:
    ctx = context(request)
    form = posted_form(request)
    case_ref = _text(form, "casus").strip()[:64]
    not_accepted = _text(form, "reden") == "niet_in_behandeling"
    if _text(form, "bevestigd") != "ja":
        return _case_page(request, viewer, case_ref, status=422, errors=[FieldError(
            "bevestigd", "bevestig dat u de casus wilt afsluiten")])
    try:
        actions.close_case(ctx, case_ref, actor=viewer.username, not_accepted=not_accepted)
    except Refused as exc:
        return _case_page(request, viewer, case_ref, errors=exc.errors, status=exc.status)
    return _done(request, viewer, "/beheer/casussen", (
        f"Casus {case_ref} is niet in behandeling genomen: de registratie en de meldingen "
        f"zijn verwijderd." if not_accepted else
        f"Casus {case_ref} is afgesloten (afschaling) en telt niet meer mee bij checks."))


@router.post("/beheer/casus-procesregisseur")
def case_procesregisseur(request: Request,
                         viewer: Viewer = Depends(page_user("beheerder",  # noqa: B008
                                                            form=True))) -> Response:
    """Hand a case to another procesregisseur (audited with the change)."""
    ctx = context(request)
    form = posted_form(request)
    case_ref = _text(form, "casus").strip()[:64]
    regisseur = _text(form, "procesregisseur")
    try:
        changed = actions.case_action(lambda: cases.change_procesregisseur(
            ctx.store, case_ref, regisseur, actor=viewer.username, now=ctx.clock()))
    except Refused as exc:
        return _case_page(request, viewer, case_ref, errors=exc.errors, status=exc.status)
    name = _regisseur_names(ctx).get(regisseur, regisseur)
    return _done(request, viewer, "/beheer/casussen",
                 f"Casus {case_ref} is overgedragen aan {name}." if changed else
                 f"Casus {case_ref} had {name} al als procesregisseur.")


@router.post("/beheer/vervangers")
def vervangers(request: Request,
                     viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                     ) -> Response:
    ctx = context(request)
    form = posted_form(request)
    named = _text(form, "actie") != "verwijderen"
    try:
        actions.case_action(lambda: cases.set_vervanger(
            ctx.store, _text(form, "procesregisseur"), _text(form, "vervanger"), named=named,
            actor=viewer.username, now=ctx.clock()))
    except Refused as exc:
        return _beheer(request, viewer, errors=exc.errors, status=exc.status)
    return _done(request, viewer, "/beheer", "De vervanger is aangewezen." if named
                 else "De vervanger is verwijderd.")


@router.get("/beheer/import")
def import_form(request: Request,
                viewer: Viewer = Depends(page_user("beheerder"))  # noqa: B008
                ) -> HTMLResponse:
    """The upload form, or once after a POST its report or summary (post/redirect/get:
    reloading does not check or apply the file again)."""
    ctx = context(request)
    key = viewer.session.token_hash
    shown = ctx.pending.get(key, "import_view", ctx.clock()) or {}
    ctx.pending.drop(key, "import_view")
    return render(request, "import.html", viewer, report=shown.get("report"),
                  summary=shown.get("summary"), errors=[])


def _show_import(ctx: NodeContext, viewer: Viewer, **shown: Any) -> Response:
    ctx.pending.put(viewer.session.token_hash, "import_view", shown, ctx.clock())
    return RedirectResponse("/beheer/import", 303)


@router.post("/beheer/import")
def import_upload(request: Request,
                  viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                  ) -> Response:
    """"Controleren" validates an upload and keeps it in memory; "toepassen" applies it."""
    ctx = context(request)
    form = posted_form(request)
    key = viewer.session.token_hash
    if _text(form, "actie") == "toepassen":
        text = ctx.pending.get(key, "import", ctx.clock())
        if text is None:
            return render(request, "import.html", viewer, 410, report=None, summary=None,
                          errors=[FieldError("bestand", "het gecontroleerde bestand is niet "
                                                        "meer bewaard; upload het opnieuw")])
        try:
            summary = actions.apply_import(ctx, text, sync=_text(form, "sync") == "ja",
                                           actor=viewer.username)
        except Refused as exc:
            return render(request, "import.html", viewer, exc.status, report=None,
                          summary=None, errors=exc.errors)
        finally:
            ctx.pending.drop(key, "import")
        return _show_import(ctx, viewer, summary=summary)
    upload = form.get("bestand")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(request, "import.html", viewer, 422, report=None, summary=None,
                      errors=[FieldError("bestand", "kies een exportbestand (CSV of JSON)")])
    limit = ctx.web.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        return render(request, "import.html", viewer, 413, report=None, summary=None,
                      errors=[FieldError("bestand", f"het bestand is groter dan "
                                                    f"{size_text(limit)}")])
    try:
        text = actions.decode_upload(data)
    except Refused as exc:
        return render(request, "import.html", viewer, 422, report=None, summary=None,
                      errors=exc.errors)
    rows, cases, problems = actions.check_import(ctx, text)
    if not problems:
        ctx.pending.put(key, "import", text, ctx.clock())
    return _show_import(ctx, viewer, report={
        "rows": rows, "cases": cases, "problems": problems[:500],
        "more": max(0, len(problems) - 500)})


@router.get("/beheer/gebruikers")
def users(request: Request, viewer: Viewer = Depends(page_user("beheerder")),  # noqa: B008
          ) -> HTMLResponse:
    waiting = _shown_once(request, viewer, "/beheer/gebruikers")
    return _users(request, viewer, message=waiting["message"], secret=waiting["secret"])


def _users(request: Request, viewer: Viewer, *, message: str | None = None,
           secret: tuple[str, str] | None = None, errors: list[FieldError] | None = None,
           status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "gebruikers.html", viewer, status, users=ctx.store.users(),
                  tokens=ctx.store.api_token_counts(), regisseur_names=_regisseur_names(ctx),
                  second_factors=ctx.store.second_factor_users(),
                  totp_required=lambda user: totp.required(ctx.web, user),
                  totp_for_procesregisseur=ctx.web.totp_for_procesregisseur,
                  roles=accounts.ROLES, message=message, secret=secret, errors=errors or [])


@router.post("/beheer/gebruikers")
def user_add(request: Request,
                   viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                   ) -> Response:
    ctx = context(request)
    form = posted_form(request)
    password = accounts.new_password()
    try:
        user = accounts.add_user(ctx.store, _text(form, "gebruikersnaam"), _text(form, "rol"),
                                 _text(form, "procesregisseur"), password,
                                 by=viewer.username, now=ctx.clock())
    except accounts.AccountError as exc:
        return _users(request, viewer, errors=[FieldError(exc.field, exc.message)],
                      status=422)
    return _done(request, viewer, "/beheer/gebruikers",
                 f"Gebruiker {user.username} is aangemaakt.",
                 secret=("Tijdelijk wachtwoord", password))


@router.get("/beheer/gebruikers/{username}/uitschakelen")
def user_disable_confirm(request: Request, username: str,
                         viewer: Viewer = Depends(page_user("beheerder"))  # noqa: B008
                         ) -> HTMLResponse:
    """The confirmation step before disabling an account (no JavaScript needed)."""
    user = context(request).store.user(username[:64])
    if user is None:
        return render(request, "fout.html", viewer, 404, message="Deze gebruiker bestaat niet.")
    return render(request, "gebruiker_uitschakelen.html", viewer, user=user, errors=[])


@router.post("/beheer/gebruikers/{username}/{change}")
def user_change(request: Request, username: str, change: str,
                      viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                      ) -> Response:
    ctx = context(request)
    secret = None
    try:
        if change == "uitschakelen":
            if username == viewer.username:
                raise accounts.AccountError("gebruikersnaam", "u kunt uzelf niet uitschakelen")
            user = ctx.store.user(username[:64])
            if user is not None and _text(posted_form(request), "bevestigd") != "ja":
                return render(request, "gebruiker_uitschakelen.html", viewer, 422, user=user,
                              errors=[FieldError("bevestigd", "bevestig dat u deze gebruiker "
                                                              "wilt uitschakelen")])
            accounts.set_disabled(ctx.store, username, True, by=viewer.username,
                                  now=ctx.clock())
            message = f"Gebruiker {username} is uitgeschakeld."
        elif change == "inschakelen":
            accounts.set_disabled(ctx.store, username, False, by=viewer.username,
                                  now=ctx.clock())
            message = f"Gebruiker {username} is weer ingeschakeld."
        elif change == "wachtwoord":
            password = accounts.new_password()
            accounts.reset_password(ctx.store, username, password, by=viewer.username,
                                    now=ctx.clock())
            message = f"Het wachtwoord van {username} is opnieuw ingesteld."
            secret = ("Tijdelijk wachtwoord", password)
        elif change == "tokens-intrekken":
            revoked = accounts.revoke_api_tokens(ctx.store, username, by=viewer.username,
                                                 now=ctx.clock())
            message = f"{revoked} API-token(s) van {username} ingetrokken."
        else:
            return render(request, "fout.html", viewer, 404, message="Deze pagina bestaat niet.")
    except accounts.AccountError as exc:
        return _users(request, viewer, errors=[FieldError(exc.field, exc.message)],
                      status=422)
    return _done(request, viewer, "/beheer/gebruikers", message, secret=secret)


# ------------------------------------------------------------------ own API tokens

ANY_ROLE = accounts.ROLES


@router.get("/mijn-api-tokens")
def my_tokens(request: Request, viewer: Viewer = Depends(page_user(*ANY_ROLE)),  # noqa: B008
              ) -> HTMLResponse:
    return _my_tokens(request, viewer)


def _my_tokens(request: Request, viewer: Viewer, *, message: str | None = None,
               secret: str | None = None) -> HTMLResponse:
    count = context(request).store.api_token_counts().get(viewer.username, 0)
    return render(request, "tokens.html", viewer, count=count, message=message, secret=secret)


@router.post("/mijn-api-tokens")
def my_tokens_change(request: Request,
                     viewer: Viewer = Depends(page_user(*ANY_ROLE, form=True))  # noqa: B008
                     ) -> HTMLResponse:
    """Only the owner makes a token for an account: a token acts as its owner."""
    ctx = context(request)
    if _text(posted_form(request), "actie") == "intrekken":
        revoked = accounts.revoke_api_tokens(ctx.store, viewer.username, by=viewer.username,
                                             now=ctx.clock())
        return _my_tokens(request, viewer, message=f"{revoked} API-token(s) ingetrokken.")
    token = accounts.create_api_token(ctx.store, viewer.username, by=viewer.username,
                                      now=ctx.clock())
    return _my_tokens(request, viewer, message="Er is een API-token voor u gemaakt.",
                      secret=token)


# ------------------------------------------------------------------ audit


@router.get("/audit")
def audit(request: Request, viewer: Viewer = Depends(page_user("auditor")),  # noqa: B008
          ) -> HTMLResponse:
    return render(request, "audit.html", viewer, report=actions.audit_report(context(request)),
                  ENDING_LABELS=actions.ENDING_LABELS)


def csv_response(name: str, header: list[str], rows: list[list[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/beeindigde-casussen.csv")
def audit_endings_csv(request: Request,
                      viewer: Viewer = Depends(page_user("auditor"))  # noqa: B008
                      ) -> Response:
    report = actions.audit_report(context(request))
    day = "%Y-%m-%d"
    return csv_response("beeindigde-casussen.csv",
                ["casus", "geregistreerd", "beeindigd", "reden", "vernietigen_uiterlijk"],
                [[e.case_ref, time.strftime(day, time.localtime(e.registered_at)),
                  time.strftime(day, time.localtime(e.ended_at)), e.reason,
                  time.strftime(day, time.localtime(e.destroy_by))] for e in report.endings])


@router.get("/audit/checks-per-maand.csv")
def audit_per_month_csv(request: Request,
                        viewer: Viewer = Depends(page_user("auditor"))  # noqa: B008
                        ) -> Response:
    report = actions.audit_report(context(request))
    return csv_response("checks-per-maand.csv", ["maand", "gebruiker", "checks", "boven_drempel"],
                [[m, u, n, "ja" if n > report.threshold else "nee"]
                 for m, u, n in report.per_month])


@router.get("/audit/zonder-casusoverleg.csv")
def audit_quiet_csv(request: Request,
                    viewer: Viewer = Depends(page_user("auditor"))  # noqa: B008
                    ) -> Response:
    report = actions.audit_report(context(request))
    return csv_response("zonder-casusoverleg.csv",
                ["casus", "afgesloten_op", "afgesloten_door", "checks", "gecontroleerd_door"],
                [[q.case_ref, _when(q.closed_at), q.closed_by, q.checks,
                  " ".join(q.checked_by)] for q in report.quiet_closes])
