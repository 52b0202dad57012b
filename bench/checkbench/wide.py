"""One-subject checks on a wide network (400 nodes: the social domain's organisations)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from checkbench.cluster import running_network
from checkbench.latency import LatencyFigures, measure_latency
from checkbench.population import parse, person
from checkbench.settings import log, ms

WARM_UP_NODES = 20  # a check with a hit at this many sampled nodes before measuring


@dataclass
class WideFigures:
    """Latency at `nodes` nodes, run `per_process` to a process, beside the same-width floor."""

    nodes: int
    subjects_per_node: int
    per_process: int
    node_processes: int
    echo_processes: int
    fill_seconds: float
    tags_per_node: float
    latency: LatencyFigures


def measure_wide(root: Path, nodes: int, subjects_per_node: int, per_process: int,
                 checks: int, seed: int, mode: str) -> WideFigures:
    """Build, fill and start a network of `nodes` nodes (several `NodeServer`s sharing one
    event loop per process), start a floor of as many echo servers grouped the same way,
    and time one-subject checks against floor fan-outs."""
    with running_network(root, nodes, subjects_per_node, seed, mode, per_process,
                         warm_up=WARM_UP_NODES) as net:
        sizes = net.querier.sizes(parse(person(random.Random(f"{seed}/wide-probe"))))
        relay = net.servers.floor(net.layout, sizes, per_process)
        grid_relay = net.servers.floor(net.layout, sizes, per_process, on_grid=True)
        log(f"wide floors up ({nodes} echo servers each, bare and on the answer grid)")
        latency = measure_latency(net.querier, net.servers, relay, net.layout, sizes,
                                  net.population, checks, seed, grid_relay)
        log(f"{nodes} nodes: p50 {ms(latency.p50)} floor {ms(latency.floor_p50)} ratio "
            f"{latency.ratio_p50:.2f}")
        echo_processes = 0 if mode == "inprocess" else -(-nodes // max(1, per_process))
        return WideFigures(nodes, subjects_per_node, per_process, net.node_processes,
                           echo_processes, net.population.seconds,
                           net.population.tags / nodes, latency)
