"""Sessions, CSRF, lock-out, caching and the Dutch error format."""

from __future__ import annotations

import dataclasses
import re
import statistics
import time

from fastapi.testclient import TestClient

from samenloop.node.config import WebConfig
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import create_app
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, PASSWORD, TRIAGE_CASE, csrf_of, login, web_context

CHECK_FORM = {"casus": TRIAGE_CASE, "doel": "triage: samenloop met ander ZVH",
              "aantal": "1", "actie": "controleren", "p0_achternaam": "Visser",
              "p0_voornamen": "Karin", "p0_geboortedatum": "1975-05-05"}


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(client: TestClient,
                                                              fryslan: NodeContext) -> None:
    csrf = login(client, "regisseur")
    before = len(fryslan.store.audit_entries("check"))
    assert client.post("/check", data=CHECK_FORM).status_code == 403
    refused = client.post("/check", data={**CHECK_FORM, "csrf_token": csrf[:-2] + "xx"})
    assert refused.status_code == 403 and "formulier is verlopen" in refused.text
    assert "Visser" not in refused.text
    assert len(fryslan.store.audit_entries("check")) == before
    # A token of another session does not work either.
    other = TestClient(create_app(fryslan), follow_redirects=False)
    assert other.post("/check", data={**CHECK_FORM, "csrf_token": csrf}).headers[
        "location"] == "/inloggen"
    # Login itself needs the login page's token.
    anonymous = TestClient(create_app(fryslan), follow_redirects=False)
    response = anonymous.post("/inloggen", data={"gebruikersnaam": "regisseur",
                                                 "wachtwoord": PASSWORD})
    assert response.headers["location"] == "/inloggen"
    assert anonymous.get("/check").headers["location"] == "/inloggen"


def test_session_cookie_is_httponly_strict_and_rotated_at_login(fryslan: NodeContext) -> None:
    client = TestClient(create_app(fryslan), follow_redirects=False)
    first = client.get("/inloggen").headers["set-cookie"]
    assert "HttpOnly" in first and "SameSite=strict" in first and "Secure" not in first
    before = client.cookies["samenloop_sessie"]
    login(client, "regisseur")
    assert client.cookies["samenloop_sessie"] != before
    https = dataclasses.replace(fryslan, web=WebConfig(public_url="https://zvh.example"))
    secure = TestClient(create_app(https), base_url="https://testserver")
    assert "Secure" in secure.get("/inloggen").headers["set-cookie"]


def test_sessions_expire_when_idle_and_after_the_maximum(fryslan: NodeContext) -> None:
    now = [fryslan.clock()]
    ctx = dataclasses.replace(fryslan, clock=lambda: now[0])
    client = TestClient(create_app(ctx), follow_redirects=False)
    login(client, "auditor")
    now[0] += 29 * 60
    assert client.get("/audit").status_code == 200
    now[0] += 31 * 60
    assert client.get("/audit").headers["location"] == "/inloggen"
    login(client, "auditor")
    for _ in range(21):  # active all day, but not beyond the 10 hours
        now[0] += 29 * 60
        client.get("/audit")
    assert client.get("/audit").headers["location"] == "/inloggen"


def test_lockout_after_five_failures_in_fifteen_minutes(net: Harness) -> None:
    now = [1_900_000_000.0]
    ctx = dataclasses.replace(web_context(net, FRYSLAN), clock=lambda: now[0])
    accounts.add_user(ctx.store, "vergeetachtig", "auditor", None, PASSWORD, by="test",
                      now=now[0], must_change=False)
    client = TestClient(create_app(ctx), follow_redirects=False)

    def attempt(password: str) -> int:
        token = csrf_of(client.get("/inloggen").text)
        return client.post("/inloggen", data={"csrf_token": token, "wachtwoord": password,
                                              "gebruikersnaam": "vergeetachtig"}).status_code

    for _ in range(5):
        assert attempt("fout-wachtwoord") == 401
        now[0] += 60
    assert attempt(PASSWORD) == 401  # locked, even with the right password
    token = csrf_of(client.get("/inloggen").text)
    page = client.post("/inloggen", data={"csrf_token": token, "wachtwoord": PASSWORD,
                                          "gebruikersnaam": "vergeetachtig"})
    assert "geblokkeerd" in page.text
    actions = [e.action for e in ctx.store.audit_entries() if e.actor == "vergeetachtig"]
    assert actions.count("login_failed") == 5 and "lockout" in actions
    assert "login_locked" in actions
    now[0] += 15 * 60
    assert attempt(PASSWORD) == 303
    text = " ".join(str(e.details) for e in ctx.store.audit_entries())
    assert PASSWORD not in text and "fout-wachtwoord" not in text


def test_disabled_user_is_logged_out_and_cannot_log_in(client: TestClient,
                                                       fryslan: NodeContext) -> None:
    accounts.add_user(fryslan.store, "vertrokken", "auditor", None, PASSWORD, by="test",
                      now=fryslan.clock(), must_change=False)
    login(client, "vertrokken")
    accounts.set_disabled(fryslan.store, "vertrokken", True, by="test", now=fryslan.clock())
    assert client.get("/audit").headers["location"] == "/inloggen"
    token = csrf_of(client.get("/inloggen").text)
    assert client.post("/inloggen", data={"csrf_token": token, "gebruikersnaam": "vertrokken",
                                          "wachtwoord": PASSWORD}).status_code == 401


def test_result_page_is_not_stored_and_security_headers_are_set(client: TestClient) -> None:
    csrf = login(client, "regisseur")
    ran = client.post("/check", data={**CHECK_FORM, "csrf_token": csrf})
    assert ran.status_code == 303
    result = client.get(ran.headers["location"])
    assert result.status_code == 200 and "Geen samenloop gevonden" in result.text
    assert result.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in result.headers["content-security-policy"]
    assert client.get("/check").headers["cache-control"] == "no-store"


def test_form_errors_name_the_field_without_echoing_values(client: TestClient) -> None:
    csrf = login(client, "regisseur")
    page = client.post("/check", data={**CHECK_FORM, "csrf_token": csrf,
                                       "p0_geboortedatum": "2999-01-01"})
    assert page.status_code == 422
    assert "Geboortedatum ligt in de toekomst" in page.text
    assert 'aria-invalid="true" aria-describedby="fout-p1-geboortedatum"' in page.text


def test_api_needs_a_token_and_answers_in_dutch(client: TestClient,
                                                fryslan: NodeContext) -> None:
    body = {"casus": TRIAGE_CASE, "doel": "triage: samenloop met ander ZVH",
            "personen": [{"achternaam": "Visser", "voornamen": "Karin",
                          "geboortedatum": "2999-01-01"}]}
    response = client.post("/api/v1/checks", json=body)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    token = accounts.create_api_token(fryslan.store, "regisseur", by="test",
                                      now=fryslan.clock())
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/checks", json=body, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["fouten"] == [{"veld": "geboortedatum", "persoon": 1,
                                  "melding": "geboortedatum ligt in de toekomst"}]
    assert problem["detail"] == "geboortedatum ligt in de toekomst"
    response = client.post("/api/v1/checks", json={"casus": "X", "fase": "uitvoering",
                                                   "personen": []}, headers=auth)
    assert response.status_code == 422
    assert {"veld": "doel", "melding": "doel ontbreekt"} in response.json()["fouten"]
    assert {"veld": "fase", "melding": "fase is geen bekend veld"} in \
        response.json()["fouten"]
    assert "uitvoering" not in response.text  # FastAPI's default would echo the input
    response = client.post("/api/v1/checks", content=b"{niet json", headers={
        **auth, "content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["fouten"][0]["melding"]


def test_lockout_does_not_tell_which_usernames_exist(net: Harness) -> None:
    """Existing accounts once locked after 5 failures and then answered in 4 ms without
    hashing; unknown names never locked and took 130 ms. Now both lock alike, with the
    same words, and a locked attempt takes as long for either (a timing-difference test)."""
    now = [1_900_000_000.0]
    ctx = dataclasses.replace(web_context(net, FRYSLAN), clock=lambda: now[0])
    accounts.add_user(ctx.store, "bestaand", "auditor", None, PASSWORD, by="test", now=now[0],
                      must_change=False)
    client = TestClient(create_app(ctx), follow_redirects=False)

    def attempt(username: str) -> tuple[int, str, float]:
        token = csrf_of(client.get("/inloggen").text)
        started = time.perf_counter()
        response = client.post("/inloggen", data={"csrf_token": token, "wachtwoord": "fout",
                                                  "gebruikersnaam": username})
        seconds = time.perf_counter() - started
        message = re.search(r'id="login-fout">([^<]*)<', response.text)
        return response.status_code, message.group(1) if message else "", seconds

    for _ in range(5):
        assert attempt("bestaand")[:2] == attempt("niet-bestaand")[:2]
    known, unknown = [], []
    for _ in range(7):  # interleaved, so load on the machine hits both alike
        known.append(attempt("bestaand"))
        unknown.append(attempt("niet-bestaand"))
    assert {(status, text) for status, text, _ in known + unknown} == {
        (401, "Te veel mislukte pogingen. Het account is 15 minuten geblokkeerd; probeer het "
              "daarna opnieuw of vraag de beheerder om hulp.")}
    known_time = statistics.median(t for *_, t in known)
    unknown_time = statistics.median(t for *_, t in unknown)
    assert 0.5 < known_time / unknown_time < 2, (known_time, unknown_time)
    stored = " ".join(str(e.details) + e.actor for e in ctx.store.audit_entries())
    assert "niet-bestaand" not in stored


def test_api_tokens_are_made_by_their_owner_and_a_reset_revokes_them(
        fryslan: NodeContext) -> None:
    """A beheerder once made a token for a procesregisseur's account and checked as them,
    and a token outlived `node user reset`."""
    accounts.add_user(fryslan.store, "eigenaar", "procesregisseur", "pr-1", PASSWORD,
                      by="test", now=fryslan.clock(), must_change=False)
    beheer = TestClient(create_app(fryslan), follow_redirects=False)
    beheer_csrf = login(beheer, "beheerder")
    refused = beheer.post("/beheer/gebruikers/eigenaar/token",
                          data={"csrf_token": beheer_csrf})
    # No token on the page (a random CSRF token may contain "sl_" by chance: match a token).
    assert refused.status_code == 404
    assert not re.search(r"(?<![\w-])sl_[\w-]{43}(?![\w-])", refused.text)
    assert fryslan.store.api_token_counts().get("eigenaar", 0) == 0

    owner = TestClient(create_app(fryslan), follow_redirects=False)
    csrf = login(owner, "eigenaar")
    page = owner.post("/mijn-api-tokens", data={"csrf_token": csrf, "actie": "maken"})
    token = re.search(r'id="geheim">(sl_[^<]+)<', page.text)
    assert page.status_code == 200 and token, page.text
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    assert owner.get("/api/v1/meldingen", headers=auth).status_code == 200
    made = fryslan.store.audit_entries("token_add")[-1]
    assert (made.actor, made.details) == ("eigenaar", {"user": "eigenaar"})

    # A reset ends the owner's sessions and revokes their tokens.
    beheer.post("/beheer/gebruikers/eigenaar/wachtwoord", data={"csrf_token": beheer_csrf})
    assert owner.get("/api/v1/meldingen", headers=auth).status_code == 401
    assert owner.get("/mijn-api-tokens").headers["location"] == "/inloggen"
    # So does disabling; the operator's CLI path still makes tokens, audited.
    operator_token = accounts.create_api_token(fryslan.store, "eigenaar", by="operator",
                                               now=fryslan.clock())
    accounts.set_disabled(fryslan.store, "eigenaar", True, by="test", now=fryslan.clock())
    accounts.set_disabled(fryslan.store, "eigenaar", False, by="test", now=fryslan.clock())
    assert owner.get("/api/v1/meldingen", headers={
        "Authorization": f"Bearer {operator_token}"}).status_code == 401
    # A beheerder may revoke someone's tokens (not make them).
    accounts.create_api_token(fryslan.store, "eigenaar", by="operator", now=fryslan.clock())
    revoked = beheer.post("/beheer/gebruikers/eigenaar/tokens-intrekken",
                          data={"csrf_token": beheer_csrf})
    assert revoked.status_code == 303  # post/redirect/get: the message is shown once
    page = beheer.get(revoked.headers["location"])
    assert "1 API-token(s) van eigenaar ingetrokken" in page.text
    assert fryslan.store.api_token_counts().get("eigenaar", 0) == 0
