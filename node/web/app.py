"""The FastAPI app of a node, and the server that runs it beside the node's gRPC service.

Security headers and `Cache-Control: no-store` on every dynamic response; error pages
and API errors never echo what was sent (FastAPI's default 422 would, so it is replaced).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import fastapi_offline
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from samenloop.node.web import api, auditor, pages, privacy, procesregisseur, second_step
from samenloop.node.web.actions import NodeContext
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


def _dutch_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = next((p for p in reversed(loc) if not p.isdigit()), "inhoud")
        item: dict[str, Any] = {"field": field, "message": MESSAGES.get(
            str(error.get("type")), "{veld} is ongeldig").format(veld=field)}
        if "personen" in loc and len(loc) > loc.index("personen") + 1 \
                and loc[loc.index("personen") + 1].isdigit():
            item["persoon"] = int(loc[loc.index("personen") + 1]) + 1
        out.append(item)
    return out or [{"field": "inhoud", "message": "de invoer is ongeldig"}]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(ctx: NodeContext) -> FastAPI:
    app = FastAPI(title="Samenloop node API", version="1",
                  description="Hit/no-hit samenloopcheck, meldingen, import en audit van één "
                              "Zorg- en Veiligheidshuis. Foutmeldingen: "
                              '{"detail": [{"field": ..., "message": ...}]}.',
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.include_router(pages.router)
    app.include_router(second_step.router)
    app.include_router(privacy.router)
    app.include_router(auditor.router)
    app.include_router(procesregisseur.router)
    app.include_router(api.router)
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
            return JSONResponse({"detail": [{
                "field": "inhoud", "message": f"{what} is groter dan {size_text(limit)}"}]},
                status_code=413)
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
        return response

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        return RedirectResponse(exc.location, 303)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": _dutch_errors(exc)}, status_code=422)
        return _error_page(request, 422, "Het formulier is niet goed ingevuld.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            detail = exc.detail if isinstance(exc.detail, list) else [
                {"field": "verzoek", "message": _STATUS_TEXT.get(exc.status_code, "fout")}]
            return JSONResponse({"detail": detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code == 403 \
            else _STATUS_TEXT.get(exc.status_code, "Er ging iets mis.")
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("web: unhandled %s on %s %s", type(exc).__name__, request.method,
                  request.url.path)
        if _is_api(request):
            return JSONResponse({"detail": [{"field": "server", "message":
                                             "er ging iets mis op de server"}]}, 500)
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


class WebServer:
    """Runs uvicorn in a thread of the node process (sharing its store and network) and
    the melding mailer beside it. The access log shows paths only; no path holds an
    identifier, because identifiers only travel in POST bodies."""

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
