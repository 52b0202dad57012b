"""The annotated example configs in deploy/examples load with the real loaders, so the
documentation of every option cannot drift from the code."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.shares import EpochShare, share_file_text
from samenloop.crypto import pki, voprf
from samenloop.node.config import NodeConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"


def materialise(name: str, tmp: Path) -> Path:
    """Point the example's absolute paths into tmp and fill its placeholders."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    key = voprf.generate_key_pair(voprf.Mode.VOPRF)[0].hex()
    for path in set(re.findall(r'"(/(?:etc|var)/[^"]+)"', text)):
        target = tmp / path.lstrip("/")
        if path.startswith("/etc/"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(key)
            target.chmod(0o600)
        text = text.replace(f'"{path}"', f'"{target}"')
    text = re.sub(r'"<[^>]*>"', '"' + "ab" * 32 + '"', text)
    out = tmp / name
    out.write_text(text, encoding="utf-8")
    return out


def test_node_example_loads_with_every_section(tmp_path: Path) -> None:
    config = NodeConfig.load(materialise("node.toml", tmp_path))
    assert config.node_id == "zvh-fryslan" and config.phase_names["afgesloten"] == "afschaling"
    assert config.max_inactive_days == 183 and config.check_registration_grace_days == 14
    assert config.web is not None and config.web.secure_cookies
    assert config.web.smtp is not None and config.web.smtp.starttls
    assert config.web.oidc is not None and config.web.oidc.acr_values == ("mfa",)
    assert config.web.oidc.role_for("samenloop-beheerder") == "beheerder"
    assert [p.id for p in config.procesregisseurs] == ["pr-1"]


def test_coordinator_example_loads(tmp_path: Path) -> None:
    config = CoordinatorConfig.load(materialise("coordinator.toml", tmp_path))
    assert config.deadline_seconds == 2.0 and list(config.oprf_keys) == [1]
    assert config.rate_limits.checks_per_minute == 120
    # Replicas: the shared store, its password from a private file, never in the URL.
    assert config.store.url == "postgresql://samenloop@db.samenloop.example:5432/samenloop"
    assert config.store.password_file is not None and config.store.password_file.exists()


def test_keyholder_example_loads(tmp_path: Path) -> None:
    """With a real certificate for its holder id and a real share file in its paths."""
    path = materialise("keyholder.toml", tmp_path)
    etc = tmp_path / "etc" / "samenloop"
    now = dt.datetime.now(dt.UTC)
    ca_key, ca_cert = pki.new_ca("example", now=now)
    _, cert = pki.issue(ca_key, ca_cert, "houder-netwerkbeheer", now=now)
    (etc / "pki" / "houder-netwerkbeheer.crt").write_bytes(cert)
    (etc / "keys" / "houder-netwerkbeheer.share").write_text(share_file_text(
        "houder-netwerkbeheer", [EpochShare(1, 1, voprf.generate_key_pair(voprf.Mode.VOPRF)[0])]))
    config = KeyHolderConfig.load(path)
    assert config.holder_id == "houder-netwerkbeheer" and config.listen == "0.0.0.0:7300"
    assert list(config.shares.shares) == [1] and config.audit_retention_days == 1461
    assert config.rate_limits.import_evaluations_per_day == 4_000_000


README = EXAMPLES.parents[1] / "README.md"


def readme_web_blocks() -> list[str]:
    """The README's ```toml blocks that document the node's [web] settings."""
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if re.match(r"\[web(\.[a-z]+)?\]", b.lstrip())]


def test_readme_web_settings_load(tmp_path: Path) -> None:
    """An operator copies the README's [web] and [web.oidc] blocks into node.toml: every key
    in them must be one the loader reads (unknown keys are refused at start)."""
    blocks = readme_web_blocks()
    assert len(blocks) == 2, "the README's [web] and [web.oidc] examples"
    example = materialise("node.toml", tmp_path).read_text(encoding="utf-8")
    start, end = example.index("\n[web]\n"), example.index("\n[[procesregisseurs]]\n")
    (tmp_path / "keys").mkdir()
    for path in set(re.findall(r'_file = "([^"/][^"]*)"', "".join(blocks))):
        (tmp_path / path).write_text("geheim\n")
        (tmp_path / path).chmod(0o600)
    config_file = tmp_path / "node-readme.toml"
    config_file.write_text(example[:start] + "\n" + "\n".join(blocks) + example[end:],
                           encoding="utf-8")
    config = NodeConfig.load(config_file)
    assert config.web is not None and config.web.oidc is not None and config.web.smtp is not None
    assert config.web.oidc.role_for("samenloop-privacy") == "privacy"
    assert config.web.totp_for_procesregisseur and config.web.oidc.acr_values == ("mfa",)
