"""The privacy role's store side: the users table of an older store migrated at open (its
role CHECK predates `privacy`), and the incident register with its automatic incidents on
a broken audit chain and a refused tampered directory."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samenloop.node import incidents
from samenloop.node.config import WebConfig
from samenloop.node.server import sweep
from samenloop.node.store import SCHEMA, Incident, NodeStore
from samenloop.node.web import actions
from samenloop.node.web.actions import NodeContext
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from tests.support.network import NOBODY, PIETER_VAN_DEN_BERG, Harness

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"

# The users columns a store had before the privacy role (must_change_password came later).
OLD_COLUMNS = "(username, role, procesregisseur_id, password_hash, disabled, created_at)"
OLD_CHECK = "CHECK (role IN ('procesregisseur', 'beheerder', 'auditor'))"


def _old_store(path: Path) -> None:
    """A store as made before the privacy role: same tables, the old role CHECK."""
    new_check = "CHECK (role IN ('procesregisseur', 'beheerder', 'auditor', 'privacy'))"
    assert new_check in SCHEMA
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(SCHEMA.replace(new_check, OLD_CHECK))
    now = time.time()
    db.executemany(f"INSERT INTO users {OLD_COLUMNS} VALUES (?, ?, ?, ?, ?, ?)", [
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
        db.execute(f"INSERT INTO users {OLD_COLUMNS} VALUES ('p', 'privacy', NULL, 'h', 0, 0)")
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


def _verify_cli(h: Harness) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "samenloop.node", "node", "audit", "verify",
                           "--config", str(h.layout.node_configs[FRYSLAN])],
                          capture_output=True, text=True, timeout=60, check=False)


def _tamper(h: Harness, sql: str) -> None:
    db = sqlite3.connect(h.nodes[FRYSLAN].config.store_path)
    db.execute(sql)
    db.commit()
    db.close()


def _automatic(store: NodeStore, category: str) -> list[Incident]:
    return [i for i in store.incidents() if i.category == category]


def test_a_broken_audit_chain_opens_one_incident_per_break(network: Harness) -> None:
    node = network.nodes[FRYSLAN]
    store = node.store
    for _ in range(3):
        network.check(FRYSLAN, "F-2026-001", NOBODY)
    sweep(node.config, store, time.time())
    assert store.incidents() == []  # an intact trail opens nothing

    _tamper(network, "UPDATE audit SET actor = 'someone-else' WHERE id = 2")
    result = _verify_cli(network)
    assert result.returncode == 1 and "BROKEN at record 2" in result.stderr
    assert "incident 1 opened" in result.stderr
    [incident] = _automatic(store, "auditspoor_gebroken")
    assert incident.reported_by == "systeem" and incident.closed_at is None
    assert incident.personal_data == "onbekend" and "record 2" in incident.description
    assert incidents.ap_clock(incident, time.time()).text == "nog 72 uur"
    [record] = store.audit_entries("incident_open")
    assert record.actor == "systeem"
    assert record.details == {"incident": incident.id, "category": "auditspoor_gebroken",
                              "personal_data": "onbekend", "automatic": True,
                              "source": "audit verify"}

    # The node's sweep, the CLI again and the auditor's page see the same break: no second.
    sweep(node.config, store, time.time())
    assert "opened" not in _verify_cli(network).stderr
    ctx = NodeContext(node.config, WebConfig(), store, node.network)
    assert actions.audit_report(ctx).broken_at == 2
    assert len(_automatic(store, "auditspoor_gebroken")) == 1

    # Closed after investigation, the same break stays closed ...
    incidents.decide(store, incident.id, personal_data="nee", ap_decision="niet_melden",
                     ap_reported="", ap_reason="geen_persoonsgegevens", manager_informed="",
                     close=True, actor="privacy", now=time.time())
    sweep(node.config, store, time.time())
    assert len(_automatic(store, "auditspoor_gebroken")) == 1
    # ... and a new break elsewhere opens a new incident, found by the node's own sweep.
    _tamper(network, "UPDATE audit SET action = 'login' WHERE id = 1")
    sweep(node.config, store, time.time())
    opened = _automatic(store, "auditspoor_gebroken")
    assert len(opened) == 2 and "record 1" in opened[0].description
    assert store.audit_entries("incident_open")[-1].details["source"] == "sweep"


def test_a_tampered_directory_is_refused_and_opens_one_incident(network: Harness) -> None:
    node = network.nodes[FRYSLAN]
    assert network.coordinator is not None
    service = network.coordinator.service
    genuine = service.directory
    raw = bytearray(genuine.signed.directory)
    index = raw.find(b"Noord-Limburg")
    raw[index] ^= 0x20  # the coordinator now serves an altered edition
    tampered = pb.SignedDirectory(directory=bytes(raw), signature=genuine.signed.signature)
    service.directory = dataclasses.replace(genuine, signed=tampered)
    try:
        assert node._refresh_directory() is False
        node.reload()  # SIGHUP, or the next minute's refresh: the same edition, no second
        [incident] = _automatic(node.store, "ongeldige_directory")
        assert incident.reported_by == "systeem" and "coördinator" in incident.description
        [record] = node.store.audit_entries("incident_open")
        assert record.details["source"] == "directory (coordinator)"
        # Nothing of it was used: the node keeps the verified edition and checks go on.
        assert node.directory().node(LIMBURG).display_name == (  # type: ignore[union-attr]
            "Zorg- en Veiligheidshuis Noord-Limburg")
        assert network.check(FRYSLAN, "F-2026-001", PIETER_VAN_DEN_BERG).hits
    finally:
        service.directory = genuine

    # An altered cached copy on the node's disk (another alteration than the one refused
    # already: that one stays one incident) is refused as well, in a new incident.
    incidents.decide(node.store, incident.id, personal_data="nee", ap_decision="niet_melden",
                     ap_reported="", ap_reason="geen_incident", manager_informed="",
                     close=True, actor="privacy", now=time.time())
    cache = node.config.directory_cache
    data = bytearray(cache.read_bytes())
    data[-1] ^= 0x01  # in the signature
    cache.write_bytes(bytes(data))
    assert node._refresh_directory() is True  # the coordinator's genuine copy replaces it
    refused = _automatic(node.store, "ongeldige_directory")
    assert len(refused) == 2 and "eigen kopie" in refused[0].description
    assert cache.read_bytes() == genuine.signed.SerializeToString()
