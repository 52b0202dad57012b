"""A working day on desk and phone: every GET page of every role at 1280 and 375 px has no
sideways scroll and no WCAG 2.1 A/AA violation (axe-core), with a screenshot of each; a
check can be done with the keyboard alone; the error summary takes focus; a printed
result has no navigation; error pages keep the navigation and the logged-in state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe

from samenloop.node.config import Procesregisseur, WebConfig
from samenloop.node.demo import free_port
from samenloop.node.store import NewMelding
from samenloop.node.web.app import HEADERS, WebServer
from tests.support.network import Harness
from tests.web.browser import PIETER, _fill_check, _login, _shot, browser
from tests.web.conftest import FRYSLAN, PASSWORD, TRIAGE_CASE, add_users, web_context
from tests.web.test_accessibility import WCAG_21_AA
from tests.web.test_roles import ANYONE, ROUTES

__all__ = ["browser"]  # fixture used below

pytestmark = pytest.mark.slow
WIDTHS = (1280, 375)
ROLES = ("procesregisseur", "beheerder", "auditor", "privacy")
USERNAME = {"procesregisseur": "regisseur", "beheerder": "beheerder", "auditor": "auditor",
            "privacy": "privacy"}
IMPOSSIBLE = {**PIETER, "Geboortedatum": "31-02-1985"}  # refused by the server, not the browser


@pytest.fixture(scope="module")
def web(net: Harness) -> Iterator[str]:
    """Fryslân's web app, without the low check limit of the other browser tests."""
    ctx = web_context(net, FRYSLAN, WebConfig(listen=f"127.0.0.1:{free_port()}"))
    add_users(ctx)
    # A melding in the inbox, so its table is laid out too (with a long case number).
    ctx.store.record_meldingen([NewMelding(
        case_ref="F-2026-001-LANG-CASUSNUMMER", procesregisseur_id="pr-1",
        from_node="zvh-noord-limburg", from_zvh="Zorg- en Veiligheidshuis Noord-Limburg",
        requester=Procesregisseur("pr-9", "Anne de Vries", "077 123 4511",
                                  "anne@noord-limburg.zvh.example"),
        strength=3, query_id="q-werkdag", purpose="triage", assess=False)],
        now=ctx.clock(), audit=[])
    server = WebServer(ctx)
    server.start()
    yield server.url
    server.stop()


def pages_of(role: str | None) -> list[str]:
    """The GET pages (not CSV, not API, no path parameter) the role may open."""
    out = []
    for (method, path), allowed in sorted(ROUTES.items()):
        if method != "GET" or "{" in path or path.endswith(".csv") or path.startswith("/api/"):
            continue
        if allowed == ANYONE if role is None else (allowed == ANYONE or role in allowed):
            out.append(path)
    return out


def _name(path: str) -> str:
    return path.strip("/").replace("/", "-") or "start"


def _inspect(page: object, label: str, problems: list[str]) -> None:
    overflow = page.evaluate(  # type: ignore[attr-defined]
        "[document.documentElement.scrollWidth, window.innerWidth]")
    if overflow[0] > overflow[1]:
        wide = page.evaluate(  # type: ignore[attr-defined]
            "[...document.querySelectorAll('body *')].filter(e => "
            "e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className)")
        problems.append(f"{label}: scrollWidth {overflow[0]} > {overflow[1]} ({wide})")
    result = Axe().run(page, options=WCAG_21_AA)
    if result.violations_count:
        problems.append(f"{label}:\n{result.generate_report()}")
    _shot(page, f"werkdag-{label}")


def test_every_page_of_every_role_at_desk_and_phone_width(
        browser: object, web: str) -> None:
    url = web
    problems: list[str] = []
    for width in WIDTHS:
        for role in (None, *ROLES):
            context = browser.new_context(  # type: ignore[attr-defined]
                locale="nl-NL", viewport={"width": width, "height": 800})
            page = context.new_page()
            page.set_default_timeout(10_000)
            if role:
                _login(page, url, USERNAME[role])
                page.locator("header nav, .top .logout").first.wait_for(state="attached")
            for path in pages_of(role):
                page.goto(f"{url}{path}")
                _inspect(page, f"{role or 'anoniem'}-{_name(path)}-{width}", problems)
            if role == "procesregisseur":
                page.goto(f"{url}/check")
                _fill_check(page, PIETER)
                page.get_by_role("button", name="Controleren").click()
                page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
                _inspect(page, f"{role}-uitkomst-{width}", problems)
                page.goto(f"{url}/check")
                _fill_check(page, IMPOSSIBLE)
                page.get_by_role("button", name="Controleren").click()
                page.locator("#fouten").wait_for()
                _inspect(page, f"{role}-check-fouten-{width}", problems)
            page.goto(f"{url}/bestaat-niet")
            _inspect(page, f"{role or 'anoniem'}-404-{width}", problems)
            context.close()
    assert not problems, "\n\n".join(problems)


def test_the_navigation_collapses_on_a_phone(browser: object,
                                             web: str) -> None:
    context = browser.new_context(  # type: ignore[attr-defined]
        locale="nl-NL", viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, web, "regisseur")
    menu = page.get_by_role("link", name="Mijn casussen")
    assert not menu.is_visible()
    page.get_by_text("Menu", exact=True).click()
    assert menu.is_visible()
    _shot(page, "werkdag-procesregisseur-menu-open-375")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.reload()
    assert page.get_by_role("link", name="Mijn casussen").is_visible()
    assert not page.get_by_text("Menu", exact=True).is_visible()
    context.close()


def test_a_check_with_the_keyboard_alone(browser: object,
                                         web: str) -> None:
    """Login, the check form and the result with Tab, typing and Enter only."""
    url = web
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    keys = page.keyboard

    def tab_to(predicate: str, limit: int = 60) -> None:
        for _ in range(limit):
            keys.press("Tab")
            if page.evaluate(f"(e => {predicate})(document.activeElement)"):
                return
        raise AssertionError(f"Tab never reached {predicate}")

    page.goto(f"{url}/inloggen")
    tab_to("e.name === 'gebruikersnaam'")
    keys.type("regisseur")
    tab_to("e.name === 'wachtwoord'")
    keys.type(PASSWORD)
    keys.press("Enter")
    page.wait_for_url("**/check")
    tab_to("e.name === 'casus'")
    keys.type(TRIAGE_CASE)
    tab_to("e.name === 'doel'")
    keys.press("ArrowDown")  # a select: the first purpose
    for field, value in (("achternaam", PIETER["Achternaam"]),
                         ("voornamen", PIETER["Voornamen"]),
                         ("geboortedatum", PIETER["Geboortedatum"]),
                         ("geboorteplaats", PIETER["Geboorteplaats"])):
        tab_to(f"(e.name || '').endsWith('{field}')")
        keys.type(value)
    tab_to("e.tagName === 'BUTTON' && e.textContent.trim() === 'Controleren'")
    keys.press("Enter")
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
    assert "Samenloop gevonden" in page.locator("main").inner_text()

    # Printed, the result is a record: no navigation, no buttons, no logout.
    page.emulate_media(media="print")
    for selector in ("header.top", "nav", "form.logout", "main button"):
        for element in page.locator(selector).all():
            assert not element.is_visible(), f"{selector} shows in print"
    assert page.get_by_role("heading", name="Uitkomst samenloopcheck").is_visible()
    page.emulate_media(media="screen")
    context.close()


def test_the_error_summary_takes_focus(browser: object,
                                       web: str) -> None:
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, web, "regisseur")
    _fill_check(page, IMPOSSIBLE)
    page.get_by_role("button", name="Controleren").click()
    page.locator("#fouten").wait_for()
    assert page.evaluate("document.activeElement.id") == "fouten"
    context.close()


@pytest.mark.parametrize("role,path,status", [("procesregisseur", "/bestaat-niet", 404),
                                              ("procesregisseur", "/beheer", 403),
                                              ("beheerder", "/check", 403)])
def test_error_pages_keep_the_navigation_and_the_login(
        browser: object, web: str, role: str, path: str,
        status: int) -> None:
    url = web
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, url, USERNAME[role])
    response = page.goto(f"{url}{path}")
    assert response is not None and response.status == status
    assert page.get_by_role("navigation", name="Hoofdmenu").count() == 1
    assert f"Ingelogd als {USERNAME[role]}" in page.locator("header").inner_text()
    assert page.locator("header .brand strong").inner_text() == "Samenloop"
    assert "Zorg- en Veiligheidshuis Fryslân" in page.locator("header").inner_text()
    context.close()


def test_the_api_documentation_comes_from_the_node_itself(browser: object, web: str) -> None:
    """Swagger UI at /api/v1/docs, its files served by the node, under the CSP: no request
    leaves the node and the browser reports no CSP violation."""
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    requests: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script("window.violations = []; document.addEventListener("
                         "'securitypolicyviolation', e => window.violations.push("
                         "e.violatedDirective + ' ' + e.blockedURI));")
    response = page.goto(f"{web}/api/v1/docs")
    assert response is not None and response.status == 200
    page.get_by_text("Samenloop node API").first.wait_for()
    # Paths are relative to the document's server, /api/v1 (the ADR's major version in the
    # server URI); a request tried from the page goes to /api/v1/... on the node.
    page.get_by_text("/meldingen", exact=True).first.click()  # opens the operation
    page.get_by_text("Try it out").first.click()
    with page.expect_response(f"{web}/api/v1/meldingen") as tried:
        page.get_by_text("Execute").first.click()
    assert tried.value.status == 401
    assert tried.value.headers["content-type"] == "application/problem+json"
    assert page.evaluate("window.violations") == []
    assert requests and all(url.startswith(web) for url in requests), requests
    assert not [m for m in console if "Content Security Policy" in m], console
    csp = response.headers["content-security-policy"]
    assert csp == HEADERS["Content-Security-Policy"] + "; img-src 'self' data:"
    _shot(page, "werkdag-api-docs-1280")
    context.close()
