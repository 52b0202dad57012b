"""The node's registry (SQLite, WAL): cases, their tags, meldingen, audit trail.

All SQL of the node lives here. Nothing stored is an identifier: tags are per-node
HMACs of VOPRF outputs, and the audit trail holds case references, users and counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samenloop.crypto import signature
from samenloop.node.config import Procesregisseur
from samenloop.node.model import (
    CONTACT_AFTER_ASSESSMENT,
    CONTACT_DIRECT,
    Registration,
    StoredHit,
    TagRow,
)

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
-- An import in progress (node/registration.py): pass 1 stages each case's attributes,
-- pass 2 the tags evaluated chunk by chunk; one transaction then applies them and drops
-- the staging. Lookups never read these tables.
CREATE TABLE IF NOT EXISTS import_staging (
    import_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS import_staging_cases (
    import_id TEXT NOT NULL REFERENCES import_staging (import_id) ON DELETE CASCADE,
    case_ref TEXT NOT NULL,
    phase TEXT NOT NULL,
    procesregisseur_id TEXT NOT NULL,
    first_line INTEGER NOT NULL,
    has_subject INTEGER NOT NULL,
    ended INTEGER NOT NULL,
    last_changed TEXT NOT NULL,
    assess_first INTEGER NOT NULL,
    informed_on TEXT NOT NULL,
    inform_postponed TEXT NOT NULL,
    reassess_on TEXT NOT NULL,
    PRIMARY KEY (import_id, case_ref)
);
CREATE TABLE IF NOT EXISTS import_staging_tags (
    import_id TEXT NOT NULL REFERENCES import_staging (import_id) ON DELETE CASCADE,
    case_ref TEXT NOT NULL,
    tag BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    strength INTEGER NOT NULL,
    PRIMARY KEY (import_id, case_ref, tag, epoch)
) WITHOUT ROWID;
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
    role TEXT NOT NULL CHECK (role IN ('procesregisseur', 'beheerder', 'auditor', 'privacy')),
    procesregisseur_id TEXT,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0
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
-- Where the chain starts once old records were pruned: the hash the first kept record
-- links to, signed with the node's audit key so a forged start is detected.
CREATE TABLE IF NOT EXISTS audit_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    first_id INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    at REAL NOT NULL,
    signature BLOB NOT NULL
);
-- A procesregisseur's named vervangers (other procesregisseurs) may check for and read the
-- meldingen of that procesregisseur's cases.
CREATE TABLE IF NOT EXISTS vervangers (
    procesregisseur_id TEXT NOT NULL,
    vervanger_id TEXT NOT NULL,
    PRIMARY KEY (procesregisseur_id, vervanger_id)
) WITHOUT ROWID;
-- How and when a case stopped being active (no identifiers): the covenants' terms after
-- afschaling are counted from here.
CREATE TABLE IF NOT EXISTS case_endings (
    case_ref TEXT NOT NULL,
    registered_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_endings_by_time ON case_endings (ended_at);
-- A person removed from a case, or whose objection was upheld: this node's tags of that
-- person, so imports and checks do not register the person again until the block is lifted.
-- Tags only, like the registry: the block cannot be read back as a person.
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('verwijdering', 'bezwaar')),
    case_ref TEXT,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    lifted_at REAL
);
CREATE TABLE IF NOT EXISTS blocked_tags (
    block_id INTEGER NOT NULL REFERENCES blocks (id) ON DELETE CASCADE,
    tag BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (block_id, tag, epoch)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocked_tags_by_tag ON blocked_tags (tag, epoch);
-- Rights requests made at this node (the one contact point) and notices of requests made
-- elsewhere that found the person here; counts and case references only.
CREATE TABLE IF NOT EXISTS rights_requests (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    made_at REAL NOT NULL,
    made_by TEXT NOT NULL,
    due_at REAL NOT NULL,
    query_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    closed_at REAL
);
CREATE TABLE IF NOT EXISTS rights_notices (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    from_node TEXT NOT NULL,
    from_zvh TEXT NOT NULL,
    query_id TEXT NOT NULL,
    cases TEXT NOT NULL,
    due_at REAL NOT NULL,
    handled_at REAL
);
-- The privacy role's register of security incidents and data breaches (no identifiers:
-- a category from a fixed list and a short description refused when it holds any).
-- `cause` names what opened an automatic incident, so the same cause opens only one.
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    discovered_at REAL NOT NULL,
    reported_at REAL NOT NULL,
    reported_by TEXT NOT NULL,
    personal_data TEXT NOT NULL CHECK (personal_data IN ('ja', 'nee', 'onbekend')),
    ap_decision TEXT NOT NULL DEFAULT 'open'
        CHECK (ap_decision IN ('open', 'gemeld', 'niet_melden')),
    ap_reported_at REAL,
    ap_reason TEXT,
    manager_informed_at REAL,
    closed_at REAL,
    cause TEXT NOT NULL DEFAULT ''
);
"""

# The users table as it must be now; a store made before the privacy role has a CHECK that
# refuses it, and SQLite cannot alter a CHECK: the table is rebuilt at open.
USERS_TABLE = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS users"):
                     SCHEMA.index("CREATE TABLE IF NOT EXISTS sessions")]

# (issuer, sub) of the provider's account onto ours; only the account name is ours.
OIDC_ACCOUNTS_TABLE = """
CREATE TABLE IF NOT EXISTS oidc_accounts (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE REFERENCES users (username) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    PRIMARY KEY (issuer, subject)
)"""
# Set as an OIDC account's password hash: no password verifies against it.
UNUSABLE_HASH = "!oidc"
# A local account's second factor (issue #14): the TOTP secret sealed with the node's
# account-secrets key (never plain), the last time step used (a code is accepted once), and
# the recovery codes' argon2 hashes (a used one is deleted). Added by `_migrate_second_factor`.
SECOND_FACTOR_TABLES = """
CREATE TABLE IF NOT EXISTS second_factors (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    last_step INTEGER NOT NULL,
    enrolled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    code_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recovery_codes_by_user ON recovery_codes (username);
"""

# Columns added after the first release; stores made before get them at open.
ADDED_COLUMNS = {
    "notifications": {
        "mailed_at": "REAL",
        "last_at": "REAL",
        "times": "INTEGER NOT NULL DEFAULT 1",
        "purpose": "TEXT NOT NULL DEFAULT ''",
        "assess": "INTEGER NOT NULL DEFAULT 0",
        "handled_action": "TEXT",
    },
    "cases": {
        "last_changed": "TEXT NOT NULL DEFAULT ''",
        "contact_release": "TEXT NOT NULL DEFAULT 'direct'",
        "informed_on": "TEXT NOT NULL DEFAULT ''",
        "inform_postponed": "TEXT NOT NULL DEFAULT ''",
        "reassess_on": "TEXT NOT NULL DEFAULT ''",
    },
    # A password a beheerder or the operator set is changed at the user's first login.
    "users": {
        "must_change_password": "INTEGER NOT NULL DEFAULT 0",
    },
    # When the import last staged something (staging of a dead import is removed).
    "import_staging": {
        "touched_at": "REAL NOT NULL DEFAULT 0",
    },
}

# Why a case stopped being active (case_endings.reason).
ENDED_AFSCHALING = "afschaling"
ENDED_NOT_ACCEPTED = "niet_in_behandeling"
ENDED_EXPIRED = "verlopen"
ENDED_NOT_LISTED = "niet_meer_in_export"
RIGHTS_TERM_SECONDS = 31 * 86400  # "binnen een maand"
# A melding about the same own case from the same procesregisseur of the same ZVH within
# this term is the same melding: its count and last time go up.
MELDING_GROUP_SECONDS = 30 * 86400

GENESIS = "0" * 64


class _Refused(Exception):
    """Inside a store transaction: roll back (the audit record too) and answer False."""


class CaseExists(Exception):
    """An aanmelding for a case number that is registered already."""


@dataclass(frozen=True)
class ImportSummary:
    cases: int
    added: int
    updated: int
    removed: int
    tags: int
    closed: int = 0     # afschaling rows
    refreshed: int = 0  # listed cases with new data: their six-month clock restarted


@dataclass(frozen=True)
class StagedCase:
    """One validated export row as pass 1 of an import stages it for its case."""

    line: int
    case_ref: str
    phase: str
    procesregisseur_id: str
    has_subject: bool
    ended: bool
    last_changed: str = ""
    assess_first: bool = False
    informing: tuple[str, str, str] = ("", "", "")


# An import's staging untouched for this long belongs to a process that died mid-import
# (a live import stages a block every few seconds, and waits at most a minute at a time
# for its budget, 30 minutes in all): the sweeper and the next import remove it, so tags
# of persons that never became active are not kept.
STALE_IMPORT_SECONDS = 3600.0


@dataclass(frozen=True)
class CaseRow:
    case_ref: str
    phase: str
    procesregisseur_id: str
    source: str
    registered_at: float
    refreshed_at: float   # the last new data: the six-month clock runs from here
    last_changed: str = ""
    contact_release: str = "direct"
    # Informing the person (AVG art. 13/14): informed on a date, or postponed for a reason
    # category until a reassessment date (ISO dates; empty: no status yet).
    informed_on: str = ""
    inform_postponed: str = ""
    reassess_on: str = ""

    @property
    def informing_status(self) -> bool:
        return bool(self.informed_on or self.inform_postponed)


@dataclass(frozen=True)
class Informing:
    """A case's informing status as exported or entered (ISO dates)."""

    informed_on: str = ""
    postponed: str = ""
    reassess_on: str = ""

    def __bool__(self) -> bool:
        return bool(self.informed_on or self.postponed)


@dataclass(frozen=True)
class NewMelding:
    """A hit at this node on one own case, to be filed for its procesregisseur."""

    case_ref: str
    procesregisseur_id: str
    from_node: str
    from_zvh: str
    requester: Procesregisseur
    strength: int
    query_id: str
    purpose: str
    assess: bool


@dataclass(frozen=True)
class Block:
    id: int
    kind: str
    case_ref: str | None
    created_at: float
    created_by: str
    lifted_at: float | None
    tags: int


@dataclass(frozen=True)
class RightsRequest:
    id: int
    kind: str
    made_at: float
    made_by: str
    due_at: float
    query_id: str
    outcome: dict[str, Any]
    closed_at: float | None


@dataclass(frozen=True)
class RightsNotice:
    id: int
    received_at: float
    from_node: str
    from_zvh: str
    query_id: str
    cases: list[str]
    due_at: float
    handled_at: float | None


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
    last_at: float = 0.0
    times: int = 1
    purpose: str = ""
    assess: bool = False
    handled_action: str | None = None


@dataclass(frozen=True)
class User:
    """A web account; `procesregisseur_id` links a procesregisseur to contacts and meldingen."""

    username: str
    role: str
    procesregisseur_id: str | None
    password_hash: str
    disabled: bool
    created_at: float
    must_change_password: bool = False  # set by a beheerder or the operator: change first


@dataclass(frozen=True)
class SecondFactor:
    """An account's TOTP enrolment: the secret as sealed in the store, the last step used."""

    username: str
    sealed_secret: bytes
    last_step: int
    enrolled_at: float


@dataclass(frozen=True)
class Session:
    """A server-side web session; `username` is None before login (it still carries CSRF)."""

    token_hash: str
    username: str | None
    csrf_token: str
    created_at: float
    seen_at: float


@dataclass(frozen=True)
class AuditRecord:
    """What an action writes to the audit trail, in the same commit as the action."""

    action: str
    actor: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    action: str
    actor: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


# A tag (tag, epoch, case_ref) under a live block: for every case, or for this case only.
_BLOCKED = ("SELECT 1 FROM blocked_tags bt JOIN blocks b ON b.id = bt.block_id"
            " WHERE bt.tag = ? AND bt.epoch = ? AND b.lifted_at IS NULL"
            " AND (b.case_ref IS NULL OR b.case_ref = ?)")
@dataclass(frozen=True)
class Incident:
    """A security incident or data breach in the privacy role's register."""

    id: int
    category: str
    description: str
    discovered_at: float
    reported_at: float
    reported_by: str
    personal_data: str           # ja, nee, onbekend
    ap_decision: str             # open, gemeld, niet_melden
    ap_reported_at: float | None
    ap_reason: str | None        # why not notified: one of a fixed list
    manager_informed_at: float | None
    closed_at: float | None
    cause: str = ""              # what opened an automatic incident


def _checkpoint_message(first_id: int, prev_hash: str) -> bytes:
    return f"{first_id} {prev_hash}".encode("ascii")


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
        for table, added in ADDED_COLUMNS.items():
            columns = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, declaration in added.items():
                if name not in columns:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
        self._migrate_users()
        self._migrate_oidc_accounts()
        self._migrate_second_factor()
        self._lock = threading.RLock()
        self._new_head: tuple[int, str] | None = None

    def _migrate_users(self) -> None:
        """Rebuild a users table whose role CHECK predates the privacy role, the way
        SQLite's manual says: foreign keys off (else dropping the old table would cascade
        to sessions and API tokens), copy, drop, rename, check, all in one transaction."""
        def outdated() -> bool:
            row = self._db.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"
                                   " AND name = 'users'").fetchone()
            return row is not None and "'privacy'" not in row[0]

        if not outdated():
            return
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if outdated():  # another connection may have done it meanwhile
                    self._db.execute(USERS_TABLE.replace(
                        "IF NOT EXISTS users", "users_new", 1).rstrip().rstrip(";"))
                    self._db.execute(
                        "INSERT INTO users_new (username, role, procesregisseur_id,"
                        " password_hash, disabled, created_at, must_change_password)"
                        " SELECT username, role, procesregisseur_id, password_hash, disabled,"
                        " created_at, must_change_password FROM users")
                    self._db.execute("DROP TABLE users")
                    self._db.execute("ALTER TABLE users_new RENAME TO users")
                    if any(self._db.execute(f"PRAGMA foreign_key_check({table})").fetchone()
                           for table in ("sessions", "api_tokens")):
                        raise sqlite3.IntegrityError("users migration broke a reference")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    def _migrate_oidc_accounts(self) -> None:
        """Accounts signed in through the organisation's OpenID provider (issue #14): a
        table of its own beside users (a store made before gets it at open), so the users
        table keeps its shape for other migrations."""
        self._db.execute(OIDC_ACCOUNTS_TABLE)
    def _migrate_second_factor(self) -> None:
        """Users-table step for TOTP: its own tables beside users (rows go with their
        account), so a store made before gets them at open and nothing else changes."""
        self._db.executescript(SECOND_FACTOR_TABLES)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, audit: AuditRecord | None = None,
                     now: float = 0.0) -> Iterator[sqlite3.Connection]:
        """All or nothing: an import interrupted or refused halfway leaves no trace. With
        `audit`, the action's audit record is part of the same commit, and the anchor
        outside the database follows the commit (a crash between them leaves the anchor
        one step behind, which verification accepts)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._new_head = None
            try:
                yield self._db
                if audit is not None:
                    self._append_audit(self._db, audit, now)
            except BaseException:
                self._db.execute("ROLLBACK")
                self._new_head = None
                raise
            self._db.execute("COMMIT")
            if self._new_head is not None:
                self._write_audit_head(*self._new_head)
                self._new_head = None

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

    _CASE_COLUMNS = ("case_ref, phase, procesregisseur_id, source, registered_at, refreshed_at,"
                     " last_changed, contact_release, informed_on, inform_postponed, reassess_on")

    def case(self, case_ref: str) -> CaseRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._CASE_COLUMNS} FROM cases WHERE case_ref = ?",  # noqa: S608
                (case_ref,)).fetchone()
        return CaseRow(*row) if row else None

    def cases(self) -> list[CaseRow]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._CASE_COLUMNS} FROM cases ORDER BY case_ref").fetchall()  # noqa: S608
        return [CaseRow(*r) for r in rows]

    def register_intake(self, case_ref: str, procesregisseur_id: str, *, now: float,
                        audit: AuditRecord) -> bool:
        """A new aanmelding, registered at this node before the case system exports it;
        CaseExists if the case number is taken."""
        with self._transaction(audit, now) as db:
            if db.execute("SELECT 1 FROM cases WHERE case_ref = ?", (case_ref,)).fetchone():
                raise CaseExists(case_ref)
            db.execute(
                "INSERT INTO cases (case_ref, phase, procesregisseur_id, source, registered_at,"
                " refreshed_at) VALUES (?, 'aanmelding', ?, 'check', ?, ?)",
                (case_ref, procesregisseur_id, now, now))
            db.execute("INSERT OR IGNORE INTO phase_history (case_ref, phase, at)"
                       " VALUES (?, 'aanmelding', ?)", (case_ref, now))
        return True

    def apply_import(self, registrations: list[Registration], *, now: float, sync: bool,
                     keep_checked_since: float, ended: Iterable[str] = (),
                     audit: AuditRecord | None = None) -> ImportSummary:
        """Replace the tags of every listed case; close the `ended` ones (afschaling); with
        `sync`, remove cases not listed (except cases registered here since
        `keep_checked_since`). A case's clock (refreshed_at) moves only when something of it
        changed or its last_changed date moved: six months without new data, not without
        an export. (An import streams through the staging methods below; this takes the
        registrations at once, for callers that have them, such as the bench's filling.)"""
        counts = [0, 0, 0, 0]  # added, updated, refreshed, tags
        with self._transaction() as db:
            for reg in registrations:
                self._apply_registration(db, reg, now, keep_checked_since, counts)
            closed = sum(self._end_case(db, case_ref, ENDED_AFSCHALING, now)
                         for case_ref in ended)
            removed = 0
            if sync:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS listed (case_ref TEXT PRIMARY KEY)")
                db.execute("DELETE FROM listed")
                db.executemany("INSERT OR IGNORE INTO listed VALUES (?)",
                               [(r.case_ref,) for r in registrations])
                removed = self._remove_unlisted(
                    db, "SELECT 1 FROM listed l WHERE l.case_ref = cases.case_ref", (),
                    keep_checked_since, now)
            summary = ImportSummary(len(registrations), counts[0], counts[1], removed,
                                    counts[3], closed, counts[2])
            self._audit_import(db, audit, summary, now)
        return summary

    def _apply_registration(self, db: sqlite3.Connection, reg: Registration, now: float,
                            keep_checked_since: float, counts: list[int]) -> None:
        """One listed case of an import; adds to counts [added, updated, refreshed, tags]."""
        old = db.execute("SELECT phase, procesregisseur_id, last_changed,"
                         " contact_release FROM cases WHERE case_ref = ?",
                         (reg.case_ref,)).fetchone()
        new_tags = {(t.tag, t.epoch, t.strength) for t in reg.tags}
        if old:
            counts[1] += 1
            epochs = {t.epoch for t in reg.tags}
            marks = ",".join("?" * len(epochs))
            stored = {(bytes(r[0]), r[1], r[2]) for r in db.execute(
                f"SELECT tag, epoch, strength FROM tags WHERE case_ref = ?"  # noqa: S608
                f" AND source = 'import' AND epoch IN ({marks})",
                (reg.case_ref, *epochs))}
            changed = (
                (old[0], old[1], old[3]) != (reg.phase, reg.procesregisseur_id,
                                             reg.contact_release)
                or (reg.last_changed and reg.last_changed != old[2])
                or (stored and stored != new_tags))
            counts[2] += bool(changed)
            db.execute(
                "UPDATE cases SET phase = ?, procesregisseur_id = ?, source = 'import',"
                " refreshed_at = CASE WHEN ? THEN ? ELSE refreshed_at END,"
                " last_changed = ?, contact_release = ? WHERE case_ref = ?",
                (reg.phase, reg.procesregisseur_id, bool(changed), now,
                 reg.last_changed or old[2], reg.contact_release, reg.case_ref))
            db.execute("DELETE FROM tags WHERE case_ref = ? AND (source = 'import'"
                       " OR added_at < ?)", (reg.case_ref, keep_checked_since))
        else:
            counts[0] += 1
            db.execute(
                "INSERT INTO cases (case_ref, phase, procesregisseur_id, source,"
                " registered_at, refreshed_at, last_changed, contact_release)"
                " VALUES (?, ?, ?, 'import', ?, ?, ?, ?)",
                (reg.case_ref, reg.phase, reg.procesregisseur_id, now, now,
                 reg.last_changed, reg.contact_release))
        db.executemany(
            "INSERT INTO tags (tag, epoch, case_ref, strength, source, added_at)"
            " SELECT ?, ?, ?, ?, 'import', ? WHERE NOT EXISTS (" + _BLOCKED + ")"
            " ON CONFLICT DO UPDATE SET"
            " strength = max(strength, excluded.strength), source = 'import',"
            " added_at = excluded.added_at",
            [(t.tag, t.epoch, reg.case_ref, t.strength, now, t.tag, t.epoch,
              reg.case_ref) for t in reg.tags])
        counts[3] += len(reg.tags)
        db.execute("INSERT OR IGNORE INTO phase_history (case_ref, phase, at)"
                   " VALUES (?, ?, ?)", (reg.case_ref, reg.phase, now))
        if any(reg.informing):  # the export's status; none keeps the case page's
            db.execute("UPDATE cases SET informed_on = ?, inform_postponed = ?,"
                       " reassess_on = ? WHERE case_ref = ?",
                       (*reg.informing, reg.case_ref))

    def _remove_unlisted(self, db: sqlite3.Connection, listed: str, args: tuple[Any, ...],
                         keep_checked_since: float, now: float) -> int:
        """End every case for which `listed` (correlated on cases.case_ref) finds nothing,
        except cases registered by a check since `keep_checked_since`; in pages along the
        primary key, so a large registry is never held in memory."""
        removed, after = 0, ""
        while True:
            page = [r[0] for r in db.execute(
                f"SELECT case_ref FROM cases WHERE case_ref > ? AND NOT EXISTS ({listed})"  # noqa: S608
                " AND NOT (source = 'check' AND registered_at >= ?)"
                " ORDER BY case_ref LIMIT 1000", (after, *args, keep_checked_since))]
            if not page:
                return removed
            for case_ref in page:
                removed += self._end_case(db, case_ref, ENDED_NOT_LISTED, now)
            after = page[-1]

    def _audit_import(self, db: sqlite3.Connection, audit: AuditRecord | None,
                      summary: ImportSummary, now: float) -> None:
        if audit is not None:
            self._append_audit(db, AuditRecord(audit.action, audit.actor, {
                **audit.details, "cases": summary.cases, "added": summary.added,
                "updated": summary.updated, "refreshed": summary.refreshed,
                "removed": summary.removed, "closed": summary.closed}), now)

    # ------------------------------------------------------------ import staging

    def begin_import(self, import_id: str, *, now: float) -> None:
        """Open an import's staging; first drop staging left by imports that died."""
        with self._transaction() as db:
            self._drop_stale_imports(db, now)
            db.execute("INSERT INTO import_staging (import_id, started_at, touched_at)"
                       " VALUES (?, ?, ?)", (import_id, now, now))

    @staticmethod
    def _drop_stale_imports(db: sqlite3.Connection, now: float) -> int:
        return int(db.execute("DELETE FROM import_staging WHERE touched_at < ?",
                              (now - STALE_IMPORT_SECONDS,)).rowcount)

    @staticmethod
    def _touch_import(db: sqlite3.Connection, import_id: str, now: float) -> None:
        db.execute("UPDATE import_staging SET touched_at = ? WHERE import_id = ?",
                   (now, import_id))

    def drop_import(self, import_id: str) -> None:
        """Forget a refused or failed import's staging (its cases and tags go with it)."""
        with self._transaction() as db:
            db.execute("DELETE FROM import_staging WHERE import_id = ?", (import_id,))

    def stage_import_cases(self, import_id: str, rows: Iterable[StagedCase], *, now: float
                           ) -> list[tuple[str, str, int]]:
        """Pass 1: fold each row into its case (latest last_changed, any assess_first,
        ended by any afschaling row, informing of the first row with a person). Returns,
        per row, the phase, procesregisseur and line of its case's first row, so the
        caller can refuse a case whose rows disagree."""
        firsts: list[tuple[str, str, int]] = []
        with self._transaction() as db:
            for row in rows:
                first = db.execute(
                    "INSERT INTO import_staging_cases (import_id, case_ref, phase,"
                    " procesregisseur_id, first_line, has_subject, ended, last_changed,"
                    " assess_first, informed_on, inform_postponed, reassess_on)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (import_id, case_ref) DO UPDATE SET"
                    " ended = max(ended, excluded.ended),"
                    " last_changed = max(last_changed, excluded.last_changed),"
                    " assess_first = max(assess_first, excluded.assess_first),"
                    " informed_on = CASE WHEN has_subject THEN informed_on"
                    "   ELSE excluded.informed_on END,"
                    " inform_postponed = CASE WHEN has_subject THEN inform_postponed"
                    "   ELSE excluded.inform_postponed END,"
                    " reassess_on = CASE WHEN has_subject THEN reassess_on"
                    "   ELSE excluded.reassess_on END,"
                    " has_subject = max(has_subject, excluded.has_subject)"
                    " RETURNING phase, procesregisseur_id, first_line",
                    (import_id, row.case_ref, row.phase, row.procesregisseur_id, row.line,
                     row.has_subject, row.ended, row.last_changed, row.assess_first,
                     *row.informing)).fetchone()
                firsts.append((first[0], first[1], first[2]))
            self._touch_import(db, import_id, now)
        return firsts

    def staged_ended(self, import_id: str, case_refs: Iterable[str]) -> set[str]:
        """Which of these cases an afschaling row of the import closes."""
        refs = list(set(case_refs))
        ended: set[str] = set()
        with self._lock:
            for i in range(0, len(refs), 500):
                part = refs[i:i + 500]
                marks = ",".join("?" * len(part))
                ended.update(r[0] for r in self._db.execute(
                    f"SELECT case_ref FROM import_staging_cases WHERE import_id = ?"  # noqa: S608
                    f" AND ended AND case_ref IN ({marks})", (import_id, *part)))
        return ended

    def stage_import_tags(self, import_id: str,
                          tags: Iterable[tuple[str, bytes, int, int]], *, now: float) -> None:
        """Pass 2: (case_ref, tag, epoch, strength) of one evaluated chunk; a tag that
        several keys of a case share keeps its strongest strength."""
        with self._transaction() as db:
            self._touch_import(db, import_id, now)
            db.executemany(
                "INSERT INTO import_staging_tags (import_id, case_ref, tag, epoch, strength)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " strength = max(strength, excluded.strength)",
                [(import_id, *t) for t in tags])

    def apply_staged_import(self, import_id: str, *, now: float, sync: bool,
                            keep_checked_since: float, all_after_assessment: bool = False,
                            audit: AuditRecord | None = None) -> ImportSummary:
        """Apply a staged import in one transaction, with its audit record, and drop the
        staging in the same commit: the same rules as `apply_import`, read case by case
        from the staging tables instead of from memory."""
        counts = [0, 0, 0, 0]
        cases = 0
        with self._transaction() as db:
            if not db.execute("SELECT 1 FROM import_staging WHERE import_id = ?",
                              (import_id,)).fetchone():
                raise KeyError(import_id)  # dropped meanwhile: never apply half an import
            staged = db.execute(
                "SELECT case_ref, phase, procesregisseur_id, last_changed, assess_first,"
                " informed_on, inform_postponed, reassess_on FROM import_staging_cases"
                " WHERE import_id = ? AND has_subject AND NOT ended", (import_id,))
            for ref, phase, regisseur, last_changed, assess, *informing in staged:
                tags = tuple(TagRow(bytes(r[0]), r[1], r[2]) for r in db.execute(
                    "SELECT tag, epoch, strength FROM import_staging_tags"
                    " WHERE import_id = ? AND case_ref = ?", (import_id, ref)))
                reg = Registration(
                    ref, phase, regisseur, tags, last_changed=last_changed,
                    informing=(informing[0], informing[1], informing[2]),
                    contact_release=CONTACT_AFTER_ASSESSMENT
                    if assess or all_after_assessment else CONTACT_DIRECT)
                self._apply_registration(db, reg, now, keep_checked_since, counts)
                cases += 1
            closed = sum(self._end_case(db, r[0], ENDED_AFSCHALING, now) for r in db.execute(
                "SELECT case_ref FROM import_staging_cases WHERE import_id = ? AND ended",
                (import_id,)).fetchall())
            removed = self._remove_unlisted(
                db, "SELECT 1 FROM import_staging_cases s WHERE s.import_id = ?"
                    " AND s.case_ref = cases.case_ref AND s.has_subject AND NOT s.ended",
                (import_id,), keep_checked_since, now) if sync else 0
            summary = ImportSummary(cases, counts[0], counts[1], removed, counts[3], closed,
                                    counts[2])
            self._audit_import(db, audit, summary, now)
            db.execute("DELETE FROM import_staging WHERE import_id = ?", (import_id,))
        return summary

    def register_check(self, case_ref: str, tags: list[tuple[bytes, int, int]], *, now: float,
                       audit: AuditRecord) -> None:
        """Add the tags (tag, epoch, strength) of checked persons to an own case, with the
        check's record; new persons are new data and restart the case's clock."""
        with self._transaction(audit, now) as db:
            if not db.execute("SELECT 1 FROM cases WHERE case_ref = ?", (case_ref,)).fetchone():
                raise KeyError(case_ref)  # closed while the check ran: nothing to register
            count = "SELECT COUNT(*) FROM tags WHERE case_ref = ?"
            before = db.execute(count, (case_ref,)).fetchone()[0]
            db.executemany(
                "INSERT INTO tags (tag, epoch, case_ref, strength, source, added_at)"
                " SELECT ?, ?, ?, ?, 'check', ? WHERE NOT EXISTS (" + _BLOCKED + ")"
                " ON CONFLICT DO UPDATE SET"
                " strength = max(strength, excluded.strength), added_at = excluded.added_at",
                [(tag, epoch, case_ref, strength, now, tag, epoch, case_ref)
                 for tag, epoch, strength in tags])
            if db.execute(count, (case_ref,)).fetchone()[0] > before:
                db.execute("UPDATE cases SET refreshed_at = ? WHERE case_ref = ?",
                           (now, case_ref))

    def set_informing(self, case_ref: str, informing: Informing, *, now: float,
                      audit: AuditRecord) -> None:
        """Record whether the person was informed, or why that is postponed and until when;
        with its audit record. The newest status replaces the older one."""
        with self._transaction(audit, now) as db:
            if not db.execute(
                    "UPDATE cases SET informed_on = ?, inform_postponed = ?, reassess_on = ?"
                    " WHERE case_ref = ?", (informing.informed_on, informing.postponed,
                                            informing.reassess_on, case_ref)).rowcount:
                raise KeyError(case_ref)

    def _end_case(self, db: sqlite3.Connection, case_ref: str, reason: str,
                  now: float) -> int:
        """Delete a case with its tags and meldingen; keep when and why it ended."""
        row = db.execute("SELECT registered_at FROM cases WHERE case_ref = ?",
                         (case_ref,)).fetchone()
        if row is None:
            return 0
        db.execute("DELETE FROM notifications WHERE case_ref = ?", (case_ref,))
        db.execute("DELETE FROM cases WHERE case_ref = ?", (case_ref,))
        db.execute("INSERT INTO case_endings (case_ref, registered_at, ended_at, reason)"
                   " VALUES (?, ?, ?, ?)", (case_ref, row[0], now, reason))
        return 1

    def end_case(self, case_ref: str, reason: str, *, now: float,
                 audit: AuditRecord) -> bool:
        """Afschaling or not accepted: registrations and meldingen go at once, with the
        record of who did it in the same commit. False if there is no such case."""
        with self._transaction(audit, now) as db:
            if not self._end_case(db, case_ref, reason, now):
                raise KeyError(case_ref)
        return True

    def case_endings(self, since: float = 0.0) -> list[tuple[str, float, float, str]]:
        """(case_ref, registered_at, ended_at, reason), newest first."""
        with self._lock:
            return [(r[0], r[1], r[2], r[3]) for r in self._db.execute(
                "SELECT case_ref, registered_at, ended_at, reason FROM case_endings"
                " WHERE ended_at >= ? ORDER BY ended_at DESC", (since,))]

    def retire_epochs(self, live_epochs: set[int]) -> int:
        """Delete tags of OPRF epochs the directory no longer lists."""
        marks = ",".join("?" * len(live_epochs))
        with self._transaction() as db:
            return db.execute(f"DELETE FROM tags WHERE epoch NOT IN ({marks})",  # noqa: S608
                              tuple(live_epochs)).rowcount

    def sweep(self, *, refreshed_before: float, handled_before: float, now: float,
              endings_before: float = 0.0, actor: str = "sweeper") -> tuple[int, int]:
        """Retention in one commit with its record: cases without new data since
        `refreshed_before` end as expired (with their meldingen), handled meldingen older
        than `handled_before` go, and so does the staging of an import that died
        (untouched for STALE_IMPORT_SECONDS). (expired cases, deleted meldingen)."""
        with self._transaction() as db:
            expired = [r[0] for r in db.execute(
                "SELECT case_ref FROM cases WHERE refreshed_at < ?", (refreshed_before,))]
            for case_ref in expired:
                self._end_case(db, case_ref, ENDED_EXPIRED, now)
            meldingen = db.execute(
                "DELETE FROM notifications WHERE handled_at IS NOT NULL AND handled_at < ?",
                (handled_before,)).rowcount
            db.execute("DELETE FROM case_endings WHERE ended_at < ?", (endings_before,))
            staging = self._drop_stale_imports(db, now)
            if expired or meldingen or staging:
                self._append_audit(db, AuditRecord("expiry", actor, {
                    "removed": len(expired), "meldingen_removed": meldingen,
                    "dead_imports_removed": staging}), now)
        return len(expired), meldingen

    def phases_reached(self, case_ref: str) -> set[str]:
        """Every phase a case was seen in (imports and intake), also after closing: the
        audit pages tell a case conference from a quiet close."""
        with self._lock:
            return {r[0] for r in self._db.execute(
                "SELECT phase FROM phase_history WHERE case_ref = ?", (case_ref,))}

    def expiring_cases(self, refreshed_before: float) -> list[CaseRow]:
        """Cases that expire soon: not refreshed since `refreshed_before`."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._CASE_COLUMNS} FROM cases WHERE refreshed_at < ?"  # noqa: S608
                " ORDER BY refreshed_at", (refreshed_before,)).fetchall()
        return [CaseRow(*r) for r in rows]

    def tag_counts(self) -> dict[str, int]:
        """Stored tags per case (the node keeps tags, not persons: one person gives several
        tags, one per match key and key version)."""
        with self._lock:
            return {r[0]: int(r[1]) for r in self._db.execute(
                "SELECT case_ref, COUNT(*) FROM tags GROUP BY case_ref")}

    def set_case_procesregisseur(self, case_ref: str, procesregisseur_id: str, *, now: float,
                                 audit: AuditRecord) -> bool:
        """Hand a case to another procesregisseur, with its audit record in the same commit;
        KeyError if there is no such case. The case's clock does not move: no new data."""
        with self._transaction(audit, now) as db:
            row = db.execute("SELECT procesregisseur_id FROM cases WHERE case_ref = ?",
                             (case_ref,)).fetchone()
            if row is None:
                raise KeyError(case_ref)
            if row[0] == procesregisseur_id:
                return False
            db.execute("UPDATE cases SET procesregisseur_id = ? WHERE case_ref = ?",
                       (procesregisseur_id, case_ref))
            db.execute("UPDATE notifications SET procesregisseur_id = ? WHERE case_ref = ?",
                       (procesregisseur_id, case_ref))
        return True

    def counts_by_phase(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT phase, COUNT(*) FROM cases GROUP BY phase"))

    def tag_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tags").fetchone()[0])

    # ------------------------------------------------------------ vervangers

    def set_vervanger(self, procesregisseur_id: str, vervanger_id: str, named: bool, *,
                      now: float, audit: AuditRecord) -> bool:
        """Name (or no longer name) a colleague who may act for a procesregisseur; True if
        it changed."""
        with self._transaction(audit, now) as db:
            if named:
                return db.execute("INSERT OR IGNORE INTO vervangers VALUES (?, ?)",
                                  (procesregisseur_id, vervanger_id)).rowcount > 0
            return db.execute("DELETE FROM vervangers WHERE procesregisseur_id = ? AND"
                              " vervanger_id = ?", (procesregisseur_id, vervanger_id)
                              ).rowcount > 0

    def vervangers(self) -> list[tuple[str, str]]:
        """(procesregisseur, vervanger) pairs."""
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute(
                "SELECT procesregisseur_id, vervanger_id FROM vervangers ORDER BY 1, 2")]

    def acts_for(self, procesregisseur_id: str) -> set[str]:
        """The procesregisseurs whose cases this one may work on: self and those who named
        this one as vervanger."""
        with self._lock:
            return {procesregisseur_id} | {r[0] for r in self._db.execute(
                "SELECT procesregisseur_id FROM vervangers WHERE vervanger_id = ?",
                (procesregisseur_id,))}

    # ------------------------------------------------------------ lookup

    def find_tagged(self, tags: list[bytes], epoch: int, active_since: float, *,
                    local: bool = False) -> list[tuple[bytes, StoredHit]]:
        """(tag, hit) for every stored tag among `tags` of a case refreshed since
        `active_since`: one query for all subjects of a lookup. A case at aanmelding is
        found only by the own node's checks (`local`)."""
        if not tags:
            return []
        marks = ",".join("?" * len(tags))
        with self._lock:
            rows = self._db.execute(
                f"SELECT t.tag, c.case_ref, t.strength, p.id, p.name, p.phone, p.email,"  # noqa: S608
                f" c.contact_release"
                f" FROM tags t JOIN cases c ON c.case_ref = t.case_ref"
                f" JOIN procesregisseurs p ON p.id = c.procesregisseur_id"
                f" WHERE t.epoch = ? AND t.tag IN ({marks}) AND c.refreshed_at >= ?"
                f" AND (? OR c.phase != 'aanmelding')",
                (epoch, *tags, active_since, local),
            ).fetchall()
        return [(bytes(r[0]), StoredHit(r[1], Procesregisseur(*r[3:7]), r[2], r[7]))
                for r in rows]

    # ------------------------------------------------------------ meldingen

    def record_meldingen(self, meldingen: list[NewMelding], *, now: float,
                         audit: list[AuditRecord]) -> None:
        """File meldingen for own procesregisseurs, with their audit records, in one
        commit. A melding about the same case from the same procesregisseur of the same ZVH
        within 30 days is the same melding: its count and last time go up, and it opens
        again if it was handled."""
        with self._transaction() as db:
            for m in meldingen:
                row = db.execute(
                    "SELECT id, handled_at FROM notifications WHERE case_ref = ? AND"
                    " from_node = ? AND requester_name = ? AND requester_email = ? AND at >= ?"
                    " ORDER BY id DESC LIMIT 1",
                    (m.case_ref, m.from_node, m.requester.name, m.requester.email,
                     now - MELDING_GROUP_SECONDS)).fetchone()
                if row:
                    db.execute(
                        "UPDATE notifications SET times = times + 1, last_at = ?,"
                        " strength = max(strength, ?), purpose = ?, assess = ?,"
                        " requester_phone = ?, handled_at = NULL, handled_action = NULL,"
                        " mailed_at = CASE WHEN handled_at IS NULL THEN mailed_at END"
                        " WHERE id = ?",
                        (now, m.strength, m.purpose, int(m.assess), m.requester.phone, row[0]))
                else:
                    db.execute(
                        "INSERT INTO notifications (at, last_at, case_ref, procesregisseur_id,"
                        " from_node, from_zvh, requester_name, requester_phone,"
                        " requester_email, strength, query_id, purpose, assess)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (now, now, m.case_ref, m.procesregisseur_id, m.from_node, m.from_zvh,
                         m.requester.name, m.requester.phone, m.requester.email, m.strength,
                         m.query_id, m.purpose, int(m.assess)))
            for record in audit:
                self._append_audit(db, record, now)

    _NOTIFICATION_COLUMNS = (
        "id, at, case_ref, procesregisseur_id, from_node, from_zvh, requester_name,"
        " requester_phone, requester_email, strength, handled_at, last_at, times, purpose,"
        " assess, handled_action")

    def notifications(self, procesregisseur_ids: Iterable[str] | None = None
                      ) -> list[Notification]:
        """Meldingen, newest first; only those for `procesregisseur_ids` when given."""
        if procesregisseur_ids is None:
            return self._notification_rows("", ())
        ids = tuple(procesregisseur_ids)
        marks = ",".join("?" * len(ids)) or "NULL"
        return self._notification_rows(f"WHERE procesregisseur_id IN ({marks})", ids)

    def open_notification_count(self, procesregisseur_id: str) -> int:
        """How many meldingen this procesregisseur (or as vervanger) has not handled: one
        COUNT query, cheap enough for the navigation of every page."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM notifications WHERE handled_at IS NULL AND"
                " (procesregisseur_id = ? OR procesregisseur_id IN (SELECT procesregisseur_id"
                " FROM vervangers WHERE vervanger_id = ?))",
                (procesregisseur_id, procesregisseur_id)).fetchone()
        return int(row[0])

    def notification(self, id: int) -> Notification | None:
        return next((n for n in self._notification_rows("WHERE id = ?", (id,))), None)

    def _notification_rows(self, where: str, args: tuple[Any, ...]) -> list[Notification]:
        with self._lock:
            rows = self._db.execute(  # `where` is one of this class's constants
                f"SELECT {self._NOTIFICATION_COLUMNS} FROM notifications {where}"  # noqa: S608
                " ORDER BY coalesce(last_at, at) DESC, id DESC", args).fetchall()
        return [Notification(r[0], r[1], r[2], r[3], r[4], r[5],
                             Procesregisseur("", r[6], r[7], r[8]), r[9], r[10],
                             r[11] or r[1], r[12], r[13], bool(r[14]), r[15]) for r in rows]

    def mark_notification_handled(self, id: int, procesregisseur_ids: Iterable[str],
                                  action: str, now: float, audit: AuditRecord) -> bool:
        """Only the procesregisseur the melding is for (or a vervanger) can handle it; True
        if it changed. The action is one of a fixed list, never free text."""
        ids = tuple(procesregisseur_ids)
        marks = ",".join("?" * len(ids)) or "NULL"
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE notifications SET handled_at = ?, handled_action = ? WHERE id = ?"  # noqa: S608
                f" AND procesregisseur_id IN ({marks}) AND handled_at IS NULL",
                (now, action, id, *ids)).rowcount > 0
            if changed:
                self._append_audit(db, audit, now)
        return changed

    def unmailed_notifications(self) -> list[Notification]:
        """Unhandled meldingen nobody was e-mailed about yet."""
        return self._notification_rows("WHERE mailed_at IS NULL AND handled_at IS NULL", ())

    def mark_mailed(self, ids: Iterable[int], now: float) -> None:
        with self._transaction() as db:
            db.executemany("UPDATE notifications SET mailed_at = ? WHERE id = ?",
                           [(now, i) for i in ids])

    # ------------------------------------------------------------ the person's rights

    def cases_with_tags(self, tags: list[tuple[bytes, int]]) -> list[CaseRow]:
        """Own cases (any phase) holding any of these tags: where a person is registered."""
        found: set[str] = set()
        with self._lock:
            for tag, epoch in tags:
                found |= {r[0] for r in self._db.execute(
                    "SELECT case_ref FROM tags WHERE tag = ? AND epoch = ?", (tag, epoch))}
        return [c for c in (self.case(ref) for ref in sorted(found)) if c is not None]

    def block_person(self, kind: str, tags: list[tuple[bytes, int]], case_ref: str | None, *,
                     now: float, audit: AuditRecord) -> tuple[int, int]:
        """Remove a person's registrations (in one case, or in all) and keep a block of
        this node's tags of the person; (block id, cases the person was removed from).
        A person has several tags (spelling variants), so tag rows are not what to tell
        the person: the cases are."""
        with self._transaction(audit, now) as db:
            block_id = int(db.execute(
                "INSERT INTO blocks (kind, case_ref, created_at, created_by) VALUES (?, ?, ?, ?)",
                (kind, case_ref, now, audit.actor)).lastrowid or 0)
            db.executemany("INSERT OR IGNORE INTO blocked_tags (block_id, tag, epoch)"
                           " VALUES (?, ?, ?)", [(block_id, t, e) for t, e in tags])
            cases: set[str] = set()
            for tag, epoch in tags:
                args = (tag, epoch, case_ref, case_ref)
                cases.update(r[0] for r in db.execute(
                    "SELECT DISTINCT case_ref FROM tags WHERE tag = ? AND epoch = ? AND"
                    " (? IS NULL OR case_ref = ?)", args))
                db.execute("DELETE FROM tags WHERE tag = ? AND epoch = ? AND (? IS NULL OR"
                           " case_ref = ?)", args)
        return block_id, len(cases)

    def lift_block(self, block_id: int, *, now: float, audit: AuditRecord) -> bool:
        """Lift a block: later imports and checks may register the person again. The
        block's tags go; the record that there was a block stays in the audit trail."""
        with self._transaction(audit, now) as db:
            changed = db.execute("UPDATE blocks SET lifted_at = ? WHERE id = ? AND lifted_at"
                                 " IS NULL", (now, block_id)).rowcount > 0
            if not changed:
                raise KeyError(block_id)
            db.execute("DELETE FROM blocked_tags WHERE block_id = ?", (block_id,))
        return True

    def blocks(self) -> list[Block]:
        with self._lock:
            rows = self._db.execute(
                "SELECT b.id, b.kind, b.case_ref, b.created_at, b.created_by, b.lifted_at,"
                " (SELECT COUNT(*) FROM blocked_tags t WHERE t.block_id = b.id)"
                " FROM blocks b ORDER BY b.id DESC").fetchall()
        return [Block(*r) for r in rows]

    def add_rights_request(self, kind: str, query_id: str, outcome: dict[str, Any], *,
                           now: float, audit: AuditRecord) -> int:
        with self._transaction(audit, now) as db:
            return int(db.execute(
                "INSERT INTO rights_requests (kind, made_at, made_by, due_at, query_id, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, now, audit.actor, now + RIGHTS_TERM_SECONDS, query_id,
                 json.dumps(outcome, sort_keys=True))).lastrowid or 0)

    def close_rights_request(self, request_id: int, *, now: float, audit: AuditRecord) -> bool:
        with self._transaction(audit, now) as db:
            if not db.execute("UPDATE rights_requests SET closed_at = ? WHERE id = ? AND"
                              " closed_at IS NULL", (now, request_id)).rowcount:
                raise KeyError(request_id)
        return True

    def rights_requests(self) -> list[RightsRequest]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, made_at, made_by, due_at, query_id, outcome, closed_at"
                " FROM rights_requests ORDER BY id DESC").fetchall()
        return [RightsRequest(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7])
                for r in rows]

    def record_rights_notice(self, from_node: str, from_zvh: str, query_id: str,
                             cases: list[str], *, now: float, audit: AuditRecord) -> None:
        """Another ZVH's rights request found the person here: a notice for the own
        privacy role, with the date by which it must answer."""
        with self._transaction(audit, now) as db:
            db.execute("INSERT INTO rights_notices (received_at, from_node, from_zvh, query_id,"
                       " cases, due_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (now, from_node, from_zvh, query_id, json.dumps(sorted(cases)),
                        now + RIGHTS_TERM_SECONDS))

    def rights_notices(self) -> list[RightsNotice]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_at, from_node, from_zvh, query_id, cases, due_at,"
                " handled_at FROM rights_notices ORDER BY id DESC").fetchall()
        return [RightsNotice(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
                for r in rows]

    def handle_rights_notice(self, notice_id: int, *, now: float, audit: AuditRecord) -> bool:
        with self._transaction(audit, now) as db:
            if not db.execute("UPDATE rights_notices SET handled_at = ? WHERE id = ? AND"
                              " handled_at IS NULL", (now, notice_id)).rowcount:
                raise KeyError(notice_id)
        return True
    # ------------------------------------------------------------ incidents

    _INCIDENT_COLUMNS = (
        "id, category, description, discovered_at, reported_at, reported_by, personal_data,"
        " ap_decision, ap_reported_at, ap_reason, manager_informed_at, closed_at, cause")

    def add_incident(self, category: str, description: str, personal_data: str, *,
                     discovered_at: float, reported_by: str, now: float,
                     audit: AuditRecord, cause: str = "") -> int | None:
        """Register an incident with its audit record (which gets the incident's number).
        With a `cause` (an automatic incident) nothing is added, and None returned, while an
        incident of the category is open or one with the same cause was ever registered."""
        with self._transaction() as db:
            if cause and db.execute(
                    "SELECT 1 FROM incidents WHERE category = ? AND (closed_at IS NULL"
                    " OR cause = ?)", (category, cause)).fetchone():
                return None
            incident_id = int(db.execute(
                "INSERT INTO incidents (category, description, discovered_at, reported_at,"
                " reported_by, personal_data, cause) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (category, description, discovered_at, now, reported_by, personal_data,
                 cause)).lastrowid or 0)
            self._append_audit(db, AuditRecord(audit.action, audit.actor, {
                **audit.details, "incident": incident_id}), now)
        return incident_id

    def update_incident(self, incident_id: int, *, personal_data: str, ap_decision: str,
                        ap_reported_at: float | None, ap_reason: str | None,
                        manager_informed_at: float | None, closed: bool, now: float,
                        audit: AuditRecord) -> bool:
        """Record the decisions on an incident with their audit record; False if there is
        no such incident. Closing keeps the first closing time."""
        with self._transaction(audit, now) as db:
            changed = db.execute(
                "UPDATE incidents SET personal_data = ?, ap_decision = ?, ap_reported_at = ?,"
                " ap_reason = ?, manager_informed_at = ?,"
                " closed_at = CASE WHEN ? THEN coalesce(closed_at, ?) END WHERE id = ?",
                (personal_data, ap_decision, ap_reported_at, ap_reason, manager_informed_at,
                 closed, now, incident_id)).rowcount > 0
            if not changed:
                raise KeyError(incident_id)  # rolls back: no record of a non-change
        return changed

    def incidents(self) -> list[Incident]:
        """Open incidents first, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._INCIDENT_COLUMNS} FROM incidents"  # noqa: S608
                " ORDER BY closed_at IS NOT NULL, discovered_at DESC, id DESC").fetchall()
        return [Incident(*r) for r in rows]

    def incident(self, incident_id: int) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._INCIDENT_COLUMNS} FROM incidents WHERE id = ?",  # noqa: S608
                (incident_id,)).fetchone()
        return Incident(*row) if row else None

    # ------------------------------------------------------------ web accounts

    def add_user(self, username: str, role: str, procesregisseur_id: str | None,
                 password_hash: str, now: float, must_change_password: bool = False) -> bool:
        """False if the username is taken."""
        with self._transaction() as db:
            try:
                db.execute("INSERT INTO users (username, role, procesregisseur_id, password_hash,"
                           " disabled, created_at, must_change_password)"
                           " VALUES (?, ?, ?, ?, 0, ?, ?)",
                           (username, role, procesregisseur_id, password_hash, now,
                            int(must_change_password)))
            except sqlite3.IntegrityError:
                return False
        return True

    def user(self, username: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT username, role, procesregisseur_id, password_hash, disabled, created_at,"
                " must_change_password FROM users WHERE username = ?", (username,)).fetchone()
        return User(row[0], row[1], row[2], row[3], bool(row[4]), row[5],
                    bool(row[6])) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                "SELECT username, role, procesregisseur_id, password_hash, disabled, created_at,"
                " must_change_password FROM users ORDER BY username").fetchall()
        return [User(r[0], r[1], r[2], r[3], bool(r[4]), r[5], bool(r[6])) for r in rows]

    def set_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disabling also ends the user's sessions and revokes their API tokens."""
        with self._transaction() as db:
            changed = db.execute("UPDATE users SET disabled = ? WHERE username = ?",
                                 (int(disabled), username)).rowcount > 0
            if disabled:
                db.execute("DELETE FROM sessions WHERE username = ?", (username,))
                db.execute("DELETE FROM api_tokens WHERE username = ?", (username,))
        return changed

    def set_password_hash(self, username: str, password_hash: str,
                          must_change_password: bool = False) -> bool:
        """A reset also ends the user's sessions, revokes their API tokens and clears failed
        logins: whoever held the old password may have made a token with it."""
        with self._transaction() as db:
            changed = db.execute("UPDATE users SET password_hash = ?, must_change_password = ?"
                                 " WHERE username = ?",
                                 (password_hash, int(must_change_password),
                                  username)).rowcount > 0
            db.execute("DELETE FROM sessions WHERE username = ?", (username,))
            db.execute("DELETE FROM api_tokens WHERE username = ?", (username,))
            db.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        return changed

    def change_own_password(self, username: str, password_hash: str, keep_session: str, *,
                            now: float, audit: AuditRecord) -> bool:
        """The user's own new password, with its audit record, in one commit: the user's
        other sessions end (the one that changed it stays), the forced change is done."""
        with self._transaction(audit, now) as db:
            changed = db.execute("UPDATE users SET password_hash = ?, must_change_password = 0"
                                 " WHERE username = ?", (password_hash, username)).rowcount > 0
            db.execute("DELETE FROM sessions WHERE username = ? AND token_hash != ?",
                       (username, keep_session))
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

    def revoke_api_tokens(self, username: str) -> int:
        """Revoke every API token of `username`; how many there were."""
        with self._transaction() as db:
            return db.execute("DELETE FROM api_tokens WHERE username = ?",
                              (username,)).rowcount

    def oidc_account(self, issuer: str, subject: str) -> str | None:
        """The account name linked to the provider's (issuer, sub), if any."""
        with self._lock:
            row = self._db.execute("SELECT username FROM oidc_accounts WHERE issuer = ? AND"
                                   " subject = ?", (issuer, subject)).fetchone()
        return row[0] if row else None

    def is_oidc_account(self, username: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM oidc_accounts WHERE username = ?",
                                    (username,)).fetchone() is not None

    def add_oidc_user(self, username: str, role: str, procesregisseur_id: str | None,
                      issuer: str, subject: str, *, now: float, audit: AuditRecord) -> bool:
        """An account provisioned at its first sign-in, with its audit record; False if
        the name is taken (by a local account, or another of the provider's)."""
        try:
            with self._transaction(audit, now) as db:
                db.execute("INSERT INTO users (username, role, procesregisseur_id,"
                           " password_hash, disabled, created_at, must_change_password)"
                           " VALUES (?, ?, ?, ?, 0, ?, 0)",
                           (username, role, procesregisseur_id, UNUSABLE_HASH, now))
                db.execute("INSERT INTO oidc_accounts (issuer, subject, username, created_at)"
                           " VALUES (?, ?, ?, ?)", (issuer, subject, username, now))
        except sqlite3.IntegrityError:
            return False
        return True

    def set_user_role(self, username: str, role: str, procesregisseur_id: str | None, *,
                      now: float, audit: AuditRecord) -> None:
        """The role the provider's claim gives at this sign-in, with its audit record."""
        with self._transaction(audit, now) as db:
            db.execute("UPDATE users SET role = ?, procesregisseur_id = ? WHERE username = ?",
                       (role, procesregisseur_id, username))

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

    # ------------------------------------------------------------ second factor (TOTP)

    def second_factor(self, username: str) -> SecondFactor | None:
        with self._lock:
            row = self._db.execute(
                "SELECT username, sealed_secret, last_step, enrolled_at FROM second_factors"
                " WHERE username = ?", (username,)).fetchone()
        return SecondFactor(row[0], bytes(row[1]), row[2], row[3]) if row else None

    def second_factor_users(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT username FROM second_factors")}

    def enrol_second_factor(self, username: str, sealed_secret: bytes, step: int,
                            recovery_code_hashes: list[str], *, now: float,
                            audit: AuditRecord) -> bool:
        """The confirmed TOTP secret and the recovery codes, with the audit record, in one
        commit; `step` (the confirming code's) counts as used. False if the account has
        a second factor already (a second browser enrolled meanwhile)."""
        try:
            with self._transaction(audit, now) as db:
                try:
                    db.execute("INSERT INTO second_factors (username, sealed_secret, last_step,"
                               " enrolled_at) VALUES (?, ?, ?, ?)",
                               (username, sealed_secret, step, now))
                except sqlite3.IntegrityError:
                    raise _Refused from None
                db.executemany("INSERT INTO recovery_codes (username, code_hash) VALUES (?, ?)",
                               [(username, h) for h in recovery_code_hashes])
        except _Refused:
            return False
        return True

    def use_totp_step(self, username: str, step: int, *, now: float,
                      audit: AuditRecord) -> bool:
        """Mark time step `step` used, with the login's audit record; False if it or a
        later step was used already (a replayed code), and then nothing is recorded."""
        try:
            with self._transaction(audit, now) as db:
                if db.execute("UPDATE second_factors SET last_step = ? WHERE username = ?"
                              " AND last_step < ?", (step, username, step)).rowcount == 0:
                    raise _Refused
        except _Refused:
            return False
        return True

    def recovery_codes(self, username: str) -> list[tuple[int, str]]:
        """(id, argon2 hash) of the account's unused recovery codes."""
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute(
                "SELECT id, code_hash FROM recovery_codes WHERE username = ? ORDER BY id",
                (username,))]

    def use_recovery_code(self, code_id: int, *, now: float, audit: AuditRecord) -> bool:
        """Delete the used code with the login's audit record; False if it was used already."""
        try:
            with self._transaction(audit, now) as db:
                if db.execute("DELETE FROM recovery_codes WHERE id = ?", (code_id,)).rowcount == 0:
                    raise _Refused
        except _Refused:
            return False
        return True

    def reset_second_factor(self, username: str, *, now: float, audit: AuditRecord) -> bool:
        """Remove the account's TOTP secret and recovery codes and end its sessions (the
        phone may be in someone else's hands), with the audit record; False if unknown."""
        try:
            with self._transaction(audit, now) as db:
                if db.execute("SELECT 1 FROM users WHERE username = ?",
                              (username,)).fetchone() is None:
                    raise _Refused
                db.execute("DELETE FROM second_factors WHERE username = ?", (username,))
                db.execute("DELETE FROM recovery_codes WHERE username = ?", (username,))
                db.execute("DELETE FROM sessions WHERE username = ?", (username,))
        except _Refused:
            return False
        return True

    # ------------------------------------------------------------ audit trail

    def append_audit(self, action: str, actor: str, details: dict[str, Any], now: float) -> None:
        """Append a hash-chained record on its own; details must hold no identifiers. An
        action that changes the registry passes its record to the method doing it instead,
        so both commit together."""
        with self._transaction(AuditRecord(action, actor, details), now):
            pass

    def _append_audit(self, db: sqlite3.Connection, record: AuditRecord, now: float) -> None:
        """Inside an open transaction. The anchor moves on only while it still names a
        record of the chain: after the newest records were cut off it keeps naming the
        missing one, so appending does not heal a truncation."""
        text = json.dumps(record.details, sort_keys=True, ensure_ascii=False)
        row = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        if row:
            prev = row[1]
        else:
            checkpoint = db.execute("SELECT prev_hash FROM audit_checkpoint").fetchone()
            prev = checkpoint[0] if checkpoint else GENESIS
        hash_ = _audit_hash(prev, now, record.action, record.actor, text)
        record_id = db.execute(
            "INSERT INTO audit (at, action, actor, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (now, record.action, record.actor, text, prev, hash_)).lastrowid
        if self._anchor_in_chain(db, has_records=row is not None):
            self._new_head = (int(record_id or 0), hash_)

    def _anchor_in_chain(self, db: sqlite3.Connection, *, has_records: bool) -> bool:
        anchor = self._read_audit_head()
        if anchor is None:  # a new trail has no anchor yet; an old one lost it
            return not has_records and self._db.execute(
                "SELECT 1 FROM audit_checkpoint").fetchone() is None
        head_id, head_hash = anchor
        found = db.execute("SELECT hash FROM audit WHERE id = ?", (head_id,)).fetchone()
        return found is not None and found[0] == head_hash

    @property
    def audit_head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".audit-head")

    def _read_audit_head(self) -> tuple[int, str] | None:
        try:
            head_id, head_hash = self.audit_head_path.read_text(encoding="ascii").split()
            return int(head_id), head_hash
        except FileNotFoundError:
            return None
        except ValueError:
            return (0, "")

    def _write_audit_head(self, record_id: int, hash_: str) -> None:
        """The newest record's id and hash, outside the database: a chain alone cannot show
        that its newest records were cut off, the head can."""
        # A file of this writer's own: other connections to the registry (the melding
        # writer's, another process's) anchor their commits at the same time.
        tmp = self.audit_head_path.with_name(
            f"{self.audit_head_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(f"{record_id} {hash_}\n", encoding="ascii")
        tmp.replace(self.audit_head_path)

    def prune_audit(self, before: float, *, now: float, signing_key: bytes) -> int:
        """Delete records older than `before` (never the newest) and start the chain at a
        checkpoint signed with the node's audit key; the pruning is itself audited."""
        with self._transaction() as db:
            row = db.execute("SELECT MAX(id) FROM audit WHERE at < ? AND id < (SELECT MAX(id)"
                             " FROM audit)", (before,)).fetchone()
            last = row[0] if row else None
            if last is None:
                return 0
            last_hash = db.execute("SELECT hash FROM audit WHERE id = ?", (last,)).fetchone()[0]
            removed = db.execute("DELETE FROM audit WHERE id <= ?", (last,)).rowcount
            first_id = int(last) + 1
            db.execute("INSERT OR REPLACE INTO audit_checkpoint (id, first_id, prev_hash, at,"
                       " signature) VALUES (1, ?, ?, ?, ?)",
                       (first_id, last_hash, now,
                        signature.sign_checkpoint(_checkpoint_message(first_id, last_hash),
                                                  signing_key)))
            self._append_audit(db, AuditRecord("audit_pruned", "sweeper", {
                "removed": removed, "before": time.strftime("%Y-%m-%d",
                                                            time.gmtime(before))}), now)
        return removed

    def audit_entries(self, action: str | None = None) -> list[AuditEntry]:
        sql = "SELECT id, at, action, actor, details, prev_hash, hash FROM audit"
        args: tuple[str, ...] = ()
        if action:
            sql += " WHERE action = ?"
            args = (action,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def audit_entries_between(self, actions: Iterable[str], since: float,
                              until: float | None = None, *, actor: str | None = None,
                              case_ref: str | None = None) -> list[AuditEntry]:
        """Records of `actions` with since <= at < until, oldest first; only one user's or
        one case's when given: the auditor's check list and periodic report."""
        names = tuple(actions)
        marks = ",".join("?" * len(names)) or "NULL"
        sql = ("SELECT id, at, action, actor, details, prev_hash, hash FROM audit"  # noqa: S608
               f" WHERE action IN ({marks}) AND at >= ?")
        args: list[str | float] = [*names, since]
        if until is not None:
            sql += " AND at < ?"
            args.append(until)
        if actor is not None:
            sql += " AND actor = ?"
            args.append(actor)
        if case_ref is not None:
            sql += " AND json_extract(details, '$.case_ref') = ?"
            args.append(case_ref)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def audit_entries_of(self, actor: str, actions: tuple[str, ...]) -> list[AuditEntry]:
        """One user's records of the given actions, oldest first: a procesregisseur's own
        check history."""
        with self._lock:  # one indexed (action, actor) query per action
            rows = sorted(row for action in actions for row in self._db.execute(
                "SELECT id, at, action, actor, details, prev_hash, hash FROM audit"
                " WHERE action = ? AND actor = ?", (action, actor)).fetchall())
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

    def verify_audit(self, signing_key: bytes | None = None) -> int | None:
        """None if the trail is intact, else the id of the first record that is altered or
        missing: a broken link in the chain, a pruned start without a valid signed
        checkpoint (`signing_key` is the node's audit key), or the anchored head gone."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, action, actor, details, prev_hash, hash FROM audit ORDER BY id"
            ).fetchall()
            checkpoint = self._db.execute(
                "SELECT first_id, prev_hash, signature FROM audit_checkpoint").fetchone()
        prev = GENESIS
        if checkpoint is not None:
            first_id, prev, signed = checkpoint
            if (signing_key is None or not rows or rows[0][0] != first_id
                    or not signature.checkpoint_signature_ok(
                        _checkpoint_message(first_id, prev), bytes(signed), signing_key)):
                return int(first_id)
        hashes: dict[int, str] = {}
        for id_, at, action, actor, details, prev_hash, hash_ in rows:
            if prev_hash != prev or _audit_hash(prev, at, action, actor, details) != hash_:
                return int(id_)
            prev = hashes[int(id_)] = hash_
        head = self._read_audit_head()
        if head is None:
            return int(rows[0][0]) if rows else None  # records, but their anchor is gone
        # The head may lag behind after a crash between commit and anchor; it must still
        # name a record of the chain.
        if hashes.get(head[0]) != head[1]:
            return max(head[0], 1)
        return None
