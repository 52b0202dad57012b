"""Signing in through a real OpenID provider (npm's oidc-provider, tests/support/
oidc_provider.py) in Chromium (issue #14): every role lands on its own page, a sign-in
without the MFA `acr` is refused, and logging out ends the session here and at the
provider, so the next sign-in asks for the password at the provider again.

The provider runs as http://localhost:<port>, the node's web app as http://127.0.0.1:<port>:
different sites, so the provider's redirect back is cross-site as in production (the
session cookie is SameSite=Strict)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from samenloop.node.config import OidcConfig, WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.support.oidc_provider import Account, OidcProvider, provider_or_skip
from tests.web.browser import browser  # noqa: F401  (the fixture)
from tests.web.conftest import FRYSLAN, web_context

MFA, PASSWORD_ONLY = "urn:samenloop:loa:mfa", "urn:samenloop:loa:wachtwoord"
SECRET = "geheim-van-de-test-client"
IDP_PASSWORD = "idp-wachtwoord"
ROLE_VALUES = {"procesregisseur": "zvh-samenloop-regisseur",
               "beheerder": "zvh-samenloop-beheer", "auditor": "zvh-samenloop-audit",
               "privacy": "zvh-samenloop-privacy"}
# sub at the provider -> (preferred_username, role, procesregisseur id, acr)
PEOPLE = {
    "sub-pr": ("p.jansen", "procesregisseur", "pr-1", MFA),
    "sub-beheer": ("b.bakker", "beheerder", None, MFA),
    "sub-audit": ("a.smit", "auditor", None, MFA),
    "sub-privacy": ("f.visser", "privacy", None, MFA),
    "sub-zonder-mfa": ("z.mulder", "beheerder", None, PASSWORD_ONLY),
}
HOME = {"procesregisseur": "/check", "beheerder": "/beheer", "auditor": "/audit",
        "privacy": "/privacy"}


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, app_port: int) -> Iterator[OidcProvider]:
    app = f"http://127.0.0.1:{app_port}"
    accounts = {}
    for sub, (name, role, regisseur, acr) in PEOPLE.items():
        claims = {"preferred_username": name, "roles": [ROLE_VALUES[role], "intranet"]}
        if regisseur:
            claims["procesregisseur_id"] = regisseur
        accounts[sub] = Account(IDP_PASSWORD, claims, acr,
                                ("pwd", "otp") if acr == MFA else ("pwd",))
    client = {"client_id": "samenloop-fryslan", "client_secret": SECRET,
              "redirect_uris": [f"{app}/inloggen/oidc/terug"],
              "post_logout_redirect_uris": [f"{app}/inloggen"],
              "response_types": ["code"], "grant_types": ["authorization_code"],
              "token_endpoint_auth_method": "client_secret_basic"}
    with provider_or_skip(tmp_path_factory.mktemp("idp"), client=client, accounts=accounts,
                          acr_values=[MFA, PASSWORD_ONLY]) as provider:
        yield provider


@pytest.fixture(scope="module")
def app(net: Harness, idp: OidcProvider, app_port: int,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    secret = tmp_path_factory.mktemp("secret") / "oidc_client_secret"
    secret.write_text(SECRET)
    os.chmod(secret, 0o600)
    oidc = OidcConfig(issuer=idp.issuer, client_id="samenloop-fryslan",
                      client_secret_file=secret, display_name="Gemeente Test",
                      roles=tuple((value, role) for role, value in ROLE_VALUES.items()),
                      acr_values=(MFA,))
    url = f"http://127.0.0.1:{app_port}"
    ctx = web_context(net, FRYSLAN, WebConfig(listen=f"127.0.0.1:{app_port}", public_url=url,
                                              oidc=oidc))
    server = WebServer(ctx)
    server.start()
    yield url
    server.stop()


@pytest.fixture
def page(browser: object) -> Iterator[object]:  # noqa: F811
    context = browser.new_context()  # type: ignore[attr-defined]
    context.set_default_timeout(30_000)  # two cores shared by many test runs
    yield context.new_page()
    context.close()


def _sign_in(page: object, app: str, sub: str) -> None:
    page.goto(f"{app}/inloggen")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Inloggen via Gemeente Test").click()  # type: ignore[attr-defined]
    page.locator("#idp-gebruiker").fill(sub)  # type: ignore[attr-defined]
    page.locator("#idp-wachtwoord").fill(IDP_PASSWORD)  # type: ignore[attr-defined]
    page.locator("#idp-inloggen").click()  # type: ignore[attr-defined]


@pytest.mark.parametrize("sub", ["sub-pr", "sub-beheer", "sub-audit", "sub-privacy"])
def test_each_role_signs_in_through_the_provider_and_lands_on_its_page(
        page: object, app: str, sub: str) -> None:
    name, role, _, _ = PEOPLE[sub]
    _sign_in(page, app, sub)
    page.wait_for_url(f"{app}{HOME[role]}")  # type: ignore[attr-defined]
    assert f"Ingelogd als {name}" in page.content()  # type: ignore[attr-defined]


def test_a_sign_in_without_mfa_is_refused(page: object, app: str) -> None:
    _sign_in(page, app, "sub-zonder-mfa")
    page.wait_for_url(f"{app}/inloggen/oidc/terug?**")  # type: ignore[attr-defined]
    alert = page.locator("#login-fout")  # type: ignore[attr-defined]
    assert "tweede factor (MFA)" in alert.inner_text()
    page.goto(f"{app}/beheer")  # type: ignore[attr-defined]
    assert page.url == f"{app}/inloggen"  # type: ignore[attr-defined]


def test_logout_ends_the_session_here_and_at_the_provider(page: object, app: str,
                                                         idp: OidcProvider) -> None:
    _sign_in(page, app, "sub-beheer")
    page.wait_for_url(f"{app}/beheer")  # type: ignore[attr-defined]
    # While the provider's session lives, signing in again needs no password there.
    page.goto(f"{app}/inloggen")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Inloggen via Gemeente Test").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{app}/beheer")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Uitloggen").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{idp.issuer}/session/end**")  # type: ignore[attr-defined]
    page.locator("#idp-uitloggen").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{app}/inloggen")  # type: ignore[attr-defined]
    page.goto(f"{app}/beheer")  # type: ignore[attr-defined]
    assert page.url == f"{app}/inloggen"  # type: ignore[attr-defined]
    # The provider asks for the password again: its session ended too.
    page.get_by_role("link", name="Inloggen via Gemeente Test").click()  # type: ignore[attr-defined]
    page.locator("#idp-gebruiker").wait_for()  # type: ignore[attr-defined]
    assert page.url.startswith(f"{idp.issuer}/interaction/")  # type: ignore[attr-defined]


def test_the_login_page_with_the_provider_meets_wcag_21_aa(page: object, app: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    from tests.web.test_accessibility import WCAG_21_AA

    page.goto(f"{app}/inloggen")  # type: ignore[attr-defined]
    reports = []
    result = Axe().run(page, options=WCAG_21_AA)
    reports.append(result.generate_report() if result.violations_count else "")
    _sign_in(page, app, "sub-zonder-mfa")  # refused: the login page with the reason
    page.locator("#login-fout").wait_for()  # type: ignore[attr-defined]
    result = Axe().run(page, options=WCAG_21_AA)
    reports.append(result.generate_report() if result.violations_count else "")
    assert reports == ["", ""], "\n".join(reports)
