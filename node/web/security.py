"""Who is asking: page sessions with CSRF tokens, and bearer tokens for the API.

Every route declares its roles through one of these dependencies, so a route without
one is visible in review, and tests/web/test_roles.py walks every route with every role.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from samenloop.node.registration import loads_bounded
from samenloop.node.store import Session, User
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext

SESSION_COOKIE = "samenloop_sessie"
bearer = HTTPBearer(auto_error=False, description="API-token van de gebruiker (samenloop "
                                                  "node user token, of de beheerpagina)")


class NeedLogin(Exception):
    """A page asked for without a (live) session: the handler sends the login page."""

    location = "/inloggen"


class MustChangePassword(NeedLogin):
    """A password a beheerder set is changed first: every page but this one and logout
    sends the user to the change-password page."""

    location = "/account/wachtwoord"


CHANGE_PASSWORD_PATHS = frozenset({"/account/wachtwoord", "/uitloggen"})


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
        if user.must_change_password and request.url.path not in CHANGE_PASSWORD_PATHS:
            raise MustChangePassword
        if user.role not in roles:
            raise HTTPException(403, "U heeft geen toegang tot deze pagina.")
        if form:  # only now, for a user of the route's role, is the body read
            submitted = (await read_form(request)).get("csrf_token")
            if not accounts.csrf_ok(session, submitted if isinstance(submitted, str) else None):
                raise HTTPException(403, "Het formulier is verlopen of ongeldig. Ga terug, "
                                         "laad de pagina opnieuw en probeer het nog eens.")
        return Viewer(user, session)

    return dependency


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's multipart parser, but an uploaded file stays in memory: its spooled file
    never rolls over to a temporary file on disk (Starlette's does above 1 MB), so an
    export's names and dates of birth never touch the disk. The body limit bounds it."""

    spool_max_size = sys.maxsize
    max_file_size = sys.maxsize  # the same setting's older name in Starlette


MAX_FORM_FIELDS = 20_000  # a check of 1,000 persons has 6,000; the body limit bounds them


async def read_form(request: Request) -> FormData:
    """The request's form, parsed in memory (uploads included) and kept for the handler.
    Never call `request.form()`: it spools uploads to disk."""
    form: FormData | None = getattr(request.state, "form", None)
    if form is not None:
        return form
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    try:
        if content_type == b"multipart/form-data":
            form = await _InMemoryMultiPartParser(request.headers, request.stream(),
                                                  max_files=1,
                                                  max_fields=MAX_FORM_FIELDS).parse()
        elif content_type == b"application/x-www-form-urlencoded":
            form = await FormParser(request.headers, request.stream(),
                                    max_fields=MAX_FORM_FIELDS).parse()
        else:
            form = FormData()
    except MultiPartException:
        raise HTTPException(400, "Het formulier kon niet worden gelezen.") from None
    request.state.form = form
    return form


def posted_form(request: Request) -> FormData:
    """The form that `page_user(..., form=True)` read for this request."""
    form: FormData | None = getattr(request.state, "form", None)
    if form is None:
        raise RuntimeError(f"{request.url.path}: the route's page_user has no form=True")
    return form


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


M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """The route's JSON body as `model`. A dependency, declared after the route's
    `api_user`, so a request without a valid token and role is refused before its body is
    read; the depth of the JSON is bounded before it is parsed (off the event loop)."""

    def parse(raw: bytes) -> M:
        try:
            data = loads_bounded(raw.decode("utf-8"))
        except ValueError:  # also UnicodeDecodeError and JSONDecodeError
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": "invalid JSON"}]) from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_input=False,
                                                    include_context=False)) from None

    async def dependency(request: Request) -> M:
        return await run_in_threadpool(parse, await request.body())

    return dependency


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a `json_body` as the route's request body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": inline(schema)}}}}
