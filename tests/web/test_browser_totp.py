"""TOTP for local accounts in a real browser (Debian's Chromium through Playwright): a
beheerder sets it up from the page (the secret read off the page, codes computed with
pyotp), logs out and in with password and code; a wrong code and a used recovery code are
refused; a procesregisseur needs it only where the node's setting asks for it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest

from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web import accounts
from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.web.browser import _shot, browser
from tests.web.conftest import FRYSLAN, PASSWORD, web_context

__all__ = ["browser"]  # fixture used below

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nodes(net: Harness) -> Iterator[dict[bool, WebServer]]:
    """The same node's store behind two web apps: procesregisseurs with TOTP (True) and
    without (False)."""
    out = {}
    for setting in (True, False):
        ctx = web_context(net, FRYSLAN, WebConfig(listen=f"127.0.0.1:{free_port()}"),
                          totp_for_procesregisseur=setting)
        out[setting] = WebServer(ctx)
        out[setting].start()
    ctx = out[True].ctx
    for name, role, regisseur in (("b-beheer", "beheerder", None),
                                  ("b-regie", "procesregisseur", "pr-1")):
        accounts.add_user(ctx.store, name, role, regisseur, PASSWORD, by="test",
                          now=time.time(), must_change=False)
    yield out
    for server in out.values():
        server.stop()


def _password(page: object, url: str, username: str) -> None:
    page.goto(f"{url}/inloggen")  # type: ignore[attr-defined]
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]


def _code(page: object, code: str) -> None:
    page.get_by_label("Code").fill(code)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Doorgaan").click()  # type: ignore[attr-defined]


def _logout(page: object) -> None:
    page.get_by_role("button", name="Uitloggen").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Inloggen").wait_for()  # type: ignore[attr-defined]


def test_a_beheerder_sets_up_totp_and_logs_in_with_it(browser: object,
                                                     nodes: dict[bool, WebServer]) -> None:
    url = nodes[True].url
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(20_000)

    _password(page, url, "b-beheer")
    page.get_by_role("heading", name="Tweede factor instellen").wait_for()
    assert page.url == f"{url}/inloggen/instellen"
    assert page.get_by_role("img", name="QR-code om in uw authenticator-app te scannen"
                            ).is_visible()
    _shot(page, "totp-instellen")
    secret = page.locator("#totp-sleutel").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code die de app nu toont").fill(totp.now())
    page.get_by_role("button", name="Bevestigen").click()
    page.get_by_role("heading", name="Uw herstelcodes").wait_for()
    _shot(page, "totp-herstelcodes")
    recovery = page.locator("#herstelcodes code").all_inner_texts()
    assert len(recovery) == 10 and all(re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){2}", c)
                                       for c in recovery)
    page.get_by_role("link", name="Verder naar Samenloop").click()
    page.wait_for_url(f"{url}/beheer")

    # Out and in again: password, then a wrong code (refused), then the app's next code
    # (the enrolment used the current one; one step of skew is allowed).
    _logout(page)
    _password(page, url, "b-beheer")
    page.get_by_role("heading", name="Code invoeren").wait_for()
    assert page.url == f"{url}/inloggen/code"
    page.goto(f"{url}/beheer")  # the second step cannot be skipped
    assert page.url == f"{url}/inloggen"
    page.go_back()
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    _code(page, wrong)
    assert "De code klopt niet" in page.get_by_role("alert").inner_text()
    _shot(page, "totp-code-fout")
    _code(page, totp.at(time.time(), counter_offset=1))
    page.wait_for_url(f"{url}/beheer")

    # A recovery code works once.
    _logout(page)
    _password(page, url, "b-beheer")
    _code(page, recovery[0])
    page.wait_for_url(f"{url}/beheer")
    _logout(page)
    _password(page, url, "b-beheer")
    _code(page, recovery[0])
    assert "De code klopt niet" in page.get_by_role("alert").inner_text()
    assert page.url == f"{url}/inloggen/code"

    # The beheerder's users page says who has a second factor, never the secret.
    _code(page, recovery[1])
    page.wait_for_url(f"{url}/beheer")
    page.goto(f"{url}/beheer/gebruikers")
    row = page.get_by_role("row").filter(has_text="b-beheer")
    assert row.locator("td[data-label='Tweede factor']").inner_text() == "ingesteld"
    assert secret not in page.content()
    context.close()


def test_a_procesregisseur_needs_totp_only_where_the_setting_asks(
        browser: object, nodes: dict[bool, WebServer]) -> None:
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(20_000)
    _password(page, nodes[False].url, "b-regie")
    page.wait_for_url(f"{nodes[False].url}/check")
    _logout(page)
    _password(page, nodes[True].url, "b-regie")
    page.get_by_role("heading", name="Tweede factor instellen").wait_for()
    assert page.url == f"{nodes[True].url}/inloggen/instellen"
    page.goto(f"{nodes[True].url}/check")
    assert page.url == f"{nodes[True].url}/inloggen"
    context.close()
