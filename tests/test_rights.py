"""The person's rights on the real network: inzage at one contact point across every ZVH,
removal from a case and an upheld objection that keep the person from being registered
again, and lifting the block."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from samenloop.node import rights
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from tests.support.network import PIETER_VAN_DEN_BERG, Harness, person

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
TRIAGE_CASE = "F-2026-001"
PIETER = person(**PIETER_VAN_DEN_BERG)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "net", deadline_seconds=10.0, node_settings=(
        '[privacy]\nname = "Functionaris gegevensbescherming"\nphone = "088 000 0000"\n'
        'email = "privacy@zvh.example"\n'))
    try:
        yield harness.start()
    finally:
        harness.close()


def _inzage(network: Harness, node_id: str) -> rights.InzageResult:
    node = network.nodes[node_id]
    result = rights.inzage(node.config, node.store, node.network, (PIETER,), actor="fg")
    network.flush_meldingen()
    return result


def test_inzage_finds_the_person_here_and_elsewhere_and_files_a_notice_not_a_melding(
        network: Harness) -> None:
    network.check(FRYSLAN, TRIAGE_CASE, PIETER)   # Pieter is now registered at Fryslân too
    limburg = network.nodes[LIMBURG].store
    meldingen_before = [(m.id, m.times) for m in limburg.notifications()]
    result = _inzage(network, FRYSLAN)
    assert result.coverage.complete
    assert [c.case.case_ref for c in result.own_cases] == [TRIAGE_CASE]
    [own] = result.own_cases
    assert own.checks == 1 and [zvh for _, zvh in own.sent] == [
        "Zorg- en Veiligheidshuis Noord-Limburg"]   # the melding the check filed there
    assert [(h.node_id, h.procesregisseur.name) for h in result.elsewhere] == [
        (LIMBURG, "Functionaris gegevensbescherming")]
    # The holder files a rights-request notice with its due date, and no melding.
    [notice] = limburg.rights_notices()
    assert notice.cases == ["NL-2026-014"] and notice.from_zvh.endswith("Fryslân")
    assert notice.due_at - notice.received_at >= 28 * 86400
    assert [(m.id, m.times) for m in limburg.notifications()] == meldingen_before
    assert network.nodes[RIJNMOND].store.rights_notices() == []
    assert network.nodes[FRYSLAN].store.rights_notices() == []  # not a notice to itself
    [request] = network.nodes[FRYSLAN].store.rights_requests()
    assert request.outcome["own_cases"] == 1 and request.outcome["holders"] == 1
    assert request.due_at > request.made_at


def test_a_rights_request_looks_like_a_check_to_the_coordinator(network: Harness) -> None:
    sizes: dict[int, set[int]] = {}
    node = network.nodes[LIMBURG]
    original = node.network.sealer.seal

    def recording(plaintext: bytes, public_key: bytes, *, bucket: int | None = None) -> bytes:
        sealed = original(plaintext, public_key, bucket=bucket)
        sizes.setdefault(len(pb.AnswerPayload.FromString(plaintext).hits), set()).add(
            len(sealed))
        return sealed

    node.network.sealer.seal = recording  # type: ignore[method-assign]
    network.check(FRYSLAN, TRIAGE_CASE, PIETER)
    _inzage(network, FRYSLAN)
    network.check(FRYSLAN, TRIAGE_CASE, dict(surname="Visser", given_names="Karin",
                                             date_of_birth="1975-05-05"))
    assert len(set().union(*sizes.values())) == 1  # one answer size for check and request


def test_an_upheld_objection_keeps_the_person_out_until_the_block_is_lifted(
        network: Harness) -> None:
    limburg = network.nodes[LIMBURG]
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER).hits
    block_id, removed = rights.block_person(limburg.config, limburg.store, limburg.network,
                                            PIETER, kind="bezwaar", case_ref=None, actor="fg")
    assert removed > 0
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER).hits == ()
    network.import_cases(LIMBURG, sync=True)       # the case system still lists him
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER).hits == ()
    assert limburg.store.case("NL-2026-014") is not None  # the case itself stays
    rights.lift_block(limburg.store, block_id, actor="fg", now=time.time())
    network.import_cases(LIMBURG, sync=True)
    assert LIMBURG in {h.node_id for h in network.check(FRYSLAN, TRIAGE_CASE, PIETER).hits}
    actions = [e.action for e in limburg.store.audit_entries()]
    assert "rights_block" in actions and "rights_block_lifted" in actions


def test_removal_from_one_case_keeps_the_person_in_other_cases(network: Harness) -> None:
    fryslan = network.nodes[FRYSLAN]
    network.intake(FRYSLAN, "F-TWEE-1")
    network.check(FRYSLAN, "F-TWEE-1", PIETER)     # registered in F-TWEE-1
    network.check(FRYSLAN, TRIAGE_CASE, PIETER)    # and in F-2026-001
    rights.block_person(fryslan.config, fryslan.store, fryslan.network, PIETER,
                        kind="verwijdering", case_ref="F-TWEE-1", actor="fg")
    result = _inzage(network, FRYSLAN)
    assert [c.case.case_ref for c in result.own_cases] == [TRIAGE_CASE]
    network.check(FRYSLAN, "F-TWEE-1", PIETER)     # a check does not register him again
    assert [c.case.case_ref for c in _inzage(network, FRYSLAN).own_cases] == [TRIAGE_CASE]
    with pytest.raises(rights.RightsRefused):
        rights.block_person(fryslan.config, fryslan.store, fryslan.network, PIETER,
                            kind="verwijdering", case_ref="F-BESTAAT-NIET", actor="fg")


def _export(path: Path, rows: list[str]) -> Path:
    path.write_text("casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
                    "geboortedatum;geboorteplaats;geinformeerd_op;informeren_uitgesteld;"
                    "herbeoordeling_op\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_informing_is_recorded_and_reported(network: Harness, tmp_path: Path) -> None:
    import datetime as dt

    from samenloop.node import cases
    from samenloop.node.check import CheckRequest, run_check
    from samenloop.node.store import Informing

    limburg, fryslan = network.nodes[LIMBURG], network.nodes[FRYSLAN]
    today = dt.date.today()
    report = cases.informing_report(limburg.store, today)
    assert [c.case_ref for c in report.without_status] == ["NL-2026-014", "NL-2026-015"]
    export = _export(tmp_path / "inf.csv", [
        "NL-2026-014;triage;pr-1;Berg;van den;Pieter Johannes;1985-03-12;Venlo;;gevaar;"
        "2026-01-01",
        "NL-2026-015;uitvoering;pr-2;Yılmaz;;Ayşe;1992-11-05;Venlo;2026-11-02;;"])
    network.import_cases(LIMBURG, export, sync=False)
    report = cases.informing_report(limburg.store, today)
    assert report.without_status == []
    assert [c.case_ref for c in report.reassessment_due] == ["NL-2026-014"]
    # A re-import without the columns keeps what was recorded.
    network.import_cases(LIMBURG, sync=False)
    assert limburg.store.case("NL-2026-015").informed_on == "2026-11-02"  # type: ignore[union-attr]
    # From triage on, a check asks for the status when the case has none, and records it.
    result = network.check(FRYSLAN, TRIAGE_CASE, PIETER)
    assert result.needs_informing
    run_check(fryslan.config, fryslan.store, fryslan.network, CheckRequest(
        TRIAGE_CASE, "triage: samenloop met ander ZVH", (PIETER,), actor="anne",
        informing=Informing("2026-11-30")))
    case = fryslan.store.case(TRIAGE_CASE)
    assert case is not None and case.informed_on == "2026-11-30"
    assert not network.check(FRYSLAN, TRIAGE_CASE, PIETER).needs_informing
    assert fryslan.store.audit_entries("informing")[-1].details == {
        "case_ref": TRIAGE_CASE, "informed": True, "postponed": ""}
    with pytest.raises(cases.CaseActionRefused):
        cases.parse_informing("", "gevaar", "", today=today)   # no reassessment date
    with pytest.raises(cases.CaseActionRefused):
        cases.parse_informing("2999-01-01", "", "", today=today)


def test_rights_requests_count_against_the_users_daily_limit(network: Harness) -> None:
    import dataclasses

    from samenloop.node.check import RateLimited

    node = network.nodes[FRYSLAN]
    config = dataclasses.replace(node.config, checks_per_user_per_day=1)
    rights.inzage(config, node.store, node.network, (PIETER,), actor="fg")
    with pytest.raises(RateLimited):
        rights.inzage(config, node.store, node.network, (PIETER,), actor="fg")
