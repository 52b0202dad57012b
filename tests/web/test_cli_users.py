"""`samenloop node user ...`: the operator's way to manage web accounts."""

from __future__ import annotations

from typer.testing import CliRunner

from samenloop.node.cli import app
from samenloop.node.store import AuditRecord, NodeStore
from samenloop.node.web import accounts
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN


def test_user_add_token_disable_reset_and_list(net: Harness) -> None:
    config = str(net.layout.node_configs[FRYSLAN])
    runner = CliRunner()

    def run(*args: str, stdin: str = "") -> str:
        result = runner.invoke(app, ["node", "user", *args, "--config", config], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    run("add", "cli-regisseur", "--role", "procesregisseur", "--procesregisseur", "pr-2",
        "--password-stdin", stdin="een-lang-wachtwoord\n")
    token = run("token", "cli-regisseur").strip()
    store = NodeStore(net.nodes[FRYSLAN].config.store_path)
    try:
        user = accounts.api_user(store, token)
        assert user is not None and user.procesregisseur_id == "pr-2"
        assert "cli-regisseur" in run("list")
        run("disable", "cli-regisseur")
        assert accounts.api_user(store, token) is None
        run("enable", "cli-regisseur")
        run("reset", "cli-regisseur", "--password-stdin", stdin="nog-een-lang-wachtwoord\n")
        refused = runner.invoke(app, ["node", "user", "add", "x", "--role", "auditor",
                                      "--password-stdin", "--config", config], input="kort\n")
        assert refused.exit_code == 2 and "username: use 2-64" in refused.output
        actions = [e.action for e in store.audit_entries() if e.details.get("user")
                   == "cli-regisseur"]
        assert actions == ["user_add", "token_add", "user_disable", "user_enable",
                           "user_reset"]
    finally:
        store.close()


def test_the_operator_adds_a_privacy_officer(net: Harness) -> None:
    config = str(net.layout.node_configs[FRYSLAN])
    result = CliRunner().invoke(app, ["node", "user", "add", "cli-privacy", "--role", "privacy",
                                      "--password-stdin", "--config", config],
                                input="een-lang-wachtwoord\n")
    assert result.exit_code == 0, result.output
    assert "added privacy cli-privacy" in result.output
    store = NodeStore(net.nodes[FRYSLAN].config.store_path)
    try:
        user = store.user("cli-privacy")
        assert user is not None and user.role == "privacy" and user.procesregisseur_id is None
    finally:
        store.close()


def test_user_reset_refuses_an_account_of_the_openid_provider(net: Harness) -> None:
    config = str(net.layout.node_configs[FRYSLAN])
    store = NodeStore(net.nodes[FRYSLAN].config.store_path)
    try:
        assert store.add_oidc_user("oidc-auditor", "auditor", None, "https://idp.example",
                                   "sub-cli", now=0.0, audit=store_record())
    finally:
        store.close()
    refused = CliRunner().invoke(app, ["node", "user", "reset", "oidc-auditor",
                                       "--password-stdin", "--config", config],
                                 input="een-lang-wachtwoord\n")
    assert refused.exit_code == 2
    assert "username: signs in through the organisation's OpenID provider" in refused.output


def store_record() -> AuditRecord:
    return AuditRecord("user_add", "test", {"user": "oidc-auditor", "via": "oidc"})
