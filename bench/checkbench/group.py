"""Checks of the most persons a check may hold."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

from checkbench.cluster import Querier, Servers
from checkbench.cpu import add_into, cpu_delta
from checkbench.population import Population, parse, person
from checkbench.settings import percentile
from samenloop.crypto.identity import match_keys
from samenloop.node.config import MAX_SUBJECTS


@dataclass
class GroupFigures:
    """Checks of MAX_SUBJECTS persons, in seconds; CPU per check by role."""

    checks: int
    subjects: int
    evaluations: float
    p50: float
    max: float
    mean: float
    cpu: dict[str, float]


def measure_group_checks(querier: Querier, servers: Servers, population: Population,
                         checks: int, seed: int) -> GroupFigures:
    """Checks of MAX_SUBJECTS persons each (the persons of one case, at most), end to end;
    one person of each is registered at some node and must be found."""
    rng = random.Random(f"{seed}/group")
    nodes = list(population.rows)
    seconds: list[float] = []
    cpu: dict[str, float] = {}
    evaluations = 0
    for _ in range(checks):
        holder = rng.choice(nodes)
        group = [parse(population.rows[holder][rng.choice(population.findable[holder])])]
        group += [parse(person(rng)) for _ in range(MAX_SUBJECTS - 1)]
        evaluations += sum(len(match_keys(s)) for s in group)
        before = servers.cpu()
        began = time.perf_counter()
        result = querier.check(*group)
        seconds.append(time.perf_counter() - began)
        add_into(cpu, cpu_delta(before, servers.cpu()))
        if not result.coverage.complete or not any(h.node_id == holder for h in result.hits):
            raise RuntimeError("a group check was incomplete or missed its registered person")
    return GroupFigures(checks=checks, subjects=MAX_SUBJECTS, evaluations=evaluations / checks,
            p50=percentile(seconds, 50), max=max(seconds),
            mean=statistics.fmean(seconds),
            cpu={k: v / checks for k, v in cpu.items()})


