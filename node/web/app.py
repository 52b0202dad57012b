"""The FastAPI app of a node, and the server that runs it beside the node's gRPC service.

Security headers and `Cache-Control: no-store` on every dynamic response; error pages
and API errors never echo what was sent (FastAPI's default 422 would, so it is replaced).
Every API refusal, whatever raised it, passes `api_problem`: one table from exception class
to status, written as RFC 9457 problem details with `API-Version`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import fastapi_offline
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from samenloop.node.web import api, auditor, oidc, pages, privacy, procesregisseur, second_step
from samenloop.node.web.accounts import AccountError
from samenloop.node.web.actions import NodeContext, Refused
from samenloop.node.web.limits import (
    CHECK_PATHS,
    SUBJECT_BYTES,
    UPLOAD_PATHS,
    BodyLimit,
    size_text,
)
from samenloop.node.web.mailer import MeldingMailer
from samenloop.node.web.security import NeedLogin, Viewer, context, page_session

log = logging.getLogger("samenloop.web")

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}

# Swagger UI's stylesheet draws its icons as data: SVG images; only the docs page allows
# them, and only as images (scripts, styles and connections stay 'self', nothing inline).
DOCS_CSP = HEADERS["Content-Security-Policy"] + "; img-src 'self' data:"
SWAGGER_UI = Path(fastapi_offline.__file__).resolve().parent / "static"
API_DOCS_PAGE = """<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API-documentatie – Samenloop</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""

# Pydantic error types in plain Dutch; `{veld}` is the field's name, never its value.
MESSAGES = {
    "missing": "{veld} ontbreekt",
    "string_type": "{veld} moet tekst zijn",
    "string_too_long": "{veld} is te lang",
    "string_too_short": "{veld} is te kort",
    "too_long": "{veld} bevat te veel items",
    "too_short": "{veld} bevat te weinig items",
    "list_type": "{veld} moet een lijst zijn",
    "literal_error": "{veld} heeft geen toegestane waarde",
    "bool_type": "{veld} moet true of false zijn",
    "bool_parsing": "{veld} moet true of false zijn",
    "int_type": "{veld} moet een geheel getal zijn",
    "int_parsing": "{veld} moet een geheel getal zijn",
    "extra_forbidden": "{veld} is geen bekend veld",
    "model_type": "{veld} moet een object zijn",
    "model_attributes_type": "{veld} moet een object zijn",
    "dict_type": "{veld} moet een object zijn",
    "json_invalid": "de inhoud is geen geldige JSON",
    "json_type": "de inhoud is geen geldige JSON",
}

# Field names that are plural nouns: "voornamen ontbreken", as crypto/identity.py says it.
PLURAL_FIELDS = frozenset({"voornamen", "personen"})


def _dutch_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = next((p for p in reversed(loc) if not p.isdigit()), "inhoud")
        person = None
        if "personen" in loc and len(loc) > loc.index("personen") + 1 \
                and loc[loc.index("personen") + 1].isdigit():
            person = int(loc[loc.index("personen") + 1]) + 1
        kind = str(error.get("type"))
        message = "{veld} ontbreken" if kind == "missing" and field in PLURAL_FIELDS \
            else MESSAGES.get(kind, "{veld} is ongeldig")
        out.append(_fout(field, message.format(veld=field), person))
    return out or [_fout("inhoud", "de invoer is ongeldig")]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# RFC 9457 `title` per status, in Dutch: the same for every problem of that status.
PROBLEM_TITLES = {
    400: "Ongeldig verzoek",
    401: "Niet geauthenticeerd",
    403: "Geen toegang",
    404: "Niet gevonden",
    405: "Methode niet toegestaan",
    409: "Bestaat al",
    413: "Verzoek te groot",
    422: "Ongeldige invoer",
    429: "Te veel verzoeken",
    500: "Serverfout",
    503: "Dienst niet beschikbaar",
}
# A refusal's field list for statuses that carry no fields of their own (404, 405, ...).
API_STATUS_TEXT = {
    400: "het verzoek is ongeldig",
    401: "geef een geldig API-token mee (Authorization: Bearer ...)",
    403: "uw rol geeft geen toegang tot deze functie",
    404: "deze URI bestaat niet in de API",
    405: "deze methode is niet toegestaan op deze URI",
    413: "het verzoek is te groot",
    500: "er ging iets mis op de server",
}
RETRY_AFTER_SECONDS = 60  # a 429 without a better hint from the limit that refused


def _fout(field: str, message: str, person: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"veld": field, "melding": message}
    if person is not None:
        out["persoon"] = person
    return out


def problem(status: int, fouten: list[dict[str, Any]],
            headers: dict[str, str] | None = None) -> JSONResponse:
    """An API error as RFC 9457 problem details: `detail` is the first Dutch message, every
    field's message is in the `fouten` extension member, `instance` names this occurrence
    (random: never the path or anything else that was sent)."""
    others = len(fouten) - 1
    detail = fouten[0]["melding"] + (
        f" (en {others} andere {'fout' if others == 1 else 'fouten'})" if others else "")
    return JSONResponse(
        {"type": "about:blank", "title": PROBLEM_TITLES.get(status, "Fout"), "status": status,
         "detail": detail, "instance": f"urn:uuid:{uuid.uuid4()}", "fouten": fouten},
        status_code=status, media_type=api.PROBLEM_JSON,
        headers={**(headers or {}), "API-Version": api.API_VERSION})


def api_problem(exc: Exception) -> JSONResponse:
    """The one place an exception becomes an API error: its class gives the status (a
    `Refused` carries the one its use case's class maps to), its fields the `fouten`."""
    if isinstance(exc, Refused):
        retry = {"Retry-After": str(exc.retry_after or RETRY_AFTER_SECONDS)} \
            if exc.status == 429 else {}
        return problem(exc.status, [_fout(e.field, e.message, e.person) for e in exc.errors],
                       retry)
    if isinstance(exc, AccountError):
        return problem(422, [_fout(exc.field, exc.message)])
    if isinstance(exc, RequestValidationError):
        return problem(422, _dutch_errors(exc))
    if isinstance(exc, StarletteHTTPException):  # ApiError (401, 403), 404, 405, 400
        detail = exc.detail if isinstance(exc.detail, list) else [
            {"field": "verzoek", "message": API_STATUS_TEXT.get(exc.status_code, "fout")}]
        return problem(exc.status_code, [_fout(d["field"], d["message"]) for d in detail],
                       dict(exc.headers or {}))
    return problem(500, [_fout("server", API_STATUS_TEXT[500])])


# What `api_problem` maps; registered as one handler (the web pages keep their HTML).
API_REFUSALS = (Refused, AccountError, RequestValidationError, StarletteHTTPException)


def create_app(ctx: NodeContext) -> FastAPI:
    app = FastAPI(title="Samenloop node API", version=api.API_VERSION,
                  description="Hit/no-hit samenloopcheck, meldingen, import en audit van één "
                              "Zorg- en Veiligheidshuis. Volgt de NL API Design Rules: "
                              "API-Version in elk antwoord, fouten als "
                              "application/problem+json (RFC 9457) met per veld een "
                              'Nederlandse melding in "fouten": [{"veld": ..., '
                              '"melding": ...}].',
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.include_router(pages.router)
    app.include_router(oidc.router)
    app.include_router(second_step.router)
    app.include_router(privacy.router)
    app.include_router(auditor.router)
    app.include_router(procesregisseur.router)
    app.include_router(api.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = api.openapi_document(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes), contact_url=ctx.web.public_url,
                contact_email=ctx.web.api_contact_email)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Interactive API documentation from the node itself: Swagger UI's files as the
    # fastapi-offline package ships them (no CDN), started by a script file of our own
    # (the CSP allows no inline script). Mounted before /static, which would take the path.
    app.mount("/static/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(API_DOCS_PAGE, headers={"Content-Security-Policy": DOCS_CSP})

    # resolve(): the strict editable install links each file, and StaticFiles refuses a
    # link that leads out of its directory (the page would come without its stylesheet).
    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"),
              name="static")

    def body_limit(path: str) -> int:
        if path in UPLOAD_PATHS:
            return ctx.web.max_upload_bytes
        if path in CHECK_PATHS:
            return max(ctx.web.max_body_bytes, ctx.config.max_subjects_per_check * SUBJECT_BYTES)
        return ctx.web.max_body_bytes

    def too_large(scope: Scope, limit: int) -> Response:
        request = Request(scope)
        upload = scope["path"] in UPLOAD_PATHS
        what = "het bestand" if upload else "het verzoek"
        if _is_api(request):
            return problem(413, [_fout("inhoud", f"{what} is groter dan {size_text(limit)}")])
        return _error_page(request, 413, f"{what.capitalize()} is groter dan "
                                         f"{size_text(limit)}; er is niets gewijzigd.")

    # Inside the header middleware below, so a refusal carries the security headers too.
    app.add_middleware(BodyLimit, limit_for=body_limit, refuse=too_large)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        docs_page = response.headers.get("Content-Security-Policy") == DOCS_CSP
        response.headers.update(HEADERS)
        if docs_page:  # the one page that needs Swagger UI's data: icons
            response.headers["Content-Security-Policy"] = DOCS_CSP
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if _is_api(request):  # API-57: on every response of the API, errors included
            response.headers["API-Version"] = api.API_VERSION
        return response

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        return RedirectResponse(exc.location, 303)

    async def refused(request: Request, exc: Exception) -> Response:
        """API: problem+json through `api_problem`. Pages: the error page, as before."""
        if _is_api(request):
            return api_problem(exc)
        if isinstance(exc, RequestValidationError):
            return _error_page(request, 422, "Het formulier is niet goed ingevuld.")
        if isinstance(exc, Refused):
            return _error_page(request, exc.status, exc.errors[0].message)
        if isinstance(exc, AccountError):
            return _error_page(request, 422, exc.message)
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        message = exc.detail if isinstance(exc, StarletteHTTPException) \
            and isinstance(exc.detail, str) and status == 403 \
            else _STATUS_TEXT.get(status, "Er ging iets mis.")
        return _error_page(request, status, message)

    for refusal in API_REFUSALS:
        app.add_exception_handler(refusal, refused)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("web: unhandled %s on %s %s", type(exc).__name__, request.method,
                  request.url.path)
        if _is_api(request):  # outside the header middleware: problem() sets API-Version
            return api_problem(exc)
        return _error_page(request, 500, "Er ging iets mis. Probeer het later opnieuw.")

    return app


_STATUS_TEXT = {
    400: "Het verzoek is ongeldig.",
    401: "U bent niet ingelogd.",
    403: "U heeft geen toegang tot deze pagina.",
    404: "Deze pagina bestaat niet.",
    405: "Deze actie kan zo niet worden uitgevoerd.",
    413: "Het bestand is te groot.",
}


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error page keeps the navigation and the logged-in state: a user who took a wrong
    turn still sees where they are and can go on (or log out) from here."""
    return pages.render(request, "fout.html", _viewer_of(request), status, message=message)


def _viewer_of(request: Request) -> Viewer | None:
    """The logged-in user behind an error page, if the session is valid; never raises
    (the page must render whatever went wrong)."""
    try:
        session = page_session(request)
        if session is None or session.username is None:
            return None
        user = context(request).store.user(session.username)
        return Viewer(user, session) if user is not None and not user.disabled else None
    except Exception:
        return None


class PathOnlyAccessLog(logging.Filter):
    """Drops the query string from uvicorn's access log lines: no path holds an identifier
    (identifiers only travel in POST bodies), but a query may hold one-time values such as
    the OpenID provider's `code` and `state` on the sign-in callback."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


ACCESS_LOG_FILTER = PathOnlyAccessLog()
logging.getLogger("uvicorn.access").addFilter(ACCESS_LOG_FILTER)


class WebServer:
    """Runs uvicorn in a thread of the node process (sharing its store and network) and
    the melding mailer beside it. The access log shows paths only, without query strings."""

    def __init__(self, ctx: NodeContext, listen: str | None = None) -> None:
        self.ctx = ctx
        host, _, port = (listen or ctx.web.listen).rpartition(":")
        self.app = create_app(ctx)
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host=host, port=int(port), log_level="info", access_log=True,
            proxy_headers=False, server_header=False, lifespan="off", log_config=None))
        self.mailer = MeldingMailer(ctx)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.server.config.host}:{self.server.config.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.run, name="web", daemon=True)
        self._thread.start()
        for _ in range(200):
            if self.server.started:
                break
            if not self._thread.is_alive():
                raise OSError(f"web app cannot listen on {self.ctx.web.listen}")
            threading.Event().wait(0.05)
        self.mailer.start()
        log.info("web app on %s", self.url)

    def stop(self) -> None:
        self.mailer.stop()
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
