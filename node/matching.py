"""Offline evaluation of the real match path: parse, match keys, VOPRF, per-node tags.

`samenloop eval-matching` runs this on a registry and a query file, so matching quality is
measured on exactly the code a check runs through (crypto.identity, crypto.voprf with batch
proofs, crypto.tags), only without the network. Nothing here prints or stores an identifier:
refused records are reported by id and field name only.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samenloop.crypto import voprf
from samenloop.crypto.batch import ClientBatch
from samenloop.crypto.identity import (
    STRENGTHS,
    InvalidSubject,
    MatchKey,
    Subject,
    match_keys,
    parse_subject,
    strength_rank,
)
from samenloop.crypto.tags import node_tag

BATCH_SIZE = 1000
MAX_LISTED_FAILURES = 20


@dataclass(frozen=True)
class ParseFailure:
    """A refused record: its id and the field at fault, never the value."""

    record_id: str
    field: str
    message: str


@dataclass
class EvalReport:
    """Counts of one evaluation run; `summary()` is what the CLI prints."""

    out_path: Path
    registry_records: int = 0
    registry_keys: int = 0
    registry_failures: list[ParseFailure] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    queries: int = 0
    query_keys: int = 0
    query_failures: list[ParseFailure] = field(default_factory=list)
    queries_with_hits: int = 0
    hits: int = 0
    best_strength: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        """Short English report; ids and field names only."""
        parsed = self.registry_records - len(self.registry_failures)
        qparsed = self.queries - len(self.query_failures)
        lines = [
            f"registry: {self.registry_records} records, {parsed} parsed, "
            f"{len(self.registry_failures)} parse failures; {self.registry_keys} match keys "
            f"at {len(self.nodes)} nodes",
        ]
        lines += _failure_lines("registry record", self.registry_failures)
        lines.append(
            f"queries: {self.queries} queries, {qparsed} parsed, "
            f"{len(self.query_failures)} parse failures; {self.query_keys} match keys"
        )
        lines += _failure_lines("query", self.query_failures)
        by_strength = ", ".join(f"{s} {self.best_strength.get(s, 0)}" for s in STRENGTHS)
        lines.append(
            f"hits: {self.queries_with_hits} queries with a hit, {self.hits} hits in all; "
            f"queries by best strength: {by_strength}"
        )
        lines.append(f"wrote {self.out_path} in {self.seconds:.1f} s")
        return "\n".join(lines)


def _failure_lines(what: str, failures: list[ParseFailure]) -> list[str]:
    lines = [f"  parse failure: {what} {f.record_id}: field {f.field}" for f in failures]
    if len(lines) > MAX_LISTED_FAILURES:
        rest = len(lines) - MAX_LISTED_FAILURES
        lines = [*lines[:MAX_LISTED_FAILURES], f"  ... and {rest} more"]
    return lines


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, record) per non-empty line; None for a line that is not a JSON object."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            yield number, record if isinstance(record, dict) else None


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    return value if isinstance(value, str) else ""


def _subject(record: dict[str, Any]) -> Subject:
    """The case-system export's field names mapped onto parse_subject."""
    bsn = record.get("bsn")
    return parse_subject(
        surname=_text(record, "surname"),
        prefix=_text(record, "prefix"),
        given_names=_text(record, "given_names"),
        date_of_birth=_text(record, "dob"),
        place_of_birth=_text(record, "birthplace"),
        bsn=bsn if isinstance(bsn, str) else None,
    )


class Pseudonymiser:
    """Client and evaluator of one key epoch, run through the real blind/evaluate/finalize.

    The evaluator side stands in for the coordinator: it only ever sees blinded elements,
    and every batch's DLEQ proof is verified against pkS before finalising.
    """

    def __init__(self) -> None:
        self._sk, self.pk = voprf.generate_key_pair(voprf.Mode.VOPRF)

    def pseudonyms(self, inputs: list[bytes]) -> dict[bytes, bytes]:
        """Ψ(x) for each distinct input, in batches of BATCH_SIZE with one proof each."""
        distinct = list(dict.fromkeys(inputs))
        result: dict[bytes, bytes] = {}
        for start in range(0, len(distinct), BATCH_SIZE):
            inputs = distinct[start : start + BATCH_SIZE]
            batch = ClientBatch(inputs)
            evaluated, proof = voprf.blind_evaluate_verifiable(self._sk, self.pk,
                                                               list(batch.blinded))
            result.update(zip(inputs, batch.finalize(evaluated, proof, self.pk), strict=True))
        return result


# One node's store: tag -> [(registry id, strength)].
NodeStore = dict[bytes, list[tuple[str, str]]]


def _load_registry(
    path: Path, pseudonymiser: Pseudonymiser, report: EvalReport
) -> dict[str, NodeStore]:
    """Tags of every parsable registry record, kept per node as that node would hold them."""
    pending: list[tuple[str, str, list[MatchKey]]] = []
    for number, record in _read_jsonl(path):
        report.registry_records += 1
        if record is None:
            report.registry_failures.append(
                ParseFailure(f"line {number}", "record", "regel is geen JSON-object")
            )
            continue
        record_id = str(record.get("id") or f"line {number}")
        node = _text(record, "node")
        if not node:
            report.registry_failures.append(ParseFailure(record_id, "node", "node ontbreekt"))
            continue
        try:
            keys = match_keys(_subject(record))
        except InvalidSubject as exc:
            report.registry_failures.append(ParseFailure(record_id, exc.field, exc.message))
            continue
        report.registry_keys += len(keys)
        pending.append((record_id, node, keys))

    psi = pseudonymiser.pseudonyms([k.oprf_input for _, _, keys in pending for k in keys])
    stores: dict[str, NodeStore] = {}
    for record_id, node, keys in pending:
        store = stores.setdefault(node, {})
        for key in keys:
            store.setdefault(node_tag(psi[key.oprf_input], node), []).append(
                (record_id, key.strength)
            )
    report.nodes = sorted(stores)
    return stores


def _best_hits(
    keys: list[MatchKey], psi: dict[bytes, bytes], stores: dict[str, NodeStore]
) -> list[dict[str, str]]:
    """Look the query's tags up at every node; keep the strongest strength per record."""
    best: dict[str, str] = {}
    for key in keys:
        pseudonym = psi[key.oprf_input]
        for node, store in stores.items():
            for record_id, strength in store.get(node_tag(pseudonym, node), ()):
                if record_id not in best or strength_rank(strength) < strength_rank(
                    best[record_id]
                ):
                    best[record_id] = strength
    ordered = sorted(best.items(), key=lambda item: (strength_rank(item[1]), item[0]))
    return [{"id": record_id, "strength": strength} for record_id, strength in ordered]


def run_eval_matching(registry_path: Path, queries_path: Path, out_path: Path) -> EvalReport:
    """Evaluate matching end to end and write one JSON line of hits per query to out_path."""
    started = time.monotonic()
    report = EvalReport(out_path=out_path)
    pseudonymiser = Pseudonymiser()
    stores = _load_registry(registry_path, pseudonymiser, report)

    queries: list[tuple[str, list[MatchKey] | ParseFailure]] = []
    for number, record in _read_jsonl(queries_path):
        report.queries += 1
        if record is None:
            failure = ParseFailure(f"line {number}", "record", "regel is geen JSON-object")
            report.query_failures.append(failure)
            queries.append((failure.record_id, failure))
            continue
        qid = str(record.get("qid") or f"line {number}")
        try:
            keys = match_keys(_subject(record))
        except InvalidSubject as exc:
            failure = ParseFailure(qid, exc.field, exc.message)
            report.query_failures.append(failure)
            queries.append((qid, failure))
            continue
        report.query_keys += len(keys)
        queries.append((qid, keys))

    psi = pseudonymiser.pseudonyms(
        [k.oprf_input for _, keys in queries if isinstance(keys, list) for k in keys]
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as out:
        for qid, outcome in queries:
            line: dict[str, Any]
            if isinstance(outcome, ParseFailure):
                line = {"qid": qid, "error": {"field": outcome.field, "message": outcome.message}}
            else:
                hits = _best_hits(outcome, psi, stores)
                line = {"qid": qid, "hits": hits}
                if hits:
                    report.queries_with_hits += 1
                    report.hits += len(hits)
                    report.best_strength[hits[0]["strength"]] += 1
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    report.seconds = time.monotonic() - started
    return report
