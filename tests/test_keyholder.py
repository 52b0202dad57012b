"""The key holder service (#13) on a real grpc.aio server with mutual TLS on loopback:
nodes of the directory get partial evaluations that verify against the holder's public
share; everyone else, every malformed request and every node over its budget is refused
before any work, and the audit records counts, never elements."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from samenloop.coordinator.keyholder.config import KeyHolderConfig
from samenloop.coordinator.keyholder.server import BackgroundKeyHolder
from samenloop.coordinator.keyholder.store import HolderAuditRecord, HolderAuditStore
from samenloop.crypto import pki, threshold, voprf
from samenloop.proto import healthcheck, limits
from samenloop.proto.configfile import ConfigError
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.transport import RETRY_AFTER_MS
from tests.support.keyholders import NODES, HolderNetwork, build_holders

A, B, C = "houder-a", "houder-b", "houder-c"
FRYSLAN, LIMBURG = NODES


@pytest.fixture
def holders(tmp_path: Path) -> Iterator[HolderNetwork]:
    network = build_holders(tmp_path / "kh", rate_limits={"evaluations_per_minute": 50,
                                                          "import_evaluations_per_minute": 20})
    yield network
    network.close()


@pytest.fixture
def running(holders: HolderNetwork) -> Iterator[dict[str, BackgroundKeyHolder]]:
    started = {h: BackgroundKeyHolder(KeyHolderConfig.load(c), c).start()
               for h, c in holders.configs.items()}
    yield started
    for server in started.values():
        server.stop()


def blinded(count: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    inputs = [secrets.token_bytes(16) for _ in range(count)]
    pairs = [voprf.blind(x, voprf.Mode.VOPRF) for x in inputs]
    return inputs, [b for b, _ in pairs], [e for _, e in pairs]


def request(elements: list[bytes], epoch: int = 1, request_id: str = "r-1",
            purpose: int = pb.EVALUATION_FOR_CHECK) -> pb.EvaluateShareRequest:
    return pb.EvaluateShareRequest(epoch=epoch, blinded_elements=elements,
                                   request_id=request_id, purpose=purpose)


def refused(call: object, message: pb.EvaluateShareRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(message, timeout=30)  # type: ignore[operator]
    return info.value


def test_a_partial_evaluation_verifies_against_the_public_share_and_combines(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder]) -> None:
    inputs, blinds, elements = blinded(3)
    answers = {}
    for holder in (A, C):
        answer = holders.stub(holder).EvaluateShare(request(elements, request_id=f"q-{holder}"),
                                                    timeout=30)
        assert (answer.holder_id, answer.epoch, answer.request_id) == (holder, 1, f"q-{holder}")
        # The batch proof verifies against P_i (and only against it).
        share = holders.shares[holder]
        evaluated = list(answer.evaluated_elements)
        threshold.verify_share_evaluation(share.public_share, elements, evaluated, answer.proof)
        with pytest.raises(voprf.VerifyError):
            threshold.verify_share_evaluation(holders.shares[B].public_share, elements,
                                              evaluated, answer.proof)
        answers[share.index] = evaluated
    public_shares = {s.index: s.public_share for s in holders.shares.values()}
    combined = threshold.combine(holders.public_key, public_shares, answers, threshold=2)
    assert combined == voprf.blind_evaluate(holders.key, elements)
    assert [voprf.finalize(x, r, z, voprf.Mode.VOPRF) for x, r, z in
            zip(inputs, blinds, combined, strict=True)] == \
        [voprf.evaluate(holders.key, x, voprf.Mode.VOPRF) for x in inputs]


@pytest.mark.parametrize(("caller", "code"), [
    ("zvh-onbekend", grpc.StatusCode.PERMISSION_DENIED),   # the network CA, not in the directory
    (pki.COORDINATOR, grpc.StatusCode.PERMISSION_DENIED),  # the coordinator holds nothing here
    (B, grpc.StatusCode.PERMISSION_DENIED),                # nor does another key holder
])
def test_only_nodes_of_the_directory_are_served(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder], caller: str,
        code: grpc.StatusCode) -> None:
    error = refused(holders.stub(A, caller).EvaluateShare, request(blinded(1)[2]))
    assert error.code() == code
    assert f"{caller} is not a node in the directory" in (error.details() or "")
    assert running[A].audit.records() == []


def test_a_certificate_of_a_foreign_ca_gets_no_connection(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder]) -> None:
    error = refused(holders.stub(A, FRYSLAN, ca="foreign").EvaluateShare,
                    request(blinded(1)[2]))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert running[A].audit.records() == []


@pytest.mark.parametrize(("message", "code", "named", "outcome"), [
    (request(blinded(1)[2], epoch=2), grpc.StatusCode.FAILED_PRECONDITION,
     "epoch 2 is not split with a share of houder-a; epochs served: 1", "unavailable_epoch"),
    (request([]), grpc.StatusCode.INVALID_ARGUMENT, "blinded_elements: required", "invalid"),
    (request([bytes(32)] * (limits.EVALUATE_MAX_ELEMENTS + 1)),
     grpc.StatusCode.INVALID_ARGUMENT, f"blinded_elements: at most "
                                       f"{limits.EVALUATE_MAX_ELEMENTS} items", "invalid"),
    (request([*blinded(1)[2], bytes(33)]), grpc.StatusCode.INVALID_ARGUMENT,
     "blinded_elements[1]: at most 32 bytes", "invalid"),
    (request([*blinded(1)[2], bytes(32)]), grpc.StatusCode.INVALID_ARGUMENT,
     "blinded_elements[1]: not a valid ristretto255 element", "invalid"),
    (request([b"\xff" * 32]), grpc.StatusCode.INVALID_ARGUMENT,
     "blinded_elements[0]: not a valid ristretto255 element", "invalid"),
    (request(blinded(1)[2], request_id="a\nforged"), grpc.StatusCode.INVALID_ARGUMENT,
     "request_id: only", "invalid"),
    (request(blinded(1)[2], request_id=""), grpc.StatusCode.INVALID_ARGUMENT,
     "request_id: required", "invalid"),
    (request(blinded(1)[2], request_id="r" * 129), grpc.StatusCode.INVALID_ARGUMENT,
     "request_id: at most 128 characters", "invalid"),
], ids=["epoch", "empty", "oversize", "long-element", "identity", "non-canonical",
        "id-alphabet", "id-missing", "id-long"])
def test_bad_requests_are_refused_naming_the_field_and_accounted_for(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder],
        message: pb.EvaluateShareRequest, code: grpc.StatusCode, named: str,
        outcome: str) -> None:
    error = refused(holders.stub(A).EvaluateShare, message)
    assert error.code() == code
    assert named in (error.details() or ""), error.details()
    assert len(error.details() or "") < 200  # names the field, never quotes the value
    # Every request of a node is in the holder's audit, a refused one too: which node,
    # which epoch, how many elements, why; the request id only when it was not the fault.
    kept_id = "" if named.startswith("request_id") else message.request_id
    assert [(r.node_id, r.request_id, r.epoch, r.count, r.outcome)
            for r in running[A].audit.records()] == [
        (FRYSLAN, kept_id, message.epoch, len(message.blinded_elements), outcome)]


def test_an_audit_of_the_first_schema_is_upgraded_keeping_every_record(
        tmp_path: Path) -> None:
    """The outcome `unavailable_epoch` needs a wider CHECK constraint: a holder's existing
    audit is rebuilt once, in one transaction, with every record."""
    path = tmp_path / "audit.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE audit (
                id INTEGER PRIMARY KEY, at REAL NOT NULL, node_id TEXT NOT NULL,
                request_id TEXT NOT NULL, epoch INTEGER NOT NULL, count INTEGER NOT NULL,
                purpose TEXT NOT NULL CHECK (purpose IN ('check', 'import')),
                outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'invalid')));
            CREATE INDEX audit_node_time ON audit (node_id, at);
            INSERT INTO audit VALUES (1, 100.0, 'zvh-fryslan', 'r-1', 1, 5, 'check', 'ok');
            INSERT INTO audit VALUES (2, 200.0, 'zvh-fryslan', 'r-2', 1, 3, 'import', 'refused');
        """)
    db.close()
    audit = HolderAuditStore(path)
    try:
        audit.record(HolderAuditRecord(300.0, FRYSLAN, "r-3", 7, 1, "check",
                                       "unavailable_epoch"))
        assert [(r.at, r.request_id, r.outcome) for r in reversed(audit.records())] == [
            (100.0, "r-1", "ok"), (200.0, "r-2", "refused"),
            (300.0, "r-3", "unavailable_epoch")]
        assert audit.usage_since(0) == [(FRYSLAN, "check", 100.0, 5)]
    finally:
        audit.close()
    again = HolderAuditStore(path)  # a second start changes nothing
    try:
        assert again.count() == 3
    finally:
        again.close()


# The table of proto/limits.py has a row here for each EvaluateShareRequest field
# (tests/test_limits.py checks that every field of every request is covered somewhere).
LIMIT_ROWS = {"samenloop.v1.EvaluateShareRequest.blinded_elements",
              "samenloop.v1.EvaluateShareRequest.request_id"}


def test_each_node_has_its_own_budget_per_purpose(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder]) -> None:
    """Limits: 50 check elements and 20 import elements per node per minute (fixture)."""
    fryslan = holders.stub(A, FRYSLAN).EvaluateShare
    fryslan(request(blinded(40)[2], request_id="c-1"), timeout=30)
    with pytest.raises(grpc.RpcError) as info:
        fryslan.with_call(request(blinded(11)[2], request_id="c-2"), timeout=30)
    error = info.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "houder-a's check evaluation budget is exhausted: at most 50 elements per minute " \
           "for node zvh-fryslan" in (error.details() or "")
    trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert 0 < int(trailers[RETRY_AFTER_MS]) <= 60_000
    # The rest of the minute's budget is still there; imports have their own budget; the
    # other node and the other holders count separately.
    fryslan(request(blinded(10)[2], request_id="c-3"), timeout=30)
    fryslan(request(blinded(20)[2], request_id="i-1", purpose=pb.EVALUATION_FOR_IMPORT),
            timeout=30)
    one_too_many = refused(fryslan, request(blinded(1)[2], request_id="i-2",
                                            purpose=pb.EVALUATION_FOR_IMPORT))
    assert "import evaluation budget" in (one_too_many.details() or "")
    holders.stub(A, LIMBURG).EvaluateShare(request(blinded(50)[2]), timeout=30)
    holders.stub(B, FRYSLAN).EvaluateShare(request(blinded(50)[2]), timeout=30)
    never = refused(holders.stub(C, FRYSLAN).EvaluateShare, request(blinded(51)[2]))
    assert "one request of 51 elements exceeds the limit of 50" in (never.details() or "")
    audit = running[A].audit.records()
    assert [(r.node_id, r.request_id, r.count, r.purpose, r.outcome) for r in reversed(audit)
            if r.node_id == FRYSLAN] == [
        (FRYSLAN, "c-1", 40, "check", "ok"), (FRYSLAN, "c-2", 11, "check", "refused"),
        (FRYSLAN, "c-3", 10, "check", "ok"), (FRYSLAN, "i-1", 20, "import", "ok"),
        (FRYSLAN, "i-2", 1, "import", "refused")]


def test_budgets_survive_a_restart(holders: HolderNetwork) -> None:
    config = holders.configs[A]
    first = BackgroundKeyHolder(KeyHolderConfig.load(config)).start()
    try:
        holders.stub(A).EvaluateShare(request(blinded(45)[2]), timeout=30)
    finally:
        first.stop()
    again = BackgroundKeyHolder(KeyHolderConfig.load(config)).start()
    try:
        error = refused(holders.stub(A).EvaluateShare, request(blinded(10)[2]))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        again.stop()


def test_the_audit_holds_counts_and_never_an_element(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder]) -> None:
    _, _, elements = blinded(5)
    answer = holders.stub(A).EvaluateShare(request(elements, request_id="audit-1"), timeout=30)
    refused(holders.stub(A).EvaluateShare, request([*elements[:2], bytes(32)]))
    records = running[A].audit.records()
    assert [(r.node_id, r.request_id, r.epoch, r.count, r.purpose, r.outcome)
            for r in records] == [(FRYSLAN, "r-1", 1, 3, "check", "invalid"),
                                  (FRYSLAN, "audit-1", 1, 5, "check", "ok")]
    running[A].stop()  # checkpoint the WAL into the file
    files = list((holders.root / A / "data").glob("audit.sqlite*"))
    data = b"".join(f.read_bytes() for f in files)
    share = holders.shares[A].secret
    for secret in [*elements, *answer.evaluated_elements, answer.proof, share]:
        for form in (secret, secret.hex().encode(), secret[:16]):
            assert form not in data
    with sqlite3.connect(files[0]) as db:
        assert db.execute("SELECT COUNT(*) FROM audit").fetchone() == (2,)


def test_health_is_serving_over_the_holders_own_mutual_tls(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["--config", str(holders.configs[B])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("keyholder houder-b at 127.0.0.1:") and out.strip().endswith(
        ": SERVING")


def test_a_new_directory_edition_is_taken_without_a_restart(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder]) -> None:
    """The next edition no longer splits epoch 1: the holder stops serving it."""
    holders.stub(A).EvaluateShare(request(blinded(1)[2]), timeout=30)
    holders.sign_directory(serial=2, splits=False)
    running[A].holder.refresh_directory()
    error = refused(holders.stub(A).EvaluateShare, request(blinded(1)[2]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "epochs served: none" in (error.details() or "")


def test_a_replaced_share_file_is_checked_like_at_start(
        holders: HolderNetwork, running: dict[str, BackgroundKeyHolder]) -> None:
    """The holder takes a changed share file without a reload (rotation), but refuses one
    readable by others or holding another holder's shares, and keeps serving."""
    share_file = holders.configs[A].parent / "shares.toml"
    good = share_file.read_text()
    share_file.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        running[A].holder.refresh_directory()
    share_file.write_text(good.replace(f'holder_id = "{A}"', f'holder_id = "{B}"'))
    share_file.chmod(0o600)
    with pytest.raises(ValueError, match=f"holds the shares of '{B}', not of '{A}'"):
        running[A].holder.refresh_directory()
    assert holders.stub(A).EvaluateShare(request(blinded(1)[2]), timeout=30).epoch == 1


# ---------------------------------------------------------------- configuration


def test_an_unknown_config_key_is_refused_by_name(holders: HolderNetwork) -> None:
    config = holders.configs[A]
    text = config.read_text().replace("[rate_limits]\n", "[rate_limits]\nchecks_per_minut = 5\n")
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rate_limits\.checks_per_minut: unknown key"):
        KeyHolderConfig.load(config)


def test_a_share_file_others_can_read_is_refused(holders: HolderNetwork) -> None:
    (holders.root / A / "shares.toml").chmod(0o640)
    with pytest.raises(ConfigError, match=r"^shares: .*must not be readable by group or "
                                          r"others \(chmod 600\)"):
        KeyHolderConfig.load(holders.configs[A])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('holder_id = "houder-a"', 'holder_id = "houder-b"'),
     "holds the shares of 'houder-b', not of 'houder-a'"),
    (lambda t: t.replace("index = 1", "index = 0"), r"shares\[0\]\.index: must be at least 1"),
    (lambda t: t.replace('holder_id = "houder-a"', ""), r"shares\.toml: holder_id: missing"),
    (lambda t: t.replace("epoch = 1", "epoch = 1\ncolour = 1"),
     r"shares\[0\]\.colour: unknown key"),
    (lambda t: t.replace('secret = "', 'secret = "zz'), r"shares\[0\]\.secret: must be "
                                                        r"hexadecimal"),
    (lambda t: t.split('secret = "')[0] + 'secret = "' + "ff" * 32 + '"\n',
     r"shares\[0\]\.secret: is not a valid non-zero scalar"),
])
def test_a_bad_share_file_is_refused_naming_the_field_never_the_secret(
        holders: HolderNetwork, edit: object, message: str) -> None:
    path = holders.root / A / "shares.toml"
    path.write_text(edit(path.read_text()), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message) as info:
        KeyHolderConfig.load(holders.configs[A])
    assert holders.shares[A].secret.hex() not in str(info.value)


def test_a_certificate_of_someone_else_is_refused(holders: HolderNetwork) -> None:
    config = holders.configs[A]
    config.write_text(config.read_text().replace("pki/houder-a.", "pki/houder-b."),
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tls\.cert: certificate is issued to 'houder-b'"):
        KeyHolderConfig.load(config)


def test_a_share_that_disagrees_with_the_directory_is_refused_at_start(
        holders: HolderNetwork) -> None:
    """A's config with B's share (renamed): every answer would fail the nodes' checks."""
    from samenloop.coordinator.keyholder.shares import EpochShare, write_share_file

    path = holders.root / A / "shares.toml"
    path.unlink()
    b = holders.shares[B]
    write_share_file(path, A, [EpochShare(1, holders.shares[A].index, b.secret)])
    with pytest.raises(ValueError, match="share of epoch 1 in the share file does not match"):
        BackgroundKeyHolder(KeyHolderConfig.load(holders.configs[A]))


def test_metrics_count_outcomes_without_naming_nodes(holders: HolderNetwork) -> None:
    import urllib.request

    from samenloop.node.demo import free_port

    config = holders.configs[C]
    config.write_text(f'metrics_listen = "127.0.0.1:{free_port()}"\n' + config.read_text(),
                      encoding="utf-8")
    server = BackgroundKeyHolder(KeyHolderConfig.load(config)).start()
    try:
        holders.stub(C).EvaluateShare(request(blinded(4)[2]), timeout=30)
        refused(holders.stub(C, pki.COORDINATOR).EvaluateShare, request(blinded(1)[2]))
        port = server.holder.metrics_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
            text = answer.read().decode()
    finally:
        server.stop()
    assert 'samenloop_keyholder_evaluate_share_requests_total{outcome="ok"} 1.0' in text
    assert 'samenloop_keyholder_evaluate_share_requests_total{outcome="denied"} 1.0' in text
    assert 'samenloop_keyholder_evaluated_elements_total{purpose="check"} 4.0' in text
    assert "samenloop_keyholder_served_epochs 1.0" in text
    assert "samenloop_keyholder_directory_serial 1.0" in text
    for name in (*NODES, pki.COORDINATOR, "node="):
        assert name not in text
