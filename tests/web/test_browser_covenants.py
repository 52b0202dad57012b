"""The procesregisseur's path by the covenants, in headless Chromium against the real
embedded network: register an aanmelding (the number typed twice), check it (own ZVH only:
no other node is asked), move it to triage by the beheerder's import, check again (all
ZVHs), reload without re-running, see the grouped melding at the holder and handle it."""

from __future__ import annotations

import pytest

from samenloop.node.server import NodeServer
from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.web.browser import PIETER, _login, _shot, browser, servers
from tests.web.conftest import FRYSLAN, LIMBURG

__all__ = ["browser", "servers"]  # fixtures used by the test below

pytestmark = pytest.mark.slow

NEW_CASE = "F-2026-050"
TYPO = "F-2026-05O"
AANMELDING_PURPOSE = "aanmelding: al bekend bij eigen ZVH"
TRIAGE_PURPOSE = "triage: samenloop met ander ZVH"
NOTE = "na overleg met wijkteam"  # kept at Fryslân, never shown to the holder
OWN_ONLY = ("gecontroleerd bij het eigen Zorg- en Veiligheidshuis; andere huizen kunnen "
            "vanaf de triage worden bevraagd")
EXPORT = ("casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
          "geboortedatum;geboorteplaats\n"
          f"{NEW_CASE};triage;pr-1;Berg;van den;Pieter;12-03-1985;Venlo\n").encode()


def lookups(node: NodeServer) -> float:
    """Every Lookup this node received, whatever its outcome label."""
    return sum(s.value for m in node.metrics.lookups.collect() for s in m.samples
               if s.name.endswith("_total"))


def coordinator_checks(net: Harness) -> int:
    assert net.coordinator is not None
    return sum(1 for r in net.coordinator.audit.records() if r.kind == "check")


def checks_at_fryslan(net: Harness) -> int:
    return len(net.nodes[FRYSLAN].store.audit_entries("check"))


def melding_times(net: Harness) -> list[tuple[str, int]]:
    net.flush_meldingen()
    return [(m.case_ref, m.times) for m in net.nodes[LIMBURG].store.notifications()]


def _tables_fit(page: object) -> bool:
    """No table runs out of the page's main column (the screenshot would cut it off)."""
    return bool(page.evaluate(  # type: ignore[attr-defined]
        """() => {
        const main = document.querySelector("main").getBoundingClientRect();
        return [...document.querySelectorAll("main table")].every(
            t => t.getBoundingClientRect().right <= main.right + 0.5);
    }"""))


def _check(page: object, url: str, purpose: str, note: str = "") -> str:
    """Fill in the check for Pieter van den Berg in the new case; the result's text."""
    page.goto(f"{url}/check")  # type: ignore[attr-defined]
    page.get_by_label("Casusnummer (eigen casus)").fill(NEW_CASE)  # type: ignore[attr-defined]
    page.get_by_label("Doel van de check").select_option(label=purpose)  # type: ignore[attr-defined]
    if note:
        page.get_by_label("Toelichting (optioneel)").fill(note)  # type: ignore[attr-defined]
    for label, value in PIETER.items():
        page.locator("fieldset.person").first.get_by_label(  # type: ignore[attr-defined]
            label, exact=True).fill(value)
    page.get_by_role("button", name="Controleren").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Uitkomst samenloopcheck").wait_for()  # type: ignore[attr-defined]
    assert "/check/uitkomst/" in page.url and "Pieter" not in page.url  # type: ignore[attr-defined]
    return str(page.locator("main").inner_text())  # type: ignore[attr-defined]


def test_procesregisseur_path_by_the_covenants(browser: object, net: Harness,
                                               servers: dict[str, WebServer]) -> None:
    fryslan, limburg = servers[FRYSLAN].url, servers[LIMBURG].url
    store = net.nodes[FRYSLAN].store
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    _login(page, fryslan, "regisseur")

    # (1) A new aanmelding: a typo in the repeated number is refused and registers nothing.
    page.get_by_role("link", name="Mijn casussen").click()
    page.get_by_role("link", name="Nieuwe aanmelding registreren").click()
    page.get_by_label("Casusnummer", exact=True).fill(NEW_CASE)
    page.get_by_label("Casusnummer nogmaals").fill(TYPO)
    page.get_by_role("button", name="Aanmelding registreren").click()
    assert "de twee casusnummers zijn niet gelijk" in page.locator("main").inner_text().lower()
    assert store.case(NEW_CASE) is None and store.case(TYPO) is None
    _shot(page, "covenants-01-aanmelding-ongelijk")
    page.get_by_label("Casusnummer", exact=True).fill(NEW_CASE)
    page.get_by_label("Casusnummer nogmaals").fill(NEW_CASE)
    page.get_by_role("button", name="Aanmelding registreren").click()
    assert f"Aanmelding {NEW_CASE} is geregistreerd" in page.get_by_role("status").inner_text()
    case = store.case(NEW_CASE)
    assert case is not None and (case.phase, case.procesregisseur_id) == ("aanmelding", "pr-1")
    _shot(page, "covenants-02-aanmelding-geregistreerd")

    # (2) The check at aanmelding asks only the own registry: Pieter, registered at
    # Noord-Limburg (NL-2026-014), is no hit, and no other node receives a lookup.
    lookups_before = {n: lookups(node) for n, node in net.nodes.items()}
    coordinator_before = coordinator_checks(net)
    text = _check(page, fryslan, AANMELDING_PURPOSE)
    assert OWN_ONLY in text
    assert "Geen samenloop gevonden bij het eigen Zorg- en Veiligheidshuis." in text
    assert "Noord-Limburg" not in text and "Samenloop gevonden" not in text
    assert {n: lookups(node) for n, node in net.nodes.items()} == lookups_before
    assert coordinator_checks(net) == coordinator_before
    assert melding_times(net) == []
    assert store.audit_entries("check")[-1].details["reach"] == "eigen"
    _shot(page, "covenants-03-uitkomst-eigen-zvh")

    # (3) The case system moves it to triage: the beheerder imports its export.
    beheer = browser.new_context(locale="nl-NL").new_page()  # type: ignore[attr-defined]
    beheer.set_default_timeout(10_000)
    _login(beheer, fryslan, "beheerder")
    beheer.get_by_role("link", name="Import").click()
    beheer.get_by_label("Exportbestand").set_input_files(files=[{
        "name": "export.csv", "mimeType": "text/csv", "buffer": EXPORT}])
    beheer.get_by_role("button", name="Controleren").click()
    assert "Het bestand is goedgekeurd: 1 personen in 1 casussen" in (
        beheer.locator("main").inner_text())
    beheer.get_by_label("laten staan").check()
    beheer.get_by_role("button", name="Import toepassen").click()
    applied = beheer.get_by_role("status").inner_text()
    assert "Import toegepast: 1 casussen, 0 nieuw, 1 bijgewerkt" in applied, applied
    _shot(beheer, "covenants-04-import-toegepast")
    beheer.context.close()
    case = store.case(NEW_CASE)
    assert case is not None and case.phase == "triage"
    page.get_by_role("link", name="Mijn casussen").click()
    row = page.get_by_role("row").filter(has_text=NEW_CASE).inner_text()
    assert "\ttriage\t" in row, row
    assert _tables_fit(page)
    box = page.get_by_role("row").filter(has_text=NEW_CASE).get_by_role("checkbox").bounding_box()
    assert box is not None and box["width"] < 40, box  # a checkbox, not a full-width field
    _shot(page, "covenants-05-mijn-casussen")

    # (4) At triage the check asks every ZVH: the hit at Noord-Limburg with its contact.
    limburg_lookups = lookups(net.nodes[LIMBURG])
    text = _check(page, fryslan, TRIAGE_PURPOSE, note=NOTE)
    assert "gecontroleerd bij 3 van 3 Zorg- en Veiligheidshuizen" in text
    assert "Samenloop gevonden" in text and "Zorg- en Veiligheidshuis Noord-Limburg" in text
    assert "Anne de Vries" in text and "anne@noord-limburg.zvh.example" in text
    assert lookups(net.nodes[LIMBURG]) > limburg_lookups
    assert coordinator_checks(net) == coordinator_before + 1
    assert melding_times(net) == [("NL-2026-014", 1)]
    _shot(page, "covenants-06-uitkomst-netwerk")

    # (5) Reloading the result, or going back and forward, runs nothing again.
    checks, network_checks = checks_at_fryslan(net), coordinator_checks(net)
    limburg_lookups = lookups(net.nodes[LIMBURG])
    page.reload()
    assert page.locator("main").inner_text() == text
    page.go_back()
    page.go_forward()
    assert "Zorg- en Veiligheidshuis Noord-Limburg" in page.locator("main").inner_text()
    assert (checks_at_fryslan(net), coordinator_checks(net)) == (checks, network_checks)
    assert lookups(net.nodes[LIMBURG]) == limburg_lookups
    assert melding_times(net) == [("NL-2026-014", 1)]

    # (6) Checking the same person again raises the holder's melding count, no new row.
    text = _check(page, fryslan, TRIAGE_PURPOSE)
    assert "Zorg- en Veiligheidshuis Noord-Limburg" in text
    assert checks_at_fryslan(net) == checks + 1
    assert melding_times(net) == [("NL-2026-014", 2)]
    context.close()

    # (7) The holder sees one grouped melding with the purpose category (never the note)
    # and records what was done.
    holder = browser.new_context(locale="nl-NL").new_page()  # type: ignore[attr-defined]
    holder.set_default_timeout(10_000)
    _login(holder, limburg, "regisseur")
    holder.get_by_role("link", name="Samenloopmeldingen").click()
    inbox = holder.locator("main").inner_text()
    assert "U heeft 1 open melding." in inbox
    [row_text] = holder.locator("tbody tr").all_inner_texts()
    assert "NL-2026-014" in row_text and "Zorg- en Veiligheidshuis Fryslân" in row_text
    assert "2 keer, laatst" in row_text and TRIAGE_PURPOSE in row_text
    assert NOTE not in inbox and AANMELDING_PURPOSE not in inbox
    assert _tables_fit(holder)
    _shot(holder, "covenants-07-meldingen-gegroepeerd")
    holder.get_by_label("Wat is er gedaan?").select_option(label="Contact opgenomen")
    holder.get_by_role("button", name="Afhandelen").click()
    handled = holder.locator("tbody tr").inner_text()
    assert "Afgehandeld op" in handled and "Contact opgenomen" in handled
    assert "U heeft 0 open meldingen." in holder.locator("main").inner_text()
    [melding] = net.nodes[LIMBURG].store.notifications()
    assert melding.handled_action == "contact_opgenomen" and melding.times == 2
    _shot(holder, "covenants-08-melding-afgehandeld")
    holder.context.close()
