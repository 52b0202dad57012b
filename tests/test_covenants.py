"""The covenants' process around the check, on the real embedded network: reach by phase,
explicit intake, access per case, purpose notes without identifiers, grouped meldingen and
their retention, the holder's assessment before contact is released."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from samenloop.node import cases
from samenloop.node.check import CheckRefused, NoAccess
from samenloop.node.server import NodeServer, sweep
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from tests.support.network import NOBODY, PIETER_VAN_DEN_BERG, Harness

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
TRIAGE_CASE = "F-2026-001"


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Harness]:
    """The demo network with a generous deadline: these tests assert hits, and on a loaded
    machine the shared fixture's one second can time a node out (reported, never a no-hit,
    but then the hit is missing)."""
    harness = Harness(tmp_path / "net", deadline_seconds=10.0)
    try:
        yield harness.start()
    finally:
        harness.close()


def lookups(node: NodeServer) -> float:
    """Every Lookup this node received, whatever its outcome label."""
    return sum(s.value for m in node.metrics.lookups.collect() for s in m.samples
               if s.name.endswith("_total"))


def coordinator_checks(network: Harness) -> int:
    assert network.coordinator is not None
    return sum(1 for r in network.coordinator.audit.records() if r.kind == "check")


def _export(path: Path, rows: list[str]) -> Path:
    path.write_text("casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
                    "geboortedatum;geboorteplaats;beoordeling_vooraf;laatste_wijziging\n"
                    + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_check_at_aanmelding_reaches_no_other_node(network: Harness) -> None:
    network.intake(FRYSLAN, "F-AANM-1")
    before = {n: lookups(node) for n, node in network.nodes.items()}
    checks_before = coordinator_checks(network)
    result = network.check(FRYSLAN, "F-AANM-1", PIETER_VAN_DEN_BERG)
    assert result.coverage.own_only and result.coverage.complete
    assert result.coverage.dutch() == ("gecontroleerd bij het eigen Zorg- en Veiligheidshuis; "
                                       "andere huizen kunnen vanaf de triage worden bevraagd")
    assert result.hits == ()  # Pieter is registered at Noord-Limburg, which was not asked
    assert {n: lookups(node) for n, node in network.nodes.items()} == before
    assert coordinator_checks(network) == checks_before
    assert network.nodes[LIMBURG].store.notifications() == []
    # It still found an own other case: samenloop within the same ZVH.
    network.check(FRYSLAN, TRIAGE_CASE, NOBODY)                  # registers NOBODY there
    own = network.check(FRYSLAN, "F-AANM-1", NOBODY)
    assert [(h.node_id, h.procesregisseur.name) for h in own.hits] == [
        (FRYSLAN, "Sjoukje Bosma")]
    [record] = [e for e in network.nodes[FRYSLAN].store.audit_entries("check")
                if e.details["case_ref"] == "F-AANM-1"][-1:]
    assert record.details["reach"] == "eigen"


def test_a_case_at_aanmelding_elsewhere_is_no_hit_for_a_triage_check(network: Harness) -> None:
    # Rijnmond's R-2026-100 (Johanna de Bakker) is at aanmelding in the demo export.
    johanna = dict(surname="Bakker", prefix="de", given_names="Johanna",
                   date_of_birth="2001-01-09", place_of_birth="Rotterdam")
    assert network.check(FRYSLAN, TRIAGE_CASE, johanna).hits == ()
    assert network.nodes[RIJNMOND].store.notifications() == []
    # Rijnmond's own triage case does see it: the own ZVH may (and Fryslân's case, where the
    # first check registered her).
    assert {h.node_id for h in network.check(RIJNMOND, "R-2026-101", johanna).hits} == {
        RIJNMOND, FRYSLAN}


def test_intake_is_explicit_and_a_typo_is_refused(network: Harness) -> None:
    with pytest.raises(CheckRefused) as refused:
        network.check(FRYSLAN, "F-2026-0O1", NOBODY)  # a typo of F-2026-001
    assert refused.value.message == "onbekende casus; registreer eerst de aanmelding"
    assert network.nodes[FRYSLAN].store.case("F-2026-0O1") is None
    network.intake(FRYSLAN, "F-NIEUW-9")
    with pytest.raises(cases.AlreadyExists):
        network.intake(FRYSLAN, "F-NIEUW-9")


def test_not_accepted_destroys_registrations_and_meldingen(network: Harness) -> None:
    network.intake(RIJNMOND, "R-NIET-1", "pr-1")
    network.check(RIJNMOND, "R-NIET-1", NOBODY)
    network.check(RIJNMOND, "R-2026-101", NOBODY)   # a melding for R-NIET-1's procesregisseur
    store = network.nodes[RIJNMOND].store
    assert [m.case_ref for m in store.notifications()] == ["R-NIET-1"]
    with pytest.raises(cases.NotPermitted):  # another procesregisseur may not
        cases.end_case(store, "R-NIET-1", not_accepted=True, actor="collega",
                       now=time.time(), acting_for="pr-2")
    assert store.audit_entries("case_refused")[-1].details["case_ref"] == "R-NIET-1"
    cases.end_case(store, "R-NIET-1", not_accepted=True, actor="beheerder", now=time.time())
    assert store.case("R-NIET-1") is None and store.notifications() == []
    assert store.case_endings()[0][0::3] == ("R-NIET-1", "niet_in_behandeling")
    assert store.audit_entries("not_accepted")[-1].details == {"case_ref": "R-NIET-1",
                                                                "phase": "aanmelding"}
    assert network.check(RIJNMOND, "R-2026-101", NOBODY).hits == ()


def test_only_the_procesregisseur_or_a_named_vervanger_may_check(network: Harness) -> None:
    store = network.nodes[FRYSLAN].store
    with pytest.raises(NoAccess):
        network.check(FRYSLAN, TRIAGE_CASE, NOBODY, procesregisseur_id="pr-2", actor="joris")
    assert store.audit_entries("check_refused")[-1].details == {
        "case_ref": TRIAGE_CASE, "reason": "geen_toegang"}
    cases.set_vervanger(store, "pr-1", "pr-2", named=True, actor="beheerder", now=time.time())
    result = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG, procesregisseur_id="pr-2",
                           actor="joris")
    # The holder is told who really asks: the vervanger.
    assert result.hits and network.nodes[LIMBURG].store.notifications()[0].requester.name == (
        "Wiebe Postma")
    # The vervanger also sees the procesregisseur's meldingen, others do not.
    assert cases.meldingen_for(store, "pr-2") == store.notifications(["pr-1", "pr-2"])
    cases.set_vervanger(store, "pr-1", "pr-2", named=False, actor="beheerder", now=time.time())
    with pytest.raises(NoAccess):
        network.check(FRYSLAN, TRIAGE_CASE, NOBODY, procesregisseur_id="pr-2", actor="joris")


@pytest.mark.parametrize("note", [
    "overleg over Van den Berg", "pieter belde gisteren", "geboren 12-03-1985",
    "1985-03-12", "12 maart 1985", "bsn 123456782", "dossier 12345678", "uit Venlo"])
def test_a_note_with_identifiers_is_refused_before_anything_is_sent(network: Harness,
                                                                    note: str) -> None:
    checks_before = coordinator_checks(network)
    with pytest.raises(CheckRefused) as refused:
        network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG, note=note)
    assert (refused.value.field, refused.value.message) == (
        "toelichting", "de toelichting mag geen persoonsgegevens bevatten")
    assert coordinator_checks(network) == checks_before
    assert all(note not in str(e.details) for e in network.nodes[FRYSLAN].store.audit_entries())


def test_a_note_without_identifiers_is_kept_and_never_sent(network: Harness) -> None:
    network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG, note="na overleg met wijkteam")
    assert network.nodes[FRYSLAN].store.audit_entries("check")[-1].details["note"] == (
        "na overleg met wijkteam")
    [melding] = network.nodes[LIMBURG].store.notifications()
    assert melding.purpose == "triage: samenloop met ander ZVH"


def test_meldingen_are_grouped_and_go_with_their_case_and_after_their_term(
        network: Harness) -> None:
    for _ in range(3):
        network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    limburg = network.nodes[LIMBURG]
    [melding] = limburg.store.notifications()
    assert melding.times == 3 and melding.last_at >= melding.at
    # Handled, then deleted after melding_retention_days; the audit keeps that it existed.
    cases.handle_melding(limburg.store, melding.id, "contact_opgenomen",
                         procesregisseur_id="pr-1", actor="anne", now=time.time())
    assert sweep(limburg.config, limburg.store, time.time()) == 0
    assert limburg.store.notifications()  # within the term
    later = time.time() + (limburg.config.melding_retention_days + 1) * 86400
    limburg.store.sweep(refreshed_before=0, handled_before=later - 90 * 86400, now=later)
    assert limburg.store.notifications() == []
    assert limburg.store.audit_entries("melding")
    # An open melding goes when its case closes.
    network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    assert limburg.store.notifications()
    cases.end_case(limburg.store, "NL-2026-014", not_accepted=False, actor="operator",
                   now=time.time())
    assert limburg.store.notifications() == []


def test_handling_takes_an_action_from_the_list(network: Harness) -> None:
    network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    store = network.nodes[LIMBURG].store
    [melding] = store.notifications()
    with pytest.raises(cases.CaseActionRefused):
        cases.handle_melding(store, melding.id, "vrije tekst", procesregisseur_id="pr-1",
                             actor="anne", now=time.time())
    with pytest.raises(cases.CaseNotFound):  # not his: refused, and the attempt audited
        cases.handle_melding(store, melding.id, "geen_actie_nodig", procesregisseur_id="pr-2",
                             actor="joris", now=time.time())
    assert store.audit_entries("melding_refused")[-1].actor == "joris"
    cases.handle_melding(store, melding.id, "geen_actie_nodig", procesregisseur_id="pr-1",
                         actor="anne", now=time.time())
    assert store.notifications()[0].handled_action == "geen_actie_nodig"


def test_the_holders_assessment_hides_the_contact_and_keeps_the_answer_size(
        network: Harness, tmp_path: Path) -> None:
    sizes: dict[str, set[int]] = {}
    original = network.nodes[LIMBURG].network.sealer.seal

    def recording_seal(plaintext: bytes, public_key: bytes, *, bucket: int) -> bytes:
        sealed = original(plaintext, public_key, bucket=bucket)
        answer = pb.AnswerPayload.FromString(plaintext)
        kind = "assess" if any(h.assess_first for h in answer.hits) else (
            "hit" if answer.hits else "none")
        sizes.setdefault(kind, set()).add(len(sealed))
        return sealed

    network.nodes[LIMBURG].network.sealer.seal = recording_seal  # type: ignore[method-assign]
    direct = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    assert direct.hits[0].procesregisseur.name == "Anne de Vries"
    export = _export(tmp_path / "assess.csv", [
        "NL-2026-014;triage;pr-1;Berg;van den;Pieter Johannes;1985-03-12;Venlo;ja;"])
    network.import_cases(LIMBURG, export, sync=False)
    [hit] = network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits
    assert hit.assess_first and hit.procesregisseur.name == "" and hit.zvh.endswith("Limburg")
    network.check(FRYSLAN, TRIAGE_CASE, NOBODY)
    assert set(sizes) == {"hit", "assess", "none"}
    assert len(set().union(*sizes.values())) == 1  # one padded size whatever the mode
    [melding] = network.nodes[LIMBURG].store.notifications()
    assert melding.assess and cases.handling_choices(melding) == cases.ASSESSMENT
    assert not cases.assessment_overdue(melding, time.time())
    assert cases.assessment_overdue(melding, time.time() + 5 * 86400)


def test_an_unchanged_export_does_not_restart_the_six_month_clock(network: Harness,
                                                                   tmp_path: Path) -> None:
    store = network.nodes[LIMBURG].store
    first = store.case("NL-2026-014")
    assert first is not None
    time.sleep(0.05)
    summary = network.import_cases(LIMBURG, sync=True)  # the same export again
    assert summary.refreshed == 0
    again = store.case("NL-2026-014")
    assert again is not None and again.refreshed_at == first.refreshed_at
    # A later laatste_wijziging is new data; so is another phase.
    export = _export(tmp_path / "later.csv", [
        "NL-2026-014;triage;pr-1;Berg;van den;Pieter Johannes;1985-03-12;Venlo;;2026-11-30"])
    assert network.import_cases(LIMBURG, export, sync=False).refreshed == 1
    moved = store.case("NL-2026-014")
    assert moved is not None and moved.refreshed_at > first.refreshed_at
    assert moved.last_changed == "2026-11-30"


def test_afschaling_in_the_export_closes_the_case(network: Harness, tmp_path: Path) -> None:
    export = _export(tmp_path / "af.csv", [
        "NL-2026-014;afschaling;pr-1;Berg;van den;Pieter Johannes;1985-03-12;Venlo;;"])
    summary = network.import_cases(LIMBURG, export, sync=False)
    assert summary.closed == 1
    assert network.nodes[LIMBURG].store.case("NL-2026-014") is None
    assert network.nodes[LIMBURG].store.case_endings()[0][3] == "afschaling"
    assert network.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG).hits == ()


def test_case_system_phase_names_are_mapped_and_unknown_ones_refused(tmp_path: Path) -> None:
    from samenloop.node.config import NodeConfig
    from samenloop.proto.configfile import ConfigError

    harness = Harness(tmp_path / "net", node_settings='[import]\nphases = { "Intake" = '
                                                      '"aanmelding", "Klaar" = "afschaling" }')
    config = NodeConfig.load(harness.layout.node_configs[FRYSLAN])
    assert config.phase_names == {"intake": "aanmelding", "klaar": "afschaling"}
    bad = Harness(tmp_path / "bad", node_settings='[import]\nphases = { "Intake" = "intake" }')
    with pytest.raises(ConfigError, match=r"import\.phases\.Intake"):
        NodeConfig.load(bad.layout.node_configs[FRYSLAN])


def test_bsn_is_refused_while_the_network_has_not_enabled_it(network: Harness) -> None:
    from samenloop.crypto.identity import parse_subject

    with_bsn = parse_subject(surname="Visser", given_names="Karin", date_of_birth="1975-05-05",
                             bsn="123456782")
    with pytest.raises(CheckRefused) as refused:
        network.check(FRYSLAN, TRIAGE_CASE, with_bsn)
    assert refused.value.field == "bsn"
