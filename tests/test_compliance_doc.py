"""docs/compliance.md names the code and the tests that enforce each covenant rule; a
rename or removal must not leave it pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPLIANCE = ROOT / "docs" / "compliance.md"


def test_every_covenant_rule_has_a_row() -> None:
    text = COMPLIANCE.read_text(encoding="utf-8")
    rows = [int(n) for n in re.findall(r"^\| (\d+)\. ", text, re.M)]
    assert rows == list(range(1, 23))


def test_every_test_named_in_the_compliance_document_exists() -> None:
    text = COMPLIANCE.read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(named) > 40
    missing = [f"{path}::{name}" for path, name in sorted(named)
               if not (ROOT / path).exists()
               or not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.M)]
    assert not missing


def test_every_function_named_in_the_compliance_document_exists() -> None:
    text = COMPLIANCE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:node|crypto|proto|coordinator)/[\w/]+\.py): ([\w.]+)`",
                           text))
    assert len(named) > 30
    missing = []
    for path, name in sorted(named):
        source = (ROOT / path).read_text() if (ROOT / path).exists() else ""
        for part in name.split("."):
            if not re.search(rf"(def|class) {part}\b|^{part}\s*=|^\s+{part}: ", source, re.M):
                missing.append(f"{path}: {name}")
    assert not missing
