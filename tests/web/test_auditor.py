"""The auditor's checks one by one and periodic report, on the real embedded network: the
checks that ran (one with a hit, one without, one cut off by the network) show with their
outcome and coverage, filters and CSV agree, and the report counts what happened."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from samenloop.node import cases, reports
from samenloop.node.check import CheckRefused
from samenloop.node.config import STANDARD_PURPOSES
from samenloop.node.web import auditor
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import create_app
from tests.support.network import NOBODY, PIETER_VAN_DEN_BERG, TJEERD_DIJKSTRA, Harness
from tests.web.conftest import FRYSLAN, LIMBURG, TRIAGE_CASE, login

# Any of these on an auditor page would be an identifier of a checked person.
IDENTIFIERS = ("Berg", "Pieter", "Dijkstra", "Tjeerd", "Visser", "Karin", "1985", "1979",
               "Venlo", "Sneek")
DAY = 86400


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A generous deadline: these tests count hits, and on a loaded machine one second can
    time a node out (then reported as not reached, but the hit is missing)."""
    harness = Harness(Path(tmp_path_factory.mktemp("net")) / "net", deadline_seconds=10.0)
    try:
        yield harness.start()
    finally:
        harness.close()


@dataclass(frozen=True)
class Story:
    imported: int     # Fryslân's cases from the demo export
    old_intake: float  # when the case that later expired was registered


@pytest.fixture(scope="module")
def story(net: Harness, fryslan: NodeContext) -> Story:
    """A morning at Fryslân: two checks, a melding received and handled, one aanmelding not
    accepted, one afgeschaald, one expired, and a check the network cut off."""
    store = fryslan.store
    imported = len(store.cases())
    hit = net.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG, actor="regisseur")
    assert [h.strength for h in hit.hits] == ["sterk"] and hit.coverage.complete
    none = net.check(FRYSLAN, TRIAGE_CASE, NOBODY, actor="regisseur",
                     purpose=STANDARD_PURPOSES[2], note="overleg met het wijkteam")
    assert none.hits == () and none.coverage.complete
    # Noord-Limburg finds Fryslân's F-2026-002: a melding here, handled by its regisseur.
    net.check(LIMBURG, "NL-2026-014", TJEERD_DIJKSTRA)
    [melding] = store.notifications()
    cases.handle_melding(store, melding.id, "contact_opgenomen", procesregisseur_id="pr-2",
                         actor="joris", now=time.time())
    net.intake(FRYSLAN, "F-NIET-1")
    cases.end_case(store, "F-NIET-1", not_accepted=True, actor="beheerder", now=time.time())
    net.intake(FRYSLAN, "F-AF-1")
    cases.end_case(store, "F-AF-1", not_accepted=False, actor="beheerder", now=time.time())
    old = time.time() - 200 * DAY
    cases.register_intake(store, "F-OUD-1", "pr-1", actor="regisseur", now=old)
    assert store.sweep(refreshed_before=time.time() - 183 * DAY, handled_before=0,
                       now=time.time()) == (1, 0)
    net.stop_coordinator()
    try:
        with pytest.raises(CheckRefused):
            net.check(FRYSLAN, TRIAGE_CASE, NOBODY, actor="anne")
    finally:
        net.start_coordinator()
    return Story(imported, old)


@pytest.fixture(scope="module")
def auditor_client(fryslan: NodeContext, story: Story) -> Iterator[TestClient]:
    with TestClient(create_app(fryslan), follow_redirects=False) as client:
        login(client, "auditor")
        yield client


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def _no_identifiers(text: str) -> None:
    for identifier in IDENTIFIERS:
        assert identifier not in text, identifier


def test_checks_one_by_one_with_outcome_and_coverage(auditor_client: TestClient) -> None:
    page = auditor_client.get("/audit/checks")
    assert page.status_code == 200
    text = page.text
    assert "3 checks" in text
    assert text.count(f'<td data-label="Casus" class="nowrap">{TRIAGE_CASE}</td>') == 3
    assert "1 sterk" in text and "Geen treffer" in text
    assert text.count("3 van 3 huizen") == 2
    assert "Onderbroken of geweigerd: geen uitkomst" in text  # never "geen treffer"
    assert STANDARD_PURPOSES[0] in text and STANDARD_PURPOSES[2] in text
    assert "overleg met het wijkteam" in text and "triage" in text
    _no_identifiers(text)
    assert '<a href="/audit/checks">' in auditor_client.get("/audit").text


def test_filters_by_user_case_and_period(auditor_client: TestClient) -> None:
    def count(query: str) -> int:
        response = auditor_client.get(f"/audit/checks?{query}")
        assert response.status_code == 200, response.text
        return len(_csv(auditor_client.get(f"/audit/checks.csv?{query}").text))

    today = time.strftime("%d-%m-%Y")
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + DAY))
    assert count("") == 3
    assert count("gebruiker=regisseur") == 2
    assert count("gebruiker=anne") == 1
    assert count("gebruiker=niemand") == 0
    assert count(f"casus={TRIAGE_CASE}") == 3
    assert count("casus=F-2026-002") == 0
    assert count(f"van={today}&tot={today}") == 3
    assert count(f"van={tomorrow}") == 0
    page = auditor_client.get("/audit/checks?gebruiker=anne").text
    assert "1 check<" in page and "Onderbroken" in page and "1 sterk" not in page


def test_csv_has_the_same_rows_as_the_page(auditor_client: TestClient) -> None:
    response = auditor_client.get("/audit/checks.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    _no_identifiers(response.text)
    rows = _csv(response.text)
    assert [(r["gebruiker"], r["casus"], r["uitkomst"]) for r in rows] == [
        ("anne", TRIAGE_CASE, "onderbroken"), ("regisseur", TRIAGE_CASE, "afgerond"),
        ("regisseur", TRIAGE_CASE, "afgerond")]
    interrupted, none, hit = rows
    assert (hit["treffers_sterk"], hit["treffers_zeker"], hit["huizen"],
            hit["beantwoord"], hit["niet_beantwoord"]) == ("1", "0", "3", "3", "0")
    assert (none["treffers_sterk"], none["doel"], none["toelichting"]) == (
        "0", STANDARD_PURPOSES[2], "overleg met het wijkteam")
    assert interrupted["treffers_sterk"] == interrupted["huizen"] == ""
    assert {r["fase"] for r in rows} == {"triage"} and {r["bereik"] for r in rows} == {"netwerk"}
    assert hit["tijdstip"][10] == "T" and hit["tijdstip"][-6] in "+-"  # ISO 8601 with zone
    assert len({r["checkreferentie"] for r in rows}) == 3


def test_pages_of_checks_keep_the_filter(auditor_client: TestClient,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditor, "PAGE_SIZE", 2)
    first = auditor_client.get(f"/audit/checks?casus={TRIAGE_CASE}").text
    assert "Pagina 1 van 2" in first and first.count('data-label="Tijdstip"') == 2
    assert f"/audit/checks?casus={TRIAGE_CASE}&amp;pagina=2" in first
    second = auditor_client.get(f"/audit/checks?casus={TRIAGE_CASE}&pagina=2").text
    assert "Pagina 2 van 2" in second and second.count('data-label="Tijdstip"') == 1
    assert "Onderbroken" not in second  # the newest (the interrupted one) is on page 1


@pytest.mark.parametrize(("query", "message"), [
    ("van=31-02-2026", "Van: deze datum bestaat niet"),
    ("tot=morgen<script>", "Tot en met: vul een datum in als dd-mm-jjjj"),
    ("van=02-01-2026&tot=01-01-2026", "Tot en met: de einddatum ligt voor de begindatum"),
    ("gebruiker=%27%20OR%201%3D1", "Gebruiker: een gebruikersnaam bestaat uit"),
    ("casus=F%20<b>x</b>", "Casusnummer: een casusnummer bestaat uit"),
])
def test_a_bad_filter_is_refused_naming_the_field(auditor_client: TestClient, query: str,
                                                  message: str) -> None:
    for path in ("/audit/checks", "/audit/checks.csv"):
        response = auditor_client.get(f"{path}?{query}")
        assert response.status_code == 422, path
        assert message in response.text
        for echoed in ("script", "OR 1=1", "OR 1=", "<b>x", "31-02-2026"):
            assert echoed not in response.text
        assert 'aria-invalid="true"' in response.text
        assert "data-label" not in response.text  # no rows under a refused filter


def test_a_bad_page_number_is_refused(auditor_client: TestClient) -> None:
    for page in ("-1", "0", "x", "9" * 40):
        response = auditor_client.get(f"/audit/checks?pagina={page}")
        assert response.status_code == 422
        assert "Pagina: het paginanummer moet een geheel getal vanaf 1 zijn" in response.text
        assert f'pagina={page}' not in response.text
    last = auditor_client.get("/audit/checks?pagina=99")  # past the end: the last page
    assert last.status_code == 200 and "3 checks" in last.text


def _report(client: TestClient, query: str = "") -> dict[str, dict[str, str]]:
    response = client.get(f"/audit/rapportage.csv{query}")
    assert response.status_code == 200, response.text
    return {row["periode"]: row for row in _csv(response.text)}


def test_the_periodic_report_counts_what_happened(auditor_client: TestClient,
                                                  story: Story) -> None:
    rows = _report(auditor_client)
    assert len(rows) == 13  # twelve months and the total
    now = rows[time.strftime("%Y-%m")]
    total = rows["totaal"]
    expected = {
        "checks": "3", "checks_met_treffer": "1", "checks_onderbroken": "1",
        "checks_onvolledige_dekking": "0", "treffers_zeker": "0", "treffers_sterk": "1",
        "treffers_waarschijnlijk": "0", "treffers_mogelijk": "0",
        "meldingen_ontvangen": "1", "meldingen_afgehandeld": "1",
        "casussen_afgeschaald": "1", "casussen_niet_in_behandeling": "1",
        "casussen_verlopen": "1", "casussen_niet_meer_in_export": "0"}
    for column, value in expected.items():
        assert (column, now[column], total[column]) == (column, value, value)
    # Registered: the demo import and two aanmeldingen now, the expired one months ago.
    assert now["casussen_geregistreerd"] == str(story.imported + 2)
    assert rows[time.strftime("%Y-%m", time.localtime(story.old_intake))][
        "casussen_geregistreerd"] == "1"
    assert total["casussen_geregistreerd"] == str(story.imported + 3)
    quarters = _report(auditor_client, "?per=kwartaal")
    assert len(quarters) == 5 and quarters["totaal"]["checks"] == "3"
    quarter = f"{time.strftime('%Y')}-K{(time.localtime().tm_mon - 1) // 3 + 1}"
    assert quarters[quarter]["treffers_sterk"] == "1"
    day = time.strftime("%d-%m-%Y")
    assert _report(auditor_client, f"?van={day}&tot={day}")["totaal"]["checks"] == "3"


def test_the_report_page_has_accessible_charts_and_the_numbers(
        auditor_client: TestClient) -> None:
    response = auditor_client.get("/audit/rapportage?per=kwartaal")
    assert response.status_code == 200
    text = response.text
    assert text.count('<svg role="img" aria-labelledby="') == 4
    assert '<title id="grafiek-treffers-titel">Treffers per sterkte per kwartaal</title>' in text
    assert "in totaal: zeker 0, sterk 1, waarschijnlijk 0, mogelijk 0" in text
    assert "<script" not in text
    assert '<th scope="row">Totaal</th>' in text
    assert '<a href="/audit/rapportage.csv?per=kwartaal">' in text
    assert '<a href="/audit/rapportage">' in auditor_client.get("/audit").text
    _no_identifiers(text)


@pytest.mark.parametrize(("query", "message"), [
    ("per=jaar<i>", "Per: kies per maand of per kwartaal"),
    ("van=1-13-2026", "Van: deze datum bestaat niet"),
    ("van=01-01-1990&tot=01-01-2026", "kies ten hoogste 60 maanden of kwartalen"),
])
def test_a_bad_report_request_is_refused_naming_the_field(auditor_client: TestClient,
                                                          query: str, message: str) -> None:
    for path in ("/audit/rapportage", "/audit/rapportage.csv"):
        response = auditor_client.get(f"{path}?{query}")
        assert response.status_code == 422, path
        assert message in response.text
        assert "jaar" not in response.text and "1-13-2026" not in response.text
        assert "<svg" not in response.text


def test_report_periods_are_whole_months_or_quarters() -> None:
    today = dt.date(2026, 2, 14)
    months = reports.report_periods("maand", None, None, today)
    assert [p.key for p in months][:2] == ["2025-03", "2025-04"] and len(months) == 12
    assert months[-1].label == "februari 2026"
    assert months[-1].end == dt.datetime(2026, 3, 1).timestamp()
    quarters = reports.report_periods("kwartaal", dt.date(2025, 11, 30), dt.date(2026, 4, 1),
                                      today)
    assert [(q.key, q.label) for q in quarters] == [
        ("2025-K4", "4e kwartaal 2025"), ("2026-K1", "1e kwartaal 2026"),
        ("2026-K2", "2e kwartaal 2026")]
    assert quarters[0].start == dt.datetime(2025, 10, 1).timestamp()
    assert [p.key for p in reports.report_periods("kwartaal", None, None, today)] == [
        "2025-K2", "2025-K3", "2025-K4", "2026-K1"]
    assert reports.parse_day("2026-02-14") == reports.parse_day("14/2/2026") == today
