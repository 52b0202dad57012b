"""The login's second step: the TOTP code (or a recovery code), or setting TOTP up.

Both pages belong to the login page's session, which has no user yet: they are reachable
only after a correct password (the pending login in memory, see node/web/totp.py), and
every other page still sends that session to the login page. The user's own session
starts here, with a new token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from samenloop.node.store import Session, User
from samenloop.node.web import accounts, totp
from samenloop.node.web.pages import HOME, _set_session_cookie, _zvh_name, render, templates
from samenloop.node.web.security import Viewer, context, page_session, read_form

router = APIRouter(include_in_schema=False)
CODE_PAGE = "/inloggen/code"
# Without a pending login: the home page sends a logged-in user to their start page and
# anyone else to the login page.
_NOTHING_PENDING = "/"
ENROL_PAGE = "/inloggen/instellen"


def _pending(request: Request) -> tuple[Session, dict[str, Any], User] | None:
    """The login page's session, its pending login and the (enabled) user; None when there
    is none (then the login page is next)."""
    ctx = context(request)
    session = page_session(request)
    if session is None or session.username is not None:
        return None
    waiting = ctx.pending.get(session.token_hash, totp.PENDING, ctx.clock())
    if not isinstance(waiting, dict):
        return None
    user = ctx.store.user(waiting["username"])
    if user is None or user.disabled:
        ctx.pending.drop(session.token_hash)
        return None
    return session, waiting, user


async def _attempt(request: Request) -> tuple[Session, dict[str, Any], User, FormData] | None:
    """As `_pending`, with the posted form; without a pending login the body is not read."""
    pending = _pending(request)
    return None if pending is None else (*pending, await read_form(request))


def _answer(form: FormData) -> str:
    value = form.get("code")
    return value if isinstance(value, str) else ""


def _start(request: Request, session: Session, user: User) -> accounts.NewSession:
    """The user's own session, with a new token (no session fixation)."""
    ctx = context(request)
    ctx.store.end_session(session.token_hash)
    ctx.pending.drop(session.token_hash)
    return accounts.start_session(ctx.store, ctx.web, user.username, now=ctx.clock())


def _code_page(request: Request, session: Session, error: str | None = None,
               status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, "tweede_stap.html", {
        "viewer": None, "csrf": session.csrf_token, "zvh": _zvh_name(context(request)),
        "error": error}, status_code=status)


@router.get(CODE_PAGE)
def code_form(request: Request) -> Response:
    pending = _pending(request)
    if pending is None:
        return RedirectResponse(_NOTHING_PENDING, 303)
    return _code_page(request, pending[0])


@router.post(CODE_PAGE)
def code(request: Request,
         attempt: tuple[Session, dict[str, Any], User, FormData] | None = Depends(_attempt),
         ) -> Response:
    """Synchronous: a recovery code's argon2 verification runs in a worker thread."""
    ctx = context(request)
    if attempt is None:
        return RedirectResponse(_NOTHING_PENDING, 303)
    session, _, user, form = attempt
    submitted = form.get("csrf_token")
    if not accounts.csrf_ok(session, submitted if isinstance(submitted, str) else None):
        return RedirectResponse(_NOTHING_PENDING, 303)
    try:
        totp.verify(ctx.store, ctx.web, ctx.config.account_secrets_key, user.username,
                    _answer(form), now=ctx.clock())
    except totp.SecondStepRefused as exc:
        return _code_page(request, session, exc.message, 401)
    new = _start(request, session, user)
    response = RedirectResponse(HOME[user.role], 303)
    _set_session_cookie(response, ctx, new.token)
    return response


def _enrol_page(request: Request, session: Session, waiting: dict[str, Any], user: User,
                error: str | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    if "secret" not in waiting:  # one secret per pending login: a reload shows the same
        waiting["secret"] = totp.new_secret()
        ctx.pending.put(session.token_hash, totp.PENDING, waiting, ctx.clock())
    zvh = _zvh_name(ctx)
    return templates.TemplateResponse(request, "tweede_factor_instellen.html", {
        "viewer": None, "csrf": session.csrf_token, "zvh": zvh, "error": error,
        "enrolment": totp.enrolment(waiting["secret"], user.username, zvh)},
        status_code=status)


@router.get(ENROL_PAGE)
def enrol_form(request: Request) -> Response:
    pending = _pending(request)
    if pending is None or context(request).store.second_factor(pending[2].username):
        return RedirectResponse(_NOTHING_PENDING, 303)
    return _enrol_page(request, *pending)


@router.post(ENROL_PAGE)
def enrol(request: Request,
          attempt: tuple[Session, dict[str, Any], User, FormData] | None = Depends(_attempt),
          ) -> Response:
    """Confirm the secret with one code; the recovery codes are shown on this response only
    (never stored readable, never in an address), and the user's session starts."""
    ctx = context(request)
    if attempt is None or "secret" not in attempt[1]:
        return RedirectResponse(_NOTHING_PENDING, 303)
    session, waiting, user, form = attempt
    submitted = form.get("csrf_token")
    if not accounts.csrf_ok(session, submitted if isinstance(submitted, str) else None):
        return RedirectResponse(_NOTHING_PENDING, 303)
    try:
        codes = totp.enrol(ctx.store, ctx.web, ctx.config.account_secrets_key, user.username,
                           waiting["secret"], _answer(form), now=ctx.clock())
    except totp.SecondStepRefused as exc:
        return _enrol_page(request, session, waiting, user, exc.message, 422)
    new = _start(request, session, user)
    response = render(request, "herstelcodes.html", Viewer(user, new.session), codes=codes,
                      next_page=HOME[user.role])
    _set_session_cookie(response, ctx, new.token)
    return response
