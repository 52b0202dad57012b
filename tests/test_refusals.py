"""Refusals at every edge of a node: one row per limit, on both sides of it.

Mutation testing found these checks could be removed without any test failing; each row
fails when its check is removed or its boundary moved. Lookup runs on a real network
(coordinator and three nodes, mutual TLS), called with the coordinator's certificate as the
coordinator calls it; the answer's budgets and the check's authorisation use the real store.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from samenloop.crypto import seal
from samenloop.crypto.identity import match_keys
from samenloop.crypto.tags import node_tag
from samenloop.node.check import CheckRefused, CheckRequest, authorise_check
from samenloop.node.config import (
    CONTACT_EMAIL_BYTES,
    CONTACT_NAME_CHARS,
    CONTACT_PHONE_CHARS,
    MAX_SUBJECTS,
    STANDARD_PURPOSES,
    Procesregisseur,
)
from samenloop.node.lookup import (
    CONTACT_BUDGET,
    MAX_HITS_PER_SUBJECT,
    MAX_TAGS_PER_SUBJECT,
    answer_bucket,
    answer_payload,
    choose_hits,
    contact_budget,
)
from samenloop.node.model import StoredHit
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.network import PIETER_VAN_DEN_BERG, Harness, person

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
OWN_CASE = "F-2026-001"  # Fryslân's case at triage, with procesregisseur pr-1
OK = None  # the row is answered

_ids = itertools.count()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("refusals") / "net", deadline_seconds=1.0)
    try:
        yield harness.start()
    finally:
        harness.close()


@pytest.fixture(scope="module")
def limburg(network: Harness) -> pb_grpc.NodeStub:
    """Noord-Limburg's Lookup, reached with the coordinator's certificate."""
    pki = network.layout.root / "pki"
    tls = TlsFiles(pki / "ca.crt", pki / "coordinator.crt", pki / "coordinator.key")
    return pb_grpc.NodeStub(secure_channel(network.layout.node_endpoints[LIMBURG], tls,
                                           expected_peer=LIMBURG))


# ------------------------------------------------------------------------------ Lookup


def _subjects(indexes: list[int], tags: int = 1) -> list[pb.SubjectTags]:
    return [pb.SubjectTags(subject=i, tags=[bytes([i % 256, t % 256]) * 16 for t in range(tags)])
            for i in indexes]


def _payload(query_id: str, *, subjects: list[pb.SubjectTags] | None = None,
             requester: dict[str, str] | None = None, **fields: Any) -> pb.QueryPayload:
    """A well-formed query from Fryslân to Noord-Limburg, with `fields` changed."""
    subjects = _subjects([0]) if subjects is None else subjects
    highest = max((s.subject for s in subjects), default=0)
    values: dict[str, Any] = dict(
        query_id=query_id, timestamp_ms=int(time.time() * 1000), from_node=FRYSLAN,
        from_zvh="Zorg- en Veiligheidshuis Fryslân",
        requester=pb.Contact(**(requester or dict(name="Joris Meijer", phone="058-1234567",
                                                  email="joris@fryslan.zvh.example"))),
        epochs=[pb.EpochTags(epoch=1, subjects=subjects)],
        answer_bucket=answer_bucket(highest + 1))
    values.update(fields)
    return pb.QueryPayload(**values)


def _lookup(network: Harness, stub: pb_grpc.NodeStub, payload: pb.QueryPayload, *,
            query_id: str | None = None) -> grpc.StatusCode | None:
    """Seal `payload` as Fryslân and send it under `query_id` (default: the payload's own);
    None when answered, else the status code of the refusal."""
    fryslan = network.nodes[FRYSLAN]
    recipient = fryslan.network.directory().node(LIMBURG)
    assert recipient is not None
    sealed = seal.seal(payload.SerializeToString(), fryslan.config.box_secret_key,
                       recipient.box_public_key)
    request = pb.LookupRequest(query_id=query_id or payload.query_id, from_node=FRYSLAN,
                               sealed=sealed)
    try:
        assert stub.Lookup(request, timeout=5).sealed_answer
    except grpc.RpcError as exc:
        return exc.code()
    return None


def _requester(**changed: str) -> dict[str, str]:
    return dict(dict(name="Joris Meijer", phone="058-1234567",
                     email="joris@fryslan.zvh.example"), **changed)


BAD = grpc.StatusCode.INVALID_ARGUMENT
# Exactly CONTACT_EMAIL_BYTES octets of UTF-8 (é is two), and one more.
EMAIL_AT = "é" * ((CONTACT_EMAIL_BYTES - 5) // 2) + "a" * ((CONTACT_EMAIL_BYTES - 5) % 2) + "@x.nl"
EMAIL_PAST = "a" + EMAIL_AT
LOOKUP_ROWS: list[tuple[str, dict[str, Any], grpc.StatusCode | None]] = [
    ("well-formed", {}, OK),
    # The sealed query id and sender must be the outer ones: a captured payload replayed
    # under a fresh id would otherwise be answered and file meldingen again.
    ("captured payload under a fresh query id", dict(outer_id="fresh"), BAD),
    ("sealed sender differs from the outer one", dict(from_node=RIJNMOND), BAD),
    ("no epochs, so no subjects", dict(epochs=[]), BAD),
    ("an epoch without subjects", dict(epochs=[pb.EpochTags(epoch=1)]), BAD),
    ("highest subject index", dict(subjects=_subjects([MAX_SUBJECTS - 1])), OK),
    ("subject index one past the highest", dict(subjects=_subjects([MAX_SUBJECTS]),
                                                answer_bucket=answer_bucket(MAX_SUBJECTS)), BAD),
    (f"{MAX_TAGS_PER_SUBJECT} tags for one subject",
     dict(subjects=_subjects([0], tags=MAX_TAGS_PER_SUBJECT)), OK),
    (f"{MAX_TAGS_PER_SUBJECT + 1} tags for one subject",
     dict(subjects=_subjects([0], tags=MAX_TAGS_PER_SUBJECT + 1)), BAD),
    ("answer bucket not the standard one", dict(answer_bucket=answer_bucket(1) * 4), BAD),
    ("requester without a name", dict(requester=_requester(name="")), BAD),
    ("requester name of one character", dict(requester=_requester(name="J")), OK),
    ("requester name at the limit", dict(requester=_requester(name="é" * CONTACT_NAME_CHARS)),
     OK),
    ("requester name one too long",
     dict(requester=_requester(name="é" * (CONTACT_NAME_CHARS + 1))), BAD),
    ("requester phone at the limit", dict(requester=_requester(phone="1" * CONTACT_PHONE_CHARS)),
     OK),
    ("requester phone one too long",
     dict(requester=_requester(phone="1" * (CONTACT_PHONE_CHARS + 1))), BAD),
    # The e-mail limit counts octets: é is two.
    ("requester e-mail at the limit in bytes", dict(requester=_requester(email=EMAIL_AT)), OK),
    ("requester e-mail one byte too long", dict(requester=_requester(email=EMAIL_PAST)), BAD),
]


@pytest.mark.parametrize(("case", "changes", "refused_with"), LOOKUP_ROWS,
                         ids=[row[0] for row in LOOKUP_ROWS])
def test_lookup_refuses_at_each_edge(network: Harness, limburg: pb_grpc.NodeStub, case: str,
                                     changes: dict[str, Any],
                                     refused_with: grpc.StatusCode | None) -> None:
    changes = dict(changes)
    query_id = f"refusal-{next(_ids)}"
    outer_id = changes.pop("outer_id", None)
    payload = _payload(query_id, **changes)
    assert _lookup(network, limburg, payload,
                   query_id=outer_id and f"{query_id}-{outer_id}") == refused_with


def test_email_rows_sit_on_the_byte_limit() -> None:
    assert len(EMAIL_AT.encode()) == CONTACT_EMAIL_BYTES
    assert len(EMAIL_PAST.encode()) == CONTACT_EMAIL_BYTES + 1
    assert len(EMAIL_PAST) < CONTACT_EMAIL_BYTES  # counted in characters it would pass


def test_replays_and_stale_queries_are_refused(network: Harness,
                                               limburg: pb_grpc.NodeStub) -> None:
    payload = _payload(f"again-{next(_ids)}")
    assert _lookup(network, limburg, payload) is None
    assert _lookup(network, limburg, payload) == grpc.StatusCode.ALREADY_EXISTS
    guard = network.nodes[LIMBURG].replay_guard
    stale = int((time.time() - guard.window - 5) * 1000)
    before_start = int((guard.started - 1) * 1000)
    for stamped in (stale, before_start):
        late = _payload(f"late-{next(_ids)}", timestamp_ms=stamped)
        assert _lookup(network, limburg, late) == grpc.StatusCode.FAILED_PRECONDITION


def test_a_refused_replay_under_a_fresh_id_files_no_melding(network: Harness,
                                                           limburg: pb_grpc.NodeStub) -> None:
    """A hit answered once files one melding; the same payload under a fresh id files none."""
    store = network.nodes[LIMBURG].store
    epoch, tags = _hit_tags(network)
    payload = _payload(f"replay-{next(_ids)}", epochs=[
        pb.EpochTags(epoch=epoch, subjects=[pb.SubjectTags(subject=0, tags=tags)])])
    def filed() -> int:  # meldingen are written just after the answer, and grouped
        network.flush_meldingen()
        return sum(m.times for m in store.notifications())

    before = filed()
    assert _lookup(network, limburg, payload) is None
    after = filed()
    assert after > before
    assert _lookup(network, limburg, payload, query_id=f"{payload.query_id}-again") == BAD
    assert filed() == after


def _hit_tags(network: Harness) -> tuple[int, list[bytes]]:
    """Noord-Limburg's tags for Pieter van den Berg (registered there), made as a check from
    Fryslân makes them: (epoch, tags)."""
    fryslan = network.nodes[FRYSLAN]
    keys = match_keys(person(**PIETER_VAN_DEN_BERG))
    epoch, pseudonyms = fryslan.network.pseudonymise([k.oprf_input for k in keys],
                                                     f"refusal-tags-{next(_ids)}")
    return epoch, [node_tag(p, LIMBURG) for p in pseudonyms]


# ---------------------------------------------------------------- the answer's budgets


def _hit(case: str, regisseur: str, strength: int) -> StoredHit:
    return StoredHit(case, Procesregisseur(regisseur, f"PR {regisseur}", "1", "a@b.nl"), strength)


def _many(subject: int, strengths: list[int]) -> dict[tuple[int, str], StoredHit]:
    """A subject in one case per strength, each case with its own procesregisseur."""
    return {(subject, f"C-{subject}-{i}"): _hit(f"C-{subject}-{i}", f"pr-{subject}-{i}", s)
            for i, s in enumerate(strengths)}


def test_at_most_four_hits_per_subject_however_large_the_budget() -> None:
    chosen, truncated = choose_hits(_many(0, [1, 2, 3, 4, 1, 2]), budget=100)
    assert len(chosen) == MAX_HITS_PER_SUBJECT and truncated
    assert sorted(h.strength for _, h in chosen) == [2, 2, 3, 4]  # the strongest four


def test_hits_past_each_subjects_first_go_strongest_first() -> None:
    """Budget 5 for two subjects: each subject's strongest, then the strongest of the rest."""
    best = {**_many(0, [1, 2, 4, 1, 3, 2]), **_many(1, [1])}
    chosen, truncated = choose_hits(best, budget=5)
    assert truncated
    assert [(s, h.strength) for s, h in chosen] == [(0, 4), (0, 3), (0, 2), (0, 2), (1, 1)]


def test_every_subject_keeps_its_strongest_hit_before_any_second_one() -> None:
    best = {**_many(0, [4, 4, 4, 4]), **_many(1, [1]), **_many(2, [2])}
    chosen, _ = choose_hits(best, budget=3)
    assert [(s, h.strength) for s, h in chosen] == [(0, 4), (1, 1), (2, 2)]


def test_contact_budget_goes_to_the_strongest_hit_of_a_subject() -> None:
    """With room for one more contact, a subject's strongest hit gets it."""
    subjects = 100
    room = contact_budget(subjects)
    assert room == CONTACT_BUDGET
    best = {k: v for s in range(room - 1) for k, v in _many(s, [2]).items()}
    best.update(_many(room - 1, [1, 4]))
    answer = answer_payload("q" * 32, LIMBURG, best, subjects)
    assert len(answer.contacts) == room and answer.truncated
    last = {h.strength: h.contact for h in answer.hits if h.subject == room - 1}
    assert last[4] == room and last[1] == 0


def test_no_contact_past_the_contact_budget() -> None:
    subjects = 100
    best = {k: v for s in range(subjects) for k, v in _many(s, [3]).items()}
    answer = answer_payload("q" * 32, LIMBURG, best, subjects)
    assert len(answer.hits) == subjects and answer.truncated
    assert len(answer.contacts) == CONTACT_BUDGET
    assert sum(h.contact == 0 for h in answer.hits) == subjects - CONTACT_BUDGET


# ------------------------------------------------------------------------ authorise_check


def _request(**changed: Any) -> CheckRequest:
    values: dict[str, Any] = dict(case_ref=OWN_CASE, purpose=STANDARD_PURPOSES[0],
                                  subjects=(person(**PIETER_VAN_DEN_BERG),), actor="refusals")
    values.update(changed)
    return CheckRequest(**values)


CHECK_ROWS: list[tuple[str, dict[str, Any], str | None]] = [
    ("own case at triage", {}, None),
    ("unknown procesregisseur", dict(procesregisseur_id="pr-does-not-exist"), "procesregisseur"),
    ("no persons", dict(subjects=()), "personen"),
    # A check never creates a case: any number not registered is refused as unknown.
    ("case number with a space", dict(case_ref="F 2026 999"), "casus"),
    ("case number of 65 characters", dict(case_ref="F" * 65), "casus"),
    ("case number starting with a dot", dict(case_ref=".F-1"), "casus"),
]


@pytest.mark.parametrize(("case", "changes", "field"), CHECK_ROWS,
                         ids=[row[0] for row in CHECK_ROWS])
def test_authorise_check_refuses_naming_the_field(network: Harness, case: str,
                                                  changes: dict[str, Any],
                                                  field: str | None) -> None:
    node = network.nodes[FRYSLAN]
    request = _request(**changes)
    if field is None:
        assert authorise_check(node.config, node.store, request,
                               time.time()).requester.id == "pr-1"
        return
    with pytest.raises(CheckRefused) as info:
        authorise_check(node.config, node.store, request, time.time())
    assert info.value.field == field

