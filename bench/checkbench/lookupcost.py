"""Lookup cost at one node against the size of its registry (issue #15: flat within 1.5x
from 1,000 to 1,000,000 registrations).

The registry grows in one SQLite file, filled straight through `NodeStore.apply_import`
(random tags: the lookup's cost does not depend on how a tag was made; the import's own
cost is measured in `importing`). At each size, one-subject lookups (10% for a registered
person) are timed in this process, alternately:
- `answer_query`, the node's whole Lookup work: open the payload another node sealed,
  parse, validate, replay guard, `find_hits`, the padded answer, seal it (the gRPC call and
  the answer grid around it are left out: they do not depend on the registry);
- `find_hits` alone, the part that reads the registry: one indexed query for all of a
  subject's tags, joined to the case and its procesregisseur.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from checkbench.settings import log, percentile
from samenloop.crypto import seal
from samenloop.node.config import STANDARD_PURPOSES, NodeConfig
from samenloop.node.lookup import ReplayGuard, answer_bucket, answer_query, find_hits
from samenloop.node.model import Registration, TagRow
from samenloop.node.network import Network, new_query_id
from samenloop.node.store import NodeStore
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

TAGS_PER_PERSON = 5  # a person's match keys in one version (bench/README.md: 5.3 a person)
FILL_BATCH = 20_000
HIT_SHARE = 0.1
BLOCK = 50  # lookups at one size before the next size's block


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
    answer_p50_us: float = 0.0   # answer_query, the whole in-process Lookup
    answer_p99_us: float = 0.0


@dataclass
class LookupFigures:
    sizes: list[LookupSize] = field(default_factory=list)

    @property
    def flatness(self) -> float:
        """answer_query's p50 at the largest registry over its p50 at the smallest."""
        if not self.sizes:
            return float("nan")
        return self.sizes[-1].answer_p50_us / self.sizes[0].answer_p50_us


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


class _Sender:
    """Another node of the directory that seals one-subject queries to the holder."""

    def __init__(self, holder: Network, sender_config: NodeConfig) -> None:
        self.network = Network(sender_config)
        self.node_id = sender_config.node_id
        directory = holder.directory(refresh=True)
        self.epoch = directory.current_epoch
        target = directory.node(holder.config.node_id)
        assert target is not None
        self.box_key = target.box_public_key

    def sealed(self, tags: list[bytes]) -> tuple[str, bytes]:
        query_id = new_query_id()
        payload = pb.QueryPayload(
            query_id=query_id, timestamp_ms=int(time.time() * 1000), from_node=self.node_id,
            from_zvh=self.node_id, requester=pb.Contact(name="Bench", phone="", email=""),
            epochs=[pb.EpochTags(epoch=self.epoch, subjects=[
                pb.SubjectTags(subject=0, tags=tags)])],
            answer_bucket=answer_bucket(1), purpose=STANDARD_PURPOSES[0]).SerializeToString()
        return query_id, self.network.sealer.seal(payload, self.box_key,
                                                  bucket=seal.bucket_for(len(payload)))


def measure_lookup_cost(config_path: Path, sender_path: Path, work: Path, sizes: list[int],
                        lookups: int, seed: int) -> LookupFigures:
    """One registry per size, filled through the store; then `lookups` one-subject lookups
    of each kind per size, in alternating blocks of BLOCK over the sizes (after 200
    unmeasured ones each), so a change of load on the shared machine hits every size
    alike."""
    config = NodeConfig.load(config_path)
    holder = Network(config)
    sender = _Sender(holder, NodeConfig.load(sender_path))
    guard = ReplayGuard(config.replay_window_seconds, time.time())
    rng = random.Random(f"{seed}/lookup")
    stores: dict[int, NodeStore] = {}
    kept: dict[int, list[list[bytes]]] = {}
    fill: dict[int, float] = {}
    times: dict[int, list[float]] = {size: [] for size in sizes}
    answers: dict[int, list[float]] = {size: [] for size in sizes}
    hits = dict.fromkeys(sizes, 0)
    try:
        for size in sizes:
            path = work / f"lookup-cost-{size}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            stores[size] = NodeStore(path)
            stores[size].upsert_procesregisseurs(config.procesregisseurs)
            started, kept[size] = time.perf_counter(), []
            _fill(stores[size], 0, size, rng, kept[size])
            fill[size] = time.perf_counter() - started
            log(f"lookup cost: registry of {size:,} filled in {fill[size]:.0f} s")

        def lookup(size: int, measured: bool) -> None:
            store = stores[size]
            tags = (rng.choice(kept[size]) if rng.random() < HIT_SHARE
                    else [os.urandom(32) for _ in range(TAGS_PER_PERSON)])
            query_id, sealed = sender.sealed(tags)
            began = time.perf_counter()
            answer_query(config, store, holder.directory(), holder.sealer, guard,
                         sender.node_id, query_id, sealed, time.time)
            answered = time.perf_counter()
            # Other tags than answer_query's, or their pages would be warm in the cache.
            other = (rng.choice(kept[size]) if rng.random() < HIT_SHARE
                     else [os.urandom(32) for _ in range(TAGS_PER_PERSON)])
            began_alone = time.perf_counter()
            best = find_hits(config, store, {sender.epoch: dict.fromkeys(other, 0)},
                             at=time.time(), local=False)
            spent = time.perf_counter() - began_alone
            if measured:
                times[size].append(spent * 1e6)
                answers[size].append((answered - began) * 1e6)
                hits[size] += bool(best)

        for size in sizes:
            for _ in range(200):
                lookup(size, measured=False)
        for _ in range(0, lookups, BLOCK):
            for size in sizes:
                for _ in range(BLOCK):
                    lookup(size, measured=True)
        figures = LookupFigures()
        for size in sizes:
            t, a = times[size], answers[size]
            figures.sizes.append(LookupSize(
                size, stores[size].tag_count(), len(t), percentile(t, 50), percentile(t, 99),
                sum(t) / len(t), hits[size], fill[size], percentile(a, 50),
                percentile(a, 99)))
            log(f"lookup cost at {size:,} registrations: answer_query p50 "
                f"{figures.sizes[-1].answer_p50_us:.0f} µs, find_hits p50 "
                f"{figures.sizes[-1].p50_us:.0f} µs")
    finally:
        for store in stores.values():
            store.close()
        holder.close()
        sender.network.close()
    return figures
