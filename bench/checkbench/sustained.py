"""Sustained load: procesregisseurs checking at once for a while, beside as many clients of
the bare fan-out floor for as long."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from checkbench.cluster import Querier, Servers
from checkbench.cpu import add_into, cpu_delta
from checkbench.floors import RELAY_METHOD, Sizes, tls_files
from checkbench.population import Population, parse, person
from checkbench.settings import HIT_SHARE, log, percentile
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.demo import NetworkLayout
from samenloop.proto.transport import secure_channel


@dataclass
class SustainedFigures:
    """Checks and floor fan-outs under `users` concurrent clients, each for `seconds`."""

    users: int
    seconds: float
    checks: int
    checks_per_second: float
    p50: float
    p99: float
    errors: int
    incomplete: int
    hits_missed: int
    floor_calls: int
    floor_per_second: float
    floor_p50: float
    floor_p99: float
    floor_errors: int
    rate_ratio: float  # checks per second / floor fan-outs per second
    ratio_p99: float
    cpu_per_check: dict[str, float]
    floor_cpu_per_call: dict[str, float]


def _hammer(users: int, seconds: float, call: Callable[[int, random.Random], bool]
            ) -> tuple[list[float], int, float]:
    """`users` threads calling `call` back to back for `seconds`; latencies, failures and the
    wall time from the first start to the last end."""
    latencies: list[list[float]] = [[] for _ in range(users)]
    failures = [0] * users
    seen: set[str] = set()
    start = threading.Barrier(users + 1)

    def user(index: int) -> None:
        rng = random.Random(index)
        start.wait()
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            began = time.perf_counter()
            try:
                ok = call(index, rng)
            except Exception as exc:  # counted, and its kind logged once
                ok = False
                kind = f"{type(exc).__name__}: {str(exc)[:200]}"
                if kind not in seen:
                    seen.add(kind)
                    log(f"sustained load: a call failed: {kind}")
            latencies[index].append(time.perf_counter() - began)
            failures[index] += not ok

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return [x for part in latencies for x in part], sum(failures), time.perf_counter() - began


def measure_sustained(querier: Querier, servers: Servers, relay: str, layout: NetworkLayout,
                      sizes: Sizes, population: Population, users: int, seconds: float,
                      seed: int) -> SustainedFigures:
    """`users` procesregisseurs of the querying node check one person each, back to back
    (a tenth registered somewhere, as in the latency run), for `seconds`; as many clients
    call the floor's relay for as long. Half of each, twice, in the order floor, checks, checks,
    floor, so drift on a shared machine falls on both."""
    nodes = list(population.rows)
    incomplete = missed = 0
    lock = threading.Lock()

    def one_check(index: int, rng: random.Random) -> bool:
        nonlocal incomplete, missed
        holder = rng.choice(nodes) if rng.random() < HIT_SHARE else None
        row = (population.rows[holder][rng.choice(population.findable[holder])]
               if holder else person(rng))
        result = querier.check(parse(row), actor=f"pr-{index + 1:02d}")
        found = holder is None or any(h.node_id == holder for h in result.hits)
        with lock:
            incomplete += not result.coverage.complete
            missed += not found
        return result.coverage.complete and found

    channel = secure_channel(relay, tls_files(layout.root, querier.node_id),
                             expected_peer=COORDINATOR)
    fanout = channel.unary_unary(RELAY_METHOD)
    request = bytes(sizes.check_request)

    def one_floor(_index: int, _rng: random.Random) -> bool:
        fanout(request, timeout=30)
        return True

    real: list[float] = []
    floor: list[float] = []
    real_cpu: dict[str, float] = {}
    floor_cpu: dict[str, float] = {}
    errors = floor_errors = 0
    real_wall = floor_wall = 0.0
    for _ in range(users):
        one_floor(0, random.Random(seed))
    for kind in ("floor", "real", "real", "floor"):
        before = servers.cpu()
        if kind == "real":
            times, failed, wall = _hammer(users, seconds / 2, one_check)
            real += times
            errors += failed
            real_wall += wall
            add_into(real_cpu, cpu_delta(before, servers.cpu()))
        else:
            times, failed, wall = _hammer(users, seconds / 2, one_floor)
            floor += times
            floor_errors += failed
            floor_wall += wall
            add_into(floor_cpu, cpu_delta(before, servers.cpu()))
    channel.close()
    rate, floor_rate = len(real) / real_wall, len(floor) / floor_wall
    return SustainedFigures(
        users=users, seconds=seconds, checks=len(real), checks_per_second=rate,
        p50=percentile(real, 50), p99=percentile(real, 99), errors=errors,
        incomplete=incomplete, hits_missed=missed, floor_calls=len(floor),
        floor_per_second=floor_rate, floor_p50=percentile(floor, 50),
        floor_p99=percentile(floor, 99), floor_errors=floor_errors,
        rate_ratio=rate / floor_rate, ratio_p99=percentile(real, 99) / percentile(floor, 99),
        cpu_per_check={k: v / len(real) for k, v in real_cpu.items()},
        floor_cpu_per_call={k: v / len(floor) for k, v in floor_cpu.items()})
