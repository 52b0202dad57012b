"""The second factor of local accounts (TOTP, issue #14), over HTTP against the real app.

Codes are computed with pyotp from the secret the enrolment page shows, at the time of the
node's clock (a clock these tests move, so each login has a fresh 30-second step).
"""

from __future__ import annotations

import base64
import dataclasses
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from samenloop.crypto.at_rest import AtRestError, derive_key, seal, unseal
from samenloop.node.cli import app as cli_app
from samenloop.node.store import NodeStore
from samenloop.node.web import accounts, totp
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import create_app
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, PASSWORD, csrf_of, web_context


class Clock:
    """The node's clock in these tests: real time, moved on by `step()`."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def step(self, steps: int = 1) -> None:
        self.now += 30 * steps


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def ctx(net: Harness, clock: Clock) -> NodeContext:
    context = dataclasses.replace(web_context(net, FRYSLAN, totp_for_procesregisseur=True),
                                  clock=clock)
    for name, role, regisseur in (("t-beheer", "beheerder", None), ("t-audit", "auditor", None),
                                  ("t-regie", "procesregisseur", "pr-1"),
                                  ("t-skip", "beheerder", None), ("t-lock", "privacy", None),
                                  ("t-cli", "beheerder", None)):
        accounts.add_user(context.store, name, role, regisseur, PASSWORD, by="test",
                          now=clock(), must_change=False)
    return context


@pytest.fixture
def client(ctx: NodeContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), follow_redirects=False) as test_client:
        yield test_client


def password_step(client: TestClient, username: str) -> Response:
    token = csrf_of(client.get("/inloggen").text)
    return client.post("/inloggen", data={"csrf_token": token, "gebruikersnaam": username,
                                          "wachtwoord": PASSWORD})


def second_step(client: TestClient, page: str, code: str) -> Response:
    return client.post(page, data={"csrf_token": csrf_of(client.get(page).text), "code": code})


def enrol(client: TestClient, clock: Clock, username: str) -> tuple[str, list[str]]:
    """Password, then the enrolment page: the secret read from the page, one code; returns
    the secret and the recovery codes shown."""
    assert password_step(client, username).headers["location"] == "/inloggen/instellen"
    page = client.get("/inloggen/instellen")
    assert page.status_code == 200
    assert '<svg role="img"' in page.text and "<title>QR-code" in page.text
    match = re.search(r'id="totp-sleutel">([A-Z2-7 ]+)<', page.text)
    assert match, "no secret for manual entry on the page"
    secret = match.group(1).replace(" ", "")
    done = client.post("/inloggen/instellen", data={"csrf_token": csrf_of(page.text),
                                                    "code": pyotp.TOTP(secret).at(clock())})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", done.text)
    assert len(set(codes)) == totp.RECOVERY_CODES
    return secret, codes


@pytest.fixture(scope="module")
def enrolled(ctx: NodeContext, clock: Clock) -> dict[str, tuple[str, list[str]]]:
    """t-beheer, set up once through the pages; (secret, recovery codes)."""
    with TestClient(create_app(ctx), follow_redirects=False) as browser:
        out = {"t-beheer": enrol(browser, clock, "t-beheer")}
        assert browser.get("/beheer").status_code == 200  # logged in after setting up
    return out


def test_enrolment_shows_recovery_codes_once_and_logs_in(
        client: TestClient, ctx: NodeContext, clock: Clock,
        enrolled: dict[str, tuple[str, list[str]]]) -> None:
    secret, _ = enrolled["t-beheer"]
    assert ctx.store.second_factor("t-beheer") is not None
    assert len(ctx.store.recovery_codes("t-beheer")) == totp.RECOVERY_CODES
    clock.step()
    assert password_step(client, "t-beheer").headers["location"] == "/inloggen/code"
    # Once set up, the enrolment page is not shown again (no second secret).
    assert client.get("/inloggen/instellen").headers["location"] == "/"
    response = second_step(client, "/inloggen/code", pyotp.TOTP(secret).at(clock()))
    assert response.headers["location"] == "/beheer"
    page = client.get("/beheer/gebruikers")
    assert page.status_code == 200
    row = re.search(r"<td data-label=\"Gebruiker\">t-beheer</td>.*?</tr>", page.text, re.S)
    assert row and "ingesteld" in row.group(0) and secret not in page.text
    assert secret not in page.text.replace(" ", "")
    actions = [e.action for e in ctx.store.audit_entries() if e.actor == "t-beheer"]
    assert "second_factor_enrol" in actions and "login_second_factor" in actions


def test_the_second_step_cannot_be_skipped(client: TestClient, ctx: NodeContext) -> None:
    """After the password alone, no page of the role (nor any other) opens, and no API
    token can be made: the session has no user until the code."""
    assert password_step(client, "t-skip").headers["location"] == "/inloggen/instellen"
    for page in ("/beheer", "/beheer/gebruikers", "/mijn-api-tokens", "/account/wachtwoord",
                 "/audit", "/check", "/help"):
        assert client.get(page).headers.get("location") == "/inloggen", page
    csrf = csrf_of(client.get("/inloggen/instellen").text)
    made = client.post("/mijn-api-tokens", data={"csrf_token": csrf, "actie": "maken"})
    assert made.headers.get("location") == "/inloggen"
    assert "t-skip" not in ctx.store.api_token_counts()
    assert client.get("/").headers["location"] == "/inloggen"


def test_a_wrong_code_and_a_replayed_code_are_refused(
        client: TestClient, clock: Clock, enrolled: dict[str, tuple[str, list[str]]]) -> None:
    secret, _ = enrolled["t-beheer"]
    clock.step()
    password_step(client, "t-beheer")
    wrong = str((int(pyotp.TOTP(secret).at(clock())) + 1) % 1_000_000).zfill(6)
    refused = second_step(client, "/inloggen/code", wrong)
    assert refused.status_code == 401 and "klopt niet" in refused.text
    code = pyotp.TOTP(secret).at(clock())
    assert second_step(client, "/inloggen/code", code).headers["location"] == "/beheer"
    # The same code again, in its own 30 seconds, from another browser: refused.
    with TestClient(client.app, follow_redirects=False) as other:
        password_step(other, "t-beheer")
        replayed = second_step(other, "/inloggen/code", code)
        assert replayed.status_code == 401 and "al gebruikt" in replayed.text
        assert other.get("/beheer").headers["location"] == "/inloggen"


def test_one_step_of_clock_skew_either_way(
        client: TestClient, clock: Clock, enrolled: dict[str, tuple[str, list[str]]]) -> None:
    secret = pyotp.TOTP(enrolled["t-beheer"][0])
    clock.step(5)
    password_step(client, "t-beheer")
    too_far = second_step(client, "/inloggen/code", secret.at(clock(), counter_offset=2))
    assert too_far.status_code == 401
    behind = second_step(client, "/inloggen/code", secret.at(clock(), counter_offset=-1))
    assert behind.headers["location"] == "/beheer"
    with TestClient(client.app, follow_redirects=False) as other:
        password_step(other, "t-beheer")
        ahead = second_step(other, "/inloggen/code", secret.at(clock(), counter_offset=1))
        assert ahead.headers["location"] == "/beheer"


def test_a_recovery_code_works_once(
        client: TestClient, ctx: NodeContext, clock: Clock,
        enrolled: dict[str, tuple[str, list[str]]]) -> None:
    _, codes = enrolled["t-beheer"]
    password_step(client, "t-beheer")
    assert second_step(client, "/inloggen/code",
                       codes[0].upper()).headers["location"] == "/beheer"
    assert len(ctx.store.recovery_codes("t-beheer")) == totp.RECOVERY_CODES - 1
    with TestClient(client.app, follow_redirects=False) as other:
        password_step(other, "t-beheer")
        assert second_step(other, "/inloggen/code", codes[0]).status_code == 401


def test_wrong_codes_lock_the_second_step(client: TestClient, ctx: NodeContext,
                                          clock: Clock) -> None:
    """A correct password does not give a code-guesser fresh tries: the failures are
    counted apart and only a good code clears them."""
    secret, _ = enrol(client, clock, "t-lock")
    for _ in range(ctx.web.login_max_failures):
        with TestClient(client.app, follow_redirects=False) as guesser:
            password_step(guesser, "t-lock")
            assert second_step(guesser, "/inloggen/code", "000000").status_code == 401
    clock.step()
    with TestClient(client.app, follow_redirects=False) as owner:
        password_step(owner, "t-lock")
        locked = second_step(owner, "/inloggen/code", pyotp.TOTP(secret).at(clock()))
        assert locked.status_code == 401 and "geblokkeerd" in locked.text
    clock.now += ctx.web.login_lockout_minutes * 60 + 30
    with TestClient(client.app, follow_redirects=False) as owner:
        password_step(owner, "t-lock")
        assert second_step(owner, "/inloggen/code", pyotp.TOTP(secret).at(
            clock())).headers["location"] == "/privacy"


def test_a_wrong_code_at_enrolment_stores_nothing(client: TestClient, ctx: NodeContext) -> None:
    assert password_step(client, "t-audit").headers["location"] == "/inloggen/instellen"
    refused = second_step(client, "/inloggen/instellen", "12345")
    assert refused.status_code == 422 and "klopt niet" in refused.text
    assert ctx.store.second_factor("t-audit") is None
    assert ctx.store.recovery_codes("t-audit") == []


def test_procesregisseur_follows_the_setting(net: Harness, ctx: NodeContext) -> None:
    off = dataclasses.replace(ctx, web=dataclasses.replace(ctx.web,
                                                           totp_for_procesregisseur=False))
    with TestClient(create_app(off), follow_redirects=False) as client:
        assert password_step(client, "t-regie").headers["location"] == "/check"
    with TestClient(create_app(ctx), follow_redirects=False) as client:
        assert password_step(client, "t-regie").headers["location"] == "/inloggen/instellen"


def test_the_secret_is_not_in_the_database_in_plain(
        ctx: NodeContext, enrolled: dict[str, tuple[str, list[str]]]) -> None:
    secret, codes = enrolled["t-beheer"]
    ctx.store.append_audit("test_flush", "test", {}, ctx.clock())
    files = sorted(Path(ctx.store.path).parent.glob(Path(ctx.store.path).name + "*"))
    assert files
    raw = b"".join(f.read_bytes() for f in files)
    for needle in (secret.encode(), secret.lower().encode(), base64.b32decode(secret),
                   *(c.encode() for c in codes), *(c.replace("-", "").encode() for c in codes)):
        assert needle not in raw


def test_the_operator_resets_a_lost_second_factor(
        ctx: NodeContext, net: Harness, clock: Clock,
        enrolled: dict[str, tuple[str, list[str]]]) -> None:
    with TestClient(create_app(ctx), follow_redirects=False) as browser:
        enrol(browser, clock, "t-cli")
        assert browser.get("/beheer").status_code == 200
        config = str(net.layout.node_configs[FRYSLAN])
        result = CliRunner().invoke(cli_app, ["node", "user", "reset-totp", "t-cli",
                                              "--config", config])
        assert result.exit_code == 0, result.output
        assert browser.get("/beheer").headers["location"] == "/inloggen"  # session ended
        assert password_step(browser, "t-cli").headers["location"] == "/inloggen/instellen"
    assert ctx.store.second_factor("t-cli") is None
    assert ctx.store.recovery_codes("t-cli") == []
    listed = CliRunner().invoke(cli_app, ["node", "user", "list", "--config", config])
    line = next(x for x in listed.output.splitlines() if x.startswith("t-beheer "))
    assert line.split()[-1] == "totp"
    assert next(x for x in listed.output.splitlines()
                if x.startswith("t-cli ")).split()[-1] == "-"
    entry = [e for e in ctx.store.audit_entries("second_factor_reset")][-1]
    assert (entry.actor, entry.details) == ("operator", {"user": "t-cli"})
    unknown = CliRunner().invoke(cli_app, ["node", "user", "reset-totp", "niemand",
                                           "--config", config])
    assert unknown.exit_code != 0 and "username" in unknown.output


def test_sealed_secrets_open_only_with_their_key_and_account() -> None:
    key = derive_key(bytes(range(32)), b"samenloop/v1/test")
    assert key != derive_key(bytes(range(32)), b"samenloop/v1/other")
    sealed = seal(key, b"JBSWY3DPEHPK3PXP", b"t-beheer")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert unseal(key, sealed, b"t-beheer") == b"JBSWY3DPEHPK3PXP"
    for wrong in (lambda: unseal(key, sealed, b"t-audit"),
                  lambda: unseal(derive_key(bytes(32), b"x"), sealed, b"t-beheer"),
                  lambda: unseal(key, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"t-beheer"),
                  lambda: unseal(key, b"\x02" + sealed[1:], b"t-beheer"),
                  lambda: unseal(key, sealed[:20], b"t-beheer"),
                  lambda: derive_key(bytes(31), b"x")):
        with pytest.raises(AtRestError):
            wrong()


def test_a_store_made_before_gets_the_second_factor_tables(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    NodeStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE second_factors")
        db.execute("DROP TABLE recovery_codes")
    store = NodeStore(path)
    try:
        assert store.second_factor_users() == set()
        assert store.recovery_codes("iemand") == []
    finally:
        store.close()
