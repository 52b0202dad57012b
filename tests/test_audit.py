"""The node's audit trail: hash-chained and anchored, so `samenloop node audit verify`
finds any record that was altered or removed, including the newest ones."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from samenloop.node.store import NodeStore
from tests.support.network import NOBODY, Harness

FRYSLAN = "zvh-fryslan"


def verify(h: Harness) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "samenloop.node", "node", "audit", "verify",
                           "--config", str(h.layout.node_configs[FRYSLAN])],
                          capture_output=True, text=True, timeout=60, check=False)


def tamper(h: Harness, sql: str) -> None:
    db = sqlite3.connect(h.nodes[FRYSLAN].config.store_path)
    db.execute(sql)
    db.commit()
    db.close()


def test_verify_detects_altered_removed_and_truncated_records(network: Harness) -> None:
    for _ in range(3):
        network.check(FRYSLAN, "F-2026-001", NOBODY)
    ok = verify(network)
    assert ok.returncode == 0 and "audit trail intact" in ok.stdout

    tamper(network, "UPDATE audit SET actor = 'someone-else' WHERE id = 2")
    broken = verify(network)
    assert broken.returncode == 1 and "BROKEN at record 2" in broken.stderr


def test_verify_detects_a_removed_middle_record(network: Harness) -> None:
    for _ in range(3):
        network.check(FRYSLAN, "F-2026-001", NOBODY)
    tamper(network, "DELETE FROM audit WHERE id = 2")
    assert "BROKEN at record 3" in verify(network).stderr


def test_verify_detects_the_newest_records_cut_off(network: Harness) -> None:
    for _ in range(3):
        network.check(FRYSLAN, "F-2026-001", NOBODY)
    last = network.nodes[FRYSLAN].store.audit_entries()[-1].id
    tamper(network, f"DELETE FROM audit WHERE id >= {last - 1}")
    result = verify(network)
    assert result.returncode == 1 and f"BROKEN at record {last}" in result.stderr


def test_verify_detects_a_removed_anchor(network: Harness) -> None:
    network.check(FRYSLAN, "F-2026-001", NOBODY)
    anchor: Path = network.nodes[FRYSLAN].store.audit_head_path
    anchor.unlink()
    assert verify(network).returncode == 1


def test_truncation_followed_by_an_append_is_still_detected(network: Harness) -> None:
    for _ in range(3):
        network.check(FRYSLAN, "F-2026-001", NOBODY)
    store = network.nodes[FRYSLAN].store
    last = store.audit_entries()[-1].id
    tamper(network, f"DELETE FROM audit WHERE id >= {last - 1}")
    store.append_audit("login", "someone", {}, time.time())  # the node carries on
    result = verify(network)
    assert result.returncode == 1 and f"BROKEN at record {last}" in result.stderr


def test_pruning_starts_the_chain_at_a_signed_checkpoint(network: Harness) -> None:
    node = network.nodes[FRYSLAN]
    for _ in range(3):
        network.check(FRYSLAN, "F-2026-001", NOBODY)
    total = node.store.audit_count()
    removed = node.store.prune_audit(time.time() + 1, now=time.time(),
                                     signing_key=node.config.audit_key)
    assert removed == total - 1  # never the newest
    assert node.store.audit_entries()[-1].action == "audit_pruned"
    assert verify(network).returncode == 0
    assert node.store.verify_audit() is not None  # without the node's key: not trusted
    # A different first character, whatever the hash was.
    tamper(network, "UPDATE audit_checkpoint SET prev_hash = CASE substr(prev_hash, 1, 1)"
                    " WHEN 'f' THEN 'e' ELSE 'f' END || substr(prev_hash, 2)")
    assert verify(network).returncode == 1


def test_an_action_and_its_record_survive_kill_9_at_every_write(network: Harness) -> None:
    """`node close` killed at each write system call in turn: the case is either still
    there without a close record, or gone with one, and the trail verifies."""
    strace = shutil.which("strace")
    if strace is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "strace"], check=False,
                       capture_output=True)
        strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed and apt-get could not install it")
    config = str(network.layout.node_configs[FRYSLAN])
    network.stop_node(FRYSLAN)  # the CLI works on the store alone
    store = NodeStore(network.layout.node_configs[FRYSLAN].parent / "data" / "registry.sqlite")
    case_ref, write = "F-2026-002", 0
    try:
        while True:
            write += 1
            killed = subprocess.run(
                [strace, "-f", "-o", "/dev/null", "-e", "trace=pwrite64,write,fsync,fdatasync,"
                 "rename", "-e", f"inject=pwrite64,write,fsync,fdatasync,rename:signal=SIGKILL:"
                 f"when={write}", sys.executable, "-m", "samenloop.node", "node", "close",
                 case_ref, "--config", config], capture_output=True, text=True, timeout=60,
                check=False)
            closed = store.case(case_ref) is None
            records = [e for e in store.audit_entries("close")
                       if e.details.get("case_ref") == case_ref]
            assert closed == bool(records), (write, closed, records)
            intact = verify(network)
            assert intact.returncode == 0, (write, intact.stderr)
            if killed.returncode == 0:
                assert closed
                break
            assert write < 400
    finally:
        store.close()
    assert write > 3  # the kill really landed on writes before the last one


def test_two_connections_appending_at_once_both_succeed(tmp_path: Path) -> None:
    """The web app's store and the melding writer's are two connections to one registry in
    one process: each anchors the newest record after its commit. With one shared temporary
    file for the anchor, one writer's rename took the other's file away and its action,
    already committed, came back as an error (seen under 16 concurrent checks)."""
    path = tmp_path / "registry.sqlite"
    stores = [NodeStore(path), NodeStore(path)]
    failures: list[BaseException] = []

    def append(store: NodeStore, actor: str) -> None:
        try:
            for i in range(300):
                store.append_audit("check", actor, {"n": i}, now=time.time())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(store, f"pr-{i}"))
               for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not failures, failures[:1]
        assert len(stores[0].audit_entries("check")) == 600
        assert stores[0].verify_audit() is None
    finally:
        for store in stores:
            store.close()
