"""The node's registry (SQLite, WAL): cases, their tags, meldingen, audit trail.

All SQL of the node lives here. Nothing stored is an identifier: tags are per-node
HMACs of VOPRF outputs, and the audit trail holds case references, users and counts.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samenloop.node.config import Procesregisseur
from samenloop.node.model import Registration, StoredHit

SCHEMA = """
CREATE TABLE IF NOT EXISTS procesregisseurs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    case_ref TEXT PRIMARY KEY,
    phase TEXT NOT NULL,
    procesregisseur_id TEXT NOT NULL REFERENCES procesregisseurs (id),
    source TEXT NOT NULL CHECK (source IN ('import', 'check')),
    registered_at REAL NOT NULL,
    refreshed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    tag BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    case_ref TEXT NOT NULL REFERENCES cases (case_ref) ON DELETE CASCADE,
    strength INTEGER NOT NULL,
    source TEXT NOT NULL DEFAULT 'import' CHECK (source IN ('import', 'check')),
    added_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tag, epoch, case_ref)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_case ON tags (case_ref);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    case_ref TEXT NOT NULL,
    procesregisseur_id TEXT NOT NULL,
    from_node TEXT NOT NULL,
    from_zvh TEXT NOT NULL,
    requester_name TEXT NOT NULL,
    requester_phone TEXT NOT NULL,
    requester_email TEXT NOT NULL,
    strength INTEGER NOT NULL,
    query_id TEXT NOT NULL,
    handled_at REAL
);
CREATE TABLE IF NOT EXISTS phase_history (
    case_ref TEXT NOT NULL,
    phase TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (case_ref, phase)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('procesregisseur', 'beheerder', 'auditor')),
    procesregisseur_id TEXT,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT REFERENCES users (username) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    username TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_user ON login_failures (username, at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit (action, actor, at);
"""

GENESIS = "0" * 64


@dataclass(frozen=True)
class ImportSummary:
    cases: int
    added: int
    updated: int
    removed: int
    tags: int


@dataclass(frozen=True)
class CaseRow:
    case_ref: str
    phase: str
    procesregisseur_id: str
    source: str
    registered_at: float
    refreshed_at: float


@dataclass(frozen=True)
class Notification:
    id: int
    at: float
    case_ref: str
    procesregisseur_id: str
    from_node: str
    from_zvh: str
    requester: Procesregisseur
    strength: int
    handled_at: float | None


@dataclass(frozen=True)
class User:
    """A web account; `procesregisseur_id` links a procesregisseur to contacts and meldingen."""

    username: str
    role: str
    procesregisseur_id: str | None
    password_hash: str
    disabled: bool
    created_at: float


@dataclass(frozen=True)
class Session:
    """A server-side web session; `username` is None before login (it still carries CSRF)."""

    token_hash: str
    username: str | None
    csrf_token: str
    created_at: float
    seen_at: float


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    action: str
    actor: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def _audit_hash(prev_hash: str, at: float, action: str, actor: str, details: str) -> str:
    material = json.dumps([prev_hash, repr(at), action, actor, details], ensure_ascii=True)
    return hashlib.sha256(material.encode("ascii")).hexdigest()


class NodeStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: a crashed or killed process loses no committed transaction and
        # never leaves a half import; only a power cut may drop the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(notifications)")}
        if "mailed_at" not in columns:  # stores created before the web app mailed meldingen
            self._db.execute("ALTER TABLE notifications ADD COLUMN mailed_at REAL")
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: an import interrupted or refused halfway leaves no trace."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------ procesregisseurs

    def upsert_procesregisseurs(self, people: Iterable[Procesregisseur]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO procesregisseurs (id, name, phone, email) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone,"
                " email = excluded.email",
                [(p.id, p.name, p.phone, p.email) for p in people],
            )

    def procesregisseur(self, id: str) -> Procesregisseur | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, phone, email FROM procesregisseurs WHERE id = ?", (id,)
            ).fetchone()
        return Procesregisseur(*row) if row else None

    def procesregisseur_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM procesregisseurs")}

    # ------------------------------------------------------------ cases

    def case(self, case_ref: str) -> CaseRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT case_ref, phase, procesregisseur_id, source, registered_at, refreshed_at"
                " FROM cases WHERE case_ref = ?", (case_ref,)
            ).fetchone()
        return CaseRow(*row) if row else None

    def apply_import(self, registrations: list[Registration], *, now: float, sync: bool,
                     keep_checked_since: float) -> ImportSummary:
        """Replace the tags of every listed case; with `sync`, remove cases not listed
        (except cases registered by a check since `keep_checked_since`)."""
        added = updated = removed = tag_count = 0
        with self._transaction() as db:
            for reg in registrations:
                exists = db.execute("SELECT 1 FROM cases WHERE case_ref = ?",
                                    (reg.case_ref,)).fetchone()
                if exists:
                    updated += 1
                    db.execute(
                        "UPDATE cases SET phase = ?, procesregisseur_id = ?, source = 'import',"
                        " refreshed_at = ? WHERE case_ref = ?",
                        (reg.phase, reg.procesregisseur_id, now, reg.case_ref))
                    db.execute("DELETE FROM tags WHERE case_ref = ? AND (source = 'import'"
                               " OR added_at < ?)", (reg.case_ref, keep_checked_since))
                else:
                    added += 1
                    db.execute(
                        "INSERT INTO cases (case_ref, phase, procesregisseur_id, source,"
                        " registered_at, refreshed_at) VALUES (?, ?, ?, 'import', ?, ?)",
                        (reg.case_ref, reg.phase, reg.procesregisseur_id, now, now))
                db.executemany(
                    "INSERT INTO tags (tag, epoch, case_ref, strength, source, added_at)"
                    " VALUES (?, ?, ?, ?, 'import', ?) ON CONFLICT DO UPDATE SET"
                    " strength = max(strength, excluded.strength), source = 'import',"
                    " added_at = excluded.added_at",
                    [(t.tag, t.epoch, reg.case_ref, t.strength, now) for t in reg.tags])
                tag_count += len(reg.tags)
                db.execute("INSERT OR IGNORE INTO phase_history (case_ref, phase, at)"
                           " VALUES (?, ?, ?)", (reg.case_ref, reg.phase, now))
            if sync:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS listed (case_ref TEXT PRIMARY KEY)")
                db.execute("DELETE FROM listed")
                db.executemany("INSERT OR IGNORE INTO listed VALUES (?)",
                               [(r.case_ref,) for r in registrations])
                removed = db.execute(
                    "DELETE FROM cases WHERE case_ref NOT IN (SELECT case_ref FROM listed)"
                    " AND NOT (source = 'check' AND registered_at >= ?)",
                    (keep_checked_since,)).rowcount
        return ImportSummary(len(registrations), added, updated, removed, tag_count)

    def register_check(self, case_ref: str, tags: list[tuple[bytes, int, int]], *, now: float,
                       create_phase: str | None, procesregisseur_id: str) -> bool:
        """Add the tags (tag, epoch, strength) of checked persons to an own case, creating
        the case at intake when `create_phase` is given; True if the case was created."""
        with self._transaction() as db:
            exists = db.execute("SELECT 1 FROM cases WHERE case_ref = ?", (case_ref,)).fetchone()
            if not exists:
                if create_phase is None:
                    raise KeyError(case_ref)
                db.execute(
                    "INSERT INTO cases (case_ref, phase, procesregisseur_id, source,"
                    " registered_at, refreshed_at) VALUES (?, ?, ?, 'check', ?, ?)",
                    (case_ref, create_phase, procesregisseur_id, now, now))
                db.execute("INSERT OR IGNORE INTO phase_history (case_ref, phase, at)"
                           " VALUES (?, ?, ?)", (case_ref, create_phase, now))
            db.executemany(
                "INSERT INTO tags (tag, epoch, case_ref, strength, source, added_at)"
                " VALUES (?, ?, ?, ?, 'check', ?) ON CONFLICT DO UPDATE SET"
                " strength = max(strength, excluded.strength), added_at = excluded.added_at",
                [(tag, epoch, case_ref, strength, now) for tag, epoch, strength in tags])
        return not exists

    def close_case(self, case_ref: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM cases WHERE case_ref = ?", (case_ref,)).rowcount > 0

    def retire_epochs(self, live_epochs: set[int]) -> int:
        """Delete tags of OPRF epochs the directory no longer lists."""
        marks = ",".join("?" * len(live_epochs))
        with self._transaction() as db:
            return db.execute(f"DELETE FROM tags WHERE epoch NOT IN ({marks})",  # noqa: S608
                              tuple(live_epochs)).rowcount

    def sweep_expired(self, refreshed_before: float) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM cases WHERE refreshed_at < ?",
                              (refreshed_before,)).rowcount

    def phases_reached(self, case_ref: str) -> set[str]:
        """Every phase a case was seen in (imports and intake checks), also after closing:
        the audit pages tell a case conference ("uitvoering") from a quiet close."""
        with self._lock:
            return {r[0] for r in self._db.execute(
                "SELECT phase FROM phase_history WHERE case_ref = ?", (case_ref,))}

    def expiring_cases(self, refreshed_before: float) -> list[CaseRow]:
        """Cases that expire soon: not refreshed since `refreshed_before`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT case_ref, phase, procesregisseur_id, source, registered_at, refreshed_at"
                " FROM cases WHERE refreshed_at < ? ORDER BY refreshed_at", (refreshed_before,)
            ).fetchall()
        return [CaseRow(*r) for r in rows]

    def counts_by_phase(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT phase, COUNT(*) FROM cases GROUP BY phase"))

    def tag_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tags").fetchone()[0])

    # ------------------------------------------------------------ lookup

    def find_tagged(self, tags: list[bytes], epoch: int,
                    active_since: float) -> list[tuple[bytes, StoredHit]]:
        """(tag, hit) for every stored tag among `tags` of a case refreshed since
        `active_since`: one query for all subjects of a lookup."""
        if not tags:
            return []
        marks = ",".join("?" * len(tags))
        with self._lock:
            rows = self._db.execute(
                f"SELECT t.tag, c.case_ref, t.strength, p.id, p.name, p.phone, p.email"  # noqa: S608
                f" FROM tags t JOIN cases c ON c.case_ref = t.case_ref"
                f" JOIN procesregisseurs p ON p.id = c.procesregisseur_id"
                f" WHERE t.epoch = ? AND t.tag IN ({marks}) AND c.refreshed_at >= ?",
                (epoch, *tags, active_since),
            ).fetchall()
        return [(bytes(r[0]), StoredHit(r[1], Procesregisseur(*r[3:7]), r[2])) for r in rows]

    # ------------------------------------------------------------ meldingen

    def add_notifications(self, rows: list[tuple[StoredHit, str, str, Procesregisseur]],
                          *, now: float, query_id: str) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO notifications (at, case_ref, procesregisseur_id, from_node,"
                " from_zvh, requester_name, requester_phone, requester_email, strength,"
                " query_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(now, hit.case_ref, hit.procesregisseur.id, from_node, from_zvh, req.name,
                  req.phone, req.email, hit.strength, query_id)
                 for hit, from_node, from_zvh, req in rows])

    def notifications(self, procesregisseur_id: str | None = None) -> list[Notification]:
        sql = ("SELECT id, at, case_ref, procesregisseur_id, from_node, from_zvh,"
               " requester_name, requester_phone, requester_email, strength, handled_at"
               " FROM notifications")
        args: tuple[str, ...] = ()
        if procesregisseur_id is not None:
            sql += " WHERE procesregisseur_id = ?"
            args = (procesregisseur_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [Notification(r[0], r[1], r[2], r[3], r[4], r[5],
                             Procesregisseur("", r[6], r[7], r[8]), r[9], r[10]) for r in rows]

    def notification(self, id: int) -> Notification | None:
        return next((n for n in self._notification_rows("WHERE id = ?", (id,))), None)

    def _notification_rows(self, where: str, args: tuple[Any, ...]) -> list[Notification]:
        with self._lock:
            rows = self._db.execute(  # `where` is one of this class's constants
                "SELECT id, at, case_ref, procesregisseur_id, from_node, from_zvh,"  # noqa: S608
                " requester_name, requester_phone, requester_email, strength, handled_at"
                f" FROM notifications {where} ORDER BY id DESC", args).fetchall()
        return [Notification(r[0], r[1], r[2], r[3], r[4], r[5],
                             Procesregisseur("", r[6], r[7], r[8]), r[9], r[10]) for r in rows]

    def mark_notification_handled(self, id: int, procesregisseur_id: str, now: float) -> bool:
        """Only the procesregisseur the melding is for can handle it; True if it changed."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE notifications SET handled_at = ? WHERE id = ? AND procesregisseur_id = ?"
                " AND handled_at IS NULL", (now, id, procesregisseur_id)).rowcount > 0

    def unmailed_notifications(self) -> list[Notification]:
        """Unhandled meldingen nobody was e-mailed about yet."""
        return self._notification_rows("WHERE mailed_at IS NULL AND handled_at IS NULL", ())

    def mark_mailed(self, ids: Iterable[int], now: float) -> None:
        with self._transaction() as db:
            db.executemany("UPDATE notifications SET mailed_at = ? WHERE id = ?",
                           [(now, i) for i in ids])

    # ------------------------------------------------------------ web accounts

    def add_user(self, username: str, role: str, procesregisseur_id: str | None,
                 password_hash: str, now: float) -> bool:
        """False if the username is taken."""
        with self._transaction() as db:
            try:
                db.execute("INSERT INTO users (username, role, procesregisseur_id, password_hash,"
                           " disabled, created_at) VALUES (?, ?, ?, ?, 0, ?)",
                           (username, role, procesregisseur_id, password_hash, now))
            except sqlite3.IntegrityError:
                return False
        return True

    def user(self, username: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT username, role, procesregisseur_id, password_hash, disabled, created_at"
                " FROM users WHERE username = ?", (username,)).fetchone()
        return User(row[0], row[1], row[2], row[3], bool(row[4]), row[5]) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                "SELECT username, role, procesregisseur_id, password_hash, disabled, created_at"
                " FROM users ORDER BY username").fetchall()
        return [User(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def set_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disabling also ends the user's sessions and revokes their API tokens."""
        with self._transaction() as db:
            changed = db.execute("UPDATE users SET disabled = ? WHERE username = ?",
                                 (int(disabled), username)).rowcount > 0
            if disabled:
                db.execute("DELETE FROM sessions WHERE username = ?", (username,))
                db.execute("DELETE FROM api_tokens WHERE username = ?", (username,))
        return changed

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """A reset also ends the user's sessions and clears failed logins."""
        with self._transaction() as db:
            changed = db.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                 (password_hash, username)).rowcount > 0
            db.execute("DELETE FROM sessions WHERE username = ?", (username,))
            db.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        return changed

    def add_session(self, token_hash: str, username: str | None, csrf_token: str,
                    now: float, forget_seen_before: float) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE seen_at < ?", (forget_seen_before,))
            db.execute("INSERT INTO sessions (token_hash, username, csrf_token, created_at,"
                       " seen_at) VALUES (?, ?, ?, ?, ?)",
                       (token_hash, username, csrf_token, now, now))

    def session(self, token_hash: str) -> Session | None:
        with self._lock:
            row = self._db.execute(
                "SELECT token_hash, username, csrf_token, created_at, seen_at FROM sessions"
                " WHERE token_hash = ?", (token_hash,)).fetchone()
        return Session(*row) if row else None

    def touch_session(self, token_hash: str, now: float) -> None:
        with self._transaction() as db:
            db.execute("UPDATE sessions SET seen_at = ? WHERE token_hash = ?", (now, token_hash))

    def end_session(self, token_hash: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def add_api_token(self, token_hash: str, username: str, now: float) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO api_tokens (token_hash, username, created_at)"
                       " VALUES (?, ?, ?)", (token_hash, username, now))

    def api_token_user(self, token_hash: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT username FROM api_tokens WHERE token_hash = ?",
                                   (token_hash,)).fetchone()
        return self.user(row[0]) if row else None

    def api_token_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute(
                "SELECT username, COUNT(*) FROM api_tokens GROUP BY username"))

    def add_login_failure(self, username: str, now: float, forget_before: float) -> int:
        """Record a failed login; returns the failures for `username` since `forget_before`."""
        with self._transaction() as db:
            db.execute("DELETE FROM login_failures WHERE at < ?", (forget_before,))
            db.execute("INSERT INTO login_failures (username, at) VALUES (?, ?)", (username, now))
            return int(db.execute("SELECT COUNT(*) FROM login_failures WHERE username = ?",
                                  (username,)).fetchone()[0])

    def login_failures(self, username: str, since: float) -> int:
        with self._lock:
            return int(self._db.execute(
                "SELECT COUNT(*) FROM login_failures WHERE username = ? AND at >= ?",
                (username, since)).fetchone()[0])

    def clear_login_failures(self, username: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM login_failures WHERE username = ?", (username,))

    # ------------------------------------------------------------ audit trail

    def append_audit(self, action: str, actor: str, details: dict[str, Any], now: float) -> None:
        """Append a hash-chained record; details must hold no identifiers."""
        text = json.dumps(details, sort_keys=True, ensure_ascii=False)
        with self._transaction() as db:
            row = db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = row[0] if row else GENESIS
            hash_ = _audit_hash(prev, now, action, actor, text)
            record_id = db.execute(
                "INSERT INTO audit (at, action, actor, details, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now, action, actor, text, prev, hash_)).lastrowid
            self._write_audit_head(int(record_id or 0), hash_)

    @property
    def audit_head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".audit-head")

    def _write_audit_head(self, record_id: int, hash_: str) -> None:
        """The newest record's id and hash, outside the database: a chain alone cannot show
        that its newest records were cut off, the head can."""
        tmp = self.audit_head_path.with_suffix(".tmp")
        tmp.write_text(f"{record_id} {hash_}\n", encoding="ascii")
        tmp.replace(self.audit_head_path)

    def audit_entries(self, action: str | None = None) -> list[AuditEntry]:
        sql = "SELECT id, at, action, actor, details, prev_hash, hash FROM audit"
        args: tuple[str, ...] = ()
        if action:
            sql += " WHERE action = ?"
            args = (action,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def checks_per_user_per_month(self) -> list[tuple[str, str, int]]:
        """(month "YYYY-MM", user, checks), newest month first: the auditor's overview."""
        with self._lock:
            rows = self._db.execute(
                "SELECT strftime('%Y-%m', at, 'unixepoch', 'localtime') AS month, actor,"
                " COUNT(*) FROM audit WHERE action = 'check' GROUP BY month, actor"
                " ORDER BY month DESC, actor").fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def count_audit(self, action: str, actor: str | None, since: float) -> int:
        """How often `actor` (anyone: None) did `action` since `since`."""
        # Two statements, not "? IS NULL OR actor = ?": that would keep SQLite from the
        # (action, actor, at) index, and this runs twice for every check.
        args: tuple[str | float, ...]
        if actor is None:
            sql, args = "SELECT COUNT(*) FROM audit WHERE action = ? AND at >= ?", (action, since)
        else:
            sql = "SELECT COUNT(*) FROM audit WHERE action = ? AND actor = ? AND at >= ?"
            args = (action, actor, since)
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])

    def audit_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def verify_audit(self) -> int | None:
        """None if the trail is intact, else the id of the first record that is altered or
        missing: a broken link in the chain, or the anchored head no longer present."""
        prev = GENESIS
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, action, actor, details, prev_hash, hash FROM audit ORDER BY id"
            ).fetchall()
        hashes: dict[int, str] = {}
        for id_, at, action, actor, details, prev_hash, hash_ in rows:
            if prev_hash != prev or _audit_hash(prev, at, action, actor, details) != hash_:
                return int(id_)
            prev = hashes[int(id_)] = hash_
        try:
            head_id, head_hash = self.audit_head_path.read_text(encoding="ascii").split()
        except FileNotFoundError:
            return int(rows[0][0]) if rows else None  # records, but their anchor is gone
        except ValueError:
            return 1
        # The head may lag one record behind after a crash between commit and anchor.
        if hashes.get(int(head_id)) != head_hash:
            return int(head_id)
        return None
