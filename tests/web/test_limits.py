"""The edges of the web app: deep JSON, oversized bodies, uploads that must not touch the
disk, and slow work that must not stall other users' pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from tests.web.conftest import login

DEEP = "[" * 50_000 + "]" * 50_000


def _bearer(ctx: NodeContext, username: str) -> dict[str, str]:
    token = accounts.create_api_token(ctx.store, username, by="test", now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


def test_deeply_nested_json_is_refused_in_dutch(client: TestClient,
                                                fryslan: NodeContext) -> None:
    """50,000 nested brackets once answered 500; now: "geen geldige JSON", nothing changed."""
    before = len(fryslan.store.audit_entries("import"))
    api = client.post("/api/v1/import", headers=_bearer(fryslan, "beheerder"),
                      json={"inhoud": DEEP, "toepassen": True})
    assert api.status_code == 200, api.text
    assert api.json()["toegepast"] is False
    assert api.json()["problemen"][0]["reden"].startswith("geen geldige JSON")
    csrf = login(client, "beheerder")
    page = client.post("/beheer/import", data={"csrf_token": csrf, "actie": "controleren"},
                       files={"bestand": ("export.json", DEEP, "application/json")})
    assert page.status_code == 200 and "geen geldige JSON" in page.text
    assert len(fryslan.store.audit_entries("import")) == before


def test_deeply_nested_api_body_is_refused_in_dutch(client: TestClient,
                                                    fryslan: NodeContext) -> None:
    body = '{"casus": ' + "[" * 20_000 + "]" * 20_000 + "}"
    response = client.post("/api/v1/checks", content=body, headers={
        **_bearer(fryslan, "regisseur"), "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json() == {"detail": [{"field": "inhoud",
                                           "message": "de inhoud is geen geldige JSON"}]}
