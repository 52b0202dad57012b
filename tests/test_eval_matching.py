"""`samenloop eval-matching`: the real match path run offline, and its quality on the dev set."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from samenloop.node.matching import run_eval_matching

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "samenloop"

REGISTRY = [
    {"id": "r1", "node": "zvh-a", "case_ref": "C-1", "surname": "Jansen", "prefix": "",
     "given_names": "Cornelis Johannes", "dob": "1960-03-04", "birthplace": "'s-Gravenhage"},
    {"id": "r2", "node": "zvh-b", "case_ref": "C-2", "surname": "Berg", "prefix": "van der",
     "given_names": "Maria", "dob": "1985-12-31", "birthplace": "Utrecht"},
    {"id": "r3", "node": "zvh-b", "case_ref": "C-3", "surname": "Quaadvliet", "prefix": "",
     "given_names": "Wendelmoet", "dob": "1991-02-31", "birthplace": "Zierikzee"},
    {"id": "r4", "node": "zvh-a", "case_ref": "C-4", "surname": "Öztürk", "prefix": "",
     "given_names": "Ayşe", "dob": "2001-07-08", "birthplace": "İstanbul"},
]
QUERIES = [
    {"qid": "q1", "surname": "Jansen", "prefix": "", "given_names": "Kees", "dob": "4-3-1960",
     "birthplace": "Den Haag"},
    {"qid": "q2", "surname": "Berg, van der", "prefix": "", "given_names": "  MARIA ",
     "dob": "31/12/1985", "birthplace": "Utrecht"},
    {"qid": "q3", "surname": "Zeldenthuis", "prefix": "", "given_names": "Gijsbrecht",
     "dob": "1977-01-01", "birthplace": "Goes"},
    {"qid": "q4", "surname": "Quaadvliet", "prefix": "", "given_names": "Wendelmoet",
     "dob": "2099-01-01", "birthplace": ""},
    {"qid": "q5", "surname": "Ozturk", "prefix": "", "given_names": "Ayse", "dob": "2001-07-08",
     "birthplace": "Istanbul"},
]
IDENTIFIERS = {
    value
    for record in REGISTRY + QUERIES
    for name, value in record.items()
    if name in {"surname", "given_names", "dob", "birthplace"} and value.strip()
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_cli_on_a_small_set(tmp_path: Path) -> None:
    registry = write_jsonl(tmp_path / "registry.jsonl", REGISTRY)
    queries = write_jsonl(tmp_path / "queries.jsonl", QUERIES)
    out = tmp_path / "hits.jsonl"
    assert CLI.exists(), f"console script missing at {CLI}"
    proc = subprocess.run(
        [str(CLI), "eval-matching", "--registry", str(registry), "--queries", str(queries),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr

    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    by_qid = {line["qid"]: line for line in lines}
    assert [line["qid"] for line in lines] == [q["qid"] for q in QUERIES]
    assert by_qid["q1"]["hits"] == [{"id": "r1", "strength": "waarschijnlijk"}]
    assert by_qid["q2"]["hits"] == [{"id": "r2", "strength": "sterk"}]
    assert by_qid["q3"]["hits"] == []
    assert by_qid["q4"]["error"]["field"] == "geboortedatum"
    assert "hits" not in by_qid["q4"]
    assert by_qid["q5"]["hits"] == [{"id": "r4", "strength": "sterk"}]

    # The refused registry record is reported by id and field, nothing is dropped silently.
    assert "1 parse failures" in proc.stdout
    assert "r3: field geboortedatum" in proc.stdout
    assert "q4: field geboortedatum" in proc.stdout
    assert "4 records" in proc.stdout and "5 queries" in proc.stdout
    for value in IDENTIFIERS:
        assert value not in proc.stdout
        assert value not in proc.stderr
        assert value not in json.dumps(by_qid["q4"])


def test_unreadable_lines_are_reported(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(json.dumps(REGISTRY[0]) + "\nnot json\n" + json.dumps(
        dict(REGISTRY[1], node="")) + "\n", "utf-8")
    queries = write_jsonl(tmp_path / "queries.jsonl", QUERIES[:1])
    report = run_eval_matching(registry, queries, tmp_path / "hits.jsonl")
    assert [(f.record_id, f.field) for f in report.registry_failures] == [
        ("line 2", "record"), ("r2", "node")
    ]
    assert report.queries_with_hits == 1


def shared_dir() -> Path:
    """shared/ beside the repository, or $SAMENLOOP_SHARED."""
    override = os.environ.get("SAMENLOOP_SHARED")
    return Path(override) if override else REPO.parent / "shared"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_matching", REPO / "bench" / "matching.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dev_set_meets_the_targets(tmp_path: Path) -> None:
    data = shared_dir() / "data" / "matching-dev"
    for name in ("registry.jsonl", "queries.jsonl", "truth.jsonl"):
        assert (data / name).is_file(), f"dev set missing: {data / name}"
    out = tmp_path / "hits.jsonl"
    report = run_eval_matching(data / "registry.jsonl", data / "queries.jsonl", out)
    assert not report.registry_failures

    bench = load_bench()
    result = bench.score(data / "truth.jsonl", out)
    assert result.recall >= 0.985, bench.markdown(result)
    assert result.false_hit_rate <= 0.002, bench.markdown(result)
    assert result.false_at["sterk"] == 0
    assert result.false_at["zeker"] == 0
    assert result.failures() == []
