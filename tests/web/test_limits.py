"""The edges of the web app: deep JSON, oversized bodies, uploads that must not touch the
disk, and slow work that must not stall other users' pages."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from samenloop.node.cli import app as cli
from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.network import Network
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import WebServer, create_app
from samenloop.proto.configfile import ConfigError, Section
from tests.support.network import Harness
from tests.web.conftest import (
    FRYSLAN,
    PASSWORD,
    SECOND_STEP_PAGES,
    add_users,
    csrf_of,
    finish_second_step,
    login,
    web_context,
)

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
    page = client.post("/beheer/import", follow_redirects=True,
                       data={"csrf_token": csrf, "actie": "controleren"},
                       files={"bestand": ("export.json", DEEP, "application/json")})
    assert page.status_code == 200 and "geen geldige JSON" in page.text
    assert len(fryslan.store.audit_entries("import")) == before


def test_deeply_nested_api_body_is_refused_in_dutch(client: TestClient,
                                                    fryslan: NodeContext) -> None:
    body = '{"casus": ' + "[" * 20_000 + "]" * 20_000 + "}"
    response = client.post("/api/v1/checks", content=body, headers={
        **_bearer(fryslan, "regisseur"), "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["fouten"] == [{"veld": "inhoud",
                                          "melding": "de inhoud is geen geldige JSON"}]


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
    assert json.loads(body)["fouten"] == [{"veld": "inhoud",
                                           "melding": "het verzoek is groter dan 64 KB"}]
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
        assert refused.json()["fouten"][0]["melding"] == "het verzoek is groter dan 64 KB"
    # A page form streamed past the limit by a logged-in beheerder: cut off while parsing.
    beheer, csrf = _browser(served, "beheerder")

    def form() -> Iterator[bytes]:
        yield f"csrf_token={csrf}&casus=".encode()
        for _ in range(100):
            yield b"x" * 4096

    page = beheer.post("/beheer/casus-sluiten", content=form(), headers={
        "content-type": "application/x-www-form-urlencoded"})
    beheer.close()
    assert page.status_code == 413 and "Het verzoek is groter dan 64 KB" in page.text


def test_body_limits_are_configured_in_the_web_section(tmp_path: Path) -> None:
    web = WebConfig.from_section(Section({"max_body_bytes": 8192,
                                          "max_upload_bytes": 1048576}, tmp_path, "web"))
    assert (web.max_body_bytes, web.max_upload_bytes) == (8192, 1048576)
    assert (WebConfig().max_body_bytes, WebConfig().max_upload_bytes) == (65536, 20971520)
    with pytest.raises(ConfigError, match=r"web\.max_body_bytes"):
        WebConfig.from_section(Section({"max_body_bytes": 10}, tmp_path, "web"))


class DiskWatch:
    """Every file this process opens under a fresh TMPDIR, seen two ways: an audit hook on
    Python's `open` events (which also fire for nameless O_TMPFILE files) and a thread
    scanning /proc/self/fd, as the issue's reproduction did."""

    hooked: ClassVar[list[DiskWatch]] = []

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._scanner = threading.Thread(target=self._scan, daemon=True)

    @classmethod
    def _audit(cls, event: str, args: tuple[Any, ...]) -> None:
        if event in ("open", "tempfile.mkstemp") and cls.hooked and args \
                and isinstance(args[0], str | bytes | os.PathLike):
            path = os.fsdecode(args[0])
            for watch in cls.hooked:
                if path.startswith(watch.root):
                    watch.seen.append(path)

    def _scan(self) -> None:
        while not self._stop.is_set():
            for fd in os.listdir("/proc/self/fd"):
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                if target.startswith(self.root):
                    self.seen.append(target)
            self._stop.wait(0.002)

    def __enter__(self) -> DiskWatch:
        if not DiskWatch.hooked and not getattr(DiskWatch, "_installed", False):
            sys.addaudithook(DiskWatch._audit)
            DiskWatch._installed = True  # type: ignore[attr-defined]
        DiskWatch.hooked.append(self)
        self._scanner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._scanner.join()
        DiskWatch.hooked.remove(self)


def _export_csv(size: int) -> str:
    lines = ["casusnummer;fase;procesregisseur;achternaam;voornamen;geboortedatum"]
    number = length = 0
    while length < size:
        number += 1
        lines.append(f"F-2026-{number:05d};aanmelding;pr-2;Hoogeveen-Spanjaard;Willemijntje;"
                     f"{1950 + number % 60}-0{1 + number % 9}-1{number % 9}")
        length += len(lines[-1]) + 1
    return "\n".join(lines) + "\n"


def test_uploads_and_forms_never_touch_the_disk(served: WebServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1.9 MB export upload once put names and dates of birth in /tmp (Starlette spools
    file parts above 1 MB), and an anonymous multipart login left a temporary file."""
    spool = tmp_path / "tmpdir"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    export = _export_csv(1_900_000)
    with DiskWatch(spool) as watch, httpx.Client(base_url=served.url, timeout=60) as browser:
        page = browser.get("/inloggen")
        # Anonymous, multipart, with a file part: read in memory after the session check.
        refused = browser.post("/inloggen", data={"csrf_token": csrf_of(page.text),
                                                  "gebruikersnaam": "beheerder",
                                                  "wachtwoord": "fout"},
                               files={"bijlage": ("x.bin", b"x" * 60_000)})
        assert refused.status_code == 401
        step = browser.post("/inloggen", data={
            "csrf_token": csrf_of(browser.get("/inloggen").text),
            "gebruikersnaam": "beheerder", "wachtwoord": PASSWORD})
        finish_second_step(browser.cookies, served.ctx, "beheerder")
        assert step.headers["location"] in SECOND_STEP_PAGES
        csrf = csrf_of(browser.get("/beheer/import").text)
        report = browser.post("/beheer/import", follow_redirects=True, data={"csrf_token": csrf,
                                                      "actie": "controleren"},
                              files={"bestand": ("export.csv", export, "text/csv")})
        assert report.status_code == 200 and "goedgekeurd" in report.text, report.text[-2000:]
    assert watch.seen == []
    assert list(spool.iterdir()) == []


def _asgi_post(app: Any, path: str, headers: dict[str, str], body: bytes) -> tuple[int, int]:
    """(status, how often the app asked for the body), calling the ASGI app directly."""
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": body, "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80),
             "headers": [(k.lower().encode(), v.encode()) for k, v in
                         {**headers, "content-length": str(len(body))}.items()]}
    anyio.run(app, scope, receive, send)
    return statuses[0], asked


def test_no_body_is_read_before_the_route_knows_the_sender_may_send_it(
        fryslan: NodeContext) -> None:
    app = create_app(fryslan)
    form = {"content-type": "multipart/form-data; boundary=grens"}
    body = (b"--grens\r\nContent-Disposition: form-data; name=\"bestand\"; filename=\"e.csv\""
            b"\r\n\r\n" + b"x" * 30_000 + b"\r\n--grens--\r\n")
    assert _asgi_post(app, "/inloggen", form, body) == (303, 0)
    assert _asgi_post(app, "/beheer/import", form, body) == (303, 0)
    regisseur = TestClient(app, follow_redirects=False)
    login(regisseur, "regisseur")
    cookie = {"cookie": f"samenloop_sessie={regisseur.cookies['samenloop_sessie']}"}
    assert _asgi_post(app, "/beheer/import", {**form, **cookie}, body) == (403, 0)
    api = {"content-type": "application/json"}
    assert _asgi_post(app, "/api/v1/import", api, b'{"inhoud": "x"}') == (401, 0)
    assert _asgi_post(app, "/api/v1/import", {**api, **_bearer(fryslan, "regisseur")},
                      b'{"inhoud": "x"}') == (403, 0)
    # Control: the right role's request is read.
    status, asked = _asgi_post(app, "/api/v1/import", {**api, **_bearer(fryslan, "beheerder")},
                               b'{"inhoud": "x"}')
    assert status == 200 and asked >= 1


class StallingCoordinator:
    """A TCP relay in front of the real coordinator that holds every byte while stalled:
    the node's calls hang mid-way as with a coordinator (or node) that stopped answering,
    and go through to the real one once it flows again."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.flowing = threading.Event()
        self.flowing.set()
        self.holding = threading.Event()  # set once bytes were held back
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.flowing.is_set():
                    self.holding.set()
                    self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.flowing.set()
        self.listener.close()
        for end in self._sockets:
            end.close()


def _browser(server: WebServer, username: str) -> tuple[httpx.Client, str]:
    browser = httpx.Client(base_url=server.url, timeout=120)
    page = browser.get("/inloggen")
    step = browser.post("/inloggen", data={"csrf_token": csrf_of(page.text),
                                           "wachtwoord": PASSWORD, "gebruikersnaam": username})
    if step.headers.get("location") in SECOND_STEP_PAGES:
        finish_second_step(browser.cookies, server.ctx, username)
    return browser, csrf_of(browser.get("/mijn-api-tokens").text)


@pytest.fixture
def coordinator_keyed(tmp_path: Path) -> Iterator[NodeContext]:
    """Fryslân's web context in a network whose key the coordinator holds (before #13's
    split), so that stalling the coordinator stalls the evaluations too."""
    harness = Harness(tmp_path / "net", deadline_seconds=1.0, key_holders=())
    try:
        harness.start()
        ctx = web_context(harness, FRYSLAN)
        add_users(ctx)
        yield ctx
    finally:
        harness.close()


def test_a_page_answers_while_an_import_and_a_check_hang(coordinator_keyed: NodeContext
                                                         ) -> None:
    """A 3,000-row web import once froze every page for 4.8 s, and a check with a node
    stopped for 2 s: both ran in async handlers, on the event loop of all users."""
    fryslan = coordinator_keyed
    coordinator = StallingCoordinator(fryslan.config.coordinator)
    config = dataclasses.replace(fryslan.config, coordinator=coordinator.address,
                                 coordinator_timeout_seconds=120.0)
    ctx = dataclasses.replace(fryslan, config=config, network=Network(config),
                              web=WebConfig(listen=f"127.0.0.1:{free_port()}"))
    ctx.network.directory(refresh=True)
    server = WebServer(ctx)
    server.start()
    results: dict[str, httpx.Response] = {}
    try:
        beheer, beheer_csrf = _browser(server, "beheerder")
        regisseur, regisseur_csrf = _browser(server, "regisseur")
        export = _export_csv(300 * 80).replace("F-2026-", "V-2026-")
        report = beheer.post("/beheer/import", follow_redirects=True,
                             data={"csrf_token": beheer_csrf, "actie": "controleren"},
                             files={"bestand": ("export.csv", export, "text/csv")})
        assert "goedgekeurd" in report.text
        coordinator.flowing.clear()

        def run(name: str, browser: httpx.Client, data: dict[str, str]) -> None:
            path = "/beheer/import" if name == "import" else "/check"
            results[name] = browser.post(path, data=data, follow_redirects=name == "import")

        importing = threading.Thread(target=run, args=("import", beheer, {
            "csrf_token": beheer_csrf, "sync": "nee", "actie": "toepassen"}))
        importing.start()
        assert coordinator.holding.wait(60), "the import never reached the coordinator"
        checking = threading.Thread(target=run, args=("check", regisseur, {
            "csrf_token": regisseur_csrf, "casus": "F-2026-001",
            "doel": "triage: samenloop met ander ZVH", "aantal": "1", "actie": "controleren",
            "p0_achternaam": "Brouwer", "p0_voornamen": "Jetske",
            "p0_geboortedatum": "1991-04-04"}))
        checking.start()
        # Another user's page answers while both hang (the old code answered only after
        # the import's 120 s coordinator timeout: this request timed out first).
        with httpx.Client(base_url=server.url, timeout=15) as other:
            assert other.get("/inloggen").status_code == 200
        assert importing.is_alive() and checking.is_alive()
        coordinator.flowing.set()
        importing.join(120)
        checking.join(120)
        assert "Import toegepast" in results["import"].text
        assert results["check"].status_code == 303, results["check"].text[-1000:]
    finally:
        coordinator.close()
        server.stop()
        ctx.network.close()


def test_the_cli_refuses_deeply_nested_json_in_english(net: Harness, tmp_path: Path) -> None:
    """`samenloop node import` once ended in a RecursionError traceback."""
    export = tmp_path / "diep.json"
    export.write_text(DEEP)
    result = CliRunner().invoke(cli, ["node", "import", str(export), "--config",
                                      str(net.layout.node_configs[FRYSLAN])])
    assert result.exit_code != 0
    assert "not valid JSON (nested deeper than 32 levels)" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
