"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
the procesregisseur's flow against a real embedded network, with screenshots."""

from __future__ import annotations

import pytest

from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.web.browser import PIETER, _fill_check, _login, _shot, browser, servers
from tests.web.conftest import FRYSLAN, LIMBURG, TRIAGE_CASE

__all__ = ["browser", "servers"]  # fixtures used by the tests below

pytestmark = pytest.mark.slow


def test_procesregisseur_flow_in_the_browser(browser: object, net: Harness,
                                             servers: dict[str, WebServer]) -> None:
    fryslan, limburg = servers[FRYSLAN].url, servers[LIMBURG].url
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, fryslan, "regisseur")
    assert page.url.endswith("/check")
    assert page.locator("html").get_attribute("lang") == "nl"
    _shot(page, "01-check-formulier")

    # A hit at another node, with a household member added without JavaScript.
    _fill_check(page, PIETER)
    page.get_by_role("button", name="Gezinslid toevoegen").click()
    member = page.locator("fieldset.person").nth(1)
    member.get_by_label("Achternaam", exact=True).fill("Visser")
    member.get_by_label("Voornamen").fill("Karin")
    member.get_by_label("Geboortedatum").fill("05-05-1975")
    assert page.get_by_label("Casusnummer (eigen casus)").input_value() == TRIAGE_CASE
    page.get_by_role("button", name="Controleren").click()
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
    text = page.locator("main").inner_text()
    assert "Samenloop gevonden" in text and "Zorg- en Veiligheidshuis Noord-Limburg" in text
    assert "sterke overeenkomst" in text and "Anne de Vries" in text
    assert "anne@noord-limburg.zvh.example" in text
    assert "Geen samenloop gevonden" in text  # the household member
    assert "gecontroleerd bij 3 van 3 Zorg- en Veiligheidshuizen" in text
    assert "Pieter" not in page.url and "?" not in page.url
    _shot(page, "02-uitkomst-samenloop")

    # The melding arrives in Noord-Limburg's inbox.
    other = context.new_page()
    other.context.clear_cookies()
    _login(other, limburg, "regisseur")
    other.goto(f"{limburg}/meldingen")
    inbox = other.locator("main").inner_text()
    assert "NL-2026-014" in inbox and "Zorg- en Veiligheidshuis Fryslân" in inbox
    _shot(other, "03-meldingen")
    other.get_by_role("button", name="Afhandelen").first.click()
    assert "Afgehandeld op" in other.locator("main").inner_text()
    other.close()

    # A node down: incomplete coverage, a warning and a retry by POST.
    _login(page, fryslan, "regisseur")
    net.stop_node(LIMBURG)
    try:
        page.goto(f"{fryslan}/check")
        _fill_check(page, PIETER)
        page.get_by_role("button", name="Controleren").click()
        warning = page.locator(".coverage").inner_text()
        assert "gecontroleerd bij 2 van 3" in warning
        assert "niet bereikbaar: Zorg- en Veiligheidshuis Noord-Limburg" in warning
        assert "de uitkomst is onvolledig" in warning
        _shot(page, "04-onvolledige-dekking")
    finally:
        net.start_node(LIMBURG)
    page.get_by_role("button", name="Check opnieuw uitvoeren").click()
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
    assert "Uitkomst" in page.locator("h1").inner_text()

    # Over the per-user limit (3 per hour here): a clear Dutch refusal.
    page.goto(f"{fryslan}/check")
    _fill_check(page, PIETER)
    page.get_by_role("button", name="Controleren").click()
    refusal = page.locator("#fouten").inner_text()
    assert "U heeft het maximum van 3 checks per uur bereikt" in refusal
    _shot(page, "05-limiet")

    # The API without a token.
    response = page.request.post(f"{fryslan}/api/v1/checks", data={"casus": "x"})
    assert response.status == 401
    assert response.json()["fouten"][0]["veld"] == "authorization"
    context.close()


def test_beheer_and_audit_pages_in_the_browser(browser: object,
                                               servers: dict[str, WebServer]) -> None:
    url = servers[FRYSLAN].url
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, url, "beheerder")
    assert "Lopende casussen per fase" in page.locator("main").inner_text()
    _shot(page, "06-beheer-status")
    page.goto(f"{url}/beheer/import")
    page.get_by_label("Exportbestand").set_input_files(files=[{
        "name": "export.csv", "mimeType": "text/csv",
        "buffer": b"casusnummer;fase;procesregisseur;achternaam;voornamen;geboortedatum\n"
                  b"F-9;triage;pr-onbekend;Jansen;Piet;2999-01-01\n"}])
    page.get_by_role("button", name="Controleren").click()
    report = page.locator("main").inner_text()
    assert "afgekeurd" in report and "geboortedatum ligt in de toekomst" in report
    _shot(page, "07-import-controle")
    page.goto(f"{url}/beheer/gebruikers")
    _shot(page, "08-gebruikers")
    page.keyboard.press("Tab")  # the skip link is the first stop, and visible on focus
    assert page.evaluate("document.activeElement.textContent") == "Naar de inhoud"
    page.get_by_role("button", name="Uitloggen").click()
    _login(page, url, "auditor")
    assert "Auditspoor" in page.locator("main").inner_text()
    _shot(page, "09-audit")
    context.close()
