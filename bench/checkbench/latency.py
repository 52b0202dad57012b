"""One-subject check latency beside the bare fan-out floor."""

from __future__ import annotations

import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

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
    # The second floor (`grid_relay`): echo servers answering on the node's answer grid.
    grid_p50: float | None = None
    grid_p99: float | None = None
    grid_mean: float | None = None
    grid_cpu_per_call: dict[str, float] | None = None


def measure_latency(querier: Querier, servers: Servers, relay: str, layout: NetworkLayout,
                    sizes: Sizes, population: Population, checks: int,
                    seed: int, grid_relay: str | None = None) -> LatencyFigures:
    """Blocks of real one-subject checks interleaved with blocks of floor fan-outs (and of
    fan-outs to echo servers on the answer grid, with `grid_relay`), in turn first."""
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
    grid_channel = (secure_channel(grid_relay, tls_files(layout.root, querier.node_id),
                                   expected_peer=COORDINATOR) if grid_relay else None)
    grid_fanout = grid_channel.unary_unary(RELAY_METHOD) if grid_channel else None
    request = os.urandom(sizes.check_request)
    for _ in range(10):
        fanout(request, timeout=30)
        if grid_fanout:
            grid_fanout(request, timeout=30)
    real: list[float] = []
    floor: list[float] = []
    grid: list[float] = []
    real_cpu: dict[str, float] = {}
    floor_cpu: dict[str, float] = {}
    grid_cpu: dict[str, float] = {}
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

        def floor_block(first: int = start, call: Any = fanout,
                        into: list[float] = floor) -> None:
            for _ in plan[first:first + block]:
                began = time.perf_counter()
                call(request, timeout=30)
                into.append(time.perf_counter() - began)

        order = [(real_block, real_cpu), (floor_block, floor_cpu)]
        if grid_fanout:
            order.append((lambda first=start: floor_block(first, grid_fanout, grid), grid_cpu))
        turn = (start // block) % len(order)
        for run, cpu in order[turn:] + order[:turn]:
            before = servers.cpu()
            run()
            add_into(cpu, cpu_delta(before, servers.cpu()))
    channel.close()
    if grid_channel:
        grid_channel.close()
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
            sizes=sizes,
            grid_p50=percentile(grid, 50) if grid else None,
            grid_p99=percentile(grid, 99) if grid else None,
            grid_mean=statistics.fmean(grid) if grid else None,
            grid_cpu_per_call={k: v / len(grid) for k, v in grid_cpu.items()} if grid else None)


