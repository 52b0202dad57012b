"""The holding node's answer: which hits fit the fixed-size answer, and replay refusal."""

from __future__ import annotations

import threading

import pytest

from samenloop.crypto import seal
from samenloop.node.config import MAX_SUBJECTS, Procesregisseur
from samenloop.node.lookup import (
    ANSWER_HEADER_BYTES,
    CONTACT_BUDGET,
    CONTACT_BYTES,
    HIT_BYTES,
    MAX_HITS_PER_SUBJECT,
    ReplayGuard,
    answer_bucket,
    answer_payload,
    choose_hits,
    contact_budget,
    hit_budget,
)
from samenloop.node.model import StoredHit


def hit(case: str, regisseur: str, strength: int) -> StoredHit:
    return StoredHit(case, Procesregisseur(regisseur, regisseur, "1", "a@b.nl"), strength)


def test_every_subject_with_a_hit_keeps_its_strongest_hit() -> None:
    best = {(s, f"C-{s}"): hit(f"C-{s}", f"pr-{s}", 2) for s in range(10)}
    for extra in range(8):  # subject 0 is in many cases with different procesregisseurs
        best[(0, f"X-{extra}")] = hit(f"X-{extra}", f"pr-x{extra}", 3 if extra == 5 else 1)
    chosen, truncated = choose_hits(best, hit_budget(10))
    assert truncated and len(chosen) == hit_budget(10)
    assert {s for s, _ in chosen} == set(range(10))
    mine = [h for s, h in chosen if s == 0]
    assert len(mine) <= MAX_HITS_PER_SUBJECT and mine[0].strength == 3


def test_one_hit_per_procesregisseur_with_the_best_strength() -> None:
    best = {(0, "C-1"): hit("C-1", "pr-1", 1), (0, "C-2"): hit("C-2", "pr-1", 3)}
    chosen, truncated = choose_hits(best, hit_budget(1))
    assert [(s, h.strength) for s, h in chosen] == [(0, 3)] and not truncated


def _worst_case_best(subjects: int) -> dict[tuple[int, str], StoredHit]:
    """Every subject in more cases than fit, each with its own procesregisseur whose
    contact is as long as the config allows, in four-byte characters."""
    best = {}
    for s in range(subjects):
        for c in range(MAX_HITS_PER_SUBJECT + 1):
            person = Procesregisseur(f"pr-{s}-{c}", "\U0001F600" * 100, "+" * 30,
                                     "a" + "\u00e9" * 124 + "@x.nl")
            best[(s, f"C-{s}-{c}")] = StoredHit(f"C-{s}-{c}", person, 4)
    return best


@pytest.mark.parametrize("subjects", [1, 2, 63, 64, 65, 200, MAX_SUBJECTS])
def test_the_fullest_answer_fits_its_bucket(subjects: int) -> None:
    query_id, node_id = "f" * 32, "n" * 64
    full = answer_payload(query_id, node_id, _worst_case_best(subjects), subjects)
    empty = answer_payload(query_id, node_id, {}, subjects)
    assert len(full.hits) == hit_budget(subjects) and full.truncated
    assert full.ByteSize() <= (ANSWER_HEADER_BYTES + hit_budget(subjects) * HIT_BYTES
                               + contact_budget(subjects) * CONTACT_BYTES)
    bucket = answer_bucket(subjects)
    sealer = seal.Sealer(seal.generate_box_key_pair()[0])
    peer = seal.generate_box_key_pair()[1]
    # Hit and no-hit answers seal to the same length: the coordinator cannot tell them apart.
    assert len(sealer.seal(full.SerializeToString(), peer, bucket=bucket)) == len(
        sealer.seal(empty.SerializeToString(), peer, bucket=bucket))


def test_household_hits_all_carry_a_contact_and_each_contact_is_sent_once() -> None:
    best = {(s, f"C-{s}"): hit(f"C-{s}", f"pr-{s % 3}", 2) for s in range(64)}
    answer = answer_payload("q", "n", best, 64)
    assert not answer.truncated and len(answer.contacts) == 3
    assert all(h.contact > 0 for h in answer.hits) and len(answer.hits) == 64


def test_a_bulk_answer_past_the_contact_budget_keeps_the_hit_without_contact() -> None:
    best = {(s, f"C-{s}"): hit(f"C-{s}", f"pr-{s}", 2) for s in range(CONTACT_BUDGET + 10)}
    answer = answer_payload("q", "n", best, 1000)
    assert answer.truncated and len(answer.contacts) == CONTACT_BUDGET
    assert {h.subject for h in answer.hits} == set(range(CONTACT_BUDGET + 10))
    assert sum(h.contact == 0 for h in answer.hits) == 10
    assert answer_bucket(1000) <= 65536  # a bulk answer is not padded for a contact per hit


def test_replay_guard() -> None:
    guard = ReplayGuard(window=120, started=1000.0)
    assert guard.admit("q1", stamped=1010.0, now=1011.0) is None
    assert "replay" in (guard.admit("q1", stamped=1010.0, now=1012.0) or "")
    assert "window" in (guard.admit("q2", stamped=1010.0, now=1200.0) or "")
    assert "before this node started" in (guard.admit("q3", stamped=999.0, now=1001.0) or "")
    for i in range(3000):  # the memory of seen ids stays bounded by the window
        guard.admit(f"bulk{i}", stamped=5000.0 + i, now=5000.0 + i)
    assert len(guard._seen) < 1300


def test_replay_guard_gives_the_same_answer_to_the_same_query_only() -> None:
    """A node's check retried through another coordinator replica is answered as before
    (no second melding); another payload, another sender or a late repeat is not."""
    guard = ReplayGuard(window=120, started=1000.0)
    assert guard.admit("q1", stamped=1010.0, now=1010.0) is None
    guard.answering("q1", "zvh-a", b"sealed query", now=1010.0)
    guard.keep_answer("q1", b"sealed answer", 2)
    assert guard.answered("q1", "zvh-a", b"sealed query", now=1020.0) == (b"sealed answer", 2)
    assert guard.answered("q1", "zvh-a", b"other query", now=1020.0) is None
    assert guard.answered("q1", "zvh-b", b"sealed query", now=1020.0) is None
    assert guard.answered("q1", "zvh-a", b"sealed query",
                          now=1011.0 + ReplayGuard.KEEP_ANSWER_SECONDS) is None
    assert guard.answered("q2", "zvh-a", b"sealed query", now=1020.0) is None


def test_a_repeat_waits_for_the_first_answer_still_being_made() -> None:
    guard = ReplayGuard(window=120, started=1000.0)
    guard.answering("q1", "zvh-a", b"query", now=1010.0)
    threading.Timer(0.2, guard.keep_answer, ("q1", b"answer", 0)).start()
    assert guard.answered("q1", "zvh-a", b"query", now=1010.0) == (b"answer", 0)
    guard.answering("q2", "zvh-a", b"query", now=1010.0)  # never answered (it failed)
    guard.WAIT_FOR_FIRST_SECONDS = 0.1
    assert guard.answered("q2", "zvh-a", b"query", now=1010.0) is None


def test_kept_answers_are_bounded() -> None:
    guard = ReplayGuard(window=120, started=1000.0)
    for i in range(ReplayGuard.MAX_KEPT_ANSWERS + 10):
        guard.answering(f"bulk{i}", "zvh-a", b"q", now=2000.0)
    assert len(guard._answers) <= ReplayGuard.MAX_KEPT_ANSWERS
    guard.answering("late", "zvh-a", b"q", now=2000.0 + ReplayGuard.KEEP_ANSWER_SECONDS + 1)
    assert list(guard._answers) == ["late"]
