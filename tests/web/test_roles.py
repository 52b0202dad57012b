"""Every route with every role, and anonymously: allowed, or 403 / login redirect / 401.

The table below must list every route of the app, so a new route cannot slip in
without deciding who may use it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from samenloop.node.web import (
    accounts,
    api,
    auditor,
    oidc,
    pages,
    privacy,
    procesregisseur,
    second_step,
)
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import create_app
from tests.web.conftest import USERS, login

PR, BEHEER, AUDIT, PRIVACY = "procesregisseur", "beheerder", "auditor", "privacy"
ANYONE = "*"  # also anonymous
LOGGED_IN = (PR, BEHEER, AUDIT, PRIVACY)

# (method, path with example parameters) -> roles allowed
ROUTES: dict[tuple[str, str], tuple[str, ...] | str] = {
    ("GET", "/"): ANYONE,
    ("GET", "/inloggen"): ANYONE,
    ("POST", "/inloggen"): ANYONE,
    # Sign-in through the organisation's OpenID provider (404 where [web.oidc] is not set).
    ("GET", "/inloggen/oidc"): ANYONE,
    ("GET", "/inloggen/oidc/terug"): ANYONE,
    # The second step (TOTP): only the login page's session with a pending login uses them.
    ("GET", "/inloggen/code"): ANYONE,
    ("POST", "/inloggen/code"): ANYONE,
    ("GET", "/inloggen/instellen"): ANYONE,
    ("POST", "/inloggen/instellen"): ANYONE,
    ("POST", "/uitloggen"): LOGGED_IN,
    ("GET", "/check"): (PR,),
    ("POST", "/check"): (PR,),
    ("GET", "/check/uitkomst/{result_id}"): (PR,),
    ("GET", "/geschiedenis"): (PR,),
    ("GET", "/help"): LOGGED_IN,
    ("GET", "/account/wachtwoord"): LOGGED_IN,
    ("POST", "/account/wachtwoord"): LOGGED_IN,
    ("GET", "/aanmelding"): (PR,),
    ("POST", "/aanmelding"): (PR,),
    ("GET", "/casussen"): (PR,),
    ("POST", "/casussen/niet-in-behandeling"): (PR,),
    ("POST", "/casussen/informeren"): (PR,),
    ("POST", "/beheer/vervangers"): (BEHEER,),
    ("GET", "/meldingen"): (PR,),
    ("POST", "/meldingen/{melding_id}/afgehandeld"): (PR,),
    ("GET", "/beheer"): (BEHEER,),
    ("POST", "/beheer/casus-sluiten"): (BEHEER,),
    ("GET", "/beheer/casussen"): (BEHEER,),
    ("GET", "/beheer/casus"): (BEHEER,),
    ("POST", "/beheer/casus-procesregisseur"): (BEHEER,),
    ("GET", "/beheer/gebruikers/{username}/uitschakelen"): (BEHEER,),
    ("GET", "/beheer/import"): (BEHEER,),
    ("POST", "/beheer/import"): (BEHEER,),
    ("GET", "/beheer/gebruikers"): (BEHEER,),
    ("POST", "/beheer/gebruikers"): (BEHEER,),
    ("POST", "/beheer/gebruikers/{username}/{change}"): (BEHEER,),
    ("GET", "/mijn-api-tokens"): LOGGED_IN,
    ("POST", "/mijn-api-tokens"): LOGGED_IN,
    ("GET", "/audit"): (AUDIT,),
    ("GET", "/audit/checks-per-maand.csv"): (AUDIT,),
    ("GET", "/audit/zonder-casusoverleg.csv"): (AUDIT,),
    ("GET", "/audit/beeindigde-casussen.csv"): (AUDIT,),
    ("GET", "/audit/checks"): (AUDIT,),
    ("GET", "/audit/checks.csv"): (AUDIT,),
    ("GET", "/audit/rapportage"): (AUDIT,),
    ("GET", "/audit/rapportage.csv"): (AUDIT,),
    ("GET", "/privacy"): (PRIVACY,),
    ("GET", "/privacy/incidenten"): (PRIVACY,),
    ("POST", "/privacy/incidenten"): (PRIVACY,),
    ("POST", "/privacy/incidenten/{incident_id}"): (PRIVACY,),
    ("GET", "/privacy/verzoeken"): (PRIVACY,),
    ("POST", "/privacy/inzage"): (PRIVACY,),
    ("GET", "/privacy/inzage/{overview_id}"): (PRIVACY,),
    ("POST", "/privacy/blokkade"): (PRIVACY,),
    ("POST", "/privacy/blokkade/{block_id}/opheffen"): (PRIVACY,),
    ("POST", "/privacy/verzoeken/{request_id}/afgehandeld"): (PRIVACY,),
    ("POST", "/privacy/kennisgevingen/{notice_id}/afgehandeld"): (PRIVACY,),
    ("GET", "/privacy/informeren.csv"): (PRIVACY,),
    ("GET", "/privacy/documenten"): (PRIVACY,),
    ("POST", "/api/v1/checks"): (PR,),
    ("GET", "/api/v1/meldingen"): (PR,),
    ("POST", "/api/v1/meldingen/{melding_id}/afgehandeld"): (PR,),
    ("POST", "/api/v1/import"): (BEHEER,),
    ("POST", "/api/v1/casussen/sluiten"): (BEHEER,),
    ("POST", "/api/v1/casussen"): (PR,),
    ("POST", "/api/v1/casussen/niet-in-behandeling"): (PR, BEHEER),
    ("GET", "/api/v1/status"): (BEHEER,),
    ("GET", "/api/v1/docs"): ANYONE,
    ("GET", "/api/v1/gebruikers"): (BEHEER,),
    ("POST", "/api/v1/gebruikers"): (BEHEER,),
    ("GET", "/api/v1/audit"): (AUDIT,),
    ("GET", "/api/v1/openapi.json"): ANYONE,
}
EXAMPLES = {"{melding_id}": "999999", "{username}": "niemand", "{change}": "token",
            "{result_id}": "onbekend", "{incident_id}": "999999",
            "{overview_id}": "onbekend", "{block_id}": "999999", "{request_id}": "999999",
            "{notice_id}": "999999"}


def _concrete(path: str) -> str:
    for name, value in EXAMPLES.items():
        path = path.replace(name, value)
    return path


def test_the_table_lists_every_route() -> None:
    routes = {(m, r.path) for router in (pages.router, privacy.router, auditor.router,
                                         procesregisseur.router, api.router, oidc.router,
                                         second_step.router)
              for r in router.routes if isinstance(r, APIRoute) for m in r.methods}
    routes |= {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs")}
    assert routes == set(ROUTES)


@pytest.fixture(scope="module")
def tokens(fryslan: NodeContext) -> dict[str, str]:
    return {role: accounts.create_api_token(fryslan.store, name, by="test", now=fryslan.clock())
            for name, (role, _) in USERS.items()}


@pytest.fixture(scope="module")
def sessions(fryslan: NodeContext) -> dict[str | None, tuple[TestClient, str]]:
    """One logged-in browser per role (logging in costs an argon2 verification)."""
    out: dict[str | None, tuple[TestClient, str]] = {}
    for role in (None, *LOGGED_IN):
        client = TestClient(create_app(fryslan), follow_redirects=False)
        out[role] = (client, _login_as(client, role))
    return out


def _login_as(client: TestClient, role: str | None) -> str:
    return login(client, next(n for n, (r, _) in USERS.items() if r == role)) if role else ""


def _clients(sessions: dict[str | None, tuple[TestClient, str]]
             ) -> Iterator[tuple[str | None, TestClient, str]]:
    for role, (client, csrf) in list(sessions.items()):
        yield role, client, csrf


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_with_every_role(sessions: dict[str | None, tuple[TestClient, str]],
                                     tokens: dict[str, str], route: tuple[str, str]) -> None:
    method, path = route
    allowed = ROUTES[route]
    url = _concrete(path)
    for role, client, csrf in _clients(sessions):
        permitted = allowed == ANYONE or role in allowed
        if path.startswith("/api/") and path not in ("/api/v1/openapi.json", "/api/v1/docs"):
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            response = client.request(method, url, headers=headers,
                                      json={} if method == "POST" else None)
            expected = "allowed" if permitted else 401 if role is None else 403
            if expected == "allowed":
                assert response.status_code not in (401, 403), (role, response.text)
                assert response.status_code < 500
            else:
                assert response.status_code == expected, (role, response.text)
                assert response.json()["fouten"][0]["melding"]
            continue
        response = client.request(method, url,
                                  data={"csrf_token": csrf} if method == "POST" else None)
        assert response.status_code < 500, (role, response.text)
        if path == "/uitloggen" and role is not None:
            assert response.headers["location"] == "/inloggen"
            assert client.get("/check").headers.get("location") == "/inloggen"
            sessions[role] = (client, _login_as(client, role))
            continue
        if permitted:
            assert response.status_code != 403, role
            if role is not None and path != "/uitloggen":
                assert response.headers.get("location") != "/inloggen", role
        elif role is None:
            assert (response.status_code, response.headers.get("location")) == (
                303, "/inloggen")
        else:
            assert response.status_code == 403, role
            assert "geen toegang" in response.text
