"""Coordinator replicas on one PostgreSQL (issue #15): shared audit and rate limits that
hold across replicas, retention on both backends, and the store's configuration."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.pgstore import PostgresStore
from samenloop.coordinator.store import AuditRecord, AuditStore, StoreUnavailable
from samenloop.node.demo import build_network
from samenloop.proto.configfile import ConfigError
from tests.support.postgres import Postgres, PostgresMissing, start_postgres

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
