"""The privacy role's store side: the users table of an older store migrated at open (its
role CHECK predates `privacy`), and the incident register with its automatic incidents on
a broken audit chain and a refused tampered directory."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from samenloop.node.store import SCHEMA, NodeStore

OLD_CHECK = "CHECK (role IN ('procesregisseur', 'beheerder', 'auditor'))"


def _old_store(path: Path) -> None:
    """A store as made before the privacy role: same tables, the old role CHECK."""
    new_check = "CHECK (role IN ('procesregisseur', 'beheerder', 'auditor', 'privacy'))"
    assert new_check in SCHEMA
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(SCHEMA.replace(new_check, OLD_CHECK))
    now = time.time()
    db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", [
        ("regisseur", "procesregisseur", "pr-1", "hash-1", 0, now),
        ("beheerder", "beheerder", None, "hash-2", 0, now),
        ("oud", "auditor", None, "hash-3", 1, now)])
    db.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", [
        ("s1", "regisseur", "c1", now, now), ("s2", "beheerder", "c2", now, now),
        ("s3", None, "c3", now, now)])
    db.executemany("INSERT INTO api_tokens VALUES (?, ?, ?)", [
        ("t1", "regisseur", now), ("t2", "beheerder", now)])
    db.commit()
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO users VALUES ('p', 'privacy', NULL, 'h', 0, 0)")
    db.close()


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        db.close()


def test_an_old_users_table_is_migrated_at_open_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    _old_store(path)
    before = {t: _rows(path, t) for t in ("users", "sessions", "api_tokens")}

    store = NodeStore(path)
    assert {t: _rows(path, t) for t in before} == before  # every user, session and token
    assert store.add_user("privacy", "privacy", None, "hash-4", time.time())
    assert store.user("privacy") is not None and store.user("privacy").role == "privacy"  # type: ignore[union-attr]
    assert not store.add_user("x", "koning", None, "h", time.time())  # the CHECK still holds
    store.close()

    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=ON")
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "'privacy'" in db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]
    # The references still cascade: a removed account takes its sessions and tokens along.
    db.execute("DELETE FROM users WHERE username = 'regisseur'")
    assert db.execute("SELECT token_hash FROM sessions ORDER BY 1").fetchall() == [
        ("s2",), ("s3",)]
    assert db.execute("SELECT token_hash FROM api_tokens").fetchall() == [("t2",)]
    db.commit()
    db.close()

    reopened = NodeStore(path)  # a second open finds nothing to do
    assert {u.username for u in reopened.users()} == {"beheerder", "oud", "privacy"}
    reopened.close()
