"""The holding node's answer: which hits fit the fixed-size answer, and replay refusal."""

from __future__ import annotations

from samenloop.node.config import Procesregisseur
from samenloop.node.lookup import (
    MAX_HITS_PER_SUBJECT,
    ReplayGuard,
    answer_bucket,
    choose_hits,
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


def test_answer_size_grows_with_subjects_not_hits() -> None:
    assert answer_bucket(1) == answer_bucket(1)
    assert answer_bucket(64) < 64 * MAX_HITS_PER_SUBJECT * 520  # smaller than the worst case


def test_replay_guard() -> None:
    guard = ReplayGuard(window=120, started=1000.0)
    assert guard.admit("q1", stamped=1010.0, now=1011.0) is None
    assert "replay" in (guard.admit("q1", stamped=1010.0, now=1012.0) or "")
    assert "window" in (guard.admit("q2", stamped=1010.0, now=1200.0) or "")
    assert "before this node started" in (guard.admit("q3", stamped=999.0, now=1001.0) or "")
    for i in range(3000):  # the memory of seen ids stays bounded by the window
        guard.admit(f"bulk{i}", stamped=5000.0 + i, now=5000.0 + i)
    assert len(guard._seen) < 1300
