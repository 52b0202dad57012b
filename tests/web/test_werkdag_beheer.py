"""The beheerder's working day: the case list with search, closing and handing over a case,
confirmation before anything destructive, post/redirect/get with a message shown once,
import errors in Dutch with the file's own column names, and names in the pickers."""

from __future__ import annotations

import html
import re
import time

from fastapi.testclient import TestClient

from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, login


def _names(ctx: NodeContext, regisseur_id: str) -> str:
    person = ctx.store.procesregisseur(regisseur_id)
    assert person is not None
    return f"{person.name} ({regisseur_id})"


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [html.unescape(re.sub(r"<[^>]+>", " ", r)) for r in body.split("<tr>")[1:]]


def test_case_list_searches_by_number_phase_and_procesregisseur(
        net: Harness, fryslan: NodeContext, client: TestClient) -> None:
    net.intake(FRYSLAN, "ZOEK-1", "pr-1")
    net.intake(FRYSLAN, "ZOEK-2", "pr-2")
    net.intake(FRYSLAN, "ANDERS-3", "pr-1")
    login(client, "beheerder")
    everything = client.get("/beheer/casussen")
    assert everything.status_code == 200
    refs = " ".join(_rows(everything.text))
    assert all(ref in refs for ref in ("ZOEK-1", "ZOEK-2", "ANDERS-3"))
    assert _names(fryslan, "pr-2") in refs  # by name, not only the id
    prefix = " ".join(_rows(client.get("/beheer/casussen", params={"casus": "zoek"}).text))
    assert "ZOEK-1" in prefix and "ZOEK-2" in prefix and "ANDERS-3" not in prefix
    by_regisseur = " ".join(_rows(client.get("/beheer/casussen", params={
        "casus": "ZOEK", "procesregisseur": "pr-2"}).text))
    assert "ZOEK-2" in by_regisseur and "ZOEK-1" not in by_regisseur
    by_phase = client.get("/beheer/casussen", params={"casus": "ZOEK", "fase": "triage"})
    assert "ZOEK-1" not in by_phase.text and "Geen casussen gevonden" in by_phase.text
    row = next(r for r in _rows(everything.text) if "ZOEK-1" in r)
    assert "Aanmelding" in row or "aanmelding" in row
    case = fryslan.store.case("ZOEK-1")
    assert case is not None
    expires = case.refreshed_at + fryslan.config.max_inactive_days * 86400
    assert time.strftime("%d-%m-%Y", time.localtime(expires)) in row
    assert time.strftime("%d-%m-%Y", time.localtime(case.refreshed_at)) in row


def test_handing_a_case_over_is_audited_and_refused_for_an_unknown_procesregisseur(
        net: Harness, fryslan: NodeContext, client: TestClient) -> None:
    net.intake(FRYSLAN, "OVER-1", "pr-1")
    csrf = login(client, "beheerder")
    page = client.get("/beheer/casus", params={"casus": "OVER-1"})
    assert page.status_code == 200 and _names(fryslan, "pr-2") in page.text
    refused = client.post("/beheer/casus-procesregisseur", data={
        "csrf_token": csrf, "casus": "OVER-1", "procesregisseur": "pr-onbekend"})
    assert refused.status_code == 422 and "onbekende procesregisseur" in refused.text.lower()
    case = fryslan.store.case("OVER-1")
    assert case is not None and case.procesregisseur_id == "pr-1"
    before = len(fryslan.store.audit_entries("case_procesregisseur"))
    moved = client.post("/beheer/casus-procesregisseur", data={
        "csrf_token": csrf, "casus": "OVER-1", "procesregisseur": "pr-2"})
    assert moved.status_code == 303 and moved.headers["location"] == "/beheer/casussen"
    case = fryslan.store.case("OVER-1")
    assert case is not None and case.procesregisseur_id == "pr-2"
    entries = fryslan.store.audit_entries("case_procesregisseur")
    assert len(entries) == before + 1
    assert entries[-1].actor == "beheerder"
    assert entries[-1].details == {"case_ref": "OVER-1", "from": "pr-1", "to": "pr-2"}
    assert fryslan.store.verify_audit(fryslan.config.audit_key) is None
    shown = client.get("/beheer/casussen")
    assert f"Casus OVER-1 is overgedragen aan {_names(fryslan, 'pr-2')}" in html.unescape(
        shown.text)


def test_closing_needs_confirmation_then_redirects_with_a_message_shown_once(
        net: Harness, fryslan: NodeContext, client: TestClient) -> None:
    net.intake(FRYSLAN, "SLUIT-1", "pr-1")
    net.intake(FRYSLAN, "SLUIT-2", "pr-1")
    csrf = login(client, "beheerder")
    unconfirmed = client.post("/beheer/casus-sluiten", data={
        "csrf_token": csrf, "casus": "SLUIT-1", "reden": "afschaling"})
    assert unconfirmed.status_code == 422 and "bevestig" in unconfirmed.text
    assert fryslan.store.case("SLUIT-1") is not None
    closed = client.post("/beheer/casus-sluiten", data={
        "csrf_token": csrf, "casus": "SLUIT-1", "reden": "afschaling", "bevestigd": "ja"})
    assert closed.status_code == 303 and closed.headers["location"] == "/beheer/casussen"
    assert fryslan.store.case("SLUIT-1") is None
    first = client.get(closed.headers["location"])
    assert "Casus SLUIT-1 is afgesloten" in first.text
    assert "Casus SLUIT-1 is afgesloten" not in client.get("/beheer/casussen").text
    not_accepted = client.post("/beheer/casus-sluiten", data={
        "csrf_token": csrf, "casus": "SLUIT-2", "reden": "niet_in_behandeling",
        "bevestigd": "ja"})
    assert not_accepted.status_code == 303
    assert "niet in behandeling genomen" in client.get("/beheer/casussen").text
    assert fryslan.store.case_endings()[0][:1] == ("SLUIT-2",)
    assert fryslan.store.case_endings()[0][3] == "niet_in_behandeling"


def test_vervanger_and_user_changes_redirect_and_a_new_password_is_shown_once(
        fryslan: NodeContext, client: TestClient) -> None:
    csrf = login(client, "beheerder")
    named = client.post("/beheer/vervangers", data={
        "csrf_token": csrf, "procesregisseur": "pr-1", "vervanger": "pr-2",
        "actie": "toevoegen"})
    assert named.status_code == 303 and named.headers["location"] == "/beheer"
    assert "De vervanger is aangewezen." in client.get("/beheer").text
    assert "De vervanger is aangewezen." not in client.get("/beheer").text
    client.post("/beheer/vervangers", data={"csrf_token": csrf, "procesregisseur": "pr-1",
                                            "vervanger": "pr-2", "actie": "verwijderen"})
    added = client.post("/beheer/gebruikers", data={
        "csrf_token": csrf, "gebruikersnaam": "nieuwe-collega", "rol": "procesregisseur",
        "procesregisseur": "pr-2"})
    assert added.status_code == 303 and added.headers["location"] == "/beheer/gebruikers"
    assert "nieuwe-collega" not in added.headers["location"]
    page = client.get("/beheer/gebruikers")
    secret = re.search(r'id="geheim">([^<]+)<', page.text)
    assert secret and "Gebruiker nieuwe-collega is aangemaakt." in page.text
    again = client.get("/beheer/gebruikers")
    assert 'id="geheim"' not in again.text and secret.group(1) not in again.text
    # The temporary password works: it was the real one.
    with TestClient(client.app, follow_redirects=False) as other:
        login(other, "nieuwe-collega", html.unescape(secret.group(1)))
    reset = client.post("/beheer/gebruikers/nieuwe-collega/wachtwoord",
                        data={"csrf_token": csrf})
    assert reset.status_code == 303
    assert 'id="geheim"' in client.get("/beheer/gebruikers").text
    assert 'id="geheim"' not in client.get("/beheer/gebruikers").text


def test_disabling_a_user_asks_for_confirmation(fryslan: NodeContext,
                                                client: TestClient) -> None:
    csrf = login(client, "beheerder")
    client.post("/beheer/gebruikers", data={"csrf_token": csrf, "gebruikersnaam": "vertrekt",
                                            "rol": "auditor", "procesregisseur": ""})
    listing = client.get("/beheer/gebruikers").text
    assert 'href="/beheer/gebruikers/vertrekt/uitschakelen"' in listing
    confirm = client.get("/beheer/gebruikers/vertrekt/uitschakelen")
    assert confirm.status_code == 200 and 'name="bevestigd"' in confirm.text
    unconfirmed = client.post("/beheer/gebruikers/vertrekt/uitschakelen",
                              data={"csrf_token": csrf})
    assert unconfirmed.status_code == 422 and "bevestig" in unconfirmed.text
    user = fryslan.store.user("vertrekt")
    assert user is not None and not user.disabled
    done = client.post("/beheer/gebruikers/vertrekt/uitschakelen",
                       data={"csrf_token": csrf, "bevestigd": "ja"})
    assert done.status_code == 303 and done.headers["location"] == "/beheer/gebruikers"
    user = fryslan.store.user("vertrekt")
    assert user is not None and user.disabled
    assert "Gebruiker vertrekt is uitgeschakeld." in client.get("/beheer/gebruikers").text


def test_the_procesregisseur_picker_shows_names(fryslan: NodeContext,
                                                client: TestClient) -> None:
    login(client, "beheerder")
    page = html.unescape(client.get("/beheer/gebruikers").text)
    picker = page.split('id="procesregisseur"', 1)[1].split("</select>", 1)[0]
    assert f'<option value="pr-1">{_names(fryslan, "pr-1")}</option>' in picker
    assert f'<option value="pr-2">{_names(fryslan, "pr-2")}</option>' in picker


OWN_HEADER = "Zaaknummer;FASE;Procesregisseur;Achternaam;Voornamen;DOB;Geboorteplaats\n"


def _upload(client: TestClient, csrf: str, text: str) -> str:
    page = client.post("/beheer/import", follow_redirects=True,
                       data={"csrf_token": csrf, "actie": "controleren"},
                       files={"bestand": ("export.csv", text.encode(), "text/csv")})
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def _problems(page: str) -> list[str]:
    return [" ".join(r.split()) for r in _rows(page)]


def test_import_problems_name_the_files_own_columns_in_dutch(client: TestClient) -> None:
    csrf = login(client, "beheerder")
    header = OWN_HEADER
    page = _upload(client, csrf, header
                   + "IMP-1;triage;pr-onbekend;Jansen;Piet;01-01-2999;Sneek\n"
                   + "IMP-2;fase-x;pr-1;Jansen;Piet;31-02-1980;Sneek\n")
    problems = _problems(page)
    assert "afgekeurd" in page
    assert "2 Procesregisseur onbekende procesregisseur" in " | ".join(problems)
    assert "2 DOB geboortedatum ligt in de toekomst" in problems
    assert any(p.startswith("3 FASE moet een van deze fasen zijn: aanmelding") for p in problems)
    assert "3 DOB geboortedatum is geen geldige datum" in problems
    for internal in ("procesregisseur_id", "date_of_birth", "case_ref", "unknown", "must be"):
        assert internal not in " ".join(problems), internal
    missing = _problems(_upload(client, csrf, "Zaaknummer;FASE\nIMP-3;triage\n"))
    assert any(p.startswith("1 procesregisseur deze kolom ontbreekt") for p in missing)
    assert any(p.startswith("1 achternaam deze kolom ontbreekt") for p in missing)


def test_import_reports_a_row_with_the_wrong_number_of_columns(client: TestClient) -> None:
    csrf = login(client, "beheerder")
    page = _upload(client, csrf, OWN_HEADER
                   + "IMP-4;triage;pr-1;Jansen;Piet;01-01-1980;Sneek\n"
                   + "IMP-5;triage;pr-1;Jansen;Piet\n"
                   + "IMP-6;triage;pr-1;Jansen;Piet;01-01-1980;Sneek;extra\n")
    assert _problems(page) == [
        "3 vanaf DOB regel 3 heeft 5 kolommen, verwacht 7",
        "4 vanaf kolom 8 (zonder kopje) regel 4 heeft 8 kolommen, verwacht 7"]


def test_the_api_import_report_is_dutch_with_the_files_columns(fryslan: NodeContext,
                                                               client: TestClient) -> None:

    token = accounts.create_api_token(fryslan.store, "beheerder", by="test",
                                      now=fryslan.clock())
    response = client.post("/api/v1/import", headers={"Authorization": f"Bearer {token}"},
                           json={"inhoud": OWN_HEADER
                                 + "IMP-7;triage;pr-1;Jansen;Piet;01-01-2999;Sneek\n",
                                 "toepassen": False})
    assert response.status_code == 200, response.text
    assert response.json()["problemen"] == [
        {"regel": 2, "veld": "DOB", "reden": "geboortedatum ligt in de toekomst"}]


def test_an_import_is_shown_after_a_redirect_and_reloading_applies_nothing(
        fryslan: NodeContext, client: TestClient) -> None:
    csrf = login(client, "beheerder")
    export = ("casusnummer;fase;procesregisseur;achternaam;voornamen;geboortedatum\n"
              "PRG-1;triage;pr-1;Oudegeest;Wietske;1993-04-04\n")
    checked = client.post("/beheer/import", data={"csrf_token": csrf, "actie": "controleren"},
                          files={"bestand": ("export.csv", export.encode(), "text/csv")})
    assert checked.status_code == 303 and checked.headers["location"] == "/beheer/import"
    assert "goedgekeurd" in client.get("/beheer/import").text
    before = len(fryslan.store.audit_entries("import"))
    applied = client.post("/beheer/import", data={"csrf_token": csrf, "actie": "toepassen",
                                                  "sync": "nee"})
    assert applied.status_code == 303
    assert "Import toegepast" in client.get("/beheer/import").text
    again = client.get("/beheer/import")  # a reload: the form, nothing applied again
    assert "Import toegepast" not in again.text
    assert len(fryslan.store.audit_entries("import")) == before + 1
