"""Imports have their own evaluation budget at the coordinator and pace themselves in it.

A 100k-row import used to run into the node's one evaluation limit, fail as "de coördinator
is niet bereikbaar" and leave checks refused too. Real servers with small limits: the
coordinator's short window is shortened from a minute to a second and a half (the
`MINUTE` constant), so an import larger than one window's budget must wait once or twice.
"""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest

from samenloop.coordinator import service
from samenloop.coordinator.service import RateWindows
from samenloop.coordinator.store import AuditStore
from samenloop.crypto.identity import match_keys, parse_subject
from samenloop.node.check import RateLimited
from samenloop.node.network import EvaluationBudgetExhausted
from samenloop.node.web.actions import Refused, apply_import
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from tests.support.network import PIETER_VAN_DEN_BERG, Harness
from tests.web.conftest import web_context

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
HEADER = ("casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
          "geboortedatum;geboorteplaats\n")
ROWS = 240
CHECK_EVALUATIONS_PER_MINUTE = 40  # a few one-person checks, far below one import chunk


def _letters(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(ord("a") + digit) + text
        if not number:
            return text


def _export(rows: int) -> tuple[str, int]:
    """A synthetic export and the number of blinded elements its import evaluates."""
    lines, elements = [], 0
    for i in range(rows):
        surname, dob = f"Bulk{_letters(i)}", date(1950, 1, 1) + timedelta(days=7 * i)
        lines.append(f"B-{i:04d};uitvoering;pr-1;{surname};;Anna;{dob.isoformat()};Venlo\n")
        elements += len(match_keys(parse_subject(surname=surname, given_names="Anna",
                                                 date_of_birth=dob, place_of_birth="Venlo")))
    return HEADER + "".join(lines), elements


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MINUTE", 1.5)


@contextmanager
def _harness(root: Path, **limits: int) -> Iterator[Harness]:
    # The coordinator's budgets: a network whose key the coordinator holds (before #13's
    # split); tests/test_key_holders.py has the key holders' own.
    harness = Harness(root, deadline_seconds=1.0, key_holders=(), rate_limits={
        "evaluations_per_minute": CHECK_EVALUATIONS_PER_MINUTE, **limits})
    try:
        yield harness.start()
    finally:
        harness.close()


def _refused_imports(harness: Harness) -> int:
    assert harness.coordinator is not None
    return sum(r.kind == "evaluate" and r.purpose == "import" and r.outcome == "refused"
               for r in harness.coordinator.audit.records())


def test_large_import_paces_within_its_budget_while_checks_keep_theirs(
        tmp_path: Path, short_window: None) -> None:
    text, elements = _export(ROWS)
    chunk = math.ceil(elements / 4)  # the node sends four chunks, two at a time
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    # One chunk fits a window, a second one does not: the import must wait for the window.
    with _harness(tmp_path / "net", import_evaluations_per_minute=chunk + 10) as harness:
        outcome: dict[str, object] = {}

        def run_import(harness: Harness = harness, outcome: dict[str, object] = outcome
                       ) -> None:
            try:
                outcome["summary"] = harness.import_cases(FRYSLAN, export, sync=False)
            except Exception as exc:  # reported by the assertion below
                outcome["error"] = exc

        importer = threading.Thread(target=run_import)
        importer.start()
        waited = time.monotonic() + 60
        while not _refused_imports(harness) and importer.is_alive() \
                and time.monotonic() < waited:
            time.sleep(0.02)
        # During the import's wait for its budget, a check runs on its own budget.
        assert importer.is_alive() and _refused_imports(harness) >= 1
        during = harness.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG)
        importer.join(120)
        assert "error" not in outcome, outcome.get("error")
        summary = outcome["summary"]
        assert summary.added == ROWS  # type: ignore[attr-defined]
        assert _refused_imports(harness) >= 1  # it did run into its budget, and waited
        after = harness.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG)
        for result in (during, after):
            assert result.coverage.complete
            assert [h.node_id for h in result.hits] == [LIMBURG]


def test_exhausted_import_budget_is_named_and_changes_nothing(tmp_path: Path) -> None:
    text, _ = _export(30)
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    # The demo imports (a few dozen elements per node) fit; this export does not.
    with _harness(tmp_path / "net", import_evaluations_per_day=60) as harness:
        store = harness.nodes[FRYSLAN].store
        before = store.tag_count()
        with pytest.raises(EvaluationBudgetExhausted) as refused:
            harness.import_cases(FRYSLAN, export, sync=False)
        message = str(refused.value)
        assert "the coordinator's import evaluation budget is exhausted" in message
        assert "per day" in message and refused.value.for_import
        assert store.tag_count() == before
        # The operator's CLI names the cause (English) and changes nothing.
        cli = subprocess.run(
            [sys.executable, "-m", "samenloop.node", "node", "import", str(export),
             "--config", str(harness.layout.node_configs[FRYSLAN])],
            capture_output=True, text=True, timeout=120, check=False)
        assert cli.returncode != 0
        assert "the coordinator's import evaluation budget is exhausted" in cli.stderr
        assert "not reachable" not in cli.stderr and "nothing changed" in cli.stderr
        assert store.tag_count() == before
        # The web and API say the same in Dutch, not "niet bereikbaar".
        with pytest.raises(Refused) as web:
            apply_import(web_context(harness, FRYSLAN), text, sync=False, actor="test")
        assert web.value.status == 429
        assert "importbudget" in web.value.errors[0].message
        assert "niet bereikbaar" not in web.value.errors[0].message
        # Checks have their own budget.
        assert harness.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).coverage.complete


def test_check_evaluations_refused_for_their_budget_say_so(tmp_path: Path) -> None:
    with _harness(tmp_path / "net", evaluations_per_day=3) as harness:
        # A limit, not bad input: the web and API answer 429 with Retry-After, not 422.
        with pytest.raises(RateLimited, match="evaluatielimiet"):
            harness.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG)


def test_refusal_carries_a_retry_hint_only_when_waiting_helps(tmp_path: Path,
                                                               short_window: None) -> None:
    with _harness(tmp_path / "net", import_evaluations_per_minute=100) as harness:
        network = harness.nodes[FRYSLAN].network
        element = [bytes.fromhex(
            "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c")]
        evaluate = network.stub.Evaluate
        evaluate(pb.EvaluateRequest(blinded_elements=element * 80, request_id="a",
                                    purpose=pb.EVALUATION_FOR_IMPORT), timeout=5)
        for count, hinted in ((40, True), (101, False)):
            with pytest.raises(grpc.RpcError) as info:
                evaluate(pb.EvaluateRequest(blinded_elements=element * count, request_id="b",
                                            purpose=pb.EVALUATION_FOR_IMPORT), timeout=5)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            metadata = dict(info.value.trailing_metadata() or ())  # type: ignore[attr-defined]
            assert ("retry-after-ms" in metadata) is hinted, count
            if hinted:
                assert 0 < int(metadata["retry-after-ms"]) <= 1500
        # The check budget is a separate window: the same node may still evaluate for checks.
        evaluate(pb.EvaluateRequest(blinded_elements=element * 30, request_id="c",
                                    purpose=pb.EVALUATION_FOR_CHECK), timeout=5)


@pytest.mark.parametrize(("uses", "amount", "limit", "wait"), [
    ([], 5, 10, 0.0),                         # fits now (the clock is at 30)
    ([(0.0, 6)], 5, 10, 30.0),                # the one use must leave first (at 60)
    ([(0.0, 3), (10.0, 3), (20.0, 3)], 5, 10, 40.0),  # the two oldest must leave (at 70)
    ([(0.0, 3), (10.0, 3)], 11, 10, None),    # never fits
])
def test_retry_after_is_when_enough_old_uses_leave_the_window(
        uses: list[tuple[float, int]], amount: int, limit: int, wait: float | None) -> None:
    windows = RateWindows([("n", "evaluate_import", at, spent) for at, spent in uses])
    assert windows.retry_after("n", "evaluate_import", amount, 30.0, 60.0, limit) == wait


def test_budgets_stay_apart_across_a_coordinator_restart(tmp_path: Path) -> None:
    """The windows are seeded from the audit log, which records each evaluation's purpose."""
    with _harness(tmp_path / "net", import_evaluations_per_day=60) as harness:
        assert harness.coordinator is not None
        used = sum(r.count for r in harness.coordinator.audit.records()
                   if r.node_id == FRYSLAN and r.purpose == "import")
        # An export that would fit a fresh day's budget, but not what the demo import left.
        rows = 1
        while (found := _export(rows))[1] <= 60 - used:
            rows += 1
        text, elements = found
        assert 0 < used and elements <= 60
        export = tmp_path / "export.csv"
        export.write_text(text, encoding="utf-8")
        harness.stop_coordinator()
        harness.start_coordinator()
        with pytest.raises(EvaluationBudgetExhausted, match="import evaluation budget"):
            harness.import_cases(FRYSLAN, export, sync=False)
        assert harness.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).coverage.complete


def test_audit_log_written_before_purposes_opens_and_counts_as_checks(tmp_path: Path) -> None:
    path = tmp_path / "coordinator-audit.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO audit (at, kind, node_id, request_id, count, outcome)"
                   " VALUES (?, 'evaluate', 'zvh-fryslan', 'r', 7, 'ok')", (time.time(),))
    db.close()
    store = AuditStore(path)
    try:
        [(node, budget, _, amount)] = store.usage_since(0)
        assert (node, budget, amount) == ("zvh-fryslan", "evaluate", 7)
        assert store.records()[0].purpose == ""
    finally:
        store.close()


OLD_SCHEMA = """
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('evaluate', 'check')),
    node_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    nodes_reached INTEGER NOT NULL DEFAULT 0,
    node_statuses TEXT NOT NULL DEFAULT '{}'
);
"""
