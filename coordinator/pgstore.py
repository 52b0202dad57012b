"""The coordinator's shared state in PostgreSQL, for several replicas: audit records and
rate-limit windows (`[store] url`).

A reservation is one transaction that locks the budget's row (node, budget) and counts its
window under that lock, so two replicas cannot both grant the last unit. The schema is
created or migrated at start, under an advisory lock so replicas starting together do not
race. Errors leave as StoreUnavailable with an operator's message that holds no password
and no statement parameters.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from samenloop.coordinator.store import AuditRecord, StoreUnavailable
from samenloop.proto.ratelimit import DAY, Limits, retry_after_of

log = logging.getLogger("samenloop.coordinator")

# pg_advisory_xact_lock key for migrations ("samenloop" in ASCII, folded into a bigint).
MIGRATION_LOCK = 0x73616D656E6C6F6F
# Each entry brings the schema one version up; a released entry is never changed.
MIGRATIONS = (
    """
    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('evaluate', 'check')),
        node_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        count INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        nodes_reached INTEGER NOT NULL DEFAULT 0,
        node_statuses TEXT NOT NULL DEFAULT '{}',
        purpose TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_node_time ON audit (node_id, kind, at);
    CREATE INDEX audit_time ON audit (at);
    -- One row per (node, budget): the row every reservation of that budget locks.
    CREATE TABLE rate_budget (
        node_id TEXT NOT NULL,
        budget TEXT NOT NULL,
        PRIMARY KEY (node_id, budget)
    );
    -- Granted amounts; rows older than a day are pruned with the audit retention.
    CREATE TABLE rate_use (
        node_id TEXT NOT NULL,
        budget TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        amount INTEGER NOT NULL
    );
    CREATE INDEX rate_use_window ON rate_use (node_id, budget, at);
    """,
)
CONNECT_SECONDS = 10.0


def _unavailable(exc: Exception) -> StoreUnavailable:
    """The error's class and first line only: a DETAIL line may quote row values."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return StoreUnavailable(f"PostgreSQL: {type(exc).__name__}: {first}"[:300])


class PostgresStore:
    """Audit and rate windows shared by every coordinator replica on one database."""

    def __init__(self, url: str, password_file: Path | None = None,
                 max_connections: int = 8) -> None:
        extra: dict[str, Any] = {"connect_timeout": int(CONNECT_SECONDS),
                                 "application_name": "samenloop-coordinator"}
        if password_file is not None:
            extra["password"] = password_file.read_text(encoding="utf-8").strip()
        self._pool = ConnectionPool(url, kwargs=extra, min_size=1, max_size=max_connections,
                                    open=False, timeout=CONNECT_SECONDS, name="coordinator")
        try:
            self._pool.open(wait=True, timeout=CONNECT_SECONDS)
        except PoolTimeout:
            self._pool.close()
            raise StoreUnavailable("PostgreSQL: no connection to the database named in "
                                   "store.url (is it running, and is the password right?)"
                                   ) from None
        try:
            self.schema_version = self._migrate()
        except Exception:
            self._pool.close()
            raise

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise _unavailable(exc) from None

    def _migrate(self) -> int:
        """Bring the schema to the newest version; refuse a newer one than we know."""
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS coordinator_schema "
                         "(version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM coordinator_schema").fetchone()
            current = int(row[0]) if row else 0
            if current > len(MIGRATIONS):
                raise StoreUnavailable(f"PostgreSQL: the schema is at version {current}, newer "
                                       f"than this coordinator knows ({len(MIGRATIONS)}); "
                                       f"upgrade the coordinator")
            for script in MIGRATIONS[current:]:
                conn.execute(script)  # constant text, no parameters
            if row is None:
                conn.execute("INSERT INTO coordinator_schema (version) VALUES (%s)",
                             (len(MIGRATIONS),))
            elif current < len(MIGRATIONS):
                conn.execute("UPDATE coordinator_schema SET version = %s", (len(MIGRATIONS),))
        if current < len(MIGRATIONS):
            log.info("store: PostgreSQL schema migrated from version %d to %d", current,
                     len(MIGRATIONS))
        return len(MIGRATIONS)

    def close(self) -> None:
        self._pool.close()

    # ------------------------------------------------------------ audit

    def record(self, record: AuditRecord) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, kind, node_id, request_id, count, outcome, nodes_reached,"
                " node_statuses, purpose) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (record.at, record.kind, record.node_id, record.request_id, record.count,
                 record.outcome, record.nodes_reached,
                 json.dumps(record.node_statuses, sort_keys=True), record.purpose))

    def count(self) -> int:
        with self._transaction() as conn:
            row = conn.execute("SELECT COUNT(*) FROM audit").fetchone()
        return int(row[0]) if row else 0

    def records(self, limit: int = 1000) -> list[AuditRecord]:
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT at, kind, node_id, request_id, count, outcome, nodes_reached,"
                " node_statuses, purpose FROM audit ORDER BY id DESC LIMIT %s", (limit,)
            ).fetchall()
        return [AuditRecord(float(r[0]), r[1], r[2], r[3], int(r[4]), r[5], int(r[6]),
                            json.loads(r[7]), r[8]) for r in rows]

    def delete_older_than(self, days: int, now: float | None = None) -> int:
        """Audit retention; also drops the rate-limit uses that left the day window."""
        at = now or time.time()
        with self._transaction() as conn:
            removed = conn.execute("DELETE FROM audit WHERE at < %s",
                                   (at - days * 86400,)).rowcount
            conn.execute("DELETE FROM rate_use WHERE at < %s", (at - DAY,))
        return removed

    # ------------------------------------------------------------ rate limits

    def rate_windows(self, now: float) -> PostgresStore:
        """The windows are the database's: nothing to seed."""
        return self

    def reserve(self, node_id: str, kind: str, amount: int, now: float,
                limits: Limits) -> str | None:
        """Take `amount` if every (window, limit) allows it; else the label of the first
        window whose limit it would exceed, and take nothing. Atomic across replicas: the
        budget's row is locked while its window is counted and the use inserted."""
        longest = max(window for window, _, _ in limits)
        sums = ", ".join("COALESCE(SUM(amount) FILTER (WHERE at >= %s), 0)" for _ in limits)
        with self._transaction() as conn:
            conn.execute("INSERT INTO rate_budget (node_id, budget) VALUES (%s, %s)"
                         " ON CONFLICT DO NOTHING", (node_id, kind))
            conn.execute("SELECT 1 FROM rate_budget WHERE node_id = %s AND budget = %s"
                         " FOR UPDATE", (node_id, kind))
            # Read Committed: this statement's snapshot is taken after the lock was granted,
            # so it sees every use the previous holder of the lock committed.
            used = conn.execute(
                "SELECT " + sums + " FROM rate_use"  # noqa: S608  (placeholders only)
                " WHERE node_id = %s AND budget = %s AND at >= %s",
                (*(now - window for window, _, _ in limits), node_id, kind, now - longest)
            ).fetchone()
            assert used is not None
            for (_, limit, label), spent in zip(limits, used, strict=True):
                if int(spent) + amount > limit:
                    return label
            conn.execute("INSERT INTO rate_use (node_id, budget, at, amount)"
                         " VALUES (%s, %s, %s, %s)", (node_id, kind, now, amount))
        return None

    def retry_after(self, node_id: str, kind: str, amount: int, now: float, window: float,
                    limit: int) -> float | None:
        """Seconds until `amount` fits into `window` again, from every replica's uses."""
        if amount > limit:
            return None
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT at, amount FROM rate_use WHERE node_id = %s AND budget = %s"
                " AND at >= %s ORDER BY at", (node_id, kind, now - window)).fetchall()
        return retry_after_of([(float(a), int(s)) for a, s in rows], amount, now, window, limit)
