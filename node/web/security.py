"""Who is asking: page sessions with CSRF tokens, and bearer tokens for the API.

Every route declares its roles through one of these dependencies, so a route without
one is visible in review, and tests/web/test_roles.py walks every route with every role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from samenloop.node.store import Session, User
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext

SESSION_COOKIE = "samenloop_sessie"
bearer = HTTPBearer(auto_error=False, description="API-token van de gebruiker (samenloop "
                                                  "node user token, of de beheerpagina)")


class NeedLogin(Exception):
    """A page asked for without a (live) session: the handler sends the login page."""


class ApiError(HTTPException):
    """An API refusal in the Dutch error format."""

    detail: Any  # FastAPI sends any JSON as the detail; starlette declares a string

    def __init__(self, status: int, field: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, [{"field": field, "message": message}], headers)


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a page, with the session that carries the CSRF token."""

    user: User
    session: Session

    @property
    def username(self) -> str:
        return self.user.username


def context(request: Request) -> NodeContext:
    ctx: NodeContext = request.app.state.ctx
    return ctx


def page_session(request: Request) -> Session | None:
    ctx = context(request)
    return accounts.current_session(ctx.store, ctx.web, request.cookies.get(SESSION_COOKIE),
                                    now=ctx.clock())


def page_user(*roles: str, form: bool = False) -> Callable[[Request], Awaitable[Viewer]]:
    """Anonymous: to the login page. Wrong role: 403. POST forms: synchronizer CSRF token."""

    async def dependency(request: Request) -> Viewer:
        ctx = context(request)
        session = page_session(request)
        if session is None or session.username is None:
            raise NeedLogin
        user = ctx.store.user(session.username)
        if user is None or user.disabled:
            ctx.store.end_session(session.token_hash)
            raise NeedLogin
        if user.role not in roles:
            raise HTTPException(403, "U heeft geen toegang tot deze pagina.")
        if form:
            submitted = (await request.form()).get("csrf_token")
            if not accounts.csrf_ok(session, submitted if isinstance(submitted, str) else None):
                raise HTTPException(403, "Het formulier is verlopen of ongeldig. Ga terug, "
                                         "laad de pagina opnieuw en probeer het nog eens.")
        return Viewer(user, session)

    return dependency


def api_user(*roles: str) -> Callable[..., User]:
    """Bearer token of an enabled account with one of `roles`; 401 without, 403 wrong role."""

    def dependency(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Depends(bearer)  # noqa: B008
                   ) -> User:
        ctx = context(request)
        user = accounts.api_user(ctx.store, credentials.credentials) if credentials else None
        if user is None:
            raise ApiError(401, "authorization", "geef een geldig API-token mee "
                                                 "(Authorization: Bearer ...)",
                           {"WWW-Authenticate": "Bearer"})
        if user.role not in roles:
            raise ApiError(403, "rol", "uw rol geeft geen toegang tot deze functie")
        return user

    return dependency
