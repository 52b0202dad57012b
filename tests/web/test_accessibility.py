"""WCAG 2.1 AA, the legal bar for Dutch public-sector sites: axe-core (the engine behind
most accessibility audits) finds no violation on any main page, for every role."""

from __future__ import annotations

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe

from samenloop.node.web import accounts
from samenloop.node.web.app import WebServer
from tests.web.browser import PIETER, _fill_check, _login, browser, servers
from tests.web.conftest import FRYSLAN, LIMBURG, PASSWORD, TRIAGE_CASE

__all__ = ["browser", "servers"]  # fixtures used below

pytestmark = pytest.mark.slow
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                     "wcag21aa"]},
              "resultTypes": ["violations"]}


def audit(page: object, name: str, problems: list[str]) -> None:
    result = Axe().run(page, options=WCAG_21_AA)
    if result.violations_count:
        problems.append(f"{name}:\n{result.generate_report()}")


def test_main_pages_meet_wcag_21_aa(browser: object, servers: dict[str, WebServer]) -> None:
    url, other = servers[FRYSLAN].url, servers[LIMBURG].url
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []

    page.goto(f"{url}/inloggen")
    audit(page, "inloggen", problems)
    page.get_by_label("Gebruikersnaam").fill("regisseur")
    page.get_by_label("Wachtwoord").fill("fout wachtwoord")
    page.get_by_role("button", name="Inloggen").click()
    audit(page, "inloggen met fout", problems)

    _login(page, url, "regisseur")
    # Contrast is only audited when the stylesheet applies (it once did not: a 404).
    assert page.evaluate("getComputedStyle(document.querySelector('header.top'))"
                         ".backgroundColor") == "rgb(11, 79, 138)"
    audit(page, "samenloopcheck", problems)
    page.get_by_role("button", name="Controleren").click()  # empty form: errors shown
    audit(page, "samenloopcheck met fouten", problems)
    _fill_check(page, PIETER)
    page.get_by_role("button", name="Controleren").click()
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
    audit(page, "uitkomst", problems)
    page.goto(f"{url}/meldingen")
    audit(page, "meldingen (leeg)", problems)
    page.goto(f"{url}/casussen")
    audit(page, "casussen", problems)
    page.goto(f"{url}/aanmelding")
    audit(page, "aanmelding", problems)
    page.get_by_label("Casusnummer", exact=True).fill("F-A11Y-1")
    page.get_by_label("Casusnummer nogmaals").fill("F-A11Y-2")
    page.get_by_role("button", name="Aanmelding registreren").click()  # unequal: errors
    page.get_by_role("alert").wait_for()
    audit(page, "aanmelding met fouten", problems)
    for path in ("/geschiedenis", "/help"):
        page.goto(f"{url}{path}")
        audit(page, path, problems)

    _login(page, other, "regisseur")
    page.goto(f"{other}/meldingen")
    audit(page, "meldingen", problems)

    page.get_by_role("button", name="Uitloggen").click()
    _login(page, url, "beheerder")
    for path in ("/beheer", "/beheer/casussen", "/beheer/casussen?fase=triage",
                 f"/beheer/casus?casus={TRIAGE_CASE}", "/beheer/import", "/beheer/gebruikers",
                 "/beheer/gebruikers/auditor/uitschakelen", "/mijn-api-tokens"):
        page.goto(f"{url}{path}")
        audit(page, path, problems)
    page.get_by_role("button", name="Uitloggen").click()
    _login(page, url, "auditor")
    for path in ("/audit", "/audit/checks", "/audit/checks?van=31-02-2026",
                 "/audit/rapportage", "/audit/rapportage?per=kwartaal&tot=31-13-2026"):
        page.goto(f"{url}{path}")
        audit(page, path, problems)
    page.get_by_role("button", name="Uitloggen").click()
    _login(page, url, "privacy")
    page.goto(f"{url}/privacy/incidenten")
    page.get_by_role("button", name="Incident registreren").click()  # empty: errors shown
    audit(page, "incidentenregister met fouten", problems)
    page.get_by_label("Korte omschrijving").fill("Mail aan een verkeerde ontvanger")
    page.get_by_label("Ontdekt op").fill("01-01-2026 09:00")
    page.get_by_role("button", name="Incident registreren").click()
    page.get_by_role("heading", name="Incident 1: Beveiligingsincident").wait_for()
    audit(page, "incidentenregister", problems)
    page.goto(f"{url}/privacy")
    audit(page, "privacy", problems)
    page.goto(f"{url}/privacy/verzoeken")
    audit(page, "privacy/verzoeken", problems)
    inzage = page.locator("form[action='/privacy/inzage']")
    for label, value in {**PIETER, "Geboortedatum": "31-02-1985"}.items():
        inzage.get_by_label(label, exact=True).fill(value)
    inzage.get_by_role("button", name="Inzageverzoek uitvoeren").click()  # no such date
    page.get_by_role("alert").wait_for()
    audit(page, "privacy/verzoeken met fouten", problems)
    inzage = page.locator("form[action='/privacy/inzage']")
    for label, value in PIETER.items():
        inzage.get_by_label(label, exact=True).fill(value)
    inzage.get_by_role("button", name="Inzageverzoek uitvoeren").click()
    page.get_by_role("heading", name="Overzicht inzageverzoek").wait_for()
    audit(page, "inzage-overzicht", problems)
    page.goto(f"{url}/privacy/documenten")
    audit(page, "privacy/documenten", problems)
    # Control: the same audit flags a page without a title and with an unlabelled field.
    page.set_content('<html><body><p style="color:#ccc">Doel</p><input name="doel">'
                     '</body></html>')
    control: list[str] = []
    audit(page, "control", control)
    context.close()
    assert control and "label" in control[0] and "document-title" in control[0]
    assert not problems, "\n\n".join(problems)


def test_second_factor_pages_meet_wcag_21_aa(browser: object,
                                             servers: dict[str, WebServer]) -> None:
    """The login's second step (TOTP): setting it up (QR code, key, a wrong code), the
    recovery codes, and the code page with and without an error."""
    url = servers[FRYSLAN].url
    ctx = servers[FRYSLAN].ctx
    accounts.add_user(ctx.store, "a11y-beheer", "beheerder", None, PASSWORD, by="test",
                      now=ctx.clock(), must_change=False)
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []

    def password() -> None:
        page.goto(f"{url}/inloggen")
        page.get_by_label("Gebruikersnaam").fill("a11y-beheer")
        page.get_by_label("Wachtwoord").fill(PASSWORD)
        page.get_by_role("button", name="Inloggen").click()

    password()
    page.get_by_role("heading", name="Tweede factor instellen").wait_for()
    audit(page, "tweede factor instellen", problems)
    secret = pyotp.TOTP(page.locator("#totp-sleutel").inner_text().replace(" ", ""))
    page.get_by_label("Code die de app nu toont").fill("12")
    page.get_by_role("button", name="Bevestigen").click()
    page.get_by_role("alert").wait_for()
    audit(page, "tweede factor instellen met fout", problems)
    page.get_by_label("Code die de app nu toont").fill(secret.now())
    page.get_by_role("button", name="Bevestigen").click()
    page.get_by_role("heading", name="Uw herstelcodes").wait_for()
    audit(page, "herstelcodes", problems)
    page.get_by_role("button", name="Uitloggen").click()
    password()
    page.get_by_role("heading", name="Code invoeren").wait_for()
    audit(page, "code invoeren", problems)
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Doorgaan").click()
    page.get_by_role("alert").wait_for()
    audit(page, "code invoeren met fout", problems)
    context.close()
    assert not problems, "\n\n".join(problems)
