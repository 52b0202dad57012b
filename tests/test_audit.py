"""The node's audit trail: hash-chained and anchored, so `samenloop node audit verify`
finds any record that was altered or removed, including the newest ones."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

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
