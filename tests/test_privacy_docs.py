"""The privacy documents are rendered from the node's configuration and the signed
directory, so they stay true when either changes: every retention term, purpose, member ZVH
and the BSN decision come from there. The CLI writes them from the node's verified cached
directory (or the coordinator's), and never overwrites without --force."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from samenloop.crypto.seal import generate_box_key_pair
from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout, build_network, stop_processes, wait_for_port
from samenloop.node.privacy_docs import (
    DPIA_FILE,
    INFORMATION_FILE,
    REGISTER_FILE,
    PrivacyDocsError,
    PrivacyDocuments,
    render,
)
from samenloop.proto import directory as directory_mod
from samenloop.proto.directory import DirectoryNode, NodeDirectory

SAMENLOOP = [sys.executable, "-m", "samenloop.node"]
FRYSLAN = "Zorg- en Veiligheidshuis Fryslân"
NOORD_LIMBURG = "Zorg- en Veiligheidshuis Noord-Limburg"
ROTTERDAM = "Zorg- en Veiligheidshuis Rotterdam-Rijnmond"
BLOCK = "De blokkade bevat alleen de tags van deze node"


@pytest.fixture
def layout(tmp_path: Path) -> NetworkLayout:
    # A short coordinator timeout: the tests without a directory wait for it.
    return build_network(tmp_path / "net", node_settings="coordinator_timeout_seconds = 2.0")


def _config(layout: NetworkLayout, node_id: str = "zvh-fryslan") -> NodeConfig:
    return NodeConfig.load(layout.node_configs[node_id])


def _directory(layout: NetworkLayout, *, extra: tuple[tuple[str, str], ...] = (),
               bsn_enabled: bool = False, serial: int = 2) -> NodeDirectory:
    """The network's directory, re-signed by its administrator with changes."""
    current = directory_mod.parse_file(layout.directory_file.read_bytes(), layout.verify_key)
    nodes = list(current.nodes)
    for node_id, name in extra:
        nodes.append(DirectoryNode(node_id, name, "127.0.0.1:9", generate_box_key_pair()[1]))
    seed = bytes.fromhex(layout.admin_key.read_text().strip())
    signed = directory_mod.build(
        network=current.network, serial=serial, issued_at=current.issued_at, nodes=nodes,
        oprf_keys=current.oprf_keys, current_epoch=current.current_epoch, signing_key=seed,
        bsn_enabled=bsn_enabled, key_holders=current.key_holders,
        key_splits=current.key_splits)
    return directory_mod.verify(signed, layout.verify_key)


def _all(docs: PrivacyDocuments) -> str:
    return "\n".join(docs.files().values())


def _section(text: str, heading: str) -> str:
    """The text under one '## heading', up to the next."""
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


# ---------------------------------------------------------------- the pure function


def test_documents_take_every_term_limit_and_purpose_from_the_config(
        layout: NetworkLayout) -> None:
    config = dataclasses.replace(
        _config(layout), max_inactive_days=211, melding_retention_days=47,
        audit_retention_days=2000, destroy_after_end_days=1095,
        check_registration_grace_days=9, max_subjects_per_check=7,
        checks_per_user_per_hour=13, checks_per_user_per_day=77,
        purposes=("triage: samenloop met ander ZVH", "huiselijk geweld: lopende aanpak"))
    docs = render(config, _directory(layout))
    for text in (docs.verwerkingsregister, docs.dpia_input):
        table = _section(text, "Bewaartermijnen")
        for term in ("211 dagen", "47 dagen", "2000 dagen", "1095 dagen", "9 dagen"):
            assert term in table
        # The defaults are gone wherever the config set something else.
        for default in ("183 dagen", "90 dagen", "1461 dagen", "365 dagen", "14 dagen"):
            assert default not in text
    for term in ("211 dagen", "47 dagen", "2000 dagen"):
        assert term in _section(docs.informatietekst, "Hoe lang bewaren we dit?")
    purposes = _section(docs.verwerkingsregister, "Doeleinden")
    assert "huiselijk geweld: lopende aanpak" in purposes
    assert "gezinssituatie" not in _all(docs)
    assert "huiselijk geweld: lopende aanpak" in docs.dpia_input
    assert "ten hoogste\n  7 per check" in docs.verwerkingsregister
    assert "13 checks per gebruiker per uur en 77 per dag" in docs.verwerkingsregister
    assert "meer dan 7 personen per check of meer dan 13 per uur / 77 per dag" \
        in docs.dpia_input


def test_changing_a_retention_value_changes_the_documents(layout: NetworkLayout) -> None:
    config, directory = _config(layout), _directory(layout)
    before = render(config, directory)
    after = render(dataclasses.replace(config, melding_retention_days=60), directory)
    assert "90 dagen (ongeveer 3 maanden) na afhandeling" in before.verwerkingsregister
    assert "60 dagen (ongeveer 2 maanden) na afhandeling" in after.verwerkingsregister
    assert "90 dagen" not in after.verwerkingsregister
    assert "2 maanden (60 dagen) nadat het is afgehandeld" in after.informatietekst
    assert "60 dagen" in _section(after.dpia_input, "Bewaartermijnen")
    for name, text in after.files().items():
        assert text != before.files()[name], name
    # Only the term changed: the rest of the register is the same text.
    assert (before.verwerkingsregister.replace("90 dagen (ongeveer 3 maanden)",
                                               "60 dagen (ongeveer 2 maanden)")
            == after.verwerkingsregister)


def test_changing_a_purpose_changes_the_documents(layout: NetworkLayout) -> None:
    config, directory = _config(layout), _directory(layout)
    before = render(config, directory)
    assert "gezinssituatie: samenloop bij gezinsleden nagaan" in before.verwerkingsregister
    after = render(dataclasses.replace(
        config, purposes=("triage: samenloop met ander ZVH", "nazorg: signaal na afschaling")),
        directory)
    assert "nazorg: signaal na afschaling" in _section(after.verwerkingsregister, "Doeleinden")
    assert "nazorg: signaal na afschaling" in _section(after.dpia_input, "Gegevensstroom")
    assert "gezinssituatie" not in _all(after)


def test_adding_a_node_to_the_directory_adds_a_recipient_and_controller(
        layout: NetworkLayout) -> None:
    config = _config(layout)
    before = render(config, _directory(layout))
    assert "Utrecht" not in _all(before)
    after = render(config, _directory(
        layout, extra=(("zvh-utrecht", "Zorg- en Veiligheidshuis Regio Utrecht"),), serial=3))
    new = "Zorg- en Veiligheidshuis Regio Utrecht"
    recipients = _section(after.verwerkingsregister, "Ontvangers")
    for name in (FRYSLAN, NOORD_LIMBURG, ROTTERDAM, new):
        assert f"- {name}\n" in recipients
    controllers = _section(after.verwerkingsregister, "Verwerkingsverantwoordelijke")
    assert new in controllers and "Verwerkingsverantwoordelijke:** " + FRYSLAN in controllers
    assert new in _section(after.informatietekst, "Met wie?")
    assert f"| `zvh-utrecht` | {new} |" in after.dpia_input
    assert "naar alle 4 nodes" in after.dpia_input and "naar alle 3 nodes" in before.dpia_input
    assert "serienummer 3" in after.verwerkingsregister
    # The one-contact-point text names every joint controller too.
    assert new in _section(after.dpia_input, "Procedure voor de rechten")


def test_the_controller_is_the_node_s_own_zvh(layout: NetworkLayout) -> None:
    docs = render(_config(layout, "zvh-noord-limburg"), _directory(layout))
    assert docs.verwerkingsregister.startswith(
        f"# Verwerkingsregister (AVG art. 30): samenloopcheck van {NOORD_LIMBURG}\n")
    assert f"bij {NOORD_LIMBURG}. Uw vraag geldt" in " ".join(docs.informatietekst.split())
    others = _section(docs.informatietekst, "Met wie?")
    assert FRYSLAN in others and ROTTERDAM in others and NOORD_LIMBURG not in others


def test_bsn_is_named_only_where_the_directory_enables_it(layout: NetworkLayout) -> None:
    config = _config(layout)
    off = render(config, _directory(layout, bsn_enabled=False))
    on = render(config, _directory(layout, bsn_enabled=True))
    assert "geboortedatum en geboorteplaats. Deze" in off.verwerkingsregister
    assert "Het BSN wordt niet gebruikt" in off.verwerkingsregister
    assert "burgerservicenummer (BSN) gebruiken we hiervoor niet" in off.informatietekst
    assert "geboortedatum en geboorteplaats en BSN. Deze" in on.verwerkingsregister
    assert "BSN-matching aangezet" in on.dpia_input
    assert "Soms gebruiken we ook uw burgerservicenummer" in on.informatietekst


def test_contact_release_follows_the_policy(layout: NetworkLayout) -> None:
    config, directory = _config(layout), _directory(layout)
    direct = render(config, directory).verwerkingsregister
    assessed = render(dataclasses.replace(config, contact_release="na_beoordeling"),
                      directory).verwerkingsregister
    assert 'contact_release = "direct"' in direct
    assert 'alleen na beoordeling door de eigen procesregisseur' in assessed


def test_the_rights_procedure_says_a_block_holds_only_this_node_s_tags(
        layout: NetworkLayout) -> None:
    docs = render(_config(layout), _directory(layout))
    for text, heading in ((docs.verwerkingsregister, "Rechten van betrokkenen"),
                          (docs.dpia_input, "Procedure voor de rechten van betrokkenen")):
        rights = " ".join(_section(text, heading).split())
        assert BLOCK in rights
        for right in ("Eén loket (WGS)", "Inzage", "Rectificatie", "Wissing", "Bezwaar"):
            assert right in rights
    info = _section(docs.informatietekst, "Uw rechten")
    for right in ("(inzage)", "(rectificatie)", "(wissing)", "(bezwaar)", "op één plek"):
        assert right in info


def test_the_dpia_input_has_the_threat_model_and_key_holders(layout: NetworkLayout) -> None:
    dpia = render(_config(layout), _directory(layout)).dpia_input
    for heading in ("Gegevensstroom van een check", "Wat elke partij ziet en niet ziet",
                    "Dreigingsmodel", "Sleutelhouders", "Bewaartermijnen",
                    "Procedure voor de rechten van betrokkenen"):
        assert f"## {heading}" in dpia
    threats = _section(dpia, "Dreigingsmodel")
    assert "**coördinator samen met één node**" in threats
    assert "Dit is de resterende zwakte" in threats
    holders = _section(dpia, "Sleutelhouders")
    assert "OPRF-sleutel (`skS`), epoch 1; huidig epoch 1 | de coördinator" in holders
    assert "Gepland:" in holders and "Shamir" in holders


def test_values_from_config_or_directory_cannot_break_the_tables(
        layout: NetworkLayout) -> None:
    docs = render(_config(layout), _directory(
        layout, extra=(("zvh-x", "ZVH A | B <b>\nC"),)))
    assert "ZVH A \\| B &lt;b&gt; C" in docs.dpia_input
    assert "ZVH A | B" not in _all(docs) and "<b>" not in _all(docs)
    for line in docs.dpia_input.splitlines():
        if line.startswith("| `zvh-"):
            assert line.replace("\\|", "").count("|") == 4, line


def test_rendering_is_pure_and_refuses_a_node_outside_the_directory(
        layout: NetworkLayout) -> None:
    config, directory = _config(layout), _directory(layout)
    assert render(config, directory) == render(config, directory)
    with pytest.raises(PrivacyDocsError, match="zvh-elders"):
        render(dataclasses.replace(config, node_id="zvh-elders"), directory)


# ---------------------------------------------------------------- the CLI


def _run(layout: NetworkLayout, node_id: str, out: Path, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAMENLOOP, "node", "privacy-docs", "--config", str(layout.node_configs[node_id]),
         "--out", str(out), *extra],
        cwd=layout.root, capture_output=True, text=True, timeout=120, check=False)


def _cache(layout: NetworkLayout, node_id: str) -> Path:
    return layout.node_configs[node_id].parent / "data" / "directory.pb"


def test_cli_writes_the_documents_from_the_cached_directory_and_never_overwrites(
        layout: NetworkLayout, tmp_path: Path) -> None:
    cache = _cache(layout, "zvh-noord-limburg")
    cache.parent.mkdir(parents=True)
    cache.write_bytes(layout.directory_file.read_bytes())  # what a running node caches
    out = tmp_path / "privacy"
    result = _run(layout, "zvh-noord-limburg", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [REGISTER_FILE, INFORMATION_FILE, DPIA_FILE])
    register = (out / REGISTER_FILE).read_text(encoding="utf-8")
    assert f"**Verwerkingsverantwoordelijke:** {NOORD_LIMBURG}" in register
    for name in (FRYSLAN, NOORD_LIMBURG, ROTTERDAM):
        assert f"- {name}\n" in _section(register, "Ontvangers")
    assert BLOCK in (out / DPIA_FILE).read_text(encoding="utf-8")
    assert "Uw rechten" in (out / INFORMATION_FILE).read_text(encoding="utf-8")

    # The operator changes a term: without --force nothing is overwritten.
    config = layout.node_configs["zvh-noord-limburg"]
    config.write_text(config.read_text() + "\n[retention]\nmax_inactive_days = 150\n")
    refused = _run(layout, "zvh-noord-limburg", out)
    assert refused.returncode == 2
    assert "refusing to overwrite (use --force)" in refused.stderr
    assert (out / REGISTER_FILE).read_text(encoding="utf-8") == register
    forced = _run(layout, "zvh-noord-limburg", out, "--force")
    assert forced.returncode == 0, forced.stderr
    updated = (out / REGISTER_FILE).read_text(encoding="utf-8")
    assert "150 dagen (ongeveer 5 maanden) zonder nieuwe gegevens" in updated
    assert "183 dagen" not in updated
    assert "5 maanden (150 dagen) geen nieuwe gegevens" in " ".join(
        (out / INFORMATION_FILE).read_text(encoding="utf-8").split())


def test_cli_without_a_cache_fetches_the_directory_from_the_coordinator(
        layout: NetworkLayout, tmp_path: Path) -> None:
    coordinator = subprocess.Popen(
        [*SAMENLOOP, "coordinator", "serve", "--config", str(layout.coordinator_config)],
        cwd=layout.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(layout.coordinator_endpoint)
        result = _run(layout, "zvh-fryslan", tmp_path / "privacy")
    finally:
        assert stop_processes([coordinator]) == [0]
    assert result.returncode == 0, result.stderr
    assert _cache(layout, "zvh-fryslan").exists()  # verified and cached, as the node does
    assert FRYSLAN in (tmp_path / "privacy" / REGISTER_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize("cache", ["none", "tampered", "other administrator"])
def test_cli_without_a_verified_directory_exits_2_and_writes_nothing(
        layout: NetworkLayout, tmp_path: Path, cache: str) -> None:
    path = _cache(layout, "zvh-fryslan")
    if cache != "none":
        path.parent.mkdir(parents=True)
        signed = bytearray(layout.directory_file.read_bytes())
        if cache == "tampered":
            index = signed.index(b"Fryslan".replace(b"an", b"\xc3\xa2n"))
            signed[index] ^= 0x20  # "fryslân": a changed name, the signature no longer fits
            path.write_bytes(bytes(signed))
        else:
            other = build_network(tmp_path / "other")
            path.write_bytes(other.directory_file.read_bytes())
    out = tmp_path / "privacy"
    result = _run(layout, "zvh-fryslan", out)  # the coordinator is not running
    assert result.returncode == 2
    assert "error: no verified directory for the documents" in result.stderr
    assert not out.exists()
