"""The Dutch web pages. POST for everything that carries identifiers or changes state;
every form carries the session's CSRF token; results are never cached.

Handlers are synchronous `def`s: FastAPI runs them in worker threads, so a check, an
import or a login's password hashing never holds up the event loop and other users'
pages. Their forms are read (in memory) by the async `page_user` dependency."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from samenloop.node.model import CHECK_PHASES, PHASES, STRENGTH_LABELS, STRENGTH_NAMES
from samenloop.node.store import Session
from samenloop.node.web import accounts, actions
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

HOME = {"procesregisseur": "/check", "beheerder": "/beheer", "auditor": "/audit"}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent
                                          / "templates"))


def _when(at: float | None) -> str:
    return time.strftime("%d-%m-%Y %H:%M", time.localtime(at)) if at else ""


templates.env.filters["wanneer"] = _when
templates.env.filters["datum"] = lambda at: time.strftime("%d-%m-%Y", time.localtime(at))
templates.env.globals["STRENGTH_LABELS"] = STRENGTH_LABELS
templates.env.globals["STRENGTH_NAMES"] = STRENGTH_NAMES


def render(request: Request, name: str, viewer: Viewer | None, status: int = 200,
           **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {
        "viewer": viewer, "csrf": viewer.session.csrf_token if viewer else "",
        "zvh": _zvh_name(context(request)), **values}, status_code=status)


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
    new = accounts.start_session(ctx.store, ctx.web, user.username, now=ctx.clock())
    response = RedirectResponse(HOME[user.role], 303)
    _set_session_cookie(response, ctx, new.token)
    return response


@router.post("/uitloggen")
def logout(request: Request,
           viewer: Viewer = Depends(page_user("procesregisseur", "beheerder",  # noqa: B008
                                              "auditor", form=True))) -> Response:
    ctx = context(request)
    ctx.store.end_session(viewer.session.token_hash)
    ctx.pending.drop(viewer.session.token_hash)
    ctx.store.append_audit("logout", viewer.username, {}, ctx.clock())
    response = RedirectResponse("/inloggen", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ------------------------------------------------------------------ samenloopcheck


def _check_form(request: Request, viewer: Viewer, *, persons: int = 1,
                values: dict[str, str] | None = None, errors: list[FieldError] | None = None,
                status: int = 200) -> HTMLResponse:
    ctx = context(request)
    errors = errors or []
    return render(request, "check.html", viewer, status, values=values or {},
                  persons=persons, max_persons=ctx.config.max_subjects_per_check,
                  phases=CHECK_PHASES,
                  purposes=ctx.web.purposes, bsn_enabled=ctx.config.bsn_enabled,
                  errors=errors, field_errors={(e.person or 0, e.field): e.message
                                               for e in errors})


@router.get("/check")
def check_form(request: Request,
               viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
               ) -> HTMLResponse:
    return _check_form(request, viewer)


def _purpose(form: FormData) -> str:
    choice, own = _text(form, "doel_keuze").strip(), _text(form, "doel").strip()
    return f"{choice}: {own}" if choice and own else choice or own


@router.post("/check")
def check(request: Request,
          viewer: Viewer = Depends(page_user("procesregisseur", form=True))  # noqa: B008
          ) -> HTMLResponse:
    """Run a check; "gezinslid toevoegen" re-renders with one more person block, and
    "opnieuw" re-runs the last check of this session from memory (no identifiers in the
    browser's history or in hidden fields)."""
    ctx = context(request)
    form = posted_form(request)
    action = _text(form, "actie")
    key = viewer.session.token_hash
    if action == "opnieuw":
        last = ctx.pending.get(key, "check", ctx.clock())
        if last is None:
            return _check_form(request, viewer, errors=[FieldError(
                "check", "de vorige check is niet meer bewaard; vul het formulier opnieuw in")],
                status=410)
        return _run_check(request, viewer, {"casus": last["case_ref"]}, **last)
    try:
        persons = max(1, min(int(_text(form, "aantal") or "1"),
                             ctx.config.max_subjects_per_check))
    except ValueError:
        persons = 1
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if action == "gezinslid_toevoegen":
        return _check_form(request, viewer,
                           persons=min(persons + 1, ctx.config.max_subjects_per_check),
                           values=values)
    raw = [{f: _text(form, f"p{i}_{f}") for f in actions.SUBJECT_FIELDS}
           for i in range(persons)]
    # A household block left empty is not a person.
    raw = [r for i, r in enumerate(raw) if i == 0 or any(v.strip() for v in r.values())]
    errors: list[FieldError] = []
    phase = _text(form, "fase")
    if phase not in CHECK_PHASES:
        errors.append(FieldError("fase", "kies de fase: aanmelding of triage"))
    if not _text(form, "casus").strip():
        errors.append(FieldError("casus", "vul het casusnummer van uw eigen casus in"))
    if len(_purpose(form)) < 5:
        errors.append(FieldError("doel", "geef het doel van de check op"))
    try:
        subjects = actions.parse_subjects(raw, bsn_enabled=ctx.config.bsn_enabled)
    except Refused as exc:
        errors += exc.errors
        subjects = ()
    if errors:
        return _check_form(request, viewer, persons=persons, values=values, errors=errors,
                           status=422)
    request_args = dict(case_ref=_text(form, "casus"), phase=phase, purpose=_purpose(form),
                        subjects=subjects)
    return _run_check(request, viewer, values, persons, **request_args)


def _run_check(request: Request, viewer: Viewer, values: dict[str, str], persons: int = 1,
               **request_args: Any) -> HTMLResponse:
    ctx = context(request)
    try:
        result = actions.samenloopcheck(ctx, actor=viewer.username,
                                        procesregisseur_id=viewer.user.procesregisseur_id,
                                        **request_args)
    except Refused as exc:
        # What the user typed comes back only in this no-store POST response.
        return _check_form(request, viewer, persons=persons, values=values,
                           errors=exc.errors, status=exc.status)
    ctx.pending.put(viewer.session.token_hash, "check", request_args, ctx.clock())
    subjects = request_args["subjects"]
    return render(request, "result.html", viewer, result=result, subjects=subjects,
                  case_ref=request_args["case_ref"])


# ------------------------------------------------------------------ meldingen


@router.get("/meldingen")
def meldingen(request: Request,
              viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
              ) -> HTMLResponse:
    ctx = context(request)
    items = ctx.store.notifications(viewer.user.procesregisseur_id or "")
    return render(request, "meldingen.html", viewer, meldingen=items,
                  open=sum(1 for m in items if m.handled_at is None))


@router.post("/meldingen/{melding_id}/afgehandeld")
def melding_handled(request: Request, melding_id: int,
                    viewer: Viewer = Depends(page_user("procesregisseur",  # noqa: B008
                                                       form=True))) -> Response:
    ctx = context(request)
    try:
        actions.handle_melding(ctx, actor=viewer.username,
                               procesregisseur_id=viewer.user.procesregisseur_id or "",
                               melding_id=melding_id)
    except Refused as exc:
        return render(request, "fout.html", viewer, exc.status, message=exc.errors[0].message)
    return RedirectResponse("/meldingen", 303)


# ------------------------------------------------------------------ beheer


@router.get("/beheer")
def beheer(request: Request, viewer: Viewer = Depends(page_user("beheerder")),  # noqa: B008
           ) -> HTMLResponse:
    return _beheer(request, viewer)


def _beheer(request: Request, viewer: Viewer, *, message: str | None = None,
            errors: list[FieldError] | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "beheer.html", viewer, status, status_info=actions.node_status(ctx),
                  phases=PHASES, message=message, errors=errors or [])


@router.post("/beheer/casus-sluiten")
def close_case(request: Request,
               viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
               ) -> HTMLResponse:
    ctx = context(request)
    case_ref = _text(posted_form(request), "casus").strip()
    try:
        actions.close_case(ctx, case_ref, actor=viewer.username)
    except Refused as exc:
        return _beheer(request, viewer, errors=exc.errors, status=exc.status)
    return _beheer(request, viewer, message=f"Casus {case_ref} is afgesloten en telt niet "
                                            f"meer mee bij checks.")


@router.get("/beheer/import")
def import_form(request: Request,
                viewer: Viewer = Depends(page_user("beheerder"))  # noqa: B008
                ) -> HTMLResponse:
    return render(request, "import.html", viewer, report=None, summary=None, errors=[])


@router.post("/beheer/import")
def import_upload(request: Request,
                  viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                  ) -> HTMLResponse:
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
        return render(request, "import.html", viewer, report=None, summary=summary, errors=[])
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
    return render(request, "import.html", viewer, report={
        "rows": rows, "cases": cases, "problems": problems[:500],
        "more": max(0, len(problems) - 500)}, summary=None, errors=[])


@router.get("/beheer/gebruikers")
def users(request: Request, viewer: Viewer = Depends(page_user("beheerder")),  # noqa: B008
          ) -> HTMLResponse:
    return _users(request, viewer)


def _users(request: Request, viewer: Viewer, *, message: str | None = None,
           secret: tuple[str, str] | None = None, errors: list[FieldError] | None = None,
           status: int = 200) -> HTMLResponse:
    ctx = context(request)
    regisseurs = sorted(ctx.store.procesregisseur_ids())
    return render(request, "gebruikers.html", viewer, status, users=ctx.store.users(),
                  tokens=ctx.store.api_token_counts(), regisseurs=regisseurs,
                  roles=accounts.ROLES, message=message, secret=secret, errors=errors or [])


@router.post("/beheer/gebruikers")
def user_add(request: Request,
             viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
             ) -> HTMLResponse:
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
    return _users(request, viewer, message=f"Gebruiker {user.username} is aangemaakt.",
                  secret=("Tijdelijk wachtwoord", password))


@router.post("/beheer/gebruikers/{username}/{change}")
def user_change(request: Request, username: str, change: str,
                viewer: Viewer = Depends(page_user("beheerder", form=True))  # noqa: B008
                ) -> HTMLResponse:
    ctx = context(request)
    secret = None
    try:
        if change == "uitschakelen":
            if username == viewer.username:
                raise accounts.AccountError("gebruikersnaam", "u kunt uzelf niet uitschakelen")
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
    return _users(request, viewer, message=message, secret=secret)


# ------------------------------------------------------------------ own API tokens

ANY_ROLE = ("procesregisseur", "beheerder", "auditor")


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
    return render(request, "audit.html", viewer, report=actions.audit_report(context(request)))


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/checks-per-maand.csv")
def audit_per_month_csv(request: Request,
                        viewer: Viewer = Depends(page_user("auditor"))  # noqa: B008
                        ) -> Response:
    report = actions.audit_report(context(request))
    return _csv("checks-per-maand.csv", ["maand", "gebruiker", "checks", "boven_drempel"],
                [[m, u, n, "ja" if n > report.threshold else "nee"]
                 for m, u, n in report.per_month])


@router.get("/audit/zonder-casusoverleg.csv")
def audit_quiet_csv(request: Request,
                    viewer: Viewer = Depends(page_user("auditor"))  # noqa: B008
                    ) -> Response:
    report = actions.audit_report(context(request))
    return _csv("zonder-casusoverleg.csv",
                ["casus", "afgesloten_op", "afgesloten_door", "checks", "gecontroleerd_door"],
                [[q.case_ref, _when(q.closed_at), q.closed_by, q.checks,
                  " ".join(q.checked_by)] for q in report.quiet_closes])
