"""Split trust (#13): one-subject checks through 2-of-3 key holders beside the same checks on
a network whose coordinator holds the key, each against its own bare fan-out floor, and
where the holders' time goes."""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkbench.cluster import Querier, Running, Servers, running_network
from checkbench.cpu import add_into, cpu_delta
from checkbench.floors import RELAY_METHOD, Sizes, tls_files
from checkbench.population import Population, parse, person
from checkbench.settings import HIT_SHARE, log, ms, percentile
from samenloop.crypto.batch import ClientBatch
from samenloop.crypto.identity import Subject
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.demo import NetworkLayout
from samenloop.proto.transport import secure_channel

# Stages of one check's pseudonymisation, in report order (seconds per check).
BLIND = "blinding"
HOLDERS = "key holders' round trip (all n asked, until t valid answers)"
VERIFY = "partial proofs verified (t DLEQ proofs)"
COMBINE = "combination (public-key check, Lagrange) and finalising"
EVALUATE = "coordinator's Evaluate round trip"
FINALIZE = "proof verified and finalising"
REST = "rest of the check (directory, match keys, tags, sealing, Check fan-out, answers)"


@dataclass
class KeyFigures:
    """One-subject checks of one network (split or not) beside its floor, in seconds."""

    checks: int
    hit_checks: int
    p50: float
    p99: float
    mean: float
    floor_p50: float
    floor_p99: float
    ratio_p50: float
    ratio_p99: float
    stages_p50: dict[str, float]  # stage -> p50 seconds per check
    stages_mean: dict[str, float]
    cpu_per_check: dict[str, float]
    floor_cpu_per_call: dict[str, float]


@dataclass
class TrustFigures:
    """#13's figure: checks with t-of-n key holders against the floor, and the same checks
    with the coordinator's key in the same run."""

    nodes: int
    threshold: int
    holders: int
    split: KeyFigures
    unsplit: KeyFigures | None
    unsplit_fill_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class _Stages:
    """Times the client side of each pseudonymisation by wrapping, for the duration, the
    methods of `ClientBatch` and of this querier's `Network` that do each stage (the checks
    run one at a time; the wrappers change no argument or result)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.current[stage] = self.current.get(stage, 0.0) + seconds

    def take(self) -> dict[str, float]:
        with self._lock:
            taken, self.current = self.current, {}
        return taken

    def _timed(self, stage: str, inner: Callable[..., Any],
               inside: tuple[str, ...] = ()) -> Callable[..., Any]:
        """`inner` timed as `stage`, less the time of the `inside` stages it contains."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            before = {s: self.current.get(s, 0.0) for s in inside}
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent = time.perf_counter() - began
                self.add(stage, spent - sum(self.current.get(s, 0.0) - before[s]
                                            for s in inside))
        return timed

    @contextlib.contextmanager
    def installed(self, querier: Querier) -> Iterator[None]:
        network = querier.network
        originals = {name: getattr(ClientBatch, name)
                     for name in ("__init__", "verify_share", "finalize_combined", "finalize")}
        for name, stage in (("__init__", BLIND), ("verify_share", VERIFY),
                            ("finalize_combined", COMBINE), ("finalize", FINALIZE)):
            setattr(ClientBatch, name, self._timed(stage, originals[name]))
        network._ask_holders = self._timed(  # type: ignore[method-assign]
            HOLDERS, network._ask_holders, inside=(VERIFY,))
        network._evaluate = self._timed(  # type: ignore[method-assign]
            EVALUATE, network._evaluate, inside=(BLIND, FINALIZE))
        try:
            yield
        finally:
            for name, method in originals.items():
                setattr(ClientBatch, name, method)
            del network._ask_holders
            del network._evaluate


def _plan(population: Population, checks: int, seed: int) -> list[tuple[Subject, str | None]]:
    rng = random.Random(f"{seed}/trust")
    nodes = list(population.rows)
    plan: list[tuple[Subject, str | None]] = []
    for _ in range(checks):
        if rng.random() < HIT_SHARE:
            node_id = rng.choice(nodes)
            row = rng.choice(population.findable[node_id])
            plan.append((parse(population.rows[node_id][row]), node_id))
        else:
            plan.append((parse(person(rng)), None))
    return plan


def measure_network(querier: Querier, servers: Servers, relay: str, layout: NetworkLayout,
                    sizes: Sizes, population: Population, checks: int, seed: int
                    ) -> KeyFigures:
    """Blocks of 10 timed one-subject checks alternating with blocks of floor fan-outs;
    every registered person must be found and every check complete."""
    plan = _plan(population, checks, seed)
    channel = secure_channel(relay, tls_files(layout.root, querier.node_id),
                             expected_peer=COORDINATOR)
    fanout = channel.unary_unary(RELAY_METHOD)
    request = os.urandom(sizes.check_request)
    for _ in range(10):
        fanout(request, timeout=30)
    stages = _Stages()
    real: list[float] = []
    floor: list[float] = []
    per_check: list[dict[str, float]] = []
    real_cpu: dict[str, float] = {}
    floor_cpu: dict[str, float] = {}
    hits_expected = hits_found = incomplete = 0
    block = 10
    with stages.installed(querier):
        for start in range(0, checks, block):
            def real_block(first: int = start) -> None:
                nonlocal hits_expected, hits_found, incomplete
                for subject, holder in plan[first:first + block]:
                    stages.take()
                    began = time.perf_counter()
                    result = querier.check(subject)
                    spent = time.perf_counter() - began
                    real.append(spent)
                    taken = stages.take()
                    taken[REST] = spent - sum(taken.values())
                    per_check.append(taken)
                    incomplete += not result.coverage.complete
                    if holder:
                        hits_expected += 1
                        hits_found += any(h.node_id == holder for h in result.hits)

            def floor_block(first: int = start) -> None:
                for _ in plan[first:first + block]:
                    began = time.perf_counter()
                    fanout(request, timeout=30)
                    floor.append(time.perf_counter() - began)

            order = ((real_block, real_cpu), (floor_block, floor_cpu))
            for run, cpu in order if (start // block) % 2 == 0 else reversed(order):
                before = servers.cpu()
                run()
                add_into(cpu, cpu_delta(before, servers.cpu()))
    channel.close()
    if hits_found != hits_expected or incomplete:
        raise RuntimeError(f"trust checks wrong: {hits_found}/{hits_expected} hits found, "
                           f"{incomplete} incomplete")
    names = sorted({s for check in per_check for s in check})
    return KeyFigures(
        checks=checks, hit_checks=hits_expected,
        p50=percentile(real, 50), p99=percentile(real, 99), mean=statistics.fmean(real),
        floor_p50=percentile(floor, 50), floor_p99=percentile(floor, 99),
        ratio_p50=percentile(real, 50) / percentile(floor, 50),
        ratio_p99=percentile(real, 99) / percentile(floor, 99),
        stages_p50={s: percentile([c.get(s, 0.0) for c in per_check], 50) for s in names},
        stages_mean={s: statistics.fmean(c.get(s, 0.0) for c in per_check) for s in names},
        cpu_per_check={k: v / len(real) for k, v in real_cpu.items()},
        floor_cpu_per_call={k: v / len(floor) for k, v in floor_cpu.items()})


def measure_trust(split_net: Running, relay: str, sizes: Sizes, checks: int, seed: int
                  ) -> TrustFigures:
    """The split network that is running (every network is, since #13), measured with its
    stages; `add_unsplit` then adds the same measurement of an unsplit network."""
    layout = split_net.layout
    split = measure_network(split_net.querier, split_net.servers, relay, layout, sizes,
                            split_net.population, checks, seed)
    log(f"trust, 2 of 3 holders: p50 {ms(split.p50)} floor {ms(split.floor_p50)} ratio "
        f"{split.ratio_p50:.2f}")
    return TrustFigures(nodes=len(layout.node_configs), threshold=layout.threshold,
                        holders=len(layout.holder_configs), split=split, unsplit=None)


def add_unsplit(figures: TrustFigures, root: Path, subjects_per_node: int, checks: int,
                seed: int, mode: str) -> None:
    """A network of the same size whose coordinator holds the key, built, filled and
    started after the split one has stopped, measured the same way beside its own floor."""
    with running_network(root, figures.nodes, subjects_per_node, seed, mode,
                         split=False) as net:
        sizes = net.querier.sizes(parse(person(random.Random(f"{seed}/probe"))))
        relay = net.servers.floor(net.layout, sizes)
        figures.unsplit = measure_network(net.querier, net.servers, relay, net.layout, sizes,
                                          net.population, checks, seed)
        figures.unsplit_fill_seconds = net.population.seconds
    u = figures.unsplit
    log(f"trust, coordinator's key: p50 {ms(u.p50)} floor {ms(u.floor_p50)} ratio "
        f"{u.ratio_p50:.2f}")
