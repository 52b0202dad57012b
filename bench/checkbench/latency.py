"""One-subject check latency beside the bare fan-out floor."""

from __future__ import annotations

import os
import random
import statistics
import time
from dataclasses import dataclass

from checkbench.cluster import Querier, Servers
from checkbench.cpu import add_into, cpu_delta
from checkbench.floors import RELAY_METHOD, Sizes, tls_files
from checkbench.population import Population, parse, person
from checkbench.settings import HIT_SHARE, percentile
from samenloop.crypto.identity import Subject
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.demo import NetworkLayout
from samenloop.proto.transport import (
    secure_channel,
)


@dataclass
class LatencyFigures:
    """One-subject checks and floor fan-outs, in seconds; CPU per call by role."""

    checks: int
    hit_checks: int
    p50: float
    p90: float
    p99: float
    mean: float
    floor_p50: float
    floor_p90: float
    floor_p99: float
    floor_mean: float
    ratio_p50: float
    ratio_p99: float
    cpu_per_check: dict[str, float]
    floor_cpu_per_call: dict[str, float]
    sizes: Sizes


def measure_latency(querier: Querier, servers: Servers, relay: str, layout: NetworkLayout,
                    sizes: Sizes, population: Population, checks: int,
                    seed: int) -> LatencyFigures:
    """Blocks of real one-subject checks interleaved with blocks of floor fan-outs."""
    rng = random.Random(f"{seed}/latency")
    nodes = list(population.rows)
    plan: list[tuple[Subject, str | None]] = []
    for _ in range(checks):
        if rng.random() < HIT_SHARE:
            node_id = rng.choice(nodes)
            row = rng.choice(population.findable[node_id])
            plan.append((parse(population.rows[node_id][row]), node_id))
        else:
            plan.append((parse(person(rng)), None))
    channel = secure_channel(relay, tls_files(layout.root, querier.node_id),
                             expected_peer=COORDINATOR)
    fanout = channel.unary_unary(RELAY_METHOD)
    request = os.urandom(sizes.check_request)
    for _ in range(10):
        fanout(request, timeout=30)
    real: list[float] = []
    floor: list[float] = []
    real_cpu: dict[str, float] = {}
    floor_cpu: dict[str, float] = {}
    hits_expected = hits_found = incomplete = 0
    block = 10
    for start in range(0, checks, block):
        def real_block(first: int = start) -> None:
            nonlocal hits_expected, hits_found, incomplete
            for subject, holder in plan[first:first + block]:
                began = time.perf_counter()
                result = querier.check(subject)
                real.append(time.perf_counter() - began)
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
        raise RuntimeError(f"latency checks wrong: {hits_found}/{hits_expected} hits found, "
                           f"{incomplete} incomplete")
    return LatencyFigures(checks=checks, hit_checks=hits_expected,
            p50=percentile(real, 50), p90=percentile(real, 90),
            p99=percentile(real, 99), mean=statistics.fmean(real),
            floor_p50=percentile(floor, 50), floor_p90=percentile(floor, 90),
            floor_p99=percentile(floor, 99), floor_mean=statistics.fmean(floor),
            ratio_p50=percentile(real, 50) / percentile(floor, 50),
            ratio_p99=percentile(real, 99) / percentile(floor, 99),
            cpu_per_check={k: v / len(real) for k, v in real_cpu.items()},
            floor_cpu_per_call={k: v / len(floor) for k, v in floor_cpu.items()},
            sizes=sizes)


