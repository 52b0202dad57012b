"""The OpenID Connect sign-in's checks on what comes back from the provider (issue #14).

The provider here is a small one of the test's own on loopback (discovery, a JWKS of keys
the test generates, a token endpoint that checks the PKCE verifier and hands out the ID
token the test made), so every way an ID token can be wrong can be tried against the real
app: a tampered signature, another audience, an expired token, a replayed `state`, a
missing or foreign `nonce`, no MFA `acr`. Each is refused with a Dutch message on the
login page and audited, without the token's content. tests/web/test_oidc_browser.py signs
in through a real provider (npm's oidc-provider) in Chromium.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from samenloop.node.config import OidcConfig, WebConfig
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import create_app
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, web_context

CLIENT_ID = "samenloop-fryslan"
SECRET = "s3cret-of-the-client"
ACR = "urn:samenloop:mfa"


class StubProvider:
    """Discovery, JWKS and a token endpoint; `claims` makes the next ID token."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.make_token: Callable[[dict[str, Any]], str] = self.sign
        self.claims: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: c
        self.codes: dict[str, str] = {}  # code -> nonce of the authorization request
        self.challenges: dict[str, str] = {}
        self.token_requests: list[dict[str, list[str]]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif self.path == "/jwks":
                    self._json(200, KeySet([provider.key]).as_dict(private=False))
                else:
                    self._json(404, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                provider.token_requests.append(form)
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
                code = form.get("code", [""])[0]
                verifier = form.get("code_verifier", [""])[0]
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if self.headers.get("Authorization") != expected:
                    self._json(401, {"error": "invalid_client"})
                elif code not in provider.codes or provider.challenges.get(code) != challenge:
                    self._json(400, {"error": "invalid_grant"})
                else:
                    nonce = provider.codes.pop(code)
                    self._json(200, {"access_token": "at", "token_type": "Bearer",
                                     "id_token": provider.id_token(nonce)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/auth",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "end_session_endpoint": self.issuer + "/session/end",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "sub-beheer-1", "aud": CLIENT_ID,
                  "exp": now + 300, "iat": now, "nonce": nonce, "acr": ACR,
                  "preferred_username": "j.devries", "roles": ["samenloop-beheerder"]}
        return self.make_token(self.claims(claims))

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key or self.key)

    def authorize(self, url: str) -> tuple[str, dict[str, str]]:
        """What the provider does when the user signed in: a code for the request."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        code = f"code-{len(self.codes)}-{time.monotonic_ns()}"
        self.codes[code] = query["nonce"]
        self.challenges[code] = query["code_challenge"]
        return code, query

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def provider() -> Iterator[StubProvider]:
    stub = StubProvider()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def oidc_ctx(net: Harness, provider: StubProvider, tmp_path_factory: pytest.TempPathFactory
             ) -> NodeContext:
    secret = tmp_path_factory.mktemp("oidc") / "client_secret"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, 0o600)
    oidc = OidcConfig(issuer=provider.issuer, client_id=CLIENT_ID, client_secret_file=secret,
                      display_name="Gemeente Leeuwarden",
                      roles=(("samenloop-beheerder", "beheerder"),
                             ("samenloop-regisseur", "procesregisseur"),
                             ("samenloop-auditor", "auditor")),
                      acr_values=(ACR,))
    return web_context(net, FRYSLAN, WebConfig(public_url="http://testserver", oidc=oidc))


@pytest.fixture
def browser(oidc_ctx: NodeContext, provider: StubProvider) -> Iterator[TestClient]:
    provider.make_token = provider.sign
    provider.claims = lambda c: c
    with TestClient(create_app(oidc_ctx), follow_redirects=False) as client:
        yield client


def _start(client: TestClient, provider: StubProvider) -> tuple[str, dict[str, str]]:
    response = client.get("/inloggen/oidc")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(provider.issuer + "/auth?")
    return provider.authorize(location)


def _sign_in(client: TestClient, provider: StubProvider) -> Any:
    code, query = _start(client, provider)
    return client.get("/inloggen/oidc/terug", params={"code": code, "state": query["state"]})


def _refused(response: Any, oidc_ctx: NodeContext, reason: str, words: str) -> None:
    assert response.status_code == 401, response.text
    assert words in response.text, response.text
    assert 'id="login-fout"' in response.text
    assert "Traceback" not in response.text and "eyJ" not in response.text
    failed = oidc_ctx.store.audit_entries("login_failed")[-1]
    assert failed.details == {"via": "oidc", "reason": reason}
    assert "sub-beheer-1" not in json.dumps([e.details for e in
                                             oidc_ctx.store.audit_entries()])


def test_the_request_asks_for_code_pkce_s256_state_nonce_and_mfa(
        browser: TestClient, provider: StubProvider) -> None:
    _, query = _start(browser, provider)
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "http://testserver/inloggen/oidc/terug"
    assert query["code_challenge_method"] == "S256"
    assert query["acr_values"] == ACR
    assert "openid" in query["scope"].split()
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32


def test_a_valid_token_signs_in_provisions_the_account_and_audits(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    response = _sign_in(browser, provider)
    assert response.status_code == 200, response.text
    assert 'content="0; url=/beheer"' in response.text
    assert browser.get("/beheer").status_code == 200
    user = oidc_ctx.store.user("j.devries")
    assert user is not None and user.role == "beheerder"
    assert oidc_ctx.store.oidc_account(provider.issuer, "sub-beheer-1") == "j.devries"
    login = oidc_ctx.store.audit_entries("login")[-1]
    assert (login.actor, login.details) == ("j.devries", {"via": "oidc"})
    # The provider got the client secret (Basic) and the PKCE verifier.
    assert provider.token_requests[-1]["grant_type"] == ["authorization_code"]
    # No password logs in to an account of the provider.
    with pytest.raises(accounts.LoginRefused):
        accounts.login(oidc_ctx.store, oidc_ctx.web, "j.devries", "!oidc", now=time.time())


def test_the_role_comes_from_the_claim_at_every_sign_in(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    assert _sign_in(browser, provider).status_code == 200
    provider.claims = lambda c: {**c, "roles": ["samenloop-auditor", "andere-app"]}
    response = _sign_in(browser, provider)
    assert 'url=/audit"' in response.text
    assert oidc_ctx.store.user("j.devries").role == "auditor"  # type: ignore[union-attr]
    change = oidc_ctx.store.audit_entries("user_role")[-1]
    assert change.details["role"] == "auditor"
    provider.claims = lambda c: {**c, "roles": ["andere-app"]}
    _refused(_sign_in(browser, provider), oidc_ctx, "role", "geen rol voor Samenloop")


def test_a_locally_disabled_account_stays_out(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {**c, "sub": "sub-weg", "preferred_username": "weg.gebruiker"}
    assert _sign_in(browser, provider).status_code == 200
    accounts.set_disabled(oidc_ctx.store, "weg.gebruiker", True, by="beheerder",
                          now=time.time())
    _refused(_sign_in(browser, provider), oidc_ctx, "disabled", "uitgeschakeld")


def test_a_tampered_signature_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    def tampered(claims: dict[str, Any]) -> str:
        header, payload, signature = provider.sign(claims).split(".")
        forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        forged["roles"] = ["samenloop-beheerder", "samenloop-auditor"]
        body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        return f"{header}.{body}.{signature}"

    provider.make_token = tampered
    _refused(_sign_in(browser, provider), oidc_ctx, "signature", "handtekening klopt niet")
    # Signed with a key that is not the provider's (same key id).
    provider.make_token = lambda c: provider.sign(c, provider.other_key)
    _refused(_sign_in(browser, provider), oidc_ctx, "signature", "handtekening klopt niet")


def test_an_unsigned_or_hmac_token_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    def unsigned(claims: dict[str, Any]) -> str:
        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
        return f"{part({'alg': 'none'})}.{part(claims)}."

    provider.make_token = unsigned
    _refused(_sign_in(browser, provider), oidc_ctx, "signature", "geweigerd")


def test_a_wrong_audience_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {**c, "aud": "andere-applicatie"}
    _refused(_sign_in(browser, provider), oidc_ctx, "audience",
             "niet voor deze applicatie bestemd")
    provider.claims = lambda c: {**c, "aud": [CLIENT_ID, "andere"], "azp": "andere"}
    _refused(_sign_in(browser, provider), oidc_ctx, "audience",
             "niet voor deze applicatie bestemd")


def test_another_issuer_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {**c, "iss": "https://idp.example"}
    _refused(_sign_in(browser, provider), oidc_ctx, "issuer", "ingestelde uitgever")


def test_an_expired_token_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {**c, "exp": int(time.time()) - 3600,
                                 "iat": int(time.time()) - 4000}
    _refused(_sign_in(browser, provider), oidc_ctx, "expired", "verlopen")


def test_a_missing_or_wrong_nonce_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {k: v for k, v in c.items() if k != "nonce"}
    _refused(_sign_in(browser, provider), oidc_ctx, "nonce", "hoort niet bij deze inlogpoging")
    provider.claims = lambda c: {**c, "nonce": "een-andere-nonce"}
    _refused(_sign_in(browser, provider), oidc_ctx, "nonce", "hoort niet bij deze inlogpoging")


def test_a_token_without_the_mfa_acr_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {**c, "acr": "urn:samenloop:password"}
    _refused(_sign_in(browser, provider), oidc_ctx, "mfa", "tweede factor (MFA)")
    provider.claims = lambda c: {k: v for k, v in c.items() if k != "acr"}
    _refused(_sign_in(browser, provider), oidc_ctx, "mfa", "tweede factor (MFA)")


def test_a_replayed_state_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    code, query = _start(browser, provider)
    first = browser.get("/inloggen/oidc/terug", params={"code": code, "state": query["state"]})
    assert first.status_code == 200
    again = browser.get("/inloggen/oidc/terug", params={"code": code, "state": query["state"]})
    _refused(again, oidc_ctx, "state", "verlopen of al gebruikt")


def test_a_state_of_another_browser_is_refused(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    code, query = _start(browser, provider)
    with TestClient(browser.app, follow_redirects=False) as other:
        other.get("/inloggen/oidc")  # a flow of its own, with another state
        response = other.get("/inloggen/oidc/terug",
                             params={"code": code, "state": query["state"]})
    _refused(response, oidc_ctx, "state", "verlopen of al gebruikt")
    # ...and the victim's flow is spent: the stolen state cannot be tried twice.


def test_an_error_from_the_provider_is_shown_in_dutch(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    _, query = _start(browser, provider)
    response = browser.get("/inloggen/oidc/terug", params={
        "error": "access_denied", "error_description": "<script>x</script>",
        "state": query["state"]})
    _refused(response, oidc_ctx, "provider_error", "niet gelukt of afgebroken")
    assert "<script>x" not in response.text


def test_logout_goes_to_the_providers_end_session(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    provider.claims = lambda c: {**c, "roles": ["samenloop-beheerder"]}
    assert _sign_in(browser, provider).status_code == 200
    page = browser.get("/beheer")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = browser.post("/uitloggen", data={"csrf_token": csrf})
    assert response.status_code == 200
    target = response.text.split('content="0; url=')[1].split('"')[0].replace("&amp;", "&")
    assert target.startswith(provider.issuer + "/session/end?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    assert query["post_logout_redirect_uri"] == "http://testserver/inloggen"
    assert query["client_id"] == CLIENT_ID
    assert jwt.decode(query["id_token_hint"], provider.key).claims["sub"] == "sub-beheer-1"
    assert browser.get("/beheer").headers["location"] == "/inloggen"


def test_the_login_page_offers_the_provider(browser: TestClient) -> None:
    page = browser.get("/inloggen")
    assert 'href="/inloggen/oidc"' in page.text
    assert "Inloggen via Gemeente Leeuwarden" in page.text


def test_without_oidc_the_routes_do_not_exist(net: Harness) -> None:
    ctx = web_context(net, FRYSLAN)
    with TestClient(create_app(ctx), follow_redirects=False) as client:
        assert "/inloggen/oidc" not in client.get("/inloggen").text
        assert client.get("/inloggen/oidc").status_code == 404
        assert client.get("/inloggen/oidc/terug").status_code == 404


def test_an_unreachable_provider_is_named_in_dutch(
        oidc_ctx: NodeContext, tmp_path: Path) -> None:
    assert oidc_ctx.web.oidc is not None
    gone = dataclasses.replace(oidc_ctx.web.oidc, issuer="http://127.0.0.1:9")
    ctx = dataclasses.replace(oidc_ctx, web=dataclasses.replace(oidc_ctx.web, oidc=gone))
    with TestClient(create_app(ctx), follow_redirects=False) as client:
        response = client.get("/inloggen/oidc")
    assert response.status_code == 503
    assert "Gemeente Leeuwarden is nu niet bereikbaar" in response.text


def test_a_upn_gives_the_account_name_before_the_configured_domain(
        oidc_ctx: NodeContext, provider: StubProvider) -> None:
    assert oidc_ctx.web.oidc is not None
    entra = dataclasses.replace(oidc_ctx.web.oidc, username_domain="gemeente.example")
    ctx = dataclasses.replace(oidc_ctx, web=dataclasses.replace(oidc_ctx.web, oidc=entra))
    provider.make_token = provider.sign
    with TestClient(create_app(ctx), follow_redirects=False) as client:
        provider.claims = lambda c: {**c, "sub": "sub-upn",
                                     "preferred_username": "K.de.Boer@gemeente.example"}
        assert _sign_in(client, provider).status_code == 200
        assert oidc_ctx.store.oidc_account(provider.issuer, "sub-upn") == "k.de.boer"
        provider.claims = lambda c: {**c, "sub": "sub-elders",
                                     "preferred_username": "x.elders@andere.example"}
        _refused(_sign_in(client, provider), oidc_ctx, "username", "geen bruikbare")
    # A name the node does not store as an account is not written to the audit trail.
    assert oidc_ctx.store.audit_entries("login_failed")[-1].actor == "-"
    provider.claims = lambda c: c


def test_a_name_taken_by_a_local_account_is_not_taken_over(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    accounts.add_user(oidc_ctx.store, "l.lokaal", "auditor", None, "lang-genoeg-wachtwoord",
                      by="test", now=time.time())
    provider.claims = lambda c: {**c, "sub": "sub-lokaal", "preferred_username": "l.lokaal"}
    _refused(_sign_in(browser, provider), oidc_ctx, "name_taken", "bestaat in Samenloop al")
    assert oidc_ctx.store.user("l.lokaal").role == "auditor"  # type: ignore[union-attr]
    assert oidc_ctx.store.oidc_account(provider.issuer, "sub-lokaal") is None


def test_a_new_signing_key_of_the_provider_is_fetched(
        oidc_ctx: NodeContext, provider: StubProvider) -> None:
    """Key rollover: a token under a key id not seen yet makes the node fetch the JWKS
    again (at most once a minute), and the sign-in goes through."""
    provider.make_token, provider.claims = provider.sign, lambda c: c
    shift = [0.0]
    ctx = dataclasses.replace(oidc_ctx, clock=lambda: time.time() + shift[0])
    old_key = provider.key
    try:
        with TestClient(create_app(ctx), follow_redirects=False) as client:
            assert _sign_in(client, provider).status_code == 200  # keys cached
            provider.key = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig"})
            provider.make_token = lambda c: jwt.encode({"alg": "RS256", "kid": "k2"}, c,
                                                       provider.key)
            _refused(_sign_in(client, provider), oidc_ctx, "signature", "geweigerd")
            shift[0] = 120.0  # the keys were fetched more than a minute ago
            assert _sign_in(client, provider).status_code == 200
    finally:
        provider.key = old_key


def test_a_sign_in_replaces_the_browsers_earlier_session(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    from samenloop.node.web.security import SESSION_COOKIE

    browser.get("/inloggen")  # an anonymous session, as a fixation attack would plant
    planted = browser.cookies.get(SESSION_COOKIE)
    assert planted and oidc_ctx.store.session(accounts.token_hash(planted)) is not None
    assert _sign_in(browser, provider).status_code == 200
    assert browser.cookies.get(SESSION_COOKIE) != planted
    assert oidc_ctx.store.session(accounts.token_hash(planted)) is None


def test_an_account_of_the_provider_gets_no_local_password(
        browser: TestClient, provider: StubProvider, oidc_ctx: NodeContext) -> None:
    assert _sign_in(browser, provider).status_code == 200
    with pytest.raises(accounts.AccountError, match="identity provider"):
        accounts.reset_password(oidc_ctx.store, "j.devries", "een-nieuw-wachtwoord",
                                by="beheerder", now=time.time())
    user = oidc_ctx.store.user("j.devries")
    assert user is not None
    failures = len(oidc_ctx.store.audit_entries("password_change_refused"))
    counted = oidc_ctx.store.login_failures("j.devries", 0)
    with pytest.raises(accounts.PasswordRefused) as refused:
        accounts.change_password(oidc_ctx.store, oidc_ctx.web, user, "x", "een-nieuw-wachtwoord",
                                 "een-nieuw-wachtwoord", keep_session="-", now=time.time())
    assert "via uw organisatie" in refused.value.problems[0].message
    assert len(oidc_ctx.store.audit_entries("password_change_refused")) == failures
    assert oidc_ctx.store.login_failures("j.devries", 0) == counted  # not a failed login


def test_readme_lists_every_refusal_reason_the_audit_can_hold() -> None:
    """An operator reads the audit's `login_failed` reasons in the README: every reason the
    code can write must be listed there, and nothing it cannot."""
    import re

    from samenloop.node.web import oidc
    source = Path(oidc.__file__).read_text(encoding="utf-8")
    written = set(re.findall(r'(?:OidcRefused|_invalid)\(\s*"(\w+)"', source)) | set(
        re.findall(r'\("(\w+)", "het ', source))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    listed = re.search(r'`login_failed` with `\{"via": "oidc", "reason": \.\.\.\}` \(([^)]*)\)',
                       readme)
    assert listed is not None
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == written


def test_the_password_page_of_a_provider_account_says_where_to_change_it(
        browser: TestClient, provider: StubProvider) -> None:
    """Before: it showed the form (current password, a new one twice) that the account
    cannot use, and said why only after the user had typed and sent it."""
    assert _sign_in(browser, provider).status_code == 200
    page = browser.get("/account/wachtwoord")
    assert page.status_code == 200
    assert "via Gemeente Leeuwarden" in page.text and "wijzigt u daar" in page.text
    assert 'name="huidig"' not in page.text and 'action="/account/wachtwoord"' not in page.text
