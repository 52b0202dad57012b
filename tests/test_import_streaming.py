"""The import streams: memory does not grow with the export, and a failure halfway
(a refused budget, a file changed between the passes) leaves nothing, not even staging.

Real servers (Harness), real exports on disk, the import in a process of its own where
its peak memory is measured (VmHWM, which starts afresh with the new program).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from samenloop.node import registration
from samenloop.node.network import EvaluationBudgetExhausted
from samenloop.node.registration import ImportRefused, parse_rows
from samenloop.node.server import sweep
from samenloop.node.store import STALE_IMPORT_SECONDS
from tests.support.network import Harness

FRYSLAN = "zvh-fryslan"
HEADER = ("casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
          "geboortedatum;geboorteplaats\n")
MiB = 1024 * 1024


def _letters(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(ord("a") + digit) + text
        if not number:
            return text


def _write_export(path: Path, persons: int, *, afschaling: int = 0) -> Path:
    """Households of two persons per case; then `afschaling` rows of other cases."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(persons):
            case, dob = f"S-{i // 2:06d}", date(1940, 1, 1) + timedelta(days=3 * i)
            out.write(f"{case};uitvoering;pr-1;Stroom{_letters(i)};;Anna;{dob.isoformat()};"
                      f"Sneek\r\n")
        for i in range(afschaling):
            out.write(f"A-{i:06d};afschaling;pr-1;;;;;\r\n")
    return path


def _staged_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                   for t in ("import_staging", "import_staging_cases", "import_staging_tags"))


def _tags(db: Path) -> set[tuple[bytes, int, str, int]]:
    with sqlite3.connect(db) as conn:
        return {(bytes(r[0]), r[1], r[2], r[3]) for r in conn.execute(
            "SELECT tag, epoch, case_ref, strength FROM tags")}


@contextmanager
def _network(root: Path, **limits: int) -> Iterator[Harness]:
    """The import budgets where imports are evaluated: at the key holders (the network is
    split), and at the coordinator for an unsplit epoch."""
    budgets = {"import_evaluations_per_minute": 10_000_000,
               "import_evaluations_per_day": 10_000_000, **limits}
    harness = Harness(root, deadline_seconds=2.0, rate_limits=budgets,
                      holder_rate_limits=budgets)
    try:
        yield harness.start()
    finally:
        harness.close()


IMPORT_PROCESS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from samenloop.node.config import NodeConfig
    from samenloop.node.network import Network
    from samenloop.node.registration import import_cases
    from samenloop.node.store import NodeStore

    def peak_kib() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise SystemExit("no VmHWM")

    config = NodeConfig.load(Path(sys.argv[1]))
    store, network = NodeStore(config.store_path), Network(config)
    network.directory(refresh=True)
    before = peak_kib()
    summary = import_cases(config, store, network, Path(sys.argv[2]), sync=True)
    print(json.dumps({"before": before, "peak": peak_kib(), "tags": summary.tags}))
    network.close()
    store.close()
""")


def _import_in_own_process(harness: Harness, export: Path) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", IMPORT_PROCESS,
                           str(harness.layout.node_configs[FRYSLAN]), str(export)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_peak_memory_of_an_import_does_not_grow_with_the_export(tmp_path: Path) -> None:
    """2,500 and 10,000 persons: the import's own growth of peak memory must be the same
    within 8 MiB. Holding every row, key and tag in memory (as the import did) grows by
    about 3.5 KiB a person, 26 MiB between these two sizes."""
    small = _write_export(tmp_path / "small.csv", 2_500)
    large = _write_export(tmp_path / "large.csv", 10_000)
    with _network(tmp_path / "net") as harness:
        grown = {}
        for name, export in (("small", small), ("large", large)):
            figures = _import_in_own_process(harness, export)
            grown[name] = (figures["peak"] - figures["before"]) * 1024
            assert figures["tags"] > 0
    assert grown["large"] - grown["small"] < 8 * MiB, grown


def test_an_import_in_small_blocks_stores_what_one_in_large_blocks_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunking is invisible: the same export through many small blocks and staging
    transactions (rows of a case split across them, afschaling rows at the end) stores
    the same tags, and importing it again changes nothing."""
    export = _write_export(tmp_path / "export.csv", 300, afschaling=20)
    with _network(tmp_path / "net") as harness:
        db = harness.nodes[FRYSLAN].store.path
        first = harness.import_cases(FRYSLAN, export, sync=True)
        tags = _tags(db)
        monkeypatch.setattr(registration, "STAGE_ROWS", 7)
        monkeypatch.setattr(registration, "IMPORT_BLOCK", 33)
        monkeypatch.setattr(registration, "READ_BLOCK", 5)
        again = harness.import_cases(FRYSLAN, export, sync=True)
        assert _tags(db) == tags
        assert (again.cases, again.closed, again.refreshed, again.added) == \
            (first.cases, 0, 0, 0)
        assert first.cases == 150 and first.closed == 0
        assert {case for _, _, case, _ in tags} == {f"S-{i:06d}" for i in range(150)}
        assert _staged_rows(db) == 0


def test_a_budget_refused_halfway_leaves_no_staging_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks evaluated before the refusal were staged; none of it stays."""
    export = _write_export(tmp_path / "export.csv", 200)
    monkeypatch.setattr(registration, "IMPORT_BLOCK", 64)
    monkeypatch.setattr(registration, "IMPORT_MAX_PACING_SECONDS", 0.0)
    with _network(tmp_path / "net", import_evaluations_per_minute=600) as harness:
        db = harness.nodes[FRYSLAN].store.path
        tags, cases = _tags(db), harness.nodes[FRYSLAN].store.cases()
        with pytest.raises(EvaluationBudgetExhausted):
            harness.import_cases(FRYSLAN, export, sync=True)
        assert _tags(db) == tags and harness.nodes[FRYSLAN].store.cases() == cases
        assert _staged_rows(db) == 0


def test_a_file_changed_between_the_passes_is_refused_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = _write_export(tmp_path / "export.csv", 40)
    validated = registration._stage_cases

    def then_edit(*args: object, **kwargs: object) -> tuple[str, int]:
        result = validated(*args, **kwargs)  # type: ignore[arg-type]
        text = export.read_text(encoding="utf-8")
        export.write_text(text.replace("Stroomb;", "Stroomz;"), encoding="utf-8")
        return result

    with _network(tmp_path / "net") as harness:
        db = harness.nodes[FRYSLAN].store.path
        tags = _tags(db)
        monkeypatch.setattr(registration, "_stage_cases", then_edit)
        with pytest.raises(ImportRefused) as refused:
            harness.import_cases(FRYSLAN, export, sync=True)
        assert refused.value.errors[0].reason == "changed while it was imported"
        assert _tags(db) == tags and _staged_rows(db) == 0


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_exports_read_in_small_blocks_give_the_same_rows(
        block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records and lines cut at every place by the read blocks (a CRLF too) come out
    whole; a JSON array is decoded record by record."""
    csv_text = HEADER + "C-1;triage;pr-1;Jansen;;Kees;1970-01-01;\r\n" \
        "C-2;triage;pr-1;\"Berg; van den\";;Pieter;1985-03-12;Venlo\r\n"
    records = [{"casusnummer": "C-1", "achternaam": "Jansen [{", "voornamen": None},
               {"casusnummer": "C-2", "achternaam": "Berg", "voornamen": "Pieter"}]
    array = " \n[ " + " ,\n ".join(json.dumps(r) for r in records) + " ]\n"
    lines = "\n" + "\n".join(json.dumps(r) for r in records) + "\n"
    whole = [parse_rows(t) for t in (csv_text, array, lines)]
    monkeypatch.setattr(registration, "READ_BLOCK", block)
    assert [parse_rows(t) for t in (csv_text, array, lines)] == whole
    assert [r["casusnummer"] for _, r in whole[1]] == ["C-1", "C-2"]
    assert whole[1][0][1]["voornamen"] == "" and whole[2][1][0] == 3
    assert whole[0][1][1]["achternaam"] == "Berg; van den"


@pytest.mark.parametrize("text", ['[{"a": 1} {"b": 2}]', '[{"a": 1},]', '[{"a": 1}] x',
                                  '[{"a": 1}', '[{"a": "' + "x" * (1 << 21) + '"}]'])
def test_a_broken_or_oversized_json_array_is_refused(text: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        parse_rows(text)
    assert refused.value.errors[0].reason == "not valid JSON"


def test_the_staging_of_an_import_killed_midway_goes_within_the_hour(tmp_path: Path) -> None:
    """kill -9 after the first staged block: nothing is applied, and the staged tags of
    persons that never became active are removed by the next retention sweep once the
    import has been silent for STALE_IMPORT_SECONDS (an hour), not kept for a day."""
    export = _write_export(tmp_path / "export.csv", 40)
    with _network(tmp_path / "net") as harness:
        node = harness.nodes[FRYSLAN]
        db = node.store.path
        tags, cases = _tags(db), node.store.cases()
        killed = subprocess.run(
            [sys.executable, "-m", "tests.support.killpoint", "mid-import", "node", "import",
             str(export), "--config", str(harness.layout.node_configs[FRYSLAN])],
            cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
            timeout=120, check=False)
        assert killed.returncode == -9, killed.stderr
        assert _tags(db) == tags and node.store.cases() == cases
        assert _staged_rows(db) > 0  # what the dead import left
        now = time.time()
        sweep(node.config, node.store, now + 60, node.metrics)  # a live import's pause
        assert _staged_rows(db) > 0
        sweep(node.config, node.store, now + STALE_IMPORT_SECONDS + 60, node.metrics)
        assert _staged_rows(db) == 0
        assert _tags(db) == tags and node.store.cases() == cases
        expiry = node.store.audit_entries("expiry")
        assert expiry and expiry[-1].details["dead_imports_removed"] == 1
