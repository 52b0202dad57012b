"""The key holder's own audit log (SQLite): which node asked when, how many elements, for
which purpose, with which outcome. Never an element, a share or an evaluation.

The per-node rate limits are seeded from the same records, so a restart resets nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = ("ok", "refused", "invalid", "unavailable_epoch")
_AUDIT_TABLE = """
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    node_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    count INTEGER NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('check', 'import')),
    outcome TEXT NOT NULL CHECK (outcome IN ({outcomes}))
);
"""
_INDEX = "CREATE INDEX IF NOT EXISTS audit_node_time ON audit (node_id, at);"
# 1: outcomes ok, refused, invalid; 2: also unavailable_epoch (a node asked for an epoch this
# holder has no share of: refused, and now accounted for like every other request).
SCHEMA_VERSION = 2


def _audit_table(name: str) -> str:
    return _AUDIT_TABLE.format(name=name, outcomes=", ".join(f"'{o}'" for o in OUTCOMES))


@dataclass(frozen=True)
class HolderAuditRecord:
    at: float
    node_id: str
    request_id: str
    epoch: int
    count: int
    purpose: str  # the budget it counts against: "check" or "import"
    # ok; refused (rate limit); invalid (a malformed request or element); unavailable_epoch
    # (no share of the epoch asked for here)
    outcome: str


class HolderAuditStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Create the table, or rebuild an older one whose CHECK lacks an outcome (SQLite
        cannot alter a constraint): in one transaction, every record kept."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                "name = 'audit'").fetchone()
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if not exists:
                db.execute(_audit_table("audit"))
            elif version < SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS audit_upgrade")
                db.execute(_audit_table("audit_upgrade"))
                db.execute("INSERT INTO audit_upgrade (id, at, node_id, request_id, epoch, "
                           "count, purpose, outcome) SELECT id, at, node_id, request_id, "
                           "epoch, count, purpose, outcome FROM audit")
                db.execute("DROP TABLE audit")
                db.execute("ALTER TABLE audit_upgrade RENAME TO audit")
            db.execute(_INDEX)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, record: HolderAuditRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, node_id, request_id, epoch, count, purpose, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.at, record.node_id, record.request_id, record.epoch, record.count,
                 record.purpose, record.outcome))

    def usage_since(self, since: float) -> list[tuple[str, str, float, int]]:
        """(node, budget, at, elements) of every evaluation served since `since`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node_id, purpose, at, count FROM audit"
                " WHERE at >= ? AND outcome = 'ok' ORDER BY at", (since,)).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2]), int(r[3])) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def records(self, limit: int = 1000) -> list[HolderAuditRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, node_id, request_id, epoch, count, purpose, outcome FROM audit"
                " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [HolderAuditRecord(*row) for row in rows]

    def delete_older_than(self, days: int, now: float | None = None) -> int:
        cutoff = (now or time.time()) - days * 86400
        with self._lock:
            return self._db.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount
