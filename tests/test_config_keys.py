"""Every configuration file refuses keys its loader does not read: a misspelt or misplaced
key (`metrics_listen` under `[limits]`) would otherwise leave its setting silently at the
default. The refusal names the file and the dotted key, and the process does not start."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from samenloop.coordinator.cli import sign_from_file
from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.crypto import voprf
from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout, build_network
from samenloop.proto.configfile import ConfigError, write_secret

SAMENLOOP = [sys.executable, "-m", "samenloop.node"]
NODE = "zvh-fryslan"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> NetworkLayout:
    layout = build_network(tmp_path_factory.mktemp("net"), web_ports={NODE: 1})
    # The coordinator holds no key of the split epoch 1; a key of another epoch, for the
    # [[oprf_keys]] row below (the loader reads the key before it looks for unknown keys).
    write_secret(layout.root / "keys" / "oprf-epoch-2.key",
                 voprf.generate_key_pair(voprf.Mode.VOPRF)[0].hex() + "\n")
    return layout


def variant(original: Path, name: str, *, before: str = "", after: str = "") -> Path:
    """A copy of a config beside the original (relative paths keep working), with lines
    added before its first table or at its end."""
    out = original.parent / name
    out.write_text(before + original.read_text(encoding="utf-8") + "\n" + after,
                   encoding="utf-8")
    return out


NODE_MISTAKES = [
    ("", "[retention]\nmax_inactve_days = 1\n", "retention.max_inactve_days"),
    ("", "[limits]\nmetrics_listen = \"127.0.0.1:9710\"\n", "limits.metrics_listen"),
    ("bsn_enabeld = true\n", "", "bsn_enabeld"),
    ("", "[retention_policy]\nmax_inactive_days = 1\n", "retention_policy"),
    ("", "[web.smtp]\nhost = \"smtp.example\"\nstarttsl = true\n", "web.smtp.starttsl"),
    ("", "[[procesregisseurs]]\nid = \"pr-9\"\nname = \"X Y\"\nphone = \"010 1\"\n"
         "email = \"x@y.example\"\nmobile = \"06\"\n", "procesregisseurs[2].mobile"),
]


@pytest.mark.parametrize(("before", "after", "dotted"), NODE_MISTAKES,
                         ids=[m[2] for m in NODE_MISTAKES])
def test_node_toml_refuses_an_unknown_key(layout: NetworkLayout, before: str, after: str,
                                          dotted: str) -> None:
    bad = variant(layout.node_configs[NODE], "bad-node.toml", before=before, after=after)
    with pytest.raises(ConfigError) as caught:
        NodeConfig.load(bad)
    assert str(caught.value) == f"{bad}: {dotted}: unknown key"
    assert caught.value.field == dotted


COORDINATOR_MISTAKES = [
    ("deadline_secnds = 9\n", "", "deadline_secnds"),
    ("", "[rate_limitz]\nchecks_per_minute = 1\n", "rate_limitz"),
    ("", "[tls]\n", None),  # a duplicate table is a TOML error, refused by the parser
    ("", "[[oprf_keys]]\nepoch = 2\nkey = \"keys/oprf-epoch-2.key\"\nepohc = 3\n",
     "oprf_keys[0].epohc"),
]


@pytest.mark.parametrize(("before", "after", "dotted"), COORDINATOR_MISTAKES,
                         ids=[str(m[2]) for m in COORDINATOR_MISTAKES])
def test_coordinator_toml_refuses_an_unknown_key(layout: NetworkLayout, before: str, after: str,
                                                 dotted: str | None) -> None:
    bad = variant(layout.coordinator_config, "bad-coordinator.toml", before=before, after=after)
    with pytest.raises(ConfigError) as caught:
        CoordinatorConfig.load(bad)
    if dotted is None:
        assert "not valid TOML" in str(caught.value)
    else:
        assert str(caught.value) == f"{bad}: {dotted}: unknown key"


def test_several_unknown_keys_are_all_named(layout: NetworkLayout) -> None:
    bad = variant(layout.coordinator_config, "bad-coordinator.toml",
                  before="deadline_secnds = 9\n", after="[rate_limitz]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"deadline_secnds: unknown key \(also unknown: "
                                          r"rate_limitz\)"):
        CoordinatorConfig.load(bad)


def test_directory_toml_refuses_an_unknown_key(layout: NetworkLayout, tmp_path: Path) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    for before, after, dotted in (
            ("serail = 2\n", "", "serail"),
            ("", "[[nodes]]\nnode_id = \"zvh-x\"\ndisplay_name = \"X\"\n"
                 "endpoint = \"127.0.0.1:1\"\nbox_public_key = \"" + "ab" * 32 + "\"\n"
                 "adres = \"Leeuwarden\"\n", "nodes[3].adres")):
        spec = variant(layout.directory_spec, "bad-directory.toml", before=before, after=after)
        out = tmp_path / "directory.pb"
        with pytest.raises(ConfigError, match="^" + re.escape(f"{spec}: {dotted}: unknown key")):
            sign_from_file(spec, layout.admin_key, out, now)
        assert not out.exists(), "a refused spec is not signed"


def test_the_shipped_generated_configs_have_no_unknown_key(layout: NetworkLayout) -> None:
    NodeConfig.load(layout.node_configs[NODE])
    CoordinatorConfig.load(layout.coordinator_config)
    for config in layout.holder_configs.values():
        KeyHolderConfig.load(config)


@pytest.mark.parametrize("command", [("node", "serve"), ("node", "status")])
def test_a_node_with_an_unknown_key_does_not_start(layout: NetworkLayout,
                                                   command: tuple[str, str]) -> None:
    folder = layout.node_configs[NODE].parent
    variant(layout.node_configs[NODE], "misplaced.toml",
            after="[limits]\nmetrics_listen = \"127.0.0.1:9710\"\n")
    result = subprocess.run([*SAMENLOOP, *command, "--config", "misplaced.toml"], cwd=folder,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: misplaced.toml: limits.metrics_listen: "
                                     "unknown key")


def test_a_coordinator_with_an_unknown_key_does_not_start(layout: NetworkLayout) -> None:
    variant(layout.coordinator_config, "misspelt.toml", before="deadline_secnds = 9\n")
    result = subprocess.run([*SAMENLOOP, "coordinator", "serve", "--config", "misspelt.toml"],
                            cwd=layout.root, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: misspelt.toml: deadline_secnds: unknown key"


def test_web_totp_for_procesregisseur_is_read_and_misspellings_refused(
        layout: NetworkLayout) -> None:
    """The demo turns TOTP off for procesregisseurs; the default is on; a misspelt key or a
    value that is not true/false is refused, naming the key."""
    original = layout.node_configs[NODE]
    text = original.read_text(encoding="utf-8")
    assert "totp_for_procesregisseur = false" in text
    loaded = NodeConfig.load(original).web
    assert loaded is not None and loaded.totp_for_procesregisseur is False
    default = original.parent / "default-node.toml"
    default.write_text(text.replace("totp_for_procesregisseur = false\n", ""), encoding="utf-8")
    loaded = NodeConfig.load(default).web
    assert loaded is not None and loaded.totp_for_procesregisseur is True
    for wrong, dotted in (("totp_voor_procesregisseur = false", "web.totp_voor_procesregisseur"),
                          ('totp_for_procesregisseur = "nee"', "web.totp_for_procesregisseur")):
        bad = original.parent / "bad-totp.toml"
        bad.write_text(text.replace("totp_for_procesregisseur = false", wrong), encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            NodeConfig.load(bad)
        assert caught.value.field == dotted


def test_web_api_contact_email_reaches_the_api_document_and_a_bad_one_is_refused(
        layout: NetworkLayout) -> None:
    """NL API Design Rules: the OpenAPI contact names an e-mail address when the beheer gives
    one; anything but an address is refused, naming the key."""
    from samenloop.node.web import api

    original = layout.node_configs[NODE]
    text = original.read_text(encoding="utf-8")
    assert NodeConfig.load(original).web.api_contact_email is None  # type: ignore[union-attr]
    good = original.parent / "contact-node.toml"
    good.write_text(text.replace("[web]\n", '[web]\napi_contact_email = "beheer@zvh.example"\n',
                                 1), encoding="utf-8")
    web = NodeConfig.load(good).web
    assert web is not None and web.api_contact_email == "beheer@zvh.example"
    doc = api.openapi_document({"info": {"title": "t"}, "paths": {}}, web.public_url,
                               web.api_contact_email)
    assert doc["info"]["contact"]["email"] == "beheer@zvh.example"
    bad = original.parent / "bad-contact.toml"
    bad.write_text(text.replace("[web]\n", '[web]\napi_contact_email = "geen adres"\n', 1),
                   encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        NodeConfig.load(bad)
    assert caught.value.field == "web.api_contact_email"
