"""Matching quality on the synthetic dev set: recall and false hits, per strength and kind.

Runs the real path (`run_eval_matching`: parse, match keys, VOPRF, per-node tags) on
shared/data/matching-dev and scores the hits against truth.jsonl, so the figures in
bench/README.md are those of the code a check actually runs. `--hits FILE` scores an
existing eval-matching output instead.

    .venv/bin/python bench/matching.py [--data DIR] [--hits FILE] [--out FILE] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from samenloop.crypto.identity import STRENGTHS, strength_rank

TARGET_RECALL = 0.985
TARGET_FALSE_HIT_RATE = 0.002
NO_FALSE_HITS_AT = ("zeker", "sterk")


def default_data_dir() -> Path:
    """shared/ beside the repository (or $SAMENLOOP_SHARED), as CI lays it out."""
    shared = os.environ.get("SAMENLOOP_SHARED")
    base = Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared"
    return base / "data" / "matching-dev"


@dataclass
class KindScore:
    """Outcome counts of the queries of one variation or look-alike kind."""

    queries: int = 0
    positives: int = 0
    found: int = 0
    false_hits: int = 0
    parse_failures: int = 0
    best: Counter[str] = field(default_factory=Counter)


@dataclass
class Score:
    """Recall, false hits and their split by strength and kind."""

    positives: int = 0
    negatives: int = 0
    found: int = 0
    false_hits: int = 0
    found_at: Counter[str] = field(default_factory=Counter)
    false_at: Counter[str] = field(default_factory=Counter)
    wrong_record: int = 0
    parse_failures: int = 0
    kinds: dict[str, KindScore] = field(default_factory=lambda: defaultdict(KindScore))

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 1.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.negatives if self.negatives else 0.0

    def recall_at(self, strength: str) -> float:
        """Share of positives found with this strength or a stronger one."""
        rank = strength_rank(strength)
        hits = sum(n for s, n in self.found_at.items() if strength_rank(s) <= rank)
        return hits / self.positives if self.positives else 1.0

    def failures(self) -> list[str]:
        """Targets missed, as readable lines; empty when every target is met."""
        problems = []
        if self.recall < TARGET_RECALL:
            problems.append(f"recall {self.recall:.4f} < {TARGET_RECALL}")
        if self.false_hit_rate > TARGET_FALSE_HIT_RATE:
            problems.append(f"false-hit rate {self.false_hit_rate:.4f} > {TARGET_FALSE_HIT_RATE}")
        for strength in NO_FALSE_HITS_AT:
            if self.false_at[strength]:
                problems.append(f"{self.false_at[strength]} false hits at {strength}")
        return problems


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def score(truth_path: Path, hits_path: Path) -> Score:
    """Score eval-matching output against truth.jsonl (a missing query line counts as no hit)."""
    hits_by_qid = {line["qid"]: line for line in _read_jsonl(hits_path)}
    result = Score()
    for row in _read_jsonl(truth_path):
        kind = result.kinds[row["kind"]]
        kind.queries += 1
        line = hits_by_qid.get(row["qid"], {"hits": []})
        if "error" in line:
            result.parse_failures += 1
            kind.parse_failures += 1
        strength_of = {h["id"]: h["strength"] for h in line.get("hits", [])}
        match = row["match"]
        if match is not None:
            result.positives += 1
            kind.positives += 1
            if match in strength_of:
                result.found += 1
                kind.found += 1
                result.found_at[strength_of[match]] += 1
                kind.best[strength_of[match]] += 1
            if any(record_id != match for record_id in strength_of):
                result.wrong_record += 1
        else:
            result.negatives += 1
            if strength_of:
                best = min(strength_of.values(), key=strength_rank)
                result.false_hits += 1
                result.false_at[best] += 1
                kind.false_hits += 1
                kind.best[best] += 1
    return result


def markdown(result: Score) -> str:
    """The three tables that bench/README.md records."""
    out = [
        "| overall | value |",
        "|---|---|",
        f"| recall | {result.recall:.4f} ({result.found}/{result.positives}) |",
        f"| false-hit rate | {result.false_hit_rate:.4f} "
        f"({result.false_hits}/{result.negatives}) |",
        f"| matched queries that also hit another record | {result.wrong_record} |",
        f"| queries refused at parsing | {result.parse_failures} |",
        "",
        "| strength | recall at ≥ strength | found with this best strength "
        "| false hits with this best strength |",
        "|---|---|---|---|",
    ]
    for strength in STRENGTHS:
        out.append(
            f"| {strength} | {result.recall_at(strength):.4f} | {result.found_at[strength]} "
            f"| {result.false_at[strength]} |"
        )
    out += [
        "",
        "| kind | queries | truth | recall / false-hit rate | "
        + " | ".join(STRENGTHS)
        + " |",
        "|---|---|---|---|" + "---|" * len(STRENGTHS),
    ]
    for name, kind in sorted(
        result.kinds.items(), key=lambda item: (item[1].positives == 0, item[0])
    ):
        if kind.positives:
            what, rate = "same person", f"recall {kind.found / kind.positives:.3f}"
        else:
            negatives = kind.queries
            what, rate = "other person", f"false hits {kind.false_hits / negatives:.3f}"
        by_strength = " | ".join(str(kind.best[s]) for s in STRENGTHS)
        out.append(f"| {name} | {kind.queries} | {what} | {rate} | {by_strength} |")
    return "\n".join(out)


def run(data_dir: Path, out_path: Path) -> None:
    """Run the real evaluation path and print its English summary."""
    from samenloop.node.matching import run_eval_matching

    report = run_eval_matching(data_dir / "registry.jsonl", data_dir / "queries.jsonl", out_path)
    print(report.summary())
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="dev set folder")
    parser.add_argument("--hits", type=Path, help="score this eval-matching output, do not run")
    parser.add_argument("--out", type=Path, help="where to keep the hits of a fresh run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    truth = args.data / "truth.jsonl"
    if not truth.is_file():
        print(f"no truth.jsonl in {args.data}", file=sys.stderr)
        return 2
    if args.hits:
        result = score(truth, args.hits)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out_path = args.out or Path(tmp) / "hits.jsonl"
            run(args.data, out_path)
            result = score(truth, out_path)
    print(markdown(result))
    problems = result.failures()
    print()
    if problems:
        print("targets missed: " + "; ".join(problems))
    else:
        print(
            f"targets met: recall >= {TARGET_RECALL}, false-hit rate <= {TARGET_FALSE_HIT_RATE}, "
            "no false hits at sterk or zeker"
        )
    return 1 if problems and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
