"""The holder answers first and writes a hit's meldingen after: killed at any point, its
store holds a melding together with its audit record or neither, and its audit trail
verifies. A clean stop (SIGTERM) writes what is queued before the process exits."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from samenloop.node.config import NodeConfig
from samenloop.node.store import NodeStore
from tests.support.network import PIETER_VAN_DEN_BERG, Harness, NodeProcess

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
TRIAGE_CASE = "F-2026-001"


@pytest.mark.parametrize(("point", "answered", "written"), [
    ("before-answer", False, False),   # the coordinator reports the node, never a no-hit
    ("before-write", True, False),     # the requester has the contact; the melding is lost
    ("after-write", True, True),
])
def test_holder_killed_at_each_point_keeps_meldingen_and_audit_together(
        tmp_path: Path, point: str, answered: bool, written: bool) -> None:
    network = Harness(tmp_path / "net", deadline_seconds=2.0).start()
    try:
        limburg = NodeProcess(network, LIMBURG, point)
        result = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
        code = limburg.stop(signal.SIGTERM)  # no-op if it killed itself as it should
        assert code == -signal.SIGKILL, limburg.output()
    finally:
        network.close()
    if answered:
        [hit] = result.hits
        assert hit.node_id == LIMBURG and hit.procesregisseur.name == "Anne de Vries"
    else:
        assert result.hits == () and [m.node_id for m in result.coverage.missing] == [LIMBURG]

    config = NodeConfig.load(limburg.config)
    store = NodeStore(config.store_path)
    try:
        meldingen = store.notifications()
        records = [e for e in store.audit_entries("melding")
                   if e.details["query_id"] == result.query_id]
        assert bool(meldingen) == bool(records) == written
        assert [m.case_ref for m in meldingen] == [r.details["case_ref"] for r in records]
    finally:
        store.close()
    verify = subprocess.run(
        [sys.executable, "-m", "samenloop.node", "node", "audit", "verify", "--config",
         str(limburg.config)], capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sigterm_writes_queued_meldingen_before_exit(tmp_path: Path) -> None:
    network = Harness(tmp_path / "net", deadline_seconds=2.0).start()
    try:
        limburg = NodeProcess(network, LIMBURG, "slow-write")  # a write takes a second
        result = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
        assert [h.node_id for h in result.hits] == [LIMBURG]
        assert limburg.stop(signal.SIGTERM) == 0, limburg.output()
    finally:
        network.close()
    store = NodeStore(NodeConfig.load(limburg.config).store_path)
    try:
        [melding] = store.notifications()
        assert melding.case_ref == "NL-2026-014"
        assert [e.details["query_id"] for e in store.audit_entries("melding")] == [
            result.query_id]
        assert store.verify_audit() is None
    finally:
        store.close()
