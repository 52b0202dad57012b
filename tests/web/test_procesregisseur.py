"""The procesregisseur's working day around a check: the result as a record with help per
strength, "Nog een persoon voor deze casus", the history of own checks (without any
identifier), the help page, and a person without hit under incomplete coverage."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import WebServer, create_app
from tests.support.network import Harness
from tests.web.browser import PIETER as BROWSER_PIETER
from tests.web.browser import _fill_check, _login, _shot, browser, servers
from tests.web.conftest import FRYSLAN, LIMBURG, PASSWORD, TRIAGE_CASE, USERS, login

__all__ = ["browser", "servers"]  # fixtures used below

PURPOSE = "triage: samenloop met ander ZVH"
# Known at Noord-Limburg (sterk); the household member is known nowhere.
PIETER = {"p0_achternaam": "Berg", "p0_tussenvoegsel": "van den", "p0_voornamen": "Pieter",
          "p0_geboortedatum": "1985-03-12", "p0_geboorteplaats": "Venlo"}
MEMBER = {"p1_achternaam": "Oudegeest", "p1_voornamen": "Wietske",
          "p1_geboortedatum": "17-08-1993", "p1_geboorteplaats": "Dokkum"}
PERSON_VALUES = ["Berg", "Pieter", "1985", "Venlo", "Oudegeest", "Wietske", "1993",
                 "17-08", "Dokkum"]


def _check(client: TestClient, csrf: str, persons: dict[str, str], count: int = 1,
           case_ref: str = TRIAGE_CASE) -> str:
    """Post a check; returns the result page's HTML (after the redirect)."""
    ran = client.post("/check", data={"csrf_token": csrf, "casus": case_ref, "doel": PURPOSE,
                                      "aantal": str(count), "actie": "controleren", **persons})
    assert ran.status_code == 303, ran.text
    location = ran.headers["location"]
    assert location.startswith("/check/uitkomst/") and "?" not in location
    page = client.get(location)
    assert page.status_code == 200
    return page.text


@pytest.fixture(scope="module")
def regisseur(fryslan: NodeContext) -> tuple[TestClient, str]:
    client = TestClient(create_app(fryslan), follow_redirects=False)
    return client, login(client, "regisseur")


def test_result_is_a_record_with_help_per_strength_and_a_prefilled_next_check(
        regisseur: tuple[TestClient, str]) -> None:
    client, csrf = regisseur
    page = _check(client, csrf, {**PIETER, **MEMBER}, count=2)
    assert re.search(r"<dt>Datum en tijd</dt><dd>\d\d-\d\d-\d{4} \d\d:\d\d</dd>", page)
    assert re.search(r"<dt>Checknummer</dt><dd>[A-Za-z0-9_-]{8}</dd>", page)
    assert f"<dt>Casus</dt><dd>{TRIAGE_CASE}</dd>" in page
    assert "De andere Zorg- en Veiligheidshuizen met een treffer zijn op de hoogte gebracht" \
        in page
    assert "Dit antwoord bevat geen inhoud van casussen" in page
    assert '<a href="/help#sterk">sterke overeenkomst' in page
    assert 'class="subject nohit"' in page  # the member: all huizen answered, no hit
    # "Nog een persoon voor deze casus": case and purpose only, never a person in the link.
    link = re.search(r'<a class="button" href="(/check\?[^"]+)">Nog een persoon voor deze '
                     r'casus</a>', page)
    assert link, page
    href = link.group(1).replace("&amp;", "&")
    assert href == f"/check?casus={TRIAGE_CASE}&doel={quote(PURPOSE, safe='/')}"
    assert not any(value in href for value in PERSON_VALUES)
    form = client.get(href)
    assert form.status_code == 200
    assert f'id="casus" name="casus" value="{TRIAGE_CASE}"' in form.text
    assert f'<option value="{PURPOSE}" selected>' in form.text
    assert 'value="Berg"' not in form.text and "Pieter" not in form.text


def test_result_without_hits_elsewhere_does_not_say_others_were_informed(
        regisseur: tuple[TestClient, str]) -> None:
    client, csrf = regisseur
    page = _check(client, csrf, {"p0_achternaam": "Nergensbekend", "p0_voornamen": "Tjitske",
                                 "p0_geboortedatum": "01-02-1990"})
    assert "op de hoogte gebracht" not in page
    assert "Dit antwoord bevat geen inhoud van casussen" in page


@pytest.mark.parametrize("query", [
    "casus=%3Cscript%3E&doel=" + quote(PURPOSE),      # not a case number at all
    "casus=BESTAAT-NIET-1&doel=" + quote(PURPOSE),    # no such case
    f"casus={TRIAGE_CASE}&doel=iets+anders",          # a purpose not on the list
])
def test_prefill_refuses_a_bad_case_or_purpose(regisseur: tuple[TestClient, str],
                                               query: str) -> None:
    client, _ = regisseur
    form = client.get(f"/check?{query}")
    assert form.status_code == 422
    assert 'id="fouten"' in form.text
    assert "<script>" not in form.text and "BESTAAT-NIET-1" not in form.text
    assert "iets anders" not in form.text


def test_prefill_refuses_a_case_of_another_procesregisseur(fryslan: NodeContext,
                                                           net: Harness) -> None:
    net.intake("zvh-fryslan", "F-2026-PR2", "pr-2")
    accounts.add_user(fryslan.store, "vreemde", "procesregisseur", "pr-1", PASSWORD,
                      by="test", now=time.time(), must_change=False)
    client = TestClient(create_app(fryslan), follow_redirects=False)
    login(client, "vreemde")
    form = client.get(f"/check?casus=F-2026-PR2&doel={quote(PURPOSE)}")
    assert form.status_code == 422 and "geen eigen casus" in form.text
    assert 'value="F-2026-PR2"' not in form.text
    # Person data in the address is never taken over.
    form = client.get(f"/check?casus={TRIAGE_CASE}&p0_achternaam=Berg&p0_voornamen=Pieter")
    assert form.status_code == 200 and "Pieter" not in form.text


def test_history_lists_own_checks_with_counts_and_no_identifiers(
        fryslan: NodeContext, regisseur: tuple[TestClient, str]) -> None:
    client, csrf = regisseur
    _check(client, csrf, {**PIETER, **MEMBER}, count=2)
    # Another user's check of the same case is not in this user's history.
    accounts.add_user(fryslan.store, "collega", "procesregisseur", "pr-1", PASSWORD,
                      by="test", now=time.time(), must_change=False)
    other = TestClient(create_app(fryslan), follow_redirects=False)
    _check(other, login(other, "collega"), {
        "p0_achternaam": "Kuipers", "p0_voornamen": "Sjoerd", "p0_geboortedatum": "1970-01-02"})
    own = client.get("/geschiedenis")
    assert own.status_code == 200
    text = own.text
    assert "geen namen, geboortedata, BSN's of andere persoonsgegevens" in text
    rows = re.findall(r"<tr class=\"[a-z]*\">(.*?)</tr>", text, re.S)
    assert len(rows) == len(fryslan.store.audit_entries_of("regisseur", ("check",)))
    newest = re.sub(r"\s+", " ", rows[0])
    assert TRIAGE_CASE in newest and PURPOSE in newest
    assert "Persoon: 1 sterk" in newest and "Gezinslid 1: geen treffer" in newest
    assert "3 van 3 huizen" in newest
    for value in [*PERSON_VALUES, "Kuipers", "Sjoerd", "1970"]:
        assert value not in text, value
    # The check reference on the result page finds the check in the history.
    reference = fryslan.store.audit_entries_of("regisseur", ("check",))[-1].details["query_id"]
    assert reference[:8] in newest
    theirs = other.get("/geschiedenis").text
    assert theirs.count(f">{TRIAGE_CASE}</td>") == 1


def test_help_is_there_for_every_role(fryslan: NodeContext) -> None:
    for username in USERS:
        client = TestClient(create_app(fryslan), follow_redirects=False)
        login(client, username)
        page = client.get("/help")
        assert page.status_code == 200, username
        text = re.sub(r"\s+", " ", page.text)
        for anchor in ("zeker", "sterk", "waarschijnlijk", "mogelijk"):
            assert f'id="{anchor}"' in text
        assert "Stem samen met de andere procesregisseur af of het om dezelfde persoon gaat" \
            in text
        assert "alleen gezocht in uw eigen Zorg- en Veiligheidshuis" in text
        # Links to procesregisseur pages only for procesregisseurs (others would get 403).
        assert ('href="/geschiedenis"' in text) == (USERS[username][0] == "procesregisseur")
    anonymous = TestClient(create_app(fryslan), follow_redirects=False)
    assert anonymous.get("/help").headers["location"] == "/inloggen"


def test_no_hit_under_incomplete_coverage_is_a_warning_not_an_all_clear(
        net: Harness, regisseur: tuple[TestClient, str]) -> None:
    client, csrf = regisseur
    net.stop_node(LIMBURG)
    try:
        page = _check(client, csrf, PIETER)  # known only at the node that is down
    finally:
        net.start_node(LIMBURG)
    assert "de uitkomst is onvolledig" in page
    assert 'class="subject partial"' in page and 'class="subject nohit"' not in page
    assert "op de hoogte gebracht" not in page
    history = re.sub(r"\s+", " ", client.get("/geschiedenis").text)
    assert "geen treffer bij de bereikte huizen" in history
    assert "niet bereikt: Zorg- en Veiligheidshuis Noord-Limburg" in history


@pytest.mark.slow
def test_printed_result_has_no_navigation_or_buttons(browser: object,
                                                     servers: dict[str, WebServer]) -> None:
    """In Chromium: print media hides the navigation, the buttons and the links styled as
    buttons; "Nog een persoon voor deze casus" opens the form with case and purpose."""
    url = servers[FRYSLAN].url
    # Its own account: the servers allow 3 checks per user per hour, used up above.
    accounts.add_user(servers[FRYSLAN].ctx.store, "afdrukker", "procesregisseur", "pr-1",
                      PASSWORD, by="test", now=time.time(), must_change=False)
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, url, "afdrukker")
    _fill_check(page, BROWSER_PIETER)
    page.get_by_role("button", name="Controleren").click()
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()
    nav = page.get_by_role("navigation", name="Hoofdmenu")
    again = page.get_by_role("link", name="Nog een persoon voor deze casus")
    assert nav.is_visible() and again.is_visible()
    _shot(page, "regisseur-uitkomst-1280")
    page.emulate_media(media="print")
    _shot(page, "regisseur-uitkomst-print")
    assert not nav.is_visible() and not again.is_visible()
    assert not page.get_by_role("button", name="Uitloggen").is_visible()
    assert page.get_by_text("Dit antwoord bevat geen inhoud van casussen").is_visible()
    page.emulate_media(media="screen")
    again.click()
    page.get_by_role("heading", name="Samenloopcheck").wait_for()
    assert page.get_by_label("Casusnummer (eigen casus)").input_value() == TRIAGE_CASE
    assert page.get_by_label("Doel van de check").input_value() != ""
    assert page.locator("fieldset.person").first.get_by_label(
        "Achternaam", exact=True).input_value() == ""
    # The new pages at desk and phone width: nothing scrolls sideways.
    for width, height in ((1280, 900), (375, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for path in ("/geschiedenis", "/help"):
            page.goto(f"{url}{path}")
            # The page's own content (the navigation's collapse at 375 px is issue 11's
            # "Everywhere" item, done apart).
            wide = page.evaluate(
                "[...document.querySelectorAll('main *')].filter(e => e.checkVisibility()"
                " && e.getBoundingClientRect().right > innerWidth).map(e => e.tagName)")
            assert not wide, (path, width, wide)
            _shot(page, f"regisseur-{path.strip('/')}-{width}")
    context.close()
