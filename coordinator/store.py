"""The coordinator's shared state: its audit log (who asked when, never what) and the
rate-limit windows. SQLite in data_dir for one replica (this module); PostgreSQL for several
(coordinator/pgstore.py), chosen by `[store] url`.

With SQLite, the rate limits are counted in memory, seeded from the audit records, so they
hold across restarts; with PostgreSQL, every reservation is one transaction there, so they
hold across replicas too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from samenloop.proto.ratelimit import DAY, RateBudget, RateWindows

if TYPE_CHECKING:
    from samenloop.coordinator.config import CoordinatorConfig


SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('evaluate', 'check')),
    node_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    nodes_reached INTEGER NOT NULL DEFAULT 0,
    node_statuses TEXT NOT NULL DEFAULT '{}',
    purpose TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_node_time ON audit (node_id, kind, at);
"""
# Logs written before evaluations had a purpose: theirs were all counted as checks.
ADD_PURPOSE = "ALTER TABLE audit ADD COLUMN purpose TEXT NOT NULL DEFAULT ''"


@dataclass(frozen=True)
class AuditRecord:
    at: float
    kind: str
    node_id: str
    request_id: str
    count: int
    outcome: str
    nodes_reached: int
    node_statuses: dict[str, str]
    purpose: str = ""  # evaluations: "check" or "import", the budget they count against


class StoreUnavailable(Exception):
    """The shared store (PostgreSQL) cannot be reached or refused a statement; the message
    is for operators and holds no parameters."""


class CoordinatorStore(Protocol):
    def record(self, record: AuditRecord) -> None: ...
    def count(self) -> int: ...
    def records(self, limit: int = 1000) -> list[AuditRecord]: ...
    def delete_older_than(self, days: int, now: float | None = None) -> int: ...
    def rate_windows(self, now: float) -> RateBudget: ...
    def close(self) -> None: ...


def open_store(config: CoordinatorConfig) -> CoordinatorStore:
    """The store `[store]` names: PostgreSQL (schema created or migrated now), else the
    embedded SQLite file."""
    if config.store.url is not None:
        from samenloop.coordinator.pgstore import PostgresStore

        return PostgresStore(config.store.url, config.store.password_file)
    return AuditStore(config.data_dir / "coordinator-audit.sqlite")


class AuditStore:
    """The embedded store: one SQLite file, for a single coordinator replica."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(audit)")}
        if "purpose" not in columns:
            self._db.execute(ADD_PURPOSE)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, record: AuditRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, kind, node_id, request_id, count, outcome, nodes_reached,"
                " node_statuses, purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.at, record.kind, record.node_id, record.request_id, record.count,
                 record.outcome, record.nodes_reached,
                 json.dumps(record.node_statuses, sort_keys=True), record.purpose),
            )

    def usage_since(self, since: float) -> list[tuple[str, str, float, int]]:
        """(node, budget, at, amount) of every accepted request since `since`: seeds the
        in-memory rate windows at start-up, so a restart does not reset the limits. Import
        evaluations have their own budget, "evaluate_import"."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node_id, CASE WHEN kind = 'evaluate' AND purpose = 'import'"
                " THEN 'evaluate_import' ELSE kind END,"
                " at, CASE kind WHEN 'check' THEN 1 ELSE count END"
                " FROM audit WHERE at >= ? AND outcome != 'refused' ORDER BY at", (since,)
            ).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2]), int(r[3])) for r in rows]

    def rate_windows(self, now: float) -> RateBudget:
        return RateWindows(self.usage_since(now - DAY))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def records(self, limit: int = 1000) -> list[AuditRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, kind, node_id, request_id, count, outcome, nodes_reached,"
                " node_statuses, purpose FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [AuditRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                            json.loads(row[7]), row[8]) for row in rows]

    def delete_older_than(self, days: int, now: float | None = None) -> int:
        cutoff = (now or time.time()) - days * 86400
        with self._lock:
            return self._db.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount
