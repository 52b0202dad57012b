"""Beside OpenMined PSI (`openmined-psi`): time per one-person query on the same registry.

Both sides hold the same registry: PERSONS persons of 5 elements each (random elements for
the persons nobody asks about, the real match keys of the persons asked about; half the
queries are for a registered person). Timed in this process, one thread, no transport:

- ours, one subject at one node: match keys, VOPRF blind (querying node), evaluation with
  its DLEQ proof (the coordinator's work), proof check and finalize (querying node),
  per-node tags, and `find_hits` on the node's SQLite registry of the same persons' tags;
- PSI (ECDH-PSI over P-256 with a Golomb-compressed set, `reveal_intersection`): the
  server's setup message over its whole registry, the client's request for the person's
  elements, the server's answer, the client's intersection. Its setup depends only on the
  server's key and set, so it is timed per query and, separately, once and reused.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from checkbench.population import parse, person
from checkbench.settings import log, percentile
from samenloop.crypto import voprf
from samenloop.crypto.identity import match_keys
from samenloop.crypto.tags import node_tag
from samenloop.node.config import NodeConfig
from samenloop.node.lookup import find_hits
from samenloop.node.model import STRENGTHS, Registration, TagRow
from samenloop.node.store import NodeStore

ELEMENTS_PER_PERSON = 5
FALSE_POSITIVE_RATE = 1e-9
BATCH = 20_000


@dataclass
class PsiFigures:
    persons: int
    elements: int
    queries: int
    ours_p50_ms: float
    ours_p99_ms: float
    psi_setup_s: float          # one setup message over the whole registry
    psi_setup_bytes: int        # what the client must receive for every fresh setup
    psi_query_p50_ms: float     # request + answer + intersection, setup reused
    psi_per_query_s: float      # setup + one query: PSI as a one-off per person
    agree: bool                 # both found exactly the registered persons


def measure_psi(config_path: Path, work: Path, persons: int, queries: int,
                seed: int) -> PsiFigures:
    import private_set_intersection.python as psi

    config = NodeConfig.load(config_path)
    rng = random.Random(f"{seed}/psi")
    asked = [parse(person(rng)) for _ in range(queries)]
    registered = set(range(0, queries, 2))
    sk, pk = voprf.generate_key_pair(voprf.Mode.VOPRF)
    path = work / "psi-registry.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = NodeStore(path)
    store.upsert_procesregisseurs(config.procesregisseurs)
    server_items: list[str] = []
    started = time.perf_counter()
    for first in range(0, persons, BATCH):
        registrations = []
        for number in range(first, min(persons, first + BATCH)):
            if number < queries and number in registered:
                keys = match_keys(asked[number])
                items = [k.oprf_input for k in keys]
                tags = {node_tag(voprf.evaluate(sk, k.oprf_input, voprf.Mode.VOPRF),
                                 config.node_id): STRENGTHS[k.strength] for k in keys}
            else:
                items = [os.urandom(32) for _ in range(ELEMENTS_PER_PERSON)]
                tags = {os.urandom(32): 1 for _ in items}
            server_items.extend(i.hex() for i in items)
            registrations.append(Registration(f"P-{number:07d}", "uitvoering", "pr-1",
                                              tuple(TagRow(t, 1, s) for t, s in tags.items())))
        store.apply_import(registrations, now=time.time(), sync=False, keep_checked_since=0)
    log(f"psi: registry of {persons:,} persons ({len(server_items):,} elements) filled in "
        f"{time.perf_counter() - started:.0f} s")

    ours, found_ours = [], set()
    for number, subject in enumerate(asked):
        began = time.perf_counter()
        inputs = [k.oprf_input for k in match_keys(subject)]
        blinds, blinded = zip(*(voprf.blind(i, voprf.Mode.VOPRF) for i in inputs), strict=True)
        evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, list(blinded))
        pseudonyms = voprf.finalize_verifiable(inputs, list(blinds), evaluated, list(blinded),
                                               pk, proof)
        tags = {node_tag(p, config.node_id): 0 for p in pseudonyms}
        if find_hits(config, store, {1: tags}, at=time.time(), local=False):
            found_ours.add(number)
        ours.append(time.perf_counter() - began)
    store.close()

    server = psi.server.CreateWithNewKey(True)
    began = time.perf_counter()
    setup = server.CreateSetupMessage(FALSE_POSITIVE_RATE, ELEMENTS_PER_PERSON * 2,
                                      server_items, psi.DataStructure.GCS)
    setup_seconds = time.perf_counter() - began
    setup_bytes = len(setup.SerializeToString())
    queried, found_psi = [], set()
    for number, subject in enumerate(asked):
        client = psi.client.CreateWithNewKey(True)
        began = time.perf_counter()
        request = client.CreateRequest([k.oprf_input.hex() for k in match_keys(subject)])
        response = server.ProcessRequest(request)
        if client.GetIntersection(setup, response):
            found_psi.add(number)
        queried.append(time.perf_counter() - began)
    query_p50 = percentile(queried, 50)
    log(f"psi: ours p50 {percentile(ours, 50) * 1000:.2f} ms; PSI setup {setup_seconds:.1f} s "
        f"({setup_bytes:,} B), query p50 {query_p50 * 1000:.2f} ms")
    return PsiFigures(persons, len(server_items), queries, percentile(ours, 50) * 1000,
                      percentile(ours, 99) * 1000, setup_seconds, setup_bytes,
                      query_p50 * 1000, setup_seconds + query_p50,
                      found_ours == registered == found_psi)
