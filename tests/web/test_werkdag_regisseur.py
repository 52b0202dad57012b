"""A procesregisseur's working day (issue 11): meldingen open and handled apart, filtered
and paged, with the open count in the navigation; the own password, changed at the first
login after a beheerder set it; the check form validated in one pass, its error summary
focused and linked, members added and removed. Real app, real store, real network."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from samenloop.node.cli import app
from samenloop.node.config import Procesregisseur
from samenloop.node.store import AuditRecord, NewMelding, NodeStore
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import WebServer, create_app
from tests.support.network import Harness
from tests.web.browser import _login, browser, servers
from tests.web.conftest import FRYSLAN, PASSWORD, csrf_of, login
from tests.web.test_accessibility import audit

__all__ = ["browser", "servers"]  # fixtures used below

REQUESTER = Procesregisseur("", "Anne de Vries", "058 - 123 45 67", "anne@example.org")


def _melding(ctx: NodeContext, case_ref: str, at: float, *, from_node: str = "zvh-x",
             name: str = "Anne de Vries") -> int:
    """File one melding for pr-1 at `at` (a different requester makes a separate one)."""
    requester = Procesregisseur("", name, REQUESTER.phone, REQUESTER.email)
    ctx.store.record_meldingen([NewMelding(case_ref, "pr-1", from_node, "ZVH X", requester, 3,
                                           "q", "triage", False)], now=at, audit=[])
    return max(m.id for m in ctx.store.notifications(["pr-1"]))


def _handle_all(ctx: NodeContext) -> None:
    for m in ctx.store.notifications(["pr-1"]):
        if m.handled_at is None:
            ctx.store.mark_notification_handled(m.id, ["pr-1"], "contact_opgenomen",
                                                time.time(), audit=_audit())


def _audit() -> AuditRecord:
    return AuditRecord("melding_handled", "test", {})


def _section(page: str, heading: str) -> str:
    start = page.index(heading)
    following = page.find("<h2", start + 1)
    return page[start:following if following > 0 else len(page)]


def test_meldingen_open_and_handled_apart_with_count_in_navigation(
        fryslan: NodeContext, client: TestClient) -> None:
    _handle_all(fryslan)
    now = time.time()
    first = _melding(fryslan, "W-2026/001-lang", now, name="Een")
    _melding(fryslan, "W-2026-002", now, name="Twee")
    fryslan.store.mark_notification_handled(first, ["pr-1"], "contact_opgenomen", now,
                                            audit=_audit())
    _melding(fryslan, "W-2026-003", now, name="Drie")
    login(client, "regisseur")
    assert fryslan.store.open_notification_count("pr-1") == 2
    page = client.get("/meldingen").text
    open_part = _section(page, "Open meldingen")
    done_part = _section(page, "Afgehandelde meldingen")
    assert "W-2026-002" in open_part and "W-2026-003" in open_part
    assert "W-2026/001-lang" not in open_part and "W-2026/001-lang" in done_part
    assert "Afgehandeld op" in done_part and "Afhandelen" not in done_part
    # Phone numbers dial; case numbers are never broken inside.
    assert 'href="tel:0581234567"' in page
    assert '<td class="nowrap" data-label="Uw casus">W-2026/001-lang</td>' in page
    # The count in the navigation and on the landing page after login.
    nav = page[page.index('aria-label="Hoofdmenu"'):page.index("</nav>")]
    assert re.search(r"Samenloopmeldingen \(2<span[^>]*> open</span>\)", nav)
    landing = client.get("/check").text
    assert "U heeft 2 open meldingen" in landing and 'href="/meldingen"' in landing


def test_no_count_for_other_roles(fryslan: NodeContext, client: TestClient) -> None:
    login(client, "beheerder")
    assert "Samenloopmeldingen" not in client.get("/beheer").text


def test_meldingen_filter_by_case_and_period(fryslan: NodeContext, client: TestClient) -> None:
    _handle_all(fryslan)
    day = 86400.0
    base = time.mktime((2026, 3, 10, 12, 0, 0, 0, 0, -1))
    _melding(fryslan, "F-PERIODE-1", base - 5 * day, name="Vroeg")
    _melding(fryslan, "F-PERIODE-2", base, name="Midden")
    _melding(fryslan, "F-PERIODE-1", base + 5 * day, name="Laat")
    login(client, "regisseur")
    page = client.get("/meldingen", params={"casus": "f-periode-1"}).text
    part = _section(page, "Open meldingen")
    assert "F-PERIODE-1" in part and "F-PERIODE-2" not in part and "Open meldingen (2)" in part
    page = client.get("/meldingen", params={"van": "2026-03-09", "tot": "11-03-2026"}).text
    part = _section(page, "Open meldingen")
    assert "F-PERIODE-2" in part and "F-PERIODE-1" not in part
    # Bad values: a Dutch message naming the field, and nothing of the value echoed.
    for params, field in (({"casus": "<b>x y</b>"}, "casusnummer"),
                          ({"van": "31-02-2026"}, "bij Van"),
                          ({"tot": "morgen<script>"}, "bij Tot en met"),
                          ({"pagina_open": "drie"}, "paginanummer"),
                          ({"van": "2026-03-12", "tot": "2026-03-01"}, "bij Tot en met")):
        response = client.get("/meldingen", params=params)
        assert response.status_code == 422, params
        assert field in response.text, params
        assert 'aria-invalid="true"' in response.text or "paginanummer" in field, params
        for value in params.values():
            if value not in ("2026-03-12", "2026-03-01"):
                assert value not in response.text and "x y" not in response.text, value


def test_meldingen_are_paged(fryslan: NodeContext, client: TestClient) -> None:
    _handle_all(fryslan)
    now = time.time()
    for i in range(30):
        _melding(fryslan, f"P-{i:03d}", now + i, name=f"Vrager {i}")
    login(client, "regisseur")
    first = _section(client.get("/meldingen").text, "Open meldingen")
    assert first.count('<tr class="open">') == 25 and "Pagina 1 van 2" in first
    assert "P-029" in first and "P-000" not in first  # newest first
    link = re.search(r'href="(/meldingen\?[^"]*pagina_open=2[^"]*)"', first)
    assert link
    second = _section(client.get(link.group(1).replace("&amp;", "&")).text, "Open meldingen")
    assert second.count('<tr class="open">') == 5 and "P-000" in second
    assert "Pagina 2 van 2" in second and "Vorige pagina" in second
    # A page beyond the last shows the last.
    assert "Pagina 2 van 2" in client.get("/meldingen?pagina_open=99").text
    _handle_all(fryslan)


# ------------------------------------------------------------------ own password

def _change(client: TestClient, csrf: str, current: str, new: str, repeated: str | None = None
            ) -> Response:
    return client.post("/account/wachtwoord", data={
        "csrf_token": csrf, "huidig": current, "nieuw": new,
        "herhaald": new if repeated is None else repeated})


def test_own_password_change_ends_other_sessions(fryslan: NodeContext) -> None:
    accounts.add_user(fryslan.store, "wisselaar", "auditor", None, PASSWORD, by="test",
                      now=time.time(), must_change=False)
    here = TestClient(create_app(fryslan), follow_redirects=False)
    elsewhere = TestClient(create_app(fryslan), follow_redirects=False)
    csrf = login(here, "wisselaar")
    login(elsewhere, "wisselaar")
    token = accounts.create_api_token(fryslan.store, "wisselaar", by="wisselaar",
                                      now=time.time())
    assert "Wachtwoord wijzigen" in here.get("/account/wachtwoord").text
    # Every problem at once, each named and linked, nothing of what was typed echoed.
    refused = _change(here, csrf, "fout-wachtwoord-x", "kort", "herhaling-xyz")
    assert refused.status_code == 422
    for field, words in (("huidig", "Het huidige wachtwoord klopt niet"),
                         ("nieuw", f"ten minste {accounts.MIN_PASSWORD} tekens"),
                         ("herhaald", "niet gelijk")):
        assert words in refused.text and f'href="#{field}"' in refused.text
    assert "fout-wachtwoord-x" not in refused.text and "herhaling-xyz" not in refused.text
    new = "een-heel-nieuw-wachtwoord"
    done = _change(here, csrf, PASSWORD, new)
    assert done.status_code == 303
    assert "Uw wachtwoord is gewijzigd" in here.get(done.headers["location"]).text
    assert here.get("/audit").status_code == 200  # this session stays
    assert elsewhere.get("/audit").headers["location"] == "/inloggen"  # the other ends
    assert here.get("/api/v1/meldingen", headers={"Authorization": f"Bearer {token}"}
                    ).status_code == 403  # the token still works (an auditor's: wrong role)
    assert [e.action for e in fryslan.store.audit_entries()
            if e.actor == "wisselaar"][-2:] == ["password_change_refused", "password_change"]
    login(TestClient(create_app(fryslan), follow_redirects=False), "wisselaar", new)


def test_guessing_the_current_password_locks_out(fryslan: NodeContext) -> None:
    """An open session cannot be used to guess the password: wrong current passwords count
    as failed logins, and lock the account like them."""
    accounts.add_user(fryslan.store, "gokker", "auditor", None, PASSWORD, by="test",
                      now=time.time(), must_change=False)
    client = TestClient(create_app(fryslan), follow_redirects=False)
    csrf = login(client, "gokker")
    for _ in range(fryslan.web.login_max_failures):
        assert "klopt niet" in _change(client, csrf, "geraden-wachtwoord",
                                       "een-nieuw-wachtwoord").text
    locked = _change(client, csrf, PASSWORD, "een-nieuw-wachtwoord")
    assert locked.status_code == 422 and "Te veel mislukte pogingen" in locked.text
    user = fryslan.store.user("gokker")
    assert user is not None and accounts._verify(user.password_hash, PASSWORD)


def test_a_password_a_beheerder_set_is_changed_at_first_login(fryslan: NodeContext) -> None:
    beheer = TestClient(create_app(fryslan), follow_redirects=False)
    beheer_csrf = login(beheer, "beheerder")
    added = beheer.post("/beheer/gebruikers", data={
        "csrf_token": beheer_csrf, "gebruikersnaam": "nieuweling", "rol": "procesregisseur",
        "procesregisseur": "pr-1"})
    page = beheer.get(added.headers["location"]).text  # post/redirect/get: shown once
    temporary = re.search(r'<code id="geheim">([^<]+)</code>', page)
    assert temporary, page
    user = fryslan.store.user("nieuweling")
    assert user is not None and user.must_change_password
    newcomer = TestClient(create_app(fryslan), follow_redirects=False)
    token = accounts.create_api_token(fryslan.store, "nieuweling", by="operator",
                                      now=time.time())
    csrf = login_to(newcomer, "nieuweling", temporary.group(1))
    for path in ("/check", "/meldingen", "/help", "/mijn-api-tokens", "/beheer"):
        response = newcomer.get(path)
        assert response.headers.get("location") == "/account/wachtwoord", path
    assert newcomer.post("/check", data={"csrf_token": csrf}).headers["location"] \
        == "/account/wachtwoord"
    assert "door de beheerder ingesteld" in newcomer.get("/account/wachtwoord").text
    # The API is unaffected: tokens are not a password.
    assert newcomer.get("/api/v1/meldingen", headers={"Authorization": f"Bearer {token}"}
                        ).status_code == 200
    assert _change(newcomer, csrf, temporary.group(1), "mijn-eigen-wachtwoord").status_code \
        == 303
    assert newcomer.get("/check").status_code == 200
    # A reset by the beheerder asks for a change again; logout always works.
    beheer.post("/beheer/gebruikers/nieuweling/wachtwoord", data={"csrf_token": beheer_csrf})
    user = fryslan.store.user("nieuweling")
    assert user is not None and user.must_change_password


def login_to(client: TestClient, username: str, password: str) -> str:
    """Log in and stay on the address the login sends to; the session's CSRF token."""
    token = csrf_of(client.get("/inloggen").text)
    response = client.post("/inloggen", data={"csrf_token": token, "gebruikersnaam": username,
                                              "wachtwoord": password})
    assert response.status_code == 303
    forced = client.get(response.headers["location"])
    assert forced.headers["location"] == "/account/wachtwoord"
    return csrf_of(client.get("/account/wachtwoord").text)


def test_operator_and_demo_passwords(net: Harness) -> None:
    """`node user add` by the operator forces a change; `--own-password` (the demo's
    accounts, whose password it prints) does not."""
    config = str(net.layout.node_configs[FRYSLAN])
    for name, extra in (("operator-gezet", []), ("eigen-keuze", ["--own-password"])):
        result = CliRunner().invoke(app, ["node", "user", "add", name, "--role", "auditor",
                                          "--password-stdin", "--config", config, *extra],
                                    input="een-lang-wachtwoord\n")
        assert result.exit_code == 0, result.output
    store = NodeStore(net.nodes[FRYSLAN].config.store_path)
    try:
        forced, own = store.user("operator-gezet"), store.user("eigen-keuze")
        assert forced is not None and forced.must_change_password
        assert own is not None and not own.must_change_password
    finally:
        store.close()
    assert "--own-password" in " ".join(_demo_args())


def _demo_args() -> list[str]:
    import inspect

    from samenloop.node import demo
    return [inspect.getsource(demo._add_demo_accounts)]


def test_an_old_store_gets_the_column(tmp_path: Path) -> None:
    """A users table from before the flag (and before the privacy role) gets the column at
    open, its users not forced."""
    db = sqlite3.connect(tmp_path / "oud.sqlite")
    db.execute("CREATE TABLE users (username TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role"
               " IN ('procesregisseur', 'beheerder', 'auditor')), procesregisseur_id TEXT,"
               " password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,"
               " created_at REAL NOT NULL)")
    db.execute("INSERT INTO users VALUES ('oud', 'auditor', NULL, 'h', 0, 1.0)")
    db.commit()
    db.close()
    store = NodeStore(tmp_path / "oud.sqlite")
    try:
        user = store.user("oud")
        assert user is not None and not user.must_change_password
        assert store.add_user("privacy", "privacy", None, "h", 2.0, must_change_password=True)
        added = store.user("privacy")
        assert added is not None and added.must_change_password
    finally:
        store.close()


# ------------------------------------------------------------------ the check form

def _form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "casus": "", "doel": "", "aantal": "1", **fields}


def test_every_field_in_one_pass_with_a_linked_focused_summary(
        fryslan: NodeContext, client: TestClient) -> None:
    csrf = login(client, "regisseur")
    response = client.post("/check", data=_form(
        csrf, aantal="3", actie="controleren", p0_achternaam="Jansen",
        p0_geboortedatum="31-02-1980", p2_achternaam="", p2_voornamen="Kees",
        p2_geboortedatum="01-01-1990", geinformeerd_op="99-99-2026"))
    assert response.status_code == 422
    page = response.text
    summary = page[page.index('id="fouten"'):page.index("</div>", page.index('id="fouten"'))]
    # The impossible date and the missing voornamen of the same person, together; the
    # empty member block 1 is skipped, and member 2's error keeps its own number.
    for link, words in (("#casus", "Vul het casusnummer"), ("#doel", "Kies het doel"),
                        ("#p0_voornamen", "Persoon: Voornamen ontbreken"),
                        ("#p0_geboortedatum", "Persoon: Geboortedatum is geen geldige datum"),
                        ("#p2_achternaam", "Gezinslid 2: Achternaam ontbreekt"),
                        ("#geinformeerd_op", "Vul een geldige datum in")):
        assert re.search(f'<a href="{link}">{re.escape(words)}', summary), (link, summary)
    assert 'tabindex="-1" autofocus' in summary
    # At the field too, with a capital; and no other field takes the focus.
    assert '<p class="field-error" id="fout-p1-voornamen">Voornamen ontbreken</p>' in page
    assert page.count("autofocus") == 1


def test_adding_and_removing_a_member(fryslan: NodeContext, client: TestClient) -> None:
    csrf = login(client, "regisseur")
    added = client.post("/check", data=_form(
        csrf, aantal="2", actie="gezinslid_toevoegen", p0_achternaam="Eerste",
        p1_achternaam="Tweede")).text
    assert 'name="aantal" value="3"' in added
    focused = re.findall(r'<input id="(p\d_\w+)"[^>]*autofocus', added)
    assert focused == ["p2_achternaam"]  # the new member's first field
    assert added.count("Verwijder dit gezinslid") == 2  # not for the main person
    removed = client.post("/check", data=_form(
        csrf, aantal="3", actie="verwijder_1", p0_achternaam="Eerste",
        p1_achternaam="Tweede", p2_achternaam="Derde", p2_voornamen="Drie")).text
    assert 'name="aantal" value="2"' in removed
    assert 'id="p1_achternaam" name="p1_achternaam" value="Derde"' in removed
    assert 'name="p1_voornamen" value="Drie"' in removed and "Tweede" not in removed
    assert 'id="p0_achternaam" name="p0_achternaam" value="Eerste"' in removed
    # The main person cannot be removed, nor a block that is not there.
    for bad in ("verwijder_0", "verwijder_9", "verwijder_x"):
        same = client.post("/check", data=_form(csrf, aantal="2", actie=bad,
                                                p1_achternaam="Tweede")).text
        assert 'name="aantal" value="2"' in same and "Tweede" in same, bad


# ------------------------------------------------------------------ in the browser

@pytest.mark.slow
def test_focus_and_wcag_in_the_browser(browser: object, servers: dict[str, WebServer]) -> None:
    """Real Chromium: after an error the summary has the focus, after "Gezinslid
    toevoegen" the new member's first field; axe finds nothing on the new pages."""
    url = servers[FRYSLAN].url
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    _login(page, url, "regisseur")
    page.goto(f"{url}/check")
    page.get_by_label("Casusnummer (eigen casus)").fill("F-ONBEKEND-1")
    page.get_by_label("Doel van de check").select_option(index=1)
    page.get_by_role("button", name="Controleren").click()  # no person: errors
    page.locator("#fouten").wait_for()
    assert page.evaluate("document.activeElement.id") == "fouten"
    page.locator("#fouten a", has_text="Achternaam ontbreekt").click()
    assert page.evaluate("document.activeElement.id") == "p0_achternaam"
    audit(page, "check met fouten", problems)
    page.goto(f"{url}/check")
    page.get_by_role("button", name="Gezinslid toevoegen").click()
    page.locator("#p1_achternaam").wait_for()
    assert page.evaluate("document.activeElement.id") == "p1_achternaam"
    audit(page, "check met gezinslid", problems)
    for path in ("/meldingen?van=31-02-2026", "/account/wachtwoord"):
        page.goto(f"{url}{path}")
        audit(page, path, problems)
    page.get_by_label("Huidig wachtwoord").fill("niet-het-goede")
    page.get_by_label("Nieuw wachtwoord", exact=True).fill("kort")
    page.get_by_label("Nieuw wachtwoord nog een keer").fill("anders")
    page.get_by_role("button", name="Wachtwoord wijzigen").click()
    page.locator("#fouten").wait_for()
    assert page.evaluate("document.activeElement.id") == "fouten"
    audit(page, "wachtwoord met fouten", problems)
    context.close()
    assert not problems, "\n\n".join(problems)
