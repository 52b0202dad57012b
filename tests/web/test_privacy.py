"""The privacy role's pages: the incident register with the 72-hour clock towards the
Autoriteit Persoonsgegevens and the 36-hour report to the Manager, every change audited,
and entries that could hold personal data refused."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from samenloop.node.web.actions import NodeContext
from tests.web.conftest import login


def _moment(hours_ago: float) -> str:
    return time.strftime("%d-%m-%Y %H:%M", time.localtime(time.time() - hours_ago * 3600))


def _register(client: TestClient, csrf: str, **fields: str) -> int:
    data = {"csrf_token": csrf, "categorie": "datalek", "persoonsgegevens": "ja",
            "omschrijving": "Een usb-stick met een export is kwijt", **fields}
    response = client.post("/privacy/incidenten", data=data)
    assert response.status_code == 303, response.text
    match = re.search(r"#incident-(\d+)$", response.headers["location"])
    assert match
    return int(match.group(1))


def _article(client: TestClient, incident_id: int) -> str:
    page = client.get("/privacy/incidenten").text
    start = page.index(f'id="incident-{incident_id}"')
    return page[start:page.index("</article>", start)]


def test_the_privacy_officer_registers_an_incident_and_sees_both_clocks(
        client: TestClient, fryslan: NodeContext) -> None:
    csrf = login(client, "privacy")
    assert client.get("/").headers["location"] == "/privacy"
    home = client.get("/privacy").text
    assert 'href="/privacy/incidenten"' in home and 'href="/audit"' not in home

    incident_id = _register(client, csrf, ontdekt_op=_moment(10))
    shown = _article(client, incident_id)
    assert "Datalek" in shown and "Een usb-stick met een export is kwijt" in shown
    assert "nog 62 uur" in shown  # 72 hours from discovery for the AP
    assert "nog 26 uur" in shown  # 36 hours for the Manager
    assert f"privacy/incidenten#incident-{incident_id}" in client.get("/privacy").text

    [opened] = [e for e in fryslan.store.audit_entries("incident_open")
                if e.details.get("incident") == incident_id]
    assert opened.actor == "privacy"
    assert opened.details == {"incident": incident_id, "category": "datalek",
                              "personal_data": "ja"}  # never the description

    response = client.post(f"/privacy/incidenten/{incident_id}", data={
        "csrf_token": csrf, "persoonsgegevens": "ja", "besluit_ap": "gemeld",
        "gemeld_ap_op": _moment(1), "manager_op": _moment(5), "afsluiten": "ja"})
    assert response.status_code == 303, response.text
    incident = fryslan.store.incident(incident_id)
    assert incident is not None and incident.closed_at is not None
    assert incident.ap_decision == "gemeld" and incident.manager_informed_at is not None
    shown = _article(client, incident_id)
    assert "gemeld op" in shown and "gemeld aan de Manager op" in shown
    assert "na de termijn" not in shown and "afgesloten op" in shown
    [updated] = [e for e in fryslan.store.audit_entries("incident_update")
                 if e.details.get("incident") == incident_id]
    assert updated.actor == "privacy" and updated.details["closed"] is True
    assert updated.details["ap_decision"] == "gemeld"
    assert f"incident-{incident_id}" not in client.get("/privacy").text  # no longer open


def test_an_incident_past_its_terms_says_so(client: TestClient) -> None:
    csrf = login(client, "privacy")
    incident_id = _register(client, csrf, categorie="beveiligingsincident",
                            persoonsgegevens="onbekend", ontdekt_op=_moment(80))
    shown = _article(client, incident_id)
    assert "termijn verstreken (8 uur geleden)" in shown      # AP: 72 h
    assert "termijn verstreken (44 uur geleden)" in shown     # Manager: 36 h
    home = client.get("/privacy").text
    assert "termijn verstreken" in home

    # Deciding not to notify, with a reason, stops the AP clock.
    response = client.post(f"/privacy/incidenten/{incident_id}", data={
        "csrf_token": csrf, "persoonsgegevens": "nee", "besluit_ap": "niet_melden",
        "reden_niet_melden": "geen_persoonsgegevens", "manager_op": ""})
    assert response.status_code == 303, response.text
    shown = _article(client, incident_id)
    assert "niet melden: geen persoonsgegevens betrokken" in shown
    assert "termijn verstreken (44 uur geleden)" in shown  # the Manager still waits


def test_entries_that_could_hold_personal_data_or_make_no_sense_are_refused(
        client: TestClient, fryslan: NodeContext) -> None:
    csrf = login(client, "privacy")
    before = (len(fryslan.store.incidents()), fryslan.store.audit_count())
    refusals = {
        "omschrijving": {"omschrijving": "BSN 123456782 van een cliënt gelekt"},
        "ontdekt_op": {"ontdekt_op": _moment(-48)},
        "categorie": {"categorie": "ramp"},
    }
    for field, fields in refusals.items():
        data = {"csrf_token": csrf, "categorie": "datalek", "persoonsgegevens": "ja",
                "omschrijving": "Mail aan verkeerde ontvanger", "ontdekt_op": _moment(1),
                **fields}
        response = client.post("/privacy/incidenten", data=data)
        assert response.status_code == 422, field
        assert "Controleer het formulier" in response.text
        assert "123456782" not in response.text  # the refused text is not echoed
    for date_text in ("12-05-1980", "jan.jansen@example.org"):
        response = client.post("/privacy/incidenten", data={
            "csrf_token": csrf, "categorie": "overig", "persoonsgegevens": "ja",
            "ontdekt_op": _moment(1), "omschrijving": f"gegevens van {date_text}"})
        assert response.status_code == 422
        assert "mag geen persoonsgegevens, datums of e-mailadressen bevatten" in response.text
        assert date_text not in response.text
    assert (len(fryslan.store.incidents()), fryslan.store.audit_count()) == before

    incident_id = _register(client, csrf, ontdekt_op=_moment(2))
    audit_before = fryslan.store.audit_count()
    bad_decisions = [
        {"besluit_ap": "open", "afsluiten": "ja"},              # closing without a decision
        {"besluit_ap": "niet_melden"},                          # no reason
        {"besluit_ap": "gemeld", "gemeld_ap_op": ""},           # no date
        {"besluit_ap": "gemeld", "gemeld_ap_op": "31-02-2026"},  # no such date
        {"besluit_ap": "misschien"},
    ]
    for fields in bad_decisions:
        response = client.post(f"/privacy/incidenten/{incident_id}", data={
            "csrf_token": csrf, "persoonsgegevens": "ja", **fields})
        assert response.status_code == 422, (fields, response.text)
    assert client.post("/privacy/incidenten/999999", data={
        "csrf_token": csrf, "persoonsgegevens": "ja", "besluit_ap": "open"}).status_code == 404
    assert fryslan.store.audit_count() == audit_before
    incident = fryslan.store.incident(incident_id)
    assert incident is not None and incident.closed_at is None
    assert incident.ap_decision == "open"


def test_other_roles_cannot_register_incidents(client: TestClient,
                                               fryslan: NodeContext) -> None:
    before = len(fryslan.store.incidents())
    for name in ("auditor", "beheerder", "regisseur"):
        csrf = login(client, name)
        assert client.get("/privacy").status_code == 403
        response = client.post("/privacy/incidenten", data={
            "csrf_token": csrf, "categorie": "datalek", "persoonsgegevens": "ja",
            "omschrijving": "poging", "ontdekt_op": _moment(1)})
        assert response.status_code == 403
    assert len(fryslan.store.incidents()) == before
