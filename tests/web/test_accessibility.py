"""WCAG 2.1 AA, the legal bar for Dutch public-sector sites: axe-core (the engine behind
most accessibility audits) finds no violation on any main page, for every role."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from samenloop.node.web.app import WebServer
from tests.web.browser import PIETER, _fill_check, _login, browser, servers
from tests.web.conftest import FRYSLAN, LIMBURG

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
    audit(page, "samenloopcheck", problems)
    page.get_by_role("button", name="Controleren").click()  # empty form: errors shown
    audit(page, "samenloopcheck met fouten", problems)
    _fill_check(page, PIETER)
    page.get_by_role("button", name="Controleren").click()
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
    audit(page, "uitkomst", problems)
    page.goto(f"{url}/meldingen")
    audit(page, "meldingen (leeg)", problems)
    for path in ("/geschiedenis", "/help"):
        page.goto(f"{url}{path}")
        audit(page, path, problems)

    _login(page, other, "regisseur")
    page.goto(f"{other}/meldingen")
    audit(page, "meldingen", problems)

    page.get_by_role("button", name="Uitloggen").click()
    _login(page, url, "beheerder")
    for path in ("/beheer", "/beheer/import", "/beheer/gebruikers", "/mijn-api-tokens"):
        page.goto(f"{url}{path}")
        audit(page, path, problems)
    page.get_by_role("button", name="Uitloggen").click()
    _login(page, url, "auditor")
    page.goto(f"{url}/audit")
    audit(page, "audit", problems)
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
    # Control: the same audit flags a page without a title and with an unlabelled field.
    page.set_content('<html><body><p style="color:#ccc">Doel</p><input name="doel">'
                     '</body></html>')
    control: list[str] = []
    audit(page, "control", control)
    context.close()
    assert control and "label" in control[0] and "document-title" in control[0]
    assert not problems, "\n\n".join(problems)
