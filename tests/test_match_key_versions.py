"""Match-key input versions during a rollout, on real servers.

A change in normalisation changes every tag, so it comes as a new input version
(`samenloop/v2|...`). The signed directory lists the versions the network accepts; each node
derives the listed versions it may use (node.toml `match_key_versions`, by default all its
code knows): checks ask for each of them and imports register tags for each.

The code ships only v1. The v2 here is a test-only variant: the test declares v2 supported,
and `match_keys(version=2)` then yields v1's rules under the `samenloop/v2|` prefix, which
is all a rollout needs to be tested (every tag differs). No test-only branch lives in crypto/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from samenloop.crypto import identity
from samenloop.node.check import CheckRefused
from samenloop.node.config import NodeConfig
from samenloop.node.network import NetworkError
from samenloop.proto import directory as directory_mod
from samenloop.proto.configfile import ConfigError
from tests.support.network import PIETER_VAN_DEN_BERG, TJEERD_DIJKSTRA, Harness, person

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"


@pytest.fixture
def v2_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only v2: this process's code "knows" v2 (v1 rules, v2 prefix)."""
    monkeypatch.setattr(identity, "SUPPORTED_INPUT_VERSIONS", (1, 2))


def _network(root: Path, directory_versions: tuple[int, ...],
             node_versions: dict[str, list[int]], import_demo_cases: bool = True) -> Harness:
    """A started network whose nodes pin the given versions, demo cases imported."""
    harness = Harness(root, deadline_seconds=1.0, match_key_versions=directory_versions)
    for node_id, versions in node_versions.items():
        config = harness.layout.node_configs[node_id]
        config.write_text(f"match_key_versions = {versions}\n" + config.read_text())
    return harness.start(import_demo_cases)


@pytest.fixture
def rollout(tmp_path: Path, v2_known: None) -> Iterator[Harness]:
    """Mid-rollout: the network accepts v1 and v2; Limburg still runs v1-only code,
    Fryslân is upgraded (v1 + v2), Rijnmond has moved on to v2 only."""
    harness = _network(tmp_path / "net", (1, 2), {LIMBURG: [1], FRYSLAN: [1, 2],
                                                  RIJNMOND: [2]})
    try:
        yield harness
    finally:
        harness.close()


def test_nodes_on_different_versions_find_each_other_during_the_overlap(
        rollout: Harness) -> None:
    # Limburg imported with v1 only; Fryslân checks with v1 + v2 and finds it.
    result = rollout.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG)
    assert result.coverage.complete
    assert [h.node_id for h in result.hits] == [LIMBURG]
    # Fryslân imported with v1 + v2: the v1-only node and the v2-only node both find it.
    for node_id, case in ((LIMBURG, "NL-2026-014"), (RIJNMOND, "R-2026-101")):
        hits = rollout.check(node_id, case, TJEERD_DIJKSTRA).hits
        assert [h.node_id for h in hits] == [FRYSLAN], node_id
    imported = rollout.nodes[FRYSLAN].store.audit_entries("import")[-1]
    assert imported.details["match_key_versions"] == [1, 2]


def test_a_v1_only_and_a_v2_only_node_miss_each_other(rollout: Harness) -> None:
    """Why a rollout needs the overlap: without a shared version the answer is a complete
    "no hit" although both hold the person."""
    el_amrani = dict(surname="El Amrani", given_names="Mohammed", date_of_birth="21-06-1990")
    result = rollout.check(LIMBURG, "NL-2026-014", el_amrani)  # Rijnmond holds him (v2)
    assert result.coverage.complete and result.hits == ()
    result = rollout.check(RIJNMOND, "R-2026-101", PIETER_VAN_DEN_BERG)  # Limburg (v1)
    assert result.coverage.complete and result.hits == ()


def test_a_node_without_an_accepted_version_refuses_to_check_and_import(
        tmp_path: Path, v2_known: None) -> None:
    harness = _network(tmp_path / "net", (2,), {LIMBURG: [1]}, import_demo_cases=False)
    try:
        harness.intake(LIMBURG, "NL-2026-099")
        with pytest.raises(CheckRefused, match="versie van de matchsleutels") as refused:
            harness.check(LIMBURG, "NL-2026-099", PIETER_VAN_DEN_BERG)
        assert refused.value.field == "netwerk"
        with pytest.raises(NetworkError, match=r"match key versions \(1\) is accepted by "
                                               r"the network \(2\)"):
            harness.import_cases(LIMBURG)
    finally:
        harness.close()


def test_match_keys_derive_only_supported_versions(v2_known: None) -> None:
    subject = person(**PIETER_VAN_DEN_BERG)
    v1, v2 = identity.match_keys(subject), identity.match_keys(subject, version=2)
    assert [k.oprf_input.replace(b"samenloop/v1|", b"samenloop/v2|") for k in v1] == \
        [k.oprf_input for k in v2]
    with pytest.raises(ValueError, match="version 3 is not supported"):
        identity.match_keys(subject, version=3)


def test_shipped_code_knows_only_v1() -> None:
    assert identity.INPUT_VERSION == 1 and identity.SUPPORTED_INPUT_VERSIONS == (1,)
    with pytest.raises(ValueError, match="version 2 is not supported"):
        identity.match_keys(person(**PIETER_VAN_DEN_BERG), version=2)


@pytest.mark.parametrize("versions", [[], [0], [256], [1, 1], [1, 2, 3, 4, 5], [True]])
def test_directory_refuses_bad_versions(versions: list[int]) -> None:
    with pytest.raises(directory_mod.DirectoryError, match="match key versions"):
        directory_mod.validate_match_key_versions(versions)


def test_directory_signed_before_versions_accepts_v1(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "net")
    signed = directory_mod.parse_file(harness.layout.directory_file.read_bytes(),
                                      harness.layout.verify_key).signed
    message = directory_mod.pb.Directory.FromString(signed.directory)
    assert list(message.match_key_versions) == [1]
    message.ClearField("match_key_versions")
    admin = bytes.fromhex(harness.layout.admin_key.read_text().strip())
    raw = message.SerializeToString(deterministic=True)
    old = directory_mod.pb.SignedDirectory(
        directory=raw, signature=directory_mod.signature.sign_directory(raw, admin))
    assert directory_mod.verify(old, harness.layout.verify_key).match_key_versions == (1,)


@pytest.mark.parametrize(("line", "problem"), [
    ("match_key_versions = [2]", "version 2 is not supported"),
    ("match_key_versions = [0]", "from 1 to 255"),
    ('match_key_versions = "1"', "from 1 to 255"),
])
def test_node_config_refuses_versions_its_code_does_not_know(
        tmp_path: Path, line: str, problem: str) -> None:
    config = Harness(tmp_path / "net").layout.node_configs[LIMBURG]
    config.write_text(line + "\n" + config.read_text())
    with pytest.raises(ConfigError, match=f"match_key_versions: .*{problem}"):
        NodeConfig.load(config)
