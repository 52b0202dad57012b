"""A procesregisseur's working day (issue 11): meldingen open and handled apart, filtered
and paged, with the open count in the navigation; the own password, changed at the first
login after a beheerder set it; the check form validated in one pass, its error summary
focused and linked, members added and removed. Real app, real store, real network."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from samenloop.node.config import Procesregisseur
from samenloop.node.store import AuditRecord, NewMelding
from samenloop.node.web.actions import NodeContext
from tests.web.conftest import login

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
    assert '<td class="nowrap">W-2026/001-lang</td>' in page
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
