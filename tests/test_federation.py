"""A samenloop check end to end: real coordinator and nodes over loopback with mutual TLS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import grpc
import pytest

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.server import CoordinatorServer
from samenloop.crypto import pki, seal, voprf
from samenloop.crypto.tags import node_tag
from samenloop.node.cases import end_case
from samenloop.node.check import CheckRefused, NoAccess, UnknownCase
from samenloop.node.config import NodeConfig
from samenloop.node.registration import ImportRefused
from samenloop.node.server import sweep
from samenloop.proto import directory as directory_mod
from samenloop.proto.configfile import ConfigError
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.network import (
    NOBODY,
    PIETER_VAN_DEN_BERG,
    TJEERD_DIJKSTRA,
    Harness,
    oprf_key,
)
from tests.support.tcpproxy import TcpProxy

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
TRIAGE_CASE = "F-2026-001"  # Fryslân's own case at triage, for which checks are run


def test_hit_at_another_node_names_its_procesregisseur(network: Harness) -> None:
    result = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    assert result.coverage.complete and result.coverage.total == 3
    [hit] = result.hits
    assert hit.node_id == LIMBURG
    assert hit.zvh == "Zorg- en Veiligheidshuis Noord-Limburg"
    assert hit.strength == "sterk"
    assert hit.procesregisseur.name == "Anne de Vries"
    assert hit.procesregisseur.email == "anne@noord-limburg.zvh.example"


def test_hit_within_own_node_but_not_on_the_case_checked_for(network: Harness) -> None:
    result = network.check(FRYSLAN, TRIAGE_CASE, TJEERD_DIJKSTRA,
                           dict(surname="Hoekstra", given_names="Sietske",
                                date_of_birth="14-02-1988", place_of_birth="Leeuwarden"))
    assert [(h.subject, h.node_id) for h in result.hits] == [(0, FRYSLAN)]
    assert result.hits[0].procesregisseur.name == "Wiebe Postma"


def test_no_hit_is_reported_with_full_coverage(network: Harness) -> None:
    result = network.check(FRYSLAN, TRIAGE_CASE, NOBODY)
    assert result.hits == ()
    assert result.coverage.complete
    assert result.coverage.dutch() == "gecontroleerd bij 3 van 3 Zorg- en Veiligheidshuizen"


def test_household_of_several_subjects_in_one_check(network: Harness) -> None:
    result = network.check(FRYSLAN, TRIAGE_CASE, NOBODY, PIETER_VAN_DEN_BERG, TJEERD_DIJKSTRA,
                           dict(surname="El Amrani", given_names="Mohamed",
                                date_of_birth="21-06-1990"))
    assert sorted((h.subject, h.node_id) for h in result.hits) == [
        (1, LIMBURG), (2, FRYSLAN), (3, RIJNMOND)]
    assert result.hits_for(0) == []


def test_node_that_is_down_shows_in_coverage_never_as_no_hit(network: Harness) -> None:
    network.stop_node(LIMBURG)
    result = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    assert result.hits == ()
    assert not result.coverage.complete
    [missing] = result.coverage.missing
    assert missing.node_id == LIMBURG and missing.status == "UNREACHABLE"
    assert "niet bereikbaar: Zorg- en Veiligheidshuis Noord-Limburg" in result.coverage.dutch()
    assert "gecontroleerd bij 2 van 3" in result.coverage.dutch()
    # A restarted node is reached again without restarting the coordinator.
    network.start_node(LIMBURG)
    for _ in range(20):
        result = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
        if result.coverage.complete:
            break
        time.sleep(0.25)
    assert result.coverage.complete and [h.node_id for h in result.hits] == [LIMBURG]


def test_slow_node_times_out_without_holding_up_the_others(tmp_path: Path) -> None:
    from samenloop.node.demo import free_port

    public, private = free_port(), free_port()
    harness = Harness(tmp_path / "net", deadline_seconds=1.0, node_ports={LIMBURG: public},
                      listen_ports={LIMBURG: private})
    proxy = TcpProxy(public, private)
    try:
        harness.start()
        assert harness.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).coverage.complete
        proxy.delay = 4.0  # beyond the 1 s deadline
        result = harness.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG, TJEERD_DIJKSTRA)
        assert [(m.node_id, m.status) for m in result.coverage.missing] == [(LIMBURG, "TIMEOUT")]
        assert [h.node_id for h in result.hits] == [FRYSLAN]  # the others did answer
    finally:
        proxy.close()
        harness.close()


def _coordinator_stub(h: Harness, identity: str, ca_dir: Path | None = None
                      ) -> pb_grpc.CoordinatorStub:
    pki_dir = h.layout.root / "pki"
    ca_dir = ca_dir or pki_dir
    tls = TlsFiles(pki_dir / "ca.crt", ca_dir / f"{identity}.crt", ca_dir / f"{identity}.key")
    return pb_grpc.CoordinatorStub(secure_channel(h.layout.coordinator_endpoint, tls,
                                                  expected_peer=pki.COORDINATOR))


def _issue(directory: Path, identity: str, ca: tuple[bytes, bytes]) -> None:
    key, cert = pki.issue(ca[0], ca[1], identity, now=dt.datetime.now(dt.UTC))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{identity}.key").write_bytes(key)
    (directory / f"{identity}.crt").write_bytes(cert)


def test_certificate_from_another_ca_is_refused(network: Harness, tmp_path: Path) -> None:
    rogue = tmp_path / "rogue"
    _issue(rogue, FRYSLAN, pki.new_ca("rogue", now=dt.datetime.now(dt.UTC)))
    stub = _coordinator_stub(network, FRYSLAN, rogue)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetDirectory(pb.GetDirectoryRequest(), timeout=3)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails


def test_node_not_in_the_directory_is_refused(network: Harness, tmp_path: Path) -> None:
    pki_dir = network.layout.root / "pki"
    ca = ((pki_dir / "ca.key").read_bytes(), (pki_dir / "ca.crt").read_bytes())
    _issue(tmp_path / "outsider", "zvh-outsider", ca)
    stub = _coordinator_stub(network, "zvh-outsider", tmp_path / "outsider")
    _, blinded = voprf.blind(b"x", voprf.Mode.VOPRF)
    for call, request in ((stub.Evaluate, pb.EvaluateRequest(blinded_elements=[blinded])),
                          (stub.Check, pb.CheckRequest(query_id="q")),
                          (stub.GetDirectory, pb.GetDirectoryRequest())):
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=3)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "zvh-outsider is not a node in the directory" in info.value.details()


def test_only_the_coordinator_may_call_lookup(network: Harness) -> None:
    pki_dir = network.layout.root / "pki"
    tls = TlsFiles(pki_dir / "ca.crt", pki_dir / f"{FRYSLAN}.crt", pki_dir / f"{FRYSLAN}.key")
    stub = pb_grpc.NodeStub(secure_channel(network.layout.node_endpoints[LIMBURG], tls,
                                           expected_peer=LIMBURG))
    with pytest.raises(grpc.RpcError) as info:
        stub.Lookup(pb.LookupRequest(query_id="q", from_node=FRYSLAN, sealed=b"x"), timeout=3)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_tampered_directory_is_refused(network: Harness) -> None:
    data = bytearray(network.layout.directory_file.read_bytes())
    index = data.find(b"Noord-Limburg")
    data[index] ^= 0x20
    with pytest.raises(directory_mod.DirectoryError, match="does not verify"):
        directory_mod.parse_file(bytes(data), network.layout.verify_key)
    network.layout.directory_file.write_bytes(bytes(data))
    with pytest.raises(directory_mod.DirectoryError):
        CoordinatorServer(CoordinatorConfig.load(network.layout.coordinator_config))
    # A node refuses it from its cache as well, and keeps nothing of it.
    node = network.nodes[FRYSLAN]
    node.config.directory_cache.write_bytes(bytes(data))
    from samenloop.node.network import _read_cached

    assert _read_cached(node.config.directory_cache, node.config.directory_verify_key) is None


def test_unsigned_directory_is_refused(network: Harness) -> None:
    signed = pb.SignedDirectory.FromString(network.layout.directory_file.read_bytes())
    with pytest.raises(directory_mod.DirectoryError):
        directory_mod.verify(pb.SignedDirectory(directory=signed.directory),
                             network.layout.verify_key)
    other_admin = bytes(32)
    with pytest.raises(directory_mod.DirectoryError):
        directory_mod.verify(signed, other_admin)


def test_wrong_voprf_proof_is_refused_and_nothing_is_sent(unsplit_network: Harness) -> None:
    """A coordinator evaluating with another key than the directory's pkS (to split the
    network into regions that never match) is caught by the node's proof check."""
    network = unsplit_network
    assert network.coordinator is not None
    service = network.coordinator.service
    evil_sk, evil_pk = voprf.generate_key_pair(voprf.Mode.VOPRF)
    service.config = dataclasses.replace(service.config, oprf_keys={1: evil_sk})
    service._public_keys = {1: evil_pk}
    with pytest.raises(CheckRefused):
        network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    checks = [r for r in network.coordinator.audit.records() if r.kind == "check"]
    assert checks == []  # refused before any sealed query left the node


def test_replayed_payload_is_refused(network: Harness) -> None:
    """The coordinator (or anyone holding its certificate) cannot replay a sealed query."""
    limburg = network.nodes[LIMBURG]
    fryslan = network.nodes[FRYSLAN]
    directory = fryslan.network.directory()
    payload = pb.QueryPayload(
        query_id="replay-1", timestamp_ms=int(time.time() * 1000), from_node=FRYSLAN,
        from_zvh="Fryslân", requester=pb.Contact(name="A", phone="1", email="a@b.nl"),
        epochs=[pb.EpochTags(epoch=1, subjects=[pb.SubjectTags(subject=0, tags=[b"\0" * 32])])],
        answer_bucket=__import__("samenloop.node.lookup", fromlist=["x"]).answer_bucket(1))
    sealed = seal.seal(payload.SerializeToString(), fryslan.config.box_secret_key,
                       directory.node(LIMBURG).box_public_key)
    pki_dir = network.layout.root / "pki"
    tls = TlsFiles(pki_dir / "ca.crt", pki_dir / "coordinator.crt", pki_dir / "coordinator.key")
    stub = pb_grpc.NodeStub(secure_channel(network.layout.node_endpoints[LIMBURG], tls,
                                           expected_peer=LIMBURG))
    request = pb.LookupRequest(query_id="replay-1", from_node=FRYSLAN, sealed=sealed)
    first = stub.Lookup(request, timeout=3).sealed_answer
    assert first
    # The very same query again (its node retried through another coordinator replica)
    # gets the very same answer: nothing new for whoever sent it, and no second melding.
    assert stub.Lookup(request, timeout=3).sealed_answer == first
    # The same query id with another payload is a replay.
    resealed = seal.seal(payload.SerializeToString(), fryslan.config.box_secret_key,
                         directory.node(LIMBURG).box_public_key)
    with pytest.raises(grpc.RpcError) as info:
        stub.Lookup(pb.LookupRequest(query_id="replay-1", from_node=FRYSLAN, sealed=resealed),
                    timeout=3)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    # An old payload under a fresh query id is refused by its timestamp.
    payload.query_id = "replay-2"
    payload.timestamp_ms -= (limburg.config.replay_window_seconds + 5) * 1000
    stale = seal.seal(payload.SerializeToString(), fryslan.config.box_secret_key,
                      directory.node(LIMBURG).box_public_key)
    with pytest.raises(grpc.RpcError) as info:
        stub.Lookup(pb.LookupRequest(query_id="replay-2", from_node=FRYSLAN, sealed=stale),
                    timeout=3)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # A payload claiming another sender does not open.
    with pytest.raises(grpc.RpcError) as info:
        stub.Lookup(pb.LookupRequest(query_id="replay-1", from_node=RIJNMOND, sealed=sealed),
                    timeout=3)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _export(path: Path, rows: list[str]) -> Path:
    path.write_text("casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
                    "geboortedatum;geboorteplaats\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_import_with_one_bad_row_changes_nothing(network: Harness, tmp_path: Path) -> None:
    store = network.nodes[LIMBURG].store
    before = (store.counts_by_phase(), store.tag_count())
    export = _export(tmp_path / "bad.csv", [
        "NL-1;triage;pr-1;Jansen;;Kees;1970-01-01;Venlo",
        "NL-2;triage;pr-1;Smit;;Ineke;2099-01-01;Venlo",       # future date of birth
        "NL-3;onbekend;pr-9;Bos;;Henk;1960-02-02;Venlo",       # bad phase and procesregisseur
    ])
    with pytest.raises(ImportRefused) as info:
        network.import_cases(LIMBURG, export, sync=True)
    problems = {(e.line, e.field) for e in info.value.errors}
    assert (3, "geboortedatum") in problems
    assert {(4, "phase"), (4, "procesregisseur_id")} <= problems
    assert all("2099" not in str(e) and "Smit" not in str(e) for e in info.value.errors)
    assert (store.counts_by_phase(), store.tag_count()) == before
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits  # still registered


def test_sync_removes_cases_absent_from_the_export(network: Harness, tmp_path: Path) -> None:
    export = _export(tmp_path / "only-one.csv",
                     ["NL-2026-015;uitvoering;pr-2;Yılmaz;;Ayşe;1992-11-05;Venlo"])
    summary = network.import_cases(LIMBURG, export, sync=True)
    assert (summary.updated, summary.removed) == (1, 1)
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits == ()
    # Without --sync an import only adds and refreshes.
    network.import_cases(LIMBURG, network.layout.case_files[LIMBURG], sync=False)
    network.import_cases(LIMBURG, export, sync=False)
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits


def test_expired_registrations_stop_matching_and_are_swept(network: Harness,
                                                           tmp_path: Path) -> None:
    # Registered 200 days ago (beyond the default 183) and not changed since.
    other = _export(tmp_path / "other.csv",
                    ["NL-2026-015;uitvoering;pr-2;Yılmaz;;Ayşe;1992-11-05;Venlo"])
    network.import_cases(LIMBURG, other, sync=True)
    long_ago = time.time() - 200 * 86400
    network.import_cases(LIMBURG, sync=True, now=lambda: long_ago)
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits == ()
    node = network.nodes[LIMBURG]
    assert sweep(node.config, node.store, time.time()) == 1
    assert node.store.counts_by_phase() == {"uitvoering": 1}
    assert [r[3] for r in node.store.case_endings()] == ["verlopen", "niet_meer_in_export"]


def test_close_stops_matching_at_once(network: Harness) -> None:
    end_case(network.nodes[LIMBURG].store, "NL-2026-014", not_accepted=False, actor="test",
             now=time.time())
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits == ()


def test_notification_filed_at_the_holding_node(network: Harness) -> None:
    network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    [melding] = network.nodes[LIMBURG].store.notifications()
    assert melding.case_ref == "NL-2026-014" and melding.procesregisseur_id == "pr-1"
    assert melding.from_zvh == "Zorg- en Veiligheidshuis Fryslân"
    assert melding.requester.name == "Sjoukje Bosma"  # Fryslân's procesregisseur of the case
    assert network.nodes[RIJNMOND].store.notifications() == []
    assert network.nodes[FRYSLAN].store.notifications() == []


@pytest.mark.parametrize(("case_ref", "kwargs", "refusal", "field"), [
    ("NL-2026-014", {}, UnknownCase, "casus"),         # another ZVH's case
    ("F-NIEUW-1", {}, UnknownCase, "casus"),           # a typo: never a new case
    ("F-2026-002", {}, CheckRefused, "fase"),          # own case, but in uitvoering
    (TRIAGE_CASE, {"purpose": "  "}, CheckRefused, "doel"),
    (TRIAGE_CASE, {"purpose": "iets anders"}, CheckRefused, "doel"),
    (TRIAGE_CASE, {"procesregisseur_id": "pr-2"}, NoAccess, "casus"),  # not hers
])
def test_check_needs_an_own_case_at_intake_and_a_purpose(
        network: Harness, case_ref: str, kwargs: dict[str, str], refusal: type[CheckRefused],
        field: str) -> None:
    with pytest.raises(refusal) as refused:
        network.check(FRYSLAN, case_ref, NOBODY, **kwargs)
    assert refused.value.field == field
    assert not network.nodes[FRYSLAN].store.case("F-NIEUW-1")


def test_rate_limit_refuses_with_a_clear_message(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "net", rate_limits={"checks_per_minute": 2})
    try:
        harness.start()
        harness.check(FRYSLAN, TRIAGE_CASE, NOBODY)
        harness.check(FRYSLAN, TRIAGE_CASE, NOBODY)
        with pytest.raises(CheckRefused, match="limiet"):
            harness.check(FRYSLAN, TRIAGE_CASE, NOBODY)
        assert harness.coordinator is not None
        stub = _coordinator_stub(harness, FRYSLAN)
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(pb.CheckRequest(query_id="x"), timeout=3)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at most 2 per minute" in info.value.details()
        harness.stop_coordinator()  # a restart does not reset the limit
        harness.start_coordinator()
        with pytest.raises(CheckRefused, match="limiet"):
            harness.check(FRYSLAN, TRIAGE_CASE, NOBODY)
    finally:
        harness.close()


def test_coordinator_audit_has_no_content(network: Harness) -> None:
    network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    assert network.coordinator is not None
    [check] = [r for r in network.coordinator.audit.records() if r.kind == "check"]
    assert check.node_id == FRYSLAN and check.outcome == "complete" and check.nodes_reached == 3
    assert set(check.node_statuses.values()) == {"ANSWERED"}


def test_tags_differ_per_node(network: Harness) -> None:
    """Two nodes' stores of the same person cannot be joined."""
    key = oprf_key(network.layout)
    psi = voprf.evaluate(key, b"samenloop/v1|name_dob|berg|p|1985-03-12", voprf.Mode.VOPRF)
    assert node_tag(psi, FRYSLAN) != node_tag(psi, LIMBURG)


def test_checking_registers_the_subject_in_the_own_case(network: Harness) -> None:
    """Only parties involved themselves learn of others: a check registers its persons."""
    assert network.check(FRYSLAN, TRIAGE_CASE, NOBODY).hits == ()
    later = network.check(RIJNMOND, "R-2026-101", NOBODY)  # Rijnmond's case at triage
    assert [(h.node_id, h.procesregisseur.name) for h in later.hits] == [
        (FRYSLAN, "Sjoukje Bosma")]
    [melding] = network.nodes[FRYSLAN].store.notifications()
    assert melding.case_ref == TRIAGE_CASE
    # The first check was not told of the second; only a new check learns of it.
    assert network.check(FRYSLAN, TRIAGE_CASE, NOBODY).hits[0].node_id == RIJNMOND


def test_an_aanmelding_is_registered_explicitly_and_survives_sync_within_grace(
        network: Harness, tmp_path: Path) -> None:
    network.intake(FRYSLAN, "F-NIEUW-7", procesregisseur_id="pr-2")
    network.check(FRYSLAN, "F-NIEUW-7", NOBODY, procesregisseur_id="pr-2")
    case = network.nodes[FRYSLAN].store.case("F-NIEUW-7")
    assert case is not None and (case.source, case.phase) == ("check", "aanmelding")
    summary = network.import_cases(FRYSLAN, sync=True)  # the export does not list it yet
    assert summary.removed == 0
    # At aanmelding the case is the own ZVH's business only: no hit for another ZVH ...
    assert network.check(RIJNMOND, "R-2026-101", NOBODY).hits == ()
    # ... until the case system moves it to triage.
    export = _export(tmp_path / "triage.csv", ["F-NIEUW-7;triage;pr-2;Visser;;Karin;1975-05-05;"])
    network.import_cases(FRYSLAN, export, sync=False)
    assert [h.node_id for h in network.check(RIJNMOND, "R-2026-101", NOBODY).hits] == [FRYSLAN]


def test_import_keeps_persons_a_check_added_to_an_imported_case(network: Harness) -> None:
    network.check(FRYSLAN, TRIAGE_CASE, NOBODY)   # a household member not in the export
    network.import_cases(FRYSLAN, sync=True)
    assert [h.node_id for h in network.check(RIJNMOND, "R-2026-101", NOBODY).hits] == [FRYSLAN]


def test_per_user_rate_limit(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "net", node_settings="[limits]\nchecks_per_user_per_hour = 2")
    try:
        harness.start()
        for _ in range(2):
            harness.check(FRYSLAN, TRIAGE_CASE, NOBODY, actor="anne")
        with pytest.raises(CheckRefused, match="maximum van 2 checks per uur"):
            harness.check(FRYSLAN, TRIAGE_CASE, NOBODY, actor="anne")
        harness.check(FRYSLAN, TRIAGE_CASE, NOBODY, actor="joris")  # another user may
    finally:
        harness.close()


def _letters(number: int) -> str:
    """A distinct name part for every number (names hold no digits)."""
    return "".join(chr(ord("a") + int(d)) for d in str(number)).capitalize()


def test_a_check_holds_the_persons_of_one_case(network: Harness) -> None:
    household = [dict(surname="Nobody", given_names=_letters(i), date_of_birth="01-01-2015")
                 for i in range(10)]
    assert network.check(FRYSLAN, TRIAGE_CASE, *household).coverage.complete
    with pytest.raises(CheckRefused) as refused:
        network.check(FRYSLAN, TRIAGE_CASE, *household, NOBODY)
    assert refused.value.field == "personen"
    assert refused.value.message.startswith("ten hoogste 10 personen per check")


def test_up_to_twenty_persons_when_the_operator_allows_it(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "net", node_settings="[limits]\nmax_subjects_per_check = 20\n")
    try:
        harness.start()
        subjects = [dict(surname=f"Onbekend{_letters(i)}", given_names="Sam",
                         date_of_birth=f"{1 + i % 28:02d}-03-1970") for i in range(20)]
        subjects[7], subjects[15] = PIETER_VAN_DEN_BERG, TJEERD_DIJKSTRA
        result = harness.check(FRYSLAN, TRIAGE_CASE, *subjects)
        assert result.coverage.complete and result.subjects == 20
        assert sorted((h.subject, h.node_id, h.procesregisseur.name) for h in result.hits) == [
            (7, LIMBURG, "Anne de Vries"), (15, FRYSLAN, "Wiebe Postma")]
    finally:
        harness.close()


def test_a_bulk_limit_above_what_a_query_carries_is_refused_at_startup(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "net", node_settings="[limits]\nmax_subjects_per_check = 21\n")
    with pytest.raises(ConfigError) as refused:
        NodeConfig.load(harness.layout.node_configs[FRYSLAN])
    assert str(refused.value) == "limits.max_subjects_per_check: must be at most 20"
