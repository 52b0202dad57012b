"""A procesregisseur's own checks, read back from the node's audit trail.

The trail holds no identifiers (names, dates of birth, BSNs and tags are never stored), so
neither does the history: per check the time, the case, the purpose category, per person
the number of hits per strength, and which Zorg- en Veiligheidshuizen answered. A check
writes its `check` record before it runs and its `check_result` record after; the two are
joined by their query id. A check without a result was refused by the network or broken
off, and is shown as such, never as "no hit".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from samenloop.node.model import STRENGTHS
from samenloop.node.store import NodeStore

# Strongest first, as the result page lists them.
STRENGTH_ORDER = tuple(sorted(STRENGTHS, key=STRENGTHS.__getitem__, reverse=True))


@dataclass(frozen=True)
class PersonOutcome:
    """One checked person: hits per strength, strongest first (empty: no hit)."""

    counts: tuple[tuple[str, int], ...]

    @property
    def hit(self) -> bool:
        return bool(self.counts)


@dataclass(frozen=True)
class HistoryEntry:
    at: float
    case_ref: str
    purpose: str
    phase: str
    query_id: str
    subjects: int
    own_only: bool
    # None while/when no `check_result` was written: the check did not complete.
    persons: tuple[PersonOutcome, ...] | None
    totals: tuple[tuple[str, int], ...]
    answered: int
    nodes: int
    missing: tuple[str, ...]

    @property
    def completed(self) -> bool:
        return self.persons is not None

    @property
    def complete_coverage(self) -> bool:
        return self.completed and not self.missing

    @property
    def reference(self) -> str:
        """The check reference the result page shows, so a printed result can be found."""
        return self.query_id[:8]


def _counts(strengths: list[str]) -> tuple[tuple[str, int], ...]:
    counted = Counter(s for s in strengths if s in STRENGTHS)
    return tuple((s, counted[s]) for s in STRENGTH_ORDER if counted[s])


def own_checks(store: NodeStore, username: str, *, limit: int = 500) -> list[HistoryEntry]:
    """The checks `username` ran, newest first, at most `limit`."""
    entries = store.audit_entries_of(username, ("check", "check_result"))
    results = {e.details.get("query_id"): e.details for e in entries
               if e.action == "check_result"}
    out: list[HistoryEntry] = []
    for entry in reversed(entries):
        if entry.action != "check":
            continue
        d = entry.details
        query_id = str(d.get("query_id", ""))
        subjects = int(d.get("subjects", 0))
        result = results.get(query_id)
        persons: tuple[PersonOutcome, ...] | None = None
        totals: tuple[tuple[str, int], ...] = ()
        if result is not None:
            per_subject = result.get("per_subject")
            if isinstance(per_subject, list) and len(per_subject) == subjects:
                persons = tuple(PersonOutcome(_counts(list(p))) for p in per_subject)
            else:  # a record written before per-person outcomes were kept
                persons = ()
            totals = _counts(list(result.get("hits", [])))
        out.append(HistoryEntry(
            at=entry.at, case_ref=str(d.get("case_ref", "")), purpose=str(d.get("purpose", "")),
            phase=str(d.get("phase", "")), query_id=query_id, subjects=subjects,
            own_only=d.get("reach") == "eigen", persons=persons, totals=totals,
            answered=int(result.get("answered", 0)) if result else 0,
            nodes=int(result.get("nodes", 0)) if result else 0,
            missing=tuple(str(m) for m in result.get("missing", [])) if result else ()))
        if len(out) >= limit:
            break
    return out
