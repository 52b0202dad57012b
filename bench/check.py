"""Check latency, split trust, sustained load, 400 nodes and import, each beside a floor.

Starts the real coordinator and 25 real node servers on 127.0.0.1 with mutual TLS (separate
processes by default, `--servers inprocess` for one event loop in this process), fills every
node's registry with 5,000 subjects, and measures against floors timed in the same run:

1. one-subject check latency (p50/p99) beside a bare 25-way grpc.aio fan-out with the same
   topology, mTLS, channel options and message sizes, but no crypto and no registry
   (client -> relay -> 25 echo servers);
2. split trust (#13): one-subject checks through the 2-of-3 key holders (every network is
   split since #13) with the time of each stage of the pseudonymisation (holders' round
   trip, partial proofs, combination), beside their floor, and the same checks on a
   network of the same size whose coordinator holds the key, built after, beside its own
   floor (`checkbench/trust.py`);
3. sustained load: 16 procesregisseurs checking back to back for 60 s, beside 16 clients
   of the floor for as long (checks per second, p99, errors);
4. checks of the most persons a check may hold (`MAX_SUBJECTS`, 20: the persons of one
   case; the covenants allow no bulk check), end to end;
5. the batch figure: an import of 100,000 subjects through `import_cases` (CSV ->
   validation -> match keys -> batched evaluation at the running key holders -> tags ->
   SQLite), in a subprocess of its own: wall time beside the libsodium floor of the
   verifiable mode for the same number of evaluations, CPU, and peak RSS (VmHWM, i.e.
   `ru_maxrss` without the parent's peak that Linux carries into a child across fork +
   exec);
6. then a network of its own of 400 nodes (50 node servers on one event loop per process)
   for one-subject check latency beside a bare 400-way fan-out.

Process mode also sums the CPU each role (querying node, coordinator, nodes; relay and echo
servers for the floor) spends per call, from /proc, which shows where a 2-core machine's
time goes.

This file only parses the options and runs the measurements in order; the parts live in
`bench/checkbench/` by concern: `population` (synthetic persons, filled registries, exports),
`floors` (bare fan-out servers, the libsodium floor), `cpu` (/proc accounting), `cluster`
(the servers started, the querying node), one module per measurement (`latency`, `trust`,
`sustained`, `wide`, `group`, `importing`), each returning a dataclass, and `report`
(formats those, nothing else).

    .venv/bin/python bench/check.py [--quick] [--nodes N] [--subjects-per-node N]
        [--checks N] [--trust-checks N] [--no-trust-unsplit] [--users N]
        [--sustained-seconds S] [--group-checks N] [--import-subjects N] [--wide-nodes N]
        [--wide-per-process N] [--servers process|inprocess] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from checkbench.cluster import running_network, serve_nodes
from checkbench.cpu import machine_busy, own_cpu
from checkbench.floors import serve_floor
from checkbench.group import measure_group_checks
from checkbench.importing import import_worker, measure_import
from checkbench.latency import measure_latency
from checkbench.population import parse, person
from checkbench.report import Results, machine, report, revision, revision_note
from checkbench.settings import (
    BENCH,
    RESULTS,
    log,
    ms,
)
from checkbench.sustained import measure_sustained
from checkbench.trust import add_unsplit, measure_trust
from checkbench.wide import measure_wide

from samenloop.node.config import MAX_SUBJECTS
from samenloop.node.network import match_key_versions


def run(args: argparse.Namespace) -> Results:
    """Build, fill and start the network, measure, stop; then the wide network likewise."""
    started = time.perf_counter()
    busy, spent = machine_busy(), own_cpu()
    measured, began = revision(), time.time()
    results = Results()
    last_start = began
    with tempfile.TemporaryDirectory(prefix="samenloop-bench-") as tmp:
        root = Path(tmp)
        with running_network(root / "main", args.nodes, args.subjects_per_node, args.seed,
                             args.servers) as net:
            querier, servers, layout, population = (net.querier, net.servers, net.layout,
                                                    net.population)
            sizes = querier.sizes(parse(person(random.Random(f"{args.seed}/probe"))))
            relay = servers.floor(layout, sizes)
            grid_relay = servers.floor(layout, sizes, on_grid=True) if args.checks else None
            log(f"floor servers up; sizes {sizes}")
            if args.checks:
                latency = measure_latency(querier, servers, relay, layout, sizes,
                                          population, args.checks, args.seed, grid_relay)
                results.latency = latency
                log(f"latency p50 {ms(latency.p50)} floor {ms(latency.floor_p50)} "
                    f"ratio {latency.ratio_p50:.2f}")
            if args.trust_checks:
                results.trust = measure_trust(net, relay, sizes, args.trust_checks, args.seed)
            if args.sustained_seconds:
                sustained = measure_sustained(querier, servers, relay, layout, sizes,
                                              population, args.users,
                                              args.sustained_seconds, args.seed)
                results.sustained = sustained
                log(f"sustained: {sustained.checks_per_second:.1f} checks/s "
                    f"({sustained.rate_ratio:.2f}x the floor's fan-outs/s), p99 "
                    f"{ms(sustained.p99)} ({sustained.ratio_p99:.2f}x), "
                    f"{sustained.errors} errors")
            if args.group_checks:
                group = measure_group_checks(querier, servers, population,
                                             args.group_checks, args.seed)
                results.group = group
                log(f"checks of {MAX_SUBJECTS} persons: p50 {ms(group.p50)}")
            if args.import_subjects:
                versions = match_key_versions(querier.config, querier.network.directory())
                imported = measure_import(servers, layout, list(layout.node_configs)[-1],
                                          args.import_subjects, versions, args.seed, root)
                results.imported = imported
                log(f"import {imported.seconds:.1f} s ({imported.floor_ratio:.2f}x its floor), "
                    f"peak {imported.peak_rss_kb / 1024:.0f} MiB")
            last_start = servers.last_start
        tags_per_node = population.tags / args.nodes
        fill_seconds = population.seconds
        if results.trust is not None and args.trust_unsplit:
            add_unsplit(results.trust, root / "unsplit", args.subjects_per_node,
                        args.trust_checks, args.seed, args.servers)
            last_start = time.time()
        if args.wide_nodes:
            results.wide = measure_wide(root / "wide", args.wide_nodes,
                                        args.wide_subjects_per_node, args.wide_per_process,
                                        args.wide_checks, args.seed, args.servers)
            last_start = time.time()
    results.setup = {
        "nodes": args.nodes, "subjects_per_node": args.subjects_per_node,
        "tags_per_node": tags_per_node, "servers": args.servers,
        "fill_seconds": fill_seconds, "machine": machine(),
        "command": "bench/check.py " + " ".join(sys.argv[1:]),
        "wall_seconds": time.perf_counter() - started,
        "revision": revision_note(measured, began, last_start),
        # CPU that processes other than this benchmark's used while it ran (noise).
        "foreign_cpu_seconds": max(0.0, machine_busy() - busy - (own_cpu() - spent)),
    }
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=25)
    parser.add_argument("--subjects-per-node", type=int, default=5000)
    parser.add_argument("--checks", type=int, default=300,
                        help="one-subject checks for the latency figures (0: skip)")
    parser.add_argument("--trust-checks", type=int, default=200,
                        help="one-subject checks through the 2-of-3 key holders with the "
                             "time per stage, and as many on an unsplit network (0: skip)")
    parser.add_argument("--no-trust-unsplit", dest="trust_unsplit", action="store_false",
                        help="skip the unsplit network (the coordinator's key) of that "
                             "comparison")
    parser.add_argument("--group-checks", type=int, default=20,
                        help=f"checks of {MAX_SUBJECTS} persons, the most a check may hold "
                             f"(0: skip)")
    parser.add_argument("--import-subjects", type=int, default=100_000, help="0: skip")
    parser.add_argument("--users", type=int, default=16,
                        help="concurrent procesregisseurs of the sustained load")
    parser.add_argument("--sustained-seconds", type=float, default=60.0,
                        help="seconds of sustained load, and as many of floor load (0: skip)")
    parser.add_argument("--wide-nodes", type=int, default=400,
                        help="nodes of the wide network's latency run (0: skip)")
    parser.add_argument("--wide-subjects-per-node", type=int, default=250)
    parser.add_argument("--wide-per-process", type=int, default=50,
                        help="node servers (and echo servers) sharing one process there")
    parser.add_argument("--wide-checks", type=int, default=100)
    parser.add_argument("--servers", choices=("process", "inprocess"), default="process")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true",
                        help="small run (about two minutes on 2 quiet cores): 5 nodes of "
                             "500, 10 s of load, 50 wide nodes, small counts")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"markdown output (default {RESULTS.relative_to(BENCH.parent)})")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    parser.add_argument("--serve-floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-nodes", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--import-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {"nodes": 25, "subjects_per_node": 5000, "checks": 300, "trust_checks": 200,
                    "group_checks": 20, "import_subjects": 100_000, "sustained_seconds": 60.0,
                    "wide_nodes": 400, "wide_subjects_per_node": 250, "wide_per_process": 50,
                    "wide_checks": 100}
        quick = {"nodes": 5, "subjects_per_node": 500, "checks": 60, "trust_checks": 40,
                 "group_checks": 5,
                 "import_subjects": 5000, "sustained_seconds": 10.0, "wide_nodes": 50,
                 "wide_subjects_per_node": 50, "wide_per_process": 25, "wide_checks": 30}
        for name, value in quick.items():
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    if args.nodes < 1 or args.subjects_per_node < 2:
        parser.error("need at least one node and two subjects per node")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return 0
    if args.serve_nodes:
        serve_nodes(args.serve_nodes)
        return 0
    if args.import_worker:
        import_worker(*args.import_worker)
        return 0
    results = run(args)
    text = report(results)
    print(text)
    args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
