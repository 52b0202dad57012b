"""The edges of the web app: deep JSON, oversized bodies, uploads that must not touch the
disk, and slow work that must not stall other users' pages."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import WebServer
from samenloop.proto.configfile import ConfigError, Section
from tests.support.network import Harness
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


@pytest.fixture(scope="module")
def served(net: Harness, fryslan: NodeContext) -> Iterator[WebServer]:
    """The app behind real uvicorn on loopback: requests arrive as the network sends them."""
    ctx = dataclasses.replace(fryslan, web=WebConfig(listen=f"127.0.0.1:{free_port()}"))
    server = WebServer(ctx)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _raw_request(server: WebServer, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request head and part of a body; the answer must come without the rest."""
    host, port = server.server.config.host, server.server.config.port
    with socket.create_connection((host, port), timeout=20) as conn:
        conn.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(65536)
        length = int(re.search(rb"content-length: (\d+)", answer.lower()).group(1))  # type: ignore[union-attr]
        while len(answer.split(b"\r\n\r\n", 1)[1]) < length:
            answer += conn.recv(65536)
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[1]


def test_oversized_bodies_are_refused_before_they_are_read(served: WebServer,
                                                           fryslan: NodeContext) -> None:
    """An anonymous 200 MB POST once grew the node by 700 MB before its 401."""
    head = ("POST /api/v1/checks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 209715200\r\n")
    status, body = _raw_request(served, head, b"{" * 1024)
    assert status == 413
    assert json.loads(body) == {"detail": [{"field": "inhoud",
                                            "message": "het verzoek is groter dan 256 KB"}]}
    head = ("POST /inloggen HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            "boundary=x\r\nContent-Length: 31457280\r\n")
    status, body = _raw_request(served, head, b"--x\r\n")
    assert status == 413 and b"Het verzoek is groter dan 64 KB" in body
    head = ("POST /beheer/import HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            "boundary=x\r\nContent-Length: 20971521\r\n")
    status, body = _raw_request(served, head, b"--x\r\n")
    assert status == 413 and b"Het bestand is groter dan 20 MB" in body


def test_bodies_streamed_past_the_limit_are_cut_off(served: WebServer,
                                                    fryslan: NodeContext) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"casus": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    with httpx.Client(base_url=served.url, timeout=20) as http:
        # Without a token, the body is not read at all: 401.
        anonymous = http.post("/api/v1/checks", content=chunks(),
                              headers={"content-type": "application/json"})
        assert anonymous.status_code == 401
        refused = http.post("/api/v1/checks", content=chunks(), headers={
            **_bearer(fryslan, "regisseur"), "content-type": "application/json"})
        assert refused.status_code == 413, refused.text
        assert refused.json()["detail"][0]["message"] == "het verzoek is groter dan 256 KB"


def test_body_limits_are_configured_in_the_web_section(tmp_path: Path) -> None:
    web = WebConfig.from_section(Section({"max_body_bytes": 8192,
                                          "max_upload_bytes": 1048576}, tmp_path, "web"))
    assert (web.max_body_bytes, web.max_upload_bytes) == (8192, 1048576)
    assert (WebConfig().max_body_bytes, WebConfig().max_upload_bytes) == (65536, 20971520)
    with pytest.raises(ConfigError, match=r"web\.max_body_bytes"):
        WebConfig.from_section(Section({"max_body_bytes": 10}, tmp_path, "web"))
