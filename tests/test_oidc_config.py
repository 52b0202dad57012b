"""`[web.oidc]` in node.toml (issue #14): read and checked at start, every mistake named by
its dotted key; the client secret file must be the owner's only (0600)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout, build_network
from samenloop.proto.configfile import ConfigError

NODE = "zvh-fryslan"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> NetworkLayout:
    return build_network(tmp_path_factory.mktemp("net"), web_ports={NODE: 1})


def _with_oidc(layout: NetworkLayout, body: str, *, mode: int = 0o600) -> Path:
    original = layout.node_configs[NODE]
    secret = original.parent / "oidc_client_secret"
    secret.write_text("geheim\n")
    os.chmod(secret, mode)
    out = original.parent / "oidc-node.toml"
    out.write_text(original.read_text(encoding="utf-8") + "\n[web.oidc]\n" + body,
                   encoding="utf-8")
    return out


VALID = """issuer = "https://idp.gemeente.example/realms/zvh"
client_id = "samenloop"
client_secret_file = "oidc_client_secret"
display_name = "Gemeente Leeuwarden"
acr_values = ["urn:gemeente:loa:mfa"]
username_domain = "gemeente.example"
[web.oidc.roles]
"samenloop-beheerder" = "beheerder"
"samenloop-regisseur" = "procesregisseur"
"""


def test_a_valid_section_is_read(layout: NetworkLayout) -> None:
    config = NodeConfig.load(_with_oidc(layout, VALID))
    assert config.web is not None and config.web.oidc is not None
    oidc = config.web.oidc
    assert oidc.issuer == "https://idp.gemeente.example/realms/zvh"
    assert oidc.client_secret == "geheim"
    assert oidc.role_for("samenloop-regisseur") == "procesregisseur"
    assert oidc.role_for("iets-anders") is None
    assert oidc.acr_values == ("urn:gemeente:loa:mfa",)
    assert oidc.scopes == ("openid", "profile")
    assert oidc.username_domain == "gemeente.example"


MISTAKES = [
    (VALID + "", 0o644, "web.oidc.client_secret_file", "chmod 600"),
    (VALID.replace('acr_values', 'acr_value'), 0o600, "web.oidc.acr_value", "unknown key"),
    (VALID.replace('"https://idp', '"http://idp'), 0o600, "web.oidc.issuer", "https://"),
    (VALID.replace('= "beheerder"', '= "admin"'), 0o600, "web.oidc.roles.samenloop-beheerder",
     "must be one of"),
    (VALID.split("[web.oidc.roles]")[0], 0o600, "web.oidc.roles", "at least one"),
    (VALID.replace('display_name', 'scopes = ["profile"]\ndisplay_name', 1), 0o600,
     "web.oidc.scopes", "openid"),
    (VALID.replace('client_id = "samenloop"\n', ''), 0o600, "web.oidc.client_id", "missing"),
    (VALID.replace('"gemeente.example"', '"geen domein"'), 0o600, "web.oidc.username_domain",
     "domain"),
]


@pytest.mark.parametrize(("body", "mode", "field", "words"), MISTAKES,
                         ids=[f"{m[2]}-{i}" for i, m in enumerate(MISTAKES)])
def test_a_mistake_is_refused_naming_its_key(layout: NetworkLayout, body: str, mode: int,
                                              field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        NodeConfig.load(_with_oidc(layout, body, mode=mode))
    assert caught.value.field == field
    assert words in str(caught.value)


def test_oidc_needs_the_public_url_it_registers_at_the_provider(layout: NetworkLayout) -> None:
    """Before: without `public_url` the node quietly used http://<listen> for its redirect
    URI, an address the provider's users cannot reach behind the proxy, so every sign-in
    failed at the provider with a redirect_uri mismatch instead of at start."""
    path = _with_oidc(layout, VALID)
    text = path.read_text(encoding="utf-8")
    assert "\npublic_url = " in text
    path.write_text("\n".join(line for line in text.splitlines()
                              if not line.startswith("public_url = ")) + "\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        NodeConfig.load(path)
    assert refused.value.field == "web.public_url"
    assert "/inloggen/oidc/terug" in str(refused.value)
