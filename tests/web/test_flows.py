"""Checks, meldingen, imports, audit and e-mail through the web app and the API, and a scan
of every file and log line they produce for the identifiers that were typed in."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from samenloop.node.config import SmtpConfig, WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import WebServer, create_app
from samenloop.node.web.mailer import mail_new_meldingen
from tests.support.network import Harness
from tests.web.conftest import (
    FRYSLAN,
    LIMBURG,
    TRIAGE_CASE,
    add_users,
    csrf_of,
    finish_second_step,
    login,
    web_context,
)

# Typed only into the web app in this module: nowhere else in the test data.
SECRET_PERSON = {"p0_achternaam": "Zwanenburg-Oosterwolde", "p0_voornamen": "Evertje Geertruida",
                 "p0_geboortedatum": "13-07-1966", "p0_geboorteplaats": "Appingedam",
                 "p1_achternaam": "Kwakernaak", "p1_voornamen": "Hendrikus",
                 "p1_geboortedatum": "02-11-2004"}
# The date of birth in the forms it could be stored in. Not "1966" alone: four digits turn up
# by chance in the hex of audit hashes and query ids.
SECRET_VALUES = ["Zwanenburg", "Oosterwolde", "Evertje", "Geertruida", "1966-07-13",
                 "13-07-1966", "13071966", "Appingedam", "Kwakernaak", "Hendrikus", "2004-11",
                 "02-11-2004"]
IMPORT_CSV = ("casusnummer;fase;procesregisseur;achternaam;voornamen;geboortedatum\n"
              "F-2026-900;aanmelding;pr-2;Tuinstra-Wijbenga;Lieuwkje;1977-09-21\n")
IMPORT_VALUES = ["Tuinstra", "Wijbenga", "Lieuwkje", "1977-09-21"]


def test_web_checks_and_imports_leave_no_identifier_on_disk_or_in_logs(
        net: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = web_context(net, FRYSLAN, WebConfig(listen=f"127.0.0.1:{free_port()}"))
    add_users(ctx)
    server = WebServer(ctx)
    server.start()
    try:
        with httpx.Client(base_url=server.url) as browser:
            page = browser.get("/inloggen")
            browser.post("/inloggen", data={"csrf_token": csrf_of(page.text),
                                            "gebruikersnaam": "regisseur",
                                            "wachtwoord": "correct-horse-battery"})
            csrf = csrf_of(browser.get("/check").text)
            browser.post("/aanmelding", data={"csrf_token": csrf, "casus": "F-2026-777",
                                              "casus_herhaald": "F-2026-777"})
            form = {"csrf_token": csrf, "casus": "F-2026-777",
                    "doel": "aanmelding: al bekend bij eigen ZVH", "aantal": "2",
                    "actie": "controleren", **SECRET_PERSON}
            ran = browser.post("/check", data=form)
            assert ran.status_code == 303
            result = browser.get(ran.headers["location"])
            assert result.status_code == 200 and "Geen samenloop gevonden" in result.text
            refused = browser.post("/check", data={**form, "p0_geboortedatum": "13-07-2966"})
            assert refused.status_code == 422
            again = browser.post("/check", data={"csrf_token": csrf, "actie": "opnieuw",
                                                 "uitkomst": ran.headers["location"]
                                                 .rsplit("/", 1)[1]})
            assert again.status_code == 303
            assert "Evertje" in browser.get(again.headers["location"]).text
            browser.post("/uitloggen", data={"csrf_token": csrf})
            page = browser.get("/inloggen")
            step = browser.post("/inloggen", data={"csrf_token": csrf_of(page.text),
                                                   "gebruikersnaam": "beheerder",
                                                   "wachtwoord": "correct-horse-battery"})
            assert step.headers["location"] == "/inloggen/instellen"
            finish_second_step(browser.cookies, ctx, "beheerder")
            csrf = csrf_of(browser.get("/beheer/import").text)
            report = browser.post("/beheer/import", follow_redirects=True, data={"csrf_token": csrf,
                                                          "actie": "controleren"},
                                  files={"bestand": ("export.csv", IMPORT_CSV, "text/csv")})
            assert "goedgekeurd" in report.text, report.text
            applied = browser.post("/beheer/import", follow_redirects=True,
                                   data={"csrf_token": csrf, "sync": "nee",
                                         "actie": "toepassen"})
            assert "Import toegepast" in applied.text
    finally:
        server.stop()
    assert ctx.store.case("F-2026-777") and ctx.store.case("F-2026-900")
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("POST /check" in line for line in access)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    files = [p for p in net.layout.root.rglob("*") if p.is_file() and "data" in p.parts]
    assert any(p.name.startswith("registry.sqlite") for p in files)
    blobs = {str(p): p.read_bytes() for p in files}
    for value in SECRET_VALUES + IMPORT_VALUES:
        assert value not in logged, value
        for name, blob in blobs.items():
            assert value.encode() not in blob, (value, name)
            assert value.lower().encode() not in blob.lower(), (value, name)


def test_melding_reaches_the_inbox_and_is_handled(net: Harness, fryslan: NodeContext,
                                                  client: TestClient) -> None:
    limburg = web_context(net, LIMBURG)
    add_users(limburg)
    csrf = login(client, "regisseur")
    client.post("/check", data={
        "csrf_token": csrf, "casus": TRIAGE_CASE, "aantal": "1",
        "doel": fryslan.config.purposes[0], "actie": "controleren",
        "p0_achternaam": "Berg", "p0_tussenvoegsel": "van den", "p0_voornamen": "Pieter",
        "p0_geboortedatum": "1985-03-12", "p0_geboorteplaats": "Venlo"})
    net.flush_meldingen()  # the holder files a melding just after its answer
    inbox = TestClient(create_app(limburg), follow_redirects=False)
    csrf = login(inbox, "regisseur")
    page = inbox.get("/meldingen").text
    assert "NL-2026-014" in page and "Zorg- en Veiligheidshuis Fryslân" in page
    assert "Sjoukje Bosma" in page  # Fryslân's pr-1 is the requester
    melding = limburg.store.notifications(["pr-1"])[0]
    assert "triage: samenloop met ander ZVH" in page  # the purpose category, never a note
    done = inbox.post(f"/meldingen/{melding.id}/afgehandeld",
                      data={"csrf_token": csrf, "actie": "contact_opgenomen"})
    assert done.status_code == 303
    assert "Afgehandeld op" in inbox.get("/meldingen").text
    assert [e.details for e in limburg.store.audit_entries("melding_handled")] == [
        {"melding": melding.id, "actie": "contact_opgenomen"}]
    # Nobody else's meldingen: pr-2 cannot handle pr-1's.
    accounts.add_user(limburg.store, "collega", "procesregisseur", "pr-2",
                      "correct-horse-battery", by="test", now=time.time(), must_change=False)
    other = TestClient(create_app(limburg), follow_redirects=False)
    csrf = login(other, "collega")
    assert "NL-2026-014" not in other.get("/meldingen").text
    assert other.post(f"/meldingen/{melding.id}/afgehandeld",
                      data={"csrf_token": csrf, "actie": "geen_actie_nodig"}).status_code == 404
    # An id beyond what the store can hold is "not found", not a server error.
    for huge in (2**63, 10**30, 0, -1):
        assert other.post(f"/meldingen/{huge}/afgehandeld",
                          data={"csrf_token": csrf, "actie": "geen_actie_nodig"}
                          ).status_code == 404


def test_rate_limit_refusal_is_shown_in_dutch(net: Harness, fryslan: NodeContext) -> None:
    ctx = dataclasses.replace(fryslan, config=dataclasses.replace(
        fryslan.config, checks_per_user_per_hour=1))
    accounts.add_user(ctx.store, "ijverig", "procesregisseur", "pr-1",
                      "correct-horse-battery", by="test", now=time.time(), must_change=False)
    client = TestClient(create_app(ctx), follow_redirects=False)
    csrf = login(client, "ijverig")
    form = {"csrf_token": csrf, "casus": TRIAGE_CASE, "aantal": "1",
            "doel": "triage: samenloop met ander ZVH", "actie": "controleren",
            "p0_achternaam": "Visser", "p0_voornamen": "Karin", "p0_geboortedatum": "1975-05-05"}
    assert client.post("/check", data=form).status_code == 303
    refused = client.post("/check", data=form)
    assert refused.status_code == 429
    assert "U heeft het maximum van 1 checks per uur bereikt" in refused.text


def test_api_check_import_close_and_audit(net: Harness, fryslan: NodeContext,
                                          client: TestClient) -> None:
    store, now = fryslan.store, fryslan.clock()
    auth = {r: {"Authorization": "Bearer " + accounts.create_api_token(store, r, by="test",
                                                                        now=now)}
            for r in ("regisseur", "beheerder", "auditor")}
    unknown = client.post("/api/v1/checks", headers=auth["regisseur"], json={
        "casus": "F-2026-555", "doel": "triage: samenloop met ander ZVH",
        "personen": [{"achternaam": "Van den Berg", "voornamen": "Pieter",
                      "geboortedatum": "12-3-1985", "geboorteplaats": "Venlo"}]})
    assert unknown.status_code == 404
    assert unknown.json()["fouten"][0]["melding"] == ("onbekende casus; registreer eerst de "
                                                      "aanmelding")
    assert client.post("/api/v1/casussen", headers=auth["regisseur"],
                       json={"casus": "F-2026-555"}).status_code == 201
    local = client.post("/api/v1/checks", headers=auth["regisseur"], json={
        "casus": "F-2026-555", "doel": "aanmelding: al bekend bij eigen ZVH",
        "personen": [{"achternaam": "Van den Berg", "voornamen": "Pieter",
                      "geboortedatum": "12-3-1985", "geboorteplaats": "Venlo"}]})
    assert local.status_code == 200 and local.json()["dekking"]["alleen_eigen_zvh"]
    # Noord-Limburg is not asked; the own ZVH's other case (checked before) is found.
    assert {h["zvh"] for h in local.json()["personen"][0]["treffers"]} <= {
        "Zorg- en Veiligheidshuis Fryslân"}
    checked = client.post("/api/v1/checks", headers=auth["regisseur"], json={
        "casus": TRIAGE_CASE, "doel": "triage: samenloop met ander ZVH",
        "personen": [{"achternaam": "Van den Berg", "voornamen": "Pieter",
                      "geboortedatum": "12-3-1985", "geboorteplaats": "Venlo"}]})
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["dekking"]["volledig"] and body["waarschuwing"] is None
    hits = {h["zvh"]: h for h in body["personen"][0]["treffers"]}
    hit = hits["Zorg- en Veiligheidshuis Noord-Limburg"]
    assert hit["sterkte"] == "sterk" and hit["procesregisseur"]["naam"] == "Anne de Vries"
    bad = client.post("/api/v1/import", headers=auth["beheerder"], json={
        "inhoud": IMPORT_CSV.replace("1977-09-21", "2999-09-21")})
    assert bad.json()["problemen"] == [{"regel": 2, "veld": "geboortedatum",
                                        "reden": "geboortedatum ligt in de toekomst"}]
    assert "2999" not in bad.text
    closed = client.post("/api/v1/casussen/sluiten", headers=auth["beheerder"],
                         json={"casus": "F-2026-555"})
    assert closed.status_code == 204
    assert store.audit_entries("close")[-1].actor == "beheerder"
    status = client.get("/api/v1/status", headers=auth["beheerder"]).json()
    assert status["coordinator_bereikbaar"] and status["certificaat_geldig_tot"]
    audit = client.get("/api/v1/audit", headers=auth["auditor"]).json()
    assert audit["keten_intact"]
    assert "F-2026-555" in audit["zonder_casusoverleg"]
    assert "F-2026-002" not in audit["zonder_casusoverleg"]  # uitvoering: not listed
    csrf = login(client, "auditor")
    assert csrf
    endings = client.get("/audit/beeindigde-casussen.csv").text.splitlines()
    assert any(line.startswith("F-2026-555;") and ";afschaling;" in line for line in endings)
    page = client.get("/audit").text
    assert "ongeschonden" in page and "F-2026-555" in page
    csv_text = client.get("/audit/checks-per-maand.csv").text
    assert csv_text.startswith("maand;gebruiker;checks;boven_drempel")


def test_melding_email_says_only_that_there_is_one(net: Harness, fryslan: NodeContext,
                                                   tmp_path: Path) -> None:
    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], str]] = []

        async def handle_DATA(self, server: object, session: object, envelope: object
                              ) -> str:
            self.messages.append((list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                                  envelope.content.decode()))  # type: ignore[attr-defined]
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        limburg = web_context(net, LIMBURG, WebConfig(
            public_url="https://samenloop.noord-limburg.example",
            smtp=SmtpConfig(host="127.0.0.1", port=port, sender="samenloop@nl.example")))
        for melding in limburg.store.unmailed_notifications():  # earlier tests' meldingen
            limburg.store.mark_mailed([melding.id], time.time())
        net.check(FRYSLAN, TRIAGE_CASE, dict(surname="Yilmaz", given_names="Ayse",
                                             date_of_birth="05-11-1992", place_of_birth="Venlo"))
        assert mail_new_meldingen(limburg) == 1
        assert mail_new_meldingen(limburg) == 0  # once per melding
    finally:
        smtp.stop()
    [(to, message)] = inbox.messages
    assert to == ["joris@noord-limburg.zvh.example"]  # pr-2 holds NL-2026-015
    assert "https://samenloop.noord-limburg.example/meldingen" in message
    for leak in ("NL-2026-015", "Yilmaz", "Ayse", "1992", "Fryslân", "Fryslan"):
        assert leak not in message
