"""The privacy officer's path from request to printable overview, in headless Chromium
against the real embedded network: an inzage request at Fryslân (one contact point) finds
Pieter van den Berg at Noord-Limburg with that ZVH's own privacy contact and full coverage;
the overview prints without navigation; Noord-Limburg's privacy officer sees the notice with
its due date and handles it, honours an objection (the registration goes and a block keeps it
out), and lifts the block (a re-import registers him again)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.web.browser import PIETER, SHOTS, _login, _shot, browser
from tests.web.conftest import FRYSLAN, LIMBURG, RIJNMOND, TRIAGE_CASE, add_users, web_context

__all__ = ["browser"]  # fixture used by the test below

pytestmark = pytest.mark.slow

# Each ZVH's own privacy contact, so the overview proves it names the holder's, not ours.
CONTACTS = {
    FRYSLAN: ("Functionaris gegevensbescherming Fryslân", "058 000 0001",
              "privacy@fryslan.zvh.example"),
    LIMBURG: ("Marleen Janssen, functionaris gegevensbescherming", "077 000 0002",
              "privacy@noord-limburg.zvh.example"),
    RIJNMOND: ("Privacyloket Rijnmond", "010 000 0003", "privacy@rijnmond.zvh.example"),
}
NETWORK_CHECK = "triage: samenloop met ander ZVH"


@pytest.fixture(scope="module")
def privacy_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The embedded network with a [privacy] section in every node's node.toml (appended
    after build_network wrote it, before the nodes load it)."""
    harness = Harness(Path(tmp_path_factory.mktemp("privnet")) / "net", deadline_seconds=2.0)
    for node_id, (name, phone, email) in CONTACTS.items():
        config = harness.layout.node_configs[node_id]
        config.write_text(config.read_text(encoding="utf-8") + (
            f'\n[privacy]\nname = "{name}"\nphone = "{phone}"\nemail = "{email}"\n'),
            encoding="utf-8")
    try:
        yield harness.start()
    finally:
        harness.close()


@pytest.fixture(scope="module")
def privacy_servers(privacy_net: Harness) -> Iterator[dict[str, WebServer]]:
    """Web apps with the default per-user limits (the shared `servers` lowers Fryslân's)."""
    out = {}
    for node_id in (FRYSLAN, LIMBURG):
        ctx = web_context(privacy_net, node_id, WebConfig(listen=f"127.0.0.1:{free_port()}"))
        add_users(ctx)
        out[node_id] = WebServer(ctx)
        out[node_id].start()
    yield out
    for server in out.values():
        server.stop()


def _fill_person(form: object) -> None:
    for label, value in PIETER.items():
        form.get_by_label(label, exact=True).fill(value)  # type: ignore[attr-defined]


def _check_from_fryslan(page: object, url: str) -> str:
    """The procesregisseur's network check for Pieter in Fryslân's triage case."""
    page.goto(f"{url}/check")  # type: ignore[attr-defined]
    page.get_by_label("Casusnummer (eigen casus)").fill(TRIAGE_CASE)  # type: ignore[attr-defined]
    page.get_by_label("Doel van de check").select_option(label=NETWORK_CHECK)  # type: ignore[attr-defined]
    _fill_person(page.locator("fieldset.person").first)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Controleren").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()  # type: ignore[attr-defined]
    return str(page.locator("main").inner_text())  # type: ignore[attr-defined]


def _fits(page: object) -> bool:
    """Nothing in main runs out of its column or makes the page scroll sideways."""
    return bool(page.evaluate(  # type: ignore[attr-defined]
        """() => {
        const main = document.querySelector("main").getBoundingClientRect();
        const wide = [...document.querySelectorAll("main table, main form, main fieldset")]
            .some(e => e.getBoundingClientRect().right > main.right + 0.5);
        return !wide && document.documentElement.scrollWidth <= window.innerWidth;
    }"""))


def _new_page(browser: object) -> object:
    page = browser.new_context(locale="nl-NL").new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(10_000)
    return page


def test_privacy_officer_path_from_request_to_printable_overview(
        browser: object, privacy_net: Harness,
        privacy_servers: dict[str, WebServer]) -> None:
    fryslan, limburg = privacy_servers[FRYSLAN].url, privacy_servers[LIMBURG].url
    limburg_store = privacy_net.nodes[LIMBURG].store
    meldingen_before = [(m.id, m.times) for m in limburg_store.notifications()]

    # (1) Fryslân's privacy officer enters the person once and runs the inzage request.
    page = _new_page(browser)
    stylesheets: list[int] = []
    page.on("response", lambda r: stylesheets.append(r.status)  # type: ignore[attr-defined]
            if r.url.endswith("/static/style.css") else None)
    _login(page, fryslan, "privacy")
    assert stylesheets and set(stylesheets) <= {200, 304}, stylesheets  # styled, printable
    page.get_by_role("link", name="Verzoeken").click()
    page.get_by_role("heading", name="Rechten van betrokkenen", level=1).wait_for()
    assert _fits(page)
    _shot(page, "privacy-01-verzoeken")
    inzage_form = page.locator("form[action='/privacy/inzage']")
    _fill_person(inzage_form)
    inzage_form.get_by_role("button", name="Inzageverzoek uitvoeren").click()

    # (2) The letter-ready overview: Noord-Limburg holds him, with its own privacy contact;
    # every ZVH answered; nothing identifying in the address.
    page.get_by_role("heading", name="Overzicht inzageverzoek").wait_for()
    assert "/privacy/inzage/" in page.url and "Pieter" not in page.url
    assert "Berg" not in page.url and "?" not in page.url
    text = page.locator("main").inner_text()
    assert "Dekking: gecontroleerd bij 3 van 3 Zorg- en Veiligheidshuizen." in text, text
    assert "De persoon is niet geregistreerd in een lopende casus." in text  # not at Fryslân
    name, phone, email = CONTACTS[LIMBURG]
    holder = page.locator("article.letter li").filter(has_text="Noord-Limburg").inner_text()
    assert f"Zorg- en Veiligheidshuis Noord-Limburg: contact {name}, {phone}, {email}" == (
        holder.strip()), holder
    assert CONTACTS[FRYSLAN][0] not in text and "Rotterdam" not in text
    assert "Pieter" not in text and "12-03-1985" not in text and "Venlo" not in text
    assert _fits(page)
    _shot(page, "privacy-02-inzage-overzicht")

    # (3) Printed, the page is the letter: no navigation, no logout, no back link.
    assert page.get_by_role("navigation", name="Hoofdmenu").is_visible()
    page.emulate_media(media="print")
    assert not page.get_by_role("navigation", name="Hoofdmenu").is_visible()
    assert not page.get_by_role("button", name="Uitloggen").is_visible()
    assert not page.get_by_role("link", name="Terug naar de verzoeken").is_visible()
    assert page.get_by_role("heading", name="Overzicht inzageverzoek").is_visible()
    assert page.get_by_text("Noord-Limburg: contact").is_visible()
    _shot(page, "privacy-03-inzage-afdruk")
    page.emulate_media(media="screen")

    # The request is listed with its answer date a month on.
    page.get_by_role("link", name="Terug naar de verzoeken").click()
    [request] = privacy_net.nodes[FRYSLAN].store.rights_requests()
    row = page.get_by_role("row").filter(has_text="inzage").inner_text()
    assert "bekend bij 1 ander(e) huis/huizen; 3 van 3 huizen bereikt" in row, row
    assert time.strftime("%d-%m-%Y", time.localtime(request.due_at)) in row
    # The privacy documents, for the letter's enclosures, name the member ZVHs.
    page.get_by_role("link", name="Privacydocumenten").click()
    page.get_by_role("heading", name="Privacydocumenten", level=1).wait_for()
    assert "Noord-Limburg" in page.locator("main").inner_text()
    assert _fits(page)
    page.screenshot(path=str(SHOTS / "privacy-07-documenten.png"))  # the top: 12 000 px long
    page.context.close()  # type: ignore[attr-defined]

    # (4) Noord-Limburg's privacy officer has a notice (not a melding) with its due date.
    privacy_net.flush_meldingen()
    assert [(m.id, m.times) for m in limburg_store.notifications()] == meldingen_before
    [notice] = limburg_store.rights_notices()
    assert notice.due_at - notice.received_at >= 28 * 86400
    nl = _new_page(browser)
    _login(nl, limburg, "privacy")
    nl.get_by_role("link", name="Verzoeken").click()
    section = nl.get_by_role("region", name="Kennisgevingen van verzoeken bij andere huizen")
    row = section.get_by_role("row").filter(has_text="Fryslân").inner_text()
    assert "NL-2026-014" in row and "Zorg- en Veiligheidshuis Fryslân" in row, row
    assert time.strftime("%d-%m-%Y", time.localtime(notice.due_at)) in row
    assert "termijn verstreken" not in row
    assert _fits(nl)
    _shot(nl, "privacy-04-kennisgeving")
    section.get_by_role("button", name=f"Kennisgeving {notice.id} afgehandeld").click()
    assert "De kennisgeving is afgehandeld." in nl.get_by_role("status").inner_text()
    row = section.get_by_role("row").filter(has_text="Fryslân").inner_text()
    assert "afgehandeld" in row and not section.get_by_role("button").count()
    [notice] = limburg_store.rights_notices()
    assert notice.handled_at is not None

    # (5) An upheld objection at Noord-Limburg: the registration goes, a block stays.
    assert limburg_store.case("NL-2026-014") is not None
    blok = nl.locator("form[action='/privacy/blokkade']")
    blok.get_by_label("Bezwaar gehonoreerd (alle casussen)").check()
    _fill_person(blok)
    blok.get_by_role("button", name="Verwijderen en blokkeren").click()
    status = nl.get_by_role("status").inner_text()
    assert "Bezwaar gehonoreerd: de persoon is uit 1 casus(sen) verwijderd." in status, status
    blocks = nl.get_by_role("region", name="Blokkades")
    block_row = blocks.get_by_role("row").filter(has_text="bezwaar gehonoreerd").inner_text()
    assert "\talle\t" in block_row, block_row
    assert _fits(nl)
    _shot(nl, "privacy-05-bezwaar-blokkade")

    # A check from Fryslân no longer finds him at Noord-Limburg, nor does a re-import
    # register him there again.
    regisseur = _new_page(browser)
    _login(regisseur, fryslan, "regisseur")
    text = _check_from_fryslan(regisseur, fryslan)
    assert "gecontroleerd bij 3 van 3 Zorg- en Veiligheidshuizen" in text
    assert "Noord-Limburg" not in text and "Samenloop gevonden" not in text, text
    privacy_net.import_cases(LIMBURG)
    text = _check_from_fryslan(regisseur, fryslan)
    assert "Noord-Limburg" not in text, text

    # (6) "Opheffen" lifts the block: the next import registers him again and a check from
    # Fryslân finds him at Noord-Limburg.
    [block] = limburg_store.blocks()
    blocks.get_by_role("button", name=f"Blokkade {block.id} opheffen").click()
    assert "De blokkade is opgeheven" in nl.get_by_role("status").inner_text()
    block_row = blocks.get_by_role("row").filter(has_text="bezwaar gehonoreerd").inner_text()
    assert "opgeheven" in block_row and not blocks.get_by_role("button").count()
    _shot(nl, "privacy-06-blokkade-opgeheven")
    nl.context.close()  # type: ignore[attr-defined]
    privacy_net.import_cases(LIMBURG)
    text = _check_from_fryslan(regisseur, fryslan)
    assert "Samenloop gevonden" in text and "Zorg- en Veiligheidshuis Noord-Limburg" in text
    regisseur.context.close()  # type: ignore[attr-defined]
