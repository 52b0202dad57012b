"""Coordinator replicas on one PostgreSQL (issue #15): shared audit and rate limits that
hold across replicas, retention on both backends, the store's configuration; nodes that
list several replicas, fail over to another, and lose no check when one is killed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.pgstore import PostgresStore
from samenloop.coordinator.store import AuditRecord, AuditStore, StoreUnavailable
from samenloop.node.check import CheckRefused, CheckRequest, RateLimited, run_check
from samenloop.node.config import STANDARD_PURPOSES, NodeConfig
from samenloop.node.demo import build_network
from samenloop.node.model import CheckResult
from samenloop.node.network import Network, Replicas
from samenloop.proto.configfile import ConfigError
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from tests.support.network import PIETER_VAN_DEN_BERG, Harness, person
from tests.support.postgres import Postgres, PostgresMissing, start_postgres
from tests.support.replicas import CoordinatorProcess, point_nodes_at

FRYSLAN, LIMBURG = "zvh-fryslan", "zvh-noord-limburg"
CASE = "F-2026-001"  # Fryslân's case whose check finds Pieter van den Berg at Noord-Limburg

MINUTE_AND_DAY = ((60.0, 10, "minute"), (86400.0, 1000, "day"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        server = start_postgres()
    except PostgresMissing as exc:
        pytest.skip(f"no PostgreSQL for the replica tests: {exc}")
    yield server
    server.stop()


_databases = iter(range(1, 10_000))


@pytest.fixture
def database(postgres: Postgres) -> str:
    """A fresh database per test: replicas of one test share it, tests do not."""
    return postgres.new_database(f"test_{next(_databases)}")


def with_store(config: Path, section: str) -> Path:
    out = config.parent / "coordinator-store.toml"
    out.write_text(config.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
    return out


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(("section", "field", "problem"), [
    ('[store]\nurl = "postgresql://u:secret@db/samenloop"\n', "store.url", "password"),
    ('[store]\nurl = "mysql://u@db/samenloop"\n', "store.url", "postgresql://"),
    ('[store]\nurl = "postgresql://u@db"\n', "store.url", "postgresql://"),
    ('[store]\nurl = "postgresql://u@db:99999/x"\n', "store.url", "valid URL"),
    ('[store]\npassword_file = "keys/oprf-epoch-1.key"\n', "store.password_file", "url"),
    ('[store]\nurl = "postgresql://u@db/x"\npasword_file = "x"\n', "store.pasword_file",
     "unknown"),
])
def test_store_settings_are_checked(tmp_path: Path, section: str, field: str,
                                    problem: str) -> None:
    layout = build_network(tmp_path)
    with pytest.raises(ConfigError) as refused:
        CoordinatorConfig.load(with_store(layout.coordinator_config, section))
    assert refused.value.field == field and problem in str(refused.value)
    assert "secret" not in str(refused.value)


def test_store_password_file_must_be_private(tmp_path: Path) -> None:
    layout = build_network(tmp_path)
    secret = tmp_path / "pg-password"
    secret.write_text("x\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match=r"store\.password_file"):
        CoordinatorConfig.load(with_store(layout.coordinator_config,
                                          f'[store]\nurl = "postgresql://u@db/x"\n'
                                          f'password_file = "{secret}"\n'))


def test_unreachable_database_is_a_clear_refusal_without_the_password(
        tmp_path: Path, postgres: Postgres) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    with pytest.raises(StoreUnavailable, match="no connection") as refused:
        PostgresStore(postgres.url, wrong)
    assert "not-the-password" not in str(refused.value)


# ------------------------------------------------------------------ the shared store


def test_schema_is_created_once_by_replicas_starting_together(database: str,
                                                             postgres: Postgres) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(PostgresStore(database, postgres.password_file))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors and len(stores) == 4
        assert {s.schema_version for s in stores} == {1}
    finally:
        for s in stores:
            s.close()


def test_two_replicas_cannot_both_grant_the_last_unit(database: str,
                                                      postgres: Postgres) -> None:
    """Twenty concurrent reservations through two stores against a limit of ten: exactly
    ten are granted, the others refused for the minute."""
    a, b = (PostgresStore(database, postgres.password_file) for _ in range(2))
    now = time.time()
    results: list[str | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def reserve(store: PostgresStore) -> None:
        barrier.wait()
        answer = store.reserve("zvh-a", "check", 1, now, MINUTE_AND_DAY)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=reserve, args=(a if i % 2 else b,)) for i in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(None) == 10 and results.count("minute") == 10
        # Another node's budget is its own; the minute passes, the day still counts.
        assert a.reserve("zvh-b", "check", 1, now, MINUTE_AND_DAY) is None
        assert b.reserve("zvh-a", "check", 1, now + 61, MINUTE_AND_DAY) is None
        assert a.retry_after("zvh-a", "check", 1, now + 1, 60.0, 10) == pytest.approx(59.0)
        assert a.retry_after("zvh-a", "check", 11, now, 60.0, 10) is None
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_audit_retention_on_both_backends(backend: str, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        store: AuditStore | PostgresStore = AuditStore(tmp_path / "audit.sqlite")
    else:
        postgres = request.getfixturevalue("postgres")
        store = PostgresStore(request.getfixturevalue("database"), postgres.password_file)
    now = time.time()
    try:
        for age_days, request_id in ((400, "old"), (2, "recent")):
            store.record(AuditRecord(now - age_days * 86400, "check", "zvh-a", request_id, 3,
                                     "complete", 3, {"zvh-a": "ANSWERED"}))
        assert store.delete_older_than(365, now) == 1
        assert [r.request_id for r in store.records()] == ["recent"]
        assert store.records()[0].node_statuses == {"zvh-a": "ANSWERED"}
    finally:
        store.close()


def test_audit_command_reads_the_embedded_store_too(tmp_path: Path) -> None:
    layout = build_network(tmp_path)
    config = CoordinatorConfig.load(layout.coordinator_config)
    store = AuditStore(config.data_dir / "coordinator-audit.sqlite")
    store.record(AuditRecord(time.time(), "evaluate", "zvh-a", "q-7/e1", 12, "ok", 0, {},
                             "check"))
    store.close()
    shown = subprocess.run(
        [sys.executable, "-m", "samenloop.node", "coordinator", "audit", "--config",
         str(layout.coordinator_config)], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "evaluate node=zvh-a request=q-7/e1 count=12 outcome=ok" in shown.stdout
    assert "purpose=check" in shown.stdout and "1 of 1 record(s)" in shown.stdout


# ------------------------------------------------------------------ nodes: a list of replicas


@pytest.mark.parametrize(("value", "problem"), [
    ('["127.0.0.1:7000", "127.0.0.1:7000"]', "twice"),
    ('["127.0.0.1"]', "host:port"),
    ('["127.0.0.1:7000", ":7001"]', "host:port"),
    ("[]", "1 to 16"),
    ("[7000]", "host:port strings"),
])
def test_node_coordinator_list_is_checked(tmp_path: Path, value: str, problem: str) -> None:
    layout = build_network(tmp_path)
    config = next(iter(layout.node_configs.values()))
    text = re.sub(r'^coordinator = ".*"$', f"coordinator = {value}",
                  config.read_text(encoding="utf-8"), flags=re.M)
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        NodeConfig.load(config)
    assert refused.value.field == "coordinator" and problem in str(refused.value)


def test_node_takes_the_listed_replicas_in_turn(tmp_path: Path) -> None:
    layout = build_network(tmp_path)
    point_nodes_at(layout, ["127.0.0.1:7001", "coordinator-b.example:7002"])
    config = NodeConfig.load(next(iter(layout.node_configs.values())))
    assert config.coordinator == "127.0.0.1:7001"
    assert config.coordinator_addresses == ("127.0.0.1:7001", "coordinator-b.example:7002")
    replicas = Replicas(config)
    try:
        assert [replicas.pick() for _ in range(4)] == [0, 1, 0, 1]
        assert replicas.other_than(0) is replicas.stubs[1]
    finally:
        replicas.close()


# ------------------------------------------------------------------ replicas in processes


@dataclass
class Replicated:
    harness: Harness
    replicas: list[CoordinatorProcess]


def start_replicated(tmp_path: Path, postgres: Postgres, database: str,
                     points: tuple[str, str] = ("none", "none"),
                     **build: object) -> Replicated:
    """Two coordinator processes on one database, and the three demo nodes and key holders
    (in this process), the nodes' `coordinator` listing both replicas."""
    harness = Harness(tmp_path / "net", **build)
    replicas: list[CoordinatorProcess] = []
    try:
        for name, point in zip(("replica-a", "replica-b"), points, strict=True):
            replicas.append(CoordinatorProcess(harness.layout, name, database,
                                               postgres.password_file, point))
        point_nodes_at(harness.layout, [r.endpoint for r in replicas])
        for holder_id in harness.layout.holder_configs:
            harness.start_holder(holder_id)
        for node_id in harness.layout.node_configs:
            harness.start_node(node_id)
        for node_id in harness.layout.node_configs:
            harness.import_cases(node_id)
    except BaseException:
        harness.close()
        for r in replicas:
            r.stop()
        raise
    return Replicated(harness, replicas)


@pytest.fixture
def replicated(tmp_path: Path, postgres: Postgres, database: str,
               request: pytest.FixtureRequest) -> Iterator[Replicated]:
    options: dict[str, object] = getattr(request, "param", {})
    network = start_replicated(tmp_path, postgres, database, **options)
    yield network
    network.harness.close()
    for replica in network.replicas:
        replica.stop()


def melding_count(harness: Harness, node_id: str) -> int:
    """Meldingen filed at a node (each filing counts, also when grouped)."""
    harness.flush_meldingen()
    return sum(m.times for m in harness.nodes[node_id].store.notifications())


def check_through(harness: Harness, network: Network, actor: str) -> CheckResult:
    node = harness.nodes[FRYSLAN]
    return run_check(node.config, node.store, network,
                     CheckRequest(CASE, STANDARD_PURPOSES[0], (person(**PIETER_VAN_DEN_BERG),),
                                  actor=actor))


@pytest.mark.parametrize("replicated", [{"rate_limits": {"checks_per_minute": 4}}],
                         indirect=True, ids=["checks_per_minute=4"])
@pytest.mark.timeout(300)
def test_replicas_share_the_rate_limit_and_the_audit(replicated: Replicated) -> None:
    """Fryslân's check budget (4 a minute) spent half at each replica is used up at both;
    both replicas' audit records are in the one store the `audit` command reads."""
    harness, replicas = replicated.harness, replicated.replicas
    node = harness.nodes[FRYSLAN]
    networks = [Network(replace(node.config, coordinator=r.endpoint, more_coordinators=()))
                for r in replicas]
    try:
        ids = []
        for i in range(4):
            result = check_through(harness, networks[i % 2], f"user{i}")
            assert result.coverage.complete and result.hits
            ids.append(result.query_id)
        for i, network in enumerate(networks):
            with pytest.raises(RateLimited) as refused:
                check_through(harness, network, f"late{i}")
            assert refused.value.field == "netwerk"
    finally:
        for network in networks:
            network.close()
    for replica, served in zip(replicas, (ids[0::2], ids[1::2]), strict=True):
        log = replica.output()
        assert all(f"query={q}" in log for q in served), "each replica served its half"
    for replica in replicas:  # either replica's config reads every replica's records
        shown = subprocess.run(
            [sys.executable, "-m", "samenloop.node", "coordinator", "audit", "--config",
             str(replica.config), "--limit", "100"],
            capture_output=True, text=True, timeout=120, check=True).stdout
        assert all(f"request={q} " in shown and "outcome=complete" in shown for q in ids)
        assert shown.count("outcome=refused") == 2
        assert harness.layout.verify_key.hex() not in shown


@pytest.mark.parametrize("replicated", [{"points": ("die-after-fanout", "none")}],
                         indirect=True, ids=["a-dies-after-fanout"])
@pytest.mark.timeout(300)
def test_a_replica_dying_before_it_answers_loses_no_check_and_no_melding(
        replicated: Replicated) -> None:
    """Replica A fans a check out (Noord-Limburg answers and files its melding) and dies
    before answering. The node sends the same check to replica B; Noord-Limburg gives the
    same answer again without a second melding, so the user sees the hit the melding is
    about. Every check is complete."""
    harness, (dying, _) = replicated.harness, replicated.replicas
    before = melding_count(harness, LIMBURG)
    results = []
    for i in range(6):
        results.append(harness.check(FRYSLAN, CASE, PIETER_VAN_DEN_BERG, actor=f"user{i}"))
        if dying.process.poll() is not None:
            break
        # Round-robin takes the replicas in turn per call, and a check makes one or two
        # (a directory refresh): one more call after every other check shifts the next
        # Check to the other replica, whatever a check's own count.
        if i % 2 == 0:
            harness.nodes[FRYSLAN].network.stub.GetDirectory(pb.GetDirectoryRequest(),
                                                             timeout=5)
    assert dying.process.wait(timeout=20) == -signal.SIGKILL
    assert all(r.coverage.complete and any(h.node_id == LIMBURG for h in r.hits)
               for r in results)
    assert melding_count(harness, LIMBURG) - before == len(results)
    # The node keeps working on the other replica alone.
    assert harness.check(FRYSLAN, CASE, PIETER_VAN_DEN_BERG, actor="after").coverage.complete


@pytest.mark.parametrize("replicated", [{"rate_limits": {"checks_per_minute": 100_000}}],
                         indirect=True, ids=["unlimited"])
@pytest.mark.timeout(300)
def test_a_replica_killed_under_load_loses_no_check_silently(replicated: Replicated) -> None:
    """Two procesregisseurs check continuously; replica A is SIGKILLed mid-stream. Every
    check returns the hit complete, or says clearly that it failed or is incomplete, never a
    complete "no hit"; every melding filed belongs to a hit a user saw; the checks after
    the kill go through replica B."""
    harness, (victim, survivor) = replicated.harness, replicated.replicas
    before = melding_count(harness, LIMBURG)
    outcomes: list[tuple[float, float, str]] = []  # (started, ended, outcome)
    lock = threading.Lock()
    stop = threading.Event()

    def procesregisseur(who: int) -> None:
        number = 0
        while not stop.is_set() and number < 400:  # bounded: 2 x 400 at most
            number += 1
            started = time.monotonic()
            try:
                result = harness.check(FRYSLAN, CASE, PIETER_VAN_DEN_BERG,
                                       actor=f"user{who}-{number}")
                if result.coverage.complete:
                    found = any(h.node_id == LIMBURG for h in result.hits)
                    outcome = "hit" if found else "silent no-hit"
                else:
                    outcome = "incomplete"
            except CheckRefused as exc:
                clear = exc.field == "netwerk" and "niet uitgevoerd" in exc.message
                outcome = "failed" if clear else f"unclear refusal: {exc.message}"
            with lock:
                outcomes.append((started, time.monotonic(), outcome))

    workers = [threading.Thread(target=procesregisseur, args=(w,)) for w in range(2)]
    for w in workers:
        w.start()
    time.sleep(1.5)
    killed = time.monotonic()
    assert victim.kill() == -signal.SIGKILL
    time.sleep(3.0)
    stop.set()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers)
    seen = {outcome for _, _, outcome in outcomes}
    assert seen <= {"hit", "incomplete", "failed"}, outcomes
    assert any(s < killed < e for s, e, _ in outcomes), "a check was in flight at the kill"
    after = [o for s, _, o in outcomes if s > killed + 0.5]
    assert after and set(after) == {"hit"}, "checks after the kill go through replica B"
    hits_seen = sum(o == "hit" for _, _, o in outcomes)
    assert melding_count(harness, LIMBURG) - before == hits_seen
    assert survivor.process.poll() is None


@pytest.mark.timeout(300)
def test_with_the_shared_store_gone_checks_are_refused_clearly(
        replicated: Replicated, postgres: Postgres, database: str) -> None:
    """No budget can be counted and no audit record kept: both replicas refuse (UNAVAILABLE,
    so the node tried the other one too), and the user reads that the check did not run."""
    harness = replicated.harness
    assert harness.check(FRYSLAN, CASE, PIETER_VAN_DEN_BERG, actor="before").coverage.complete
    postgres.drop_database(database)
    with pytest.raises(CheckRefused) as refused:
        harness.check(FRYSLAN, CASE, PIETER_VAN_DEN_BERG, actor="after")
    assert refused.value.field == "netwerk" and "niet uitgevoerd" in refused.value.message
    for replica in replicated.replicas:
        assert replica.process.poll() is None  # still up, for when the database is back
        assert "store is unavailable" in replica.output() or "PostgreSQL" in replica.output()
        assert postgres.password not in replica.output()


@pytest.mark.timeout(300)
def test_a_node_fails_over_to_the_other_replica(replicated: Replicated) -> None:
    """With replica A gone, every call that would have gone to it goes to B: checks are
    complete, an import evaluates, the directory refreshes; all of it through B."""
    harness, (gone, other) = replicated.harness, replicated.replicas
    assert gone.kill() == -signal.SIGKILL
    for i in range(4):
        result = harness.check(FRYSLAN, CASE, PIETER_VAN_DEN_BERG, actor=f"user{i}")
        assert result.coverage.complete and any(h.node_id == LIMBURG for h in result.hits)
        assert f"query={result.query_id}" in other.output()
    assert harness.import_cases(LIMBURG).cases > 0
    assert harness.nodes[FRYSLAN].network.directory(refresh=True, timeout=5).serial == 1
