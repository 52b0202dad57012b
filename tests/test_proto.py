"""The committed generated code must be what `make proto` produces from the .proto files."""

from __future__ import annotations

from pathlib import Path

from samenloop.proto import generate


def test_committed_generated_code_is_fresh(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    assert written, "generator produced nothing"
    stale = []
    for path in written:
        committed = generate.PROTO_DIR / path.relative_to(tmp_path)
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(path.relative_to(tmp_path)))
    assert not stale, f"generated code is stale, run `make proto`: {stale}"
