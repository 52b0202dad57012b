"""Fixtures for the web app: the real embedded network (tests/support/network.py) with the
web app of a node on top, driven in-process (TestClient) or over loopback (uvicorn)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from samenloop.node.config import WebConfig
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.api import API_VERSION
from samenloop.node.web.app import create_app
from samenloop.node.web.security import SESSION_COOKIE
from tests.support.network import Harness

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
TRIAGE_CASE = "F-2026-001"
PASSWORD = "correct-horse-battery"
USERS = {  # username: (role, procesregisseur id)
    "regisseur": ("procesregisseur", "pr-1"),
    "beheerder": ("beheerder", None),
    "auditor": ("auditor", None),
    "privacy": ("privacy", None),
}


# http://listen -> the context made for a web app on that address, so a browser test's
# login can take the second-step shortcut (tests/web/browser.py `_login`).
SERVED: dict[str, NodeContext] = {}


def web_context(network: Harness, node_id: str, web: WebConfig | None = None, *,
                totp_for_procesregisseur: bool = False, **config: object) -> NodeContext:
    """The suite's procesregisseurs log in with a password only, as in the demo (most tests
    log one in by hand); tests/web/test_totp.py turns TOTP on for them where it needs to."""
    node = network.nodes[node_id]
    node_config = dataclasses.replace(node.config, **config) if config else node.config
    web = dataclasses.replace(web or WebConfig(),
                              totp_for_procesregisseur=totp_for_procesregisseur)
    ctx = NodeContext(node_config, web, node.store, node.network)
    SERVED[f"http://{web.listen}"] = ctx
    return ctx


def add_users(ctx: NodeContext, prefix: str = "") -> None:
    for name, (role, regisseur) in USERS.items():
        if ctx.store.user(prefix + name) is None:
            accounts.add_user(ctx.store, prefix + name, role, regisseur, PASSWORD, by="test",
                              now=ctx.clock(), must_change=False)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


SECOND_STEP_PAGES = ("/inloggen/code", "/inloggen/instellen")


def second_step_done(ctx: NodeContext, username: str) -> str:
    """Test shortcut for the login's second step (TOTP), so the suite stays fast: a session
    for `username` as the second step starts it after a good code; returns its cookie value.

    A real code can be used only once per 30-second step (replays are refused), and the
    suite logs the same accounts in many times a minute; tests/web/test_totp.py walks the
    real second step, in HTTP and in the browser."""
    return accounts.start_session(ctx.store, ctx.web, username, now=ctx.clock()).token


def finish_second_step(cookies: httpx.Cookies, ctx: NodeContext, username: str) -> None:
    """`second_step_done` for an HTTP client (TestClient or httpx) at the second step: its
    cookie becomes the new session's (the login page's session is dropped, as after a
    real code)."""
    cookies.clear()
    cookies.set(SESSION_COOKIE, second_step_done(ctx, username.strip().lower()))


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form (the password step is real; the TOTP step, where the role
    asks for one, is `second_step_done`); returns the session's CSRF token."""
    token = csrf_of(client.get("/inloggen").text)
    response = client.post("/inloggen", data={"csrf_token": token, "gebruikersnaam": username,
                                              "wachtwoord": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if location in SECOND_STEP_PAGES:
        ctx: NodeContext = client.app.state.ctx  # type: ignore[attr-defined]
        finish_second_step(client.cookies, ctx, username)
        location = "/"
    # A user who must change a password set by a beheerder lands on that page instead.
    home = client.get(location, follow_redirects=True)
    return csrf_of(home.text)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One embedded network per test module: starting one takes about a second."""
    harness = Harness(Path(tmp_path_factory.mktemp("net")) / "net", deadline_seconds=1.0)
    try:
        yield harness.start()
    finally:
        harness.close()


@pytest.fixture(scope="module")
def fryslan(net: Harness) -> NodeContext:
    ctx = web_context(net, FRYSLAN)
    add_users(ctx)
    return ctx


@pytest.fixture
def client(fryslan: NodeContext) -> Iterator[TestClient]:
    with TestClient(create_app(fryslan), follow_redirects=False) as test_client:
        yield test_client


def assert_problem(status: int, headers: Mapping[str, str], body: Any) -> None:
    """An API error as the NL API Design Rules want it: RFC 9457 problem details with the
    Dutch field messages in `fouten`, and API-Version. `headers` as any case of names."""
    headers = {name.lower(): value for name, value in headers.items()}
    assert headers["content-type"] == "application/problem+json", (status, body)
    assert headers["api-version"] == API_VERSION, (status, body)
    assert {"type", "title", "status", "detail", "instance", "fouten"} <= set(body), body
    assert body["status"] == status and body["type"] == "about:blank", body
    assert body["instance"].startswith("urn:uuid:"), body
    assert body["fouten"] and all(
        isinstance(f["veld"], str) and isinstance(f["melding"], str) and f["melding"]
        for f in body["fouten"]), body
    assert body["detail"].startswith(body["fouten"][0]["melding"]), body
    if status == 429:
        assert int(headers["retry-after"]) > 0
