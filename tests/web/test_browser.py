"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
the procesregisseur's flow against a real embedded network, with screenshots."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, LIMBURG, PASSWORD, TRIAGE_CASE, add_users, web_context

CHROMIUM = Path(os.environ.get("SAMENLOOP_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Fails loudly, never skips: without Chromium the web app is untested."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y "
                    f"chromium; `make test` does this) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def servers(net: Harness) -> Iterator[dict[str, WebServer]]:
    out = {}
    for node_id in (FRYSLAN, LIMBURG):
        ctx = web_context(net, node_id, WebConfig(listen=f"127.0.0.1:{free_port()}"))
        if node_id == FRYSLAN:  # low enough to reach in this test
            ctx = dataclasses.replace(ctx, config=dataclasses.replace(
                ctx.config, checks_per_user_per_hour=3))
        add_users(ctx)
        out[node_id] = WebServer(ctx)
        out[node_id].start()
    yield out
    for server in out.values():
        server.stop()


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _login(page: object, url: str, username: str) -> None:
    page.goto(f"{url}/inloggen")  # type: ignore[attr-defined]
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]


def _fill_check(page: object, person: dict[str, str]) -> None:
    page.get_by_label("Casusnummer (eigen casus)").fill(TRIAGE_CASE)  # type: ignore[attr-defined]
    page.get_by_label("Doel van de check").select_option(index=1)  # type: ignore[attr-defined]
    for label, value in person.items():
        page.locator("fieldset.person").first.get_by_label(  # type: ignore[attr-defined]
            label, exact=True).fill(value)


PIETER = {"Achternaam": "Berg", "Tussenvoegsel": "van den", "Voornamen": "Pieter",
          "Geboortedatum": "12-03-1985", "Geboorteplaats": "Venlo"}


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
    assert "u heeft het maximum van 3 checks per uur bereikt" in refusal
    _shot(page, "05-limiet")

    # The API without a token.
    response = page.request.post(f"{fryslan}/api/v1/checks", data={"casus": "x"})
    assert response.status == 401
    assert response.json()["detail"][0]["field"] == "authorization"
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
