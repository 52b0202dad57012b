"""Bulk work and registry size (issue #15), beside floors measured in the same run.

1. Import: `import_cases(sync=True)` of N subjects (100,000 and 1,000,000; `--quick`
   5,000 and 20,000) in a process of its own against a running coordinator: wall time
   against the libsodium floor of the verifiable mode for the same evaluations (target
   <= 1.25x), and peak RSS (VmHWM of the import's process; target < 200 MiB at every size).
2. Lookup cost at one node from 1,000 to 1,000,000 registrations (`--quick`: to 100,000):
   `find_hits` in process on a registry filled through the store (target: flat within 1.5x).
3. Beside OpenMined PSI on the same registry of 125,000 persons (`--quick`: 12,500): time
   per one-person query (`checkbench/psicompare.py`; needs `make bench-extra`).

    .venv/bin/python bench/scale.py [--quick] [--import-subjects N ...] [--lookup-sizes N ...]
        [--psi-persons N] [--skip import|lookup|psi ...] [--out FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from checkbench.cluster import running_network
from checkbench.cpu import machine_busy, own_cpu
from checkbench.importing import ImportFigures, measure_import
from checkbench.lookupcost import LookupFigures, measure_lookup_cost
from checkbench.psicompare import PsiFigures, measure_psi
from checkbench.report import machine, revision
from checkbench.settings import BENCH, log

from samenloop.node.network import match_key_versions

TARGET_IMPORT_RATIO = 1.25
TARGET_IMPORT_PEAK_MIB = 200
TARGET_LOOKUP_FLATNESS = 1.5


def run(args: argparse.Namespace) -> dict[str, object]:
    busy, spent, began = machine_busy(), own_cpu(), time.time()
    out: dict[str, object] = {"revision": revision(), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="samenloop-scale-") as tmp:
        root = Path(tmp)
        with running_network(root / "main", 2, 50, args.seed, "process") as net:
            config = net.layout.node_configs[net.querier.config.node_id]
            sender = next(path for node, path in net.layout.node_configs.items()
                          if node != net.querier.config.node_id)
            if "import" not in args.skip:
                versions = match_key_versions(net.querier.config,
                                              net.querier.network.directory())
                imports = []
                for subjects in args.import_subjects:
                    figures = measure_import(net.servers, net.layout,
                                             list(net.layout.node_configs)[-1], subjects,
                                             versions, args.seed, root)
                    log(f"import of {subjects:,}: {figures.seconds:.1f} s "
                        f"({figures.floor_ratio:.2f}x its floor), peak "
                        f"{figures.peak_rss_kb / 1024:.0f} MiB")
                    imports.append(figures)
                out["imports"] = imports
            if "lookup" not in args.skip:
                out["lookup"] = measure_lookup_cost(config, sender, root, args.lookup_sizes,
                                                    args.lookups, args.seed)
            if "psi" not in args.skip:
                out["psi"] = measure_psi(config, root, args.psi_persons, args.psi_queries,
                                         args.seed)
    out["seconds"] = time.time() - began
    out["others_cpu"] = max(0.0, machine_busy() - busy - (own_cpu() - spent))
    return out


def report(out: dict[str, object]) -> str:
    host = out["machine"]
    assert isinstance(host, dict)
    lines = [f"Revision {out['revision']}; {host['nproc']} cores ({host['cpu']}), Python "
             f"{host['python']}, libsodium {host['libsodium']}; {out['seconds']:.0f} s; other "
             f"processes used {out['others_cpu']:.0f} CPU-seconds meanwhile.", "",
             "| measure | result | floor (same run) | ratio | target | |",
             "|---|---|---|---|---|---|"]
    for imp in out.get("imports", []):  # type: ignore[attr-defined]
        assert isinstance(imp, ImportFigures)
        summary = imp.summary
        ratio_ok = imp.floor_ratio <= TARGET_IMPORT_RATIO
        peak = imp.peak_rss_kb / 1024
        lines.append(
            f"| import of {imp.subjects:,} subjects ({summary['cases']:,} cases, "
            f"{summary['tags']:,} tags; {imp.evaluations:,} evaluations), wall time | "
            f"{imp.seconds:.1f} s | {imp.floor_seconds:.1f} s | {imp.floor_ratio:.2f}x | "
            f"<= {TARGET_IMPORT_RATIO}x | {'**met**' if ratio_ok else '**missed**'} |")
        lines.append(
            f"| its CPU: importing node + coordinator | {imp.cpu_seconds:.0f} + "
            f"{imp.coordinator_cpu_seconds:.0f} s | {imp.floor_cpu_seconds:.0f} s | "
            f"{(imp.cpu_seconds + imp.coordinator_cpu_seconds) / imp.floor_cpu_seconds:.2f}x"
            f" | - | |")
        lines.append(
            f"| its peak memory (VmHWM of its process) | {peak:.0f} MiB | "
            f"{imp.rss_before_kb / 1024:.0f} MiB before `import_cases` | - | "
            f"< {TARGET_IMPORT_PEAK_MIB} MiB | "
            f"{'**met**' if peak < TARGET_IMPORT_PEAK_MIB else '**missed**'} |")
    lookup = out.get("lookup")
    if isinstance(lookup, LookupFigures) and lookup.sizes:
        first = lookup.sizes[0]
        for size in lookup.sizes:
            ratio = size.answer_p50_us / first.answer_p50_us
            lines.append(
                f"| lookup at one node, {size.registrations:,} registrations "
                f"({size.tags:,} tags): `answer_query` p50 (p99) | {size.answer_p50_us:.0f} µs "
                f"({size.answer_p99_us:.0f} µs) | {first.answer_p50_us:.0f} µs at "
                f"{first.registrations:,} | {ratio:.2f}x | <= {TARGET_LOOKUP_FLATNESS}x | "
                f"{'**met**' if ratio <= TARGET_LOOKUP_FLATNESS else '**missed**'} |")
        for size in lookup.sizes:
            lines.append(
                f"| its registry query alone (`find_hits`), {size.registrations:,} "
                f"registrations, p50 (p99) | {size.p50_us:.0f} µs ({size.p99_us:.0f} µs) | "
                f"{first.p50_us:.0f} µs at {first.registrations:,} | "
                f"{size.p50_us / first.p50_us:.2f}x | - | |")
    psi = out.get("psi")
    if isinstance(psi, PsiFigures):
        agree = "both found exactly the registered persons" if psi.agree \
            else "**results differ**"
        lines.append(
            f"| one-person query, ours (crypto of querying node and coordinator, tags, "
            f"`find_hits`) on {psi.persons:,} persons ({psi.elements:,} elements), p50 | "
            f"{psi.ours_p50_ms:.2f} ms | - | - | - | |")
        lines.append(
            f"| the same query with OpenMined PSI, setup + one query | "
            f"{psi.psi_per_query_s:.2f} s | ours {psi.ours_p50_ms:.2f} ms | "
            f"{psi.psi_per_query_s * 1000 / psi.ours_p50_ms:,.0f}x ours | - | |")
        lines.append(
            f"| PSI with its setup ({psi.psi_setup_s:.1f} s, {psi.psi_setup_bytes:,} B to "
            f"every client) reused, query p50 | {psi.psi_query_p50_ms:.2f} ms | ours "
            f"{psi.ours_p50_ms:.2f} ms | {psi.psi_query_p50_ms / psi.ours_p50_ms:.2f}x | - | "
            f"{agree} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--import-subjects", type=int, nargs="*")
    parser.add_argument("--lookup-sizes", type=int, nargs="*")
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--psi-persons", type=int)
    parser.add_argument("--psi-queries", type=int, default=20)
    parser.add_argument("--skip", nargs="*", default=[], choices=("import", "lookup", "psi"))
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out", type=Path, default=BENCH / "results-scale.md")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.import_subjects is None:
        args.import_subjects = [5_000, 20_000] if args.quick else [100_000, 1_000_000]
    if args.lookup_sizes is None:
        args.lookup_sizes = [1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000])
    if args.psi_persons is None:
        args.psi_persons = 12_500 if args.quick else 125_000
    random.seed(args.seed)
    out = run(args)
    text = report(out)
    print(text)
    args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(
            {k: ([asdict(i) for i in v] if isinstance(v, list) else
                 asdict(v) if hasattr(v, "__dataclass_fields__") else v)
             for k, v in out.items()}, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
