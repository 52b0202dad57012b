"""Per-node budgets over a sliding minute and day, shared by the coordinator (one replica),
its PostgreSQL store (replicas) and the key holders: each counts its own callers, none
imports another."""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

DAY = 86400.0
# (window in seconds, limit, label) of each window a reservation must fit.
Limits = tuple[tuple[float, int, str], ...]


class RateBudget(Protocol):
    """Per node and budget, what was used in the last minute and day."""

    def reserve(self, node_id: str, kind: str, amount: int, now: float,
                limits: Limits) -> str | None:
        """Take `amount` if every (window, limit) allows it; else the label of the first
        window whose limit it would exceed, and take nothing."""

    def retry_after(self, node_id: str, kind: str, amount: int, now: float, window: float,
                    limit: int) -> float | None:
        """Seconds until `amount` fits into `window` again; None if it never will."""


def retry_after_of(recent: list[tuple[float, int]], amount: int, now: float, window: float,
                   limit: int) -> float | None:
    """Seconds until `amount` fits into `window` again as the oldest of `recent` (the uses
    inside it, oldest first) leave it; None if it never will."""
    if amount > limit:
        return None
    excess = sum(spent for _, spent in recent) + amount - limit
    wait = 0.0
    for at, spent in recent:  # oldest first: the first to leave the window
        if excess <= 0:
            break
        excess -= spent
        wait = max(0.0, at + window - now)
    return wait


class RateWindows:
    """Per node and kind, what was used in the last minute and day. Kept in memory (an
    SQL sum over a day of audit records per request would grow with the traffic) and
    seeded from the audit log, so a restart does not reset anybody's limits. For one
    process: coordinator replicas share PostgresStore's windows instead."""

    DAY = DAY

    def __init__(self, usage: list[tuple[str, str, float, int]]) -> None:
        self._events: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self._day_total: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        for node_id, kind, at, amount in usage:
            self._add((node_id, kind), at, amount)

    def _add(self, key: tuple[str, str], at: float, amount: int) -> None:
        self._events.setdefault(key, deque()).append((at, amount))
        self._day_total[key] = self._day_total.get(key, 0) + amount

    def reserve(self, node_id: str, kind: str, amount: int, now: float,
                limits: Limits) -> str | None:
        """Take `amount` if every (window, limit) allows it; else the label of the first
        window whose limit it would exceed, and take nothing."""
        key = (node_id, kind)
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0][0] < now - self.DAY:
                self._day_total[key] -= events.popleft()[1]
            for window, limit, label in limits:
                if window >= self.DAY:
                    used = self._day_total.get(key, 0)
                else:
                    used = 0
                    for at, spent in reversed(events):
                        if at < now - window:
                            break
                        used += spent
                if used + amount > limit:
                    return label
            self._add(key, now, amount)
        return None

    def retry_after(self, node_id: str, kind: str, amount: int, now: float, window: float,
                    limit: int) -> float | None:
        """Seconds until `amount` fits into `window` again as the oldest uses leave it;
        None if it never will."""
        with self._lock:
            recent = [(at, spent) for at, spent in self._events.get((node_id, kind), ())
                      if at >= now - window]
        return retry_after_of(recent, amount, now, window, limit)
