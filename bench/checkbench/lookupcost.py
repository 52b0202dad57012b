"""Lookup cost at one node against the size of its registry (issue #15: flat within 1.5x
from 1,000 to 1,000,000 registrations).

The registry grows in one SQLite file, filled straight through `NodeStore.apply_import`
(random tags: the lookup's cost does not depend on how a tag was made; the import's own
cost is measured in `importing`); at each size, `find_hits` (the part of `answer_query`
that reads the registry: one indexed query for all of a subject's tags, joined to the case
and its procesregisseur) is timed in this process for one-subject lookups, 10% of them
for a registered person. Opening and sealing the payload, the replay guard and the answer
grid are the same at every size and are left out.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from checkbench.settings import log, percentile
from samenloop.node.config import NodeConfig
from samenloop.node.lookup import find_hits
from samenloop.node.model import Registration, TagRow
from samenloop.node.store import NodeStore

TAGS_PER_PERSON = 5  # a person's match keys in one version (bench/README.md: 5.3 a person)
FILL_BATCH = 20_000
HIT_SHARE = 0.1


@dataclass
class LookupSize:
    registrations: int
    tags: int
    lookups: int
    p50_us: float
    p99_us: float
    mean_us: float
    hits: int
    fill_seconds: float


@dataclass
class LookupFigures:
    sizes: list[LookupSize] = field(default_factory=list)

    @property
    def flatness(self) -> float:
        """p50 at the largest registry over p50 at the smallest."""
        return self.sizes[-1].p50_us / self.sizes[0].p50_us if self.sizes else float("nan")


def _fill(store: NodeStore, start: int, stop: int, rng: random.Random,
          kept: list[list[bytes]]) -> None:
    """Registrations start..stop-1, one person of TAGS_PER_PERSON tags each; keeps a
    sample of registered persons' tags to look up."""
    for first in range(start, stop, FILL_BATCH):
        registrations = []
        for number in range(first, min(stop, first + FILL_BATCH)):
            tags = [rng.randbytes(32) for _ in range(TAGS_PER_PERSON)]
            if number % 997 == 0:
                kept.append(tags)
            registrations.append(Registration(
                f"L-{number:07d}", "uitvoering", "pr-1",
                tuple(TagRow(t, 1, 1 + i % 3) for i, t in enumerate(tags))))
        store.apply_import(registrations, now=time.time(), sync=False, keep_checked_since=0)


def measure_lookup_cost(config_path: Path, work: Path, sizes: list[int], lookups: int,
                        seed: int) -> LookupFigures:
    """Fill one registry up to each size in turn and time `lookups` one-subject lookups
    at every size (after 200 unmeasured ones)."""
    config = NodeConfig.load(config_path)
    path = work / "lookup-cost.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = NodeStore(path)
    store.upsert_procesregisseurs(config.procesregisseurs)
    rng = random.Random(f"{seed}/lookup")
    figures, kept, filled = LookupFigures(), [], 0
    try:
        for size in sizes:
            started = time.perf_counter()
            _fill(store, filled, size, rng, kept)
            fill_seconds, filled = time.perf_counter() - started, size
            times, hits = [], 0
            for number in range(200 + lookups):
                tags = (rng.choice(kept) if rng.random() < HIT_SHARE
                        else [os.urandom(32) for _ in range(TAGS_PER_PERSON)])
                began = time.perf_counter()
                best = find_hits(config, store, {1: dict.fromkeys(tags, 0)}, at=time.time(),
                                 local=False)
                spent = time.perf_counter() - began
                if number >= 200:
                    times.append(spent * 1e6)
                    hits += bool(best)
            figures.sizes.append(LookupSize(
                size, store.tag_count(), lookups, percentile(times, 50), percentile(times, 99),
                sum(times) / len(times), hits, fill_seconds))
            log(f"lookup cost at {size:,} registrations: p50 {figures.sizes[-1].p50_us:.0f} µs "
                f"(filled in {fill_seconds:.0f} s)")
    finally:
        store.close()
    return figures
