"""Browser fixtures shared by the end-to-end and accessibility tests: Debian's Chromium
driven by Playwright, and the web apps of two demo nodes on loopback."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web.app import WebServer
from samenloop.node.web.security import SESSION_COOKIE
from tests.support.network import Harness
from tests.web.conftest import (
    FRYSLAN,
    LIMBURG,
    PASSWORD,
    SECOND_STEP_PAGES,
    SERVED,
    TRIAGE_CASE,
    add_users,
    second_step_done,
    web_context,
)

CHROMIUM = Path(os.environ.get("SAMENLOOP_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

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
    """The password step through the form; where the role asks for TOTP, the second step
    is `second_step_done` (tests/web/conftest.py), whose session goes into the browser."""
    page.goto(f"{url}/inloggen")  # type: ignore[attr-defined]
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]
    page.wait_for_url(lambda u: urlsplit(u).path != "/inloggen")  # type: ignore[attr-defined]
    if urlsplit(page.url).path in SECOND_STEP_PAGES:  # type: ignore[attr-defined]
        token = second_step_done(SERVED[url], username)
        page.context.add_cookies([{  # type: ignore[attr-defined]
            "name": SESSION_COOKIE, "value": token, "url": url}])
        page.goto(f"{url}/")  # type: ignore[attr-defined]


def _fill_check(page: object, person: dict[str, str]) -> None:
    page.get_by_label("Casusnummer (eigen casus)").fill(TRIAGE_CASE)  # type: ignore[attr-defined]
    page.get_by_label("Doel van de check").select_option(index=1)  # type: ignore[attr-defined]
    for label, value in person.items():
        page.locator("fieldset.person").first.get_by_label(  # type: ignore[attr-defined]
            label, exact=True).fill(value)


PIETER = {"Achternaam": "Berg", "Tussenvoegsel": "van den", "Voornamen": "Pieter",
          "Geboortedatum": "12-03-1985", "Geboorteplaats": "Venlo"}
