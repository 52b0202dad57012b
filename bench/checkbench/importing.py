"""The batch figure: an import in a subprocess of its own, beside its floor."""

from __future__ import annotations

import contextlib
import json
import math
import random
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from checkbench.cluster import Servers
from checkbench.cpu import cpu_delta, own_cpu
from checkbench.floors import voprf_floor
from checkbench.population import parse, person, write_export
from checkbench.settings import ENTRY, FLOOR_SAMPLE
from samenloop.crypto.identity import match_keys
from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout
from samenloop.node.network import Network
from samenloop.node.registration import import_cases
from samenloop.node.store import NodeStore

# --------------------------------------------------------------------------- import worker


def peak_rss_kb() -> int:
    """Peak RSS of this process's address space in KiB: VmHWM from /proc/self/status.

    This is the counter `ru_maxrss` reports, except that Linux carries a parent's
    `ru_maxrss` over fork + exec into the child, so a child's `ru_maxrss` is never below its
    parent's peak at fork time; VmHWM starts afresh with the new program."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def import_worker(config_path: Path, export: Path) -> None:
    """Subprocess entry: one real `import_cases` (sync); prints its figures as JSON."""
    config = NodeConfig.load(config_path)
    store = NodeStore(config.store_path)
    network = Network(config)
    network.directory(refresh=True)
    before_kb = peak_rss_kb()
    cpu = own_cpu()
    started = time.perf_counter()
    summary = import_cases(config, store, network, export, sync=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "cpu_seconds": own_cpu() - cpu,
                      "rss_before_kb": before_kb, "peak_rss_kb": peak_rss_kb(),
                      "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "summary": asdict(summary)}))
    network.close()
    store.close()




@dataclass
class ImportFigures:
    """One import in its own process (the worker's figures) beside its libsodium floor."""

    seconds: float
    cpu_seconds: float
    rss_before_kb: int
    peak_rss_kb: int
    ru_maxrss_kb: int
    summary: dict[str, Any]
    subjects: int
    node: str
    export_bytes: int
    rate: float
    evaluations: int
    floor_sample: int
    floor_seconds: float
    floor_cpu_seconds: float
    floor_ratio: float
    coordinator_cpu_seconds: float


def measure_import(servers: Servers, layout: NetworkLayout, node_id: str, subjects: int,
                   versions: Sequence[int], seed: int, work: Path) -> ImportFigures:
    """Write a case-system export and import it in a subprocess of its own; beside it the
    libsodium floor of the verifiable mode for the evaluations the import asks (every
    person's match keys in every match-key version the node uses, one key epoch)."""
    rng = random.Random(f"{seed}/import")
    export = work / "import-export.csv"
    rows = [person(rng) for _ in range(subjects)]
    write_export(export, rows, rng, "IMP")
    evaluations = sum(len(match_keys(parse(row), version=v)) for row in rows for v in versions)
    del rows
    sample = min(evaluations, FLOOR_SAMPLE)
    cpu = time.process_time()
    floor = voprf_floor(sample) * evaluations / sample
    floor_cpu = (time.process_time() - cpu) * evaluations / sample
    before = servers.cpu()
    servers.last_start = time.time()
    out = subprocess.run(
        [sys.executable, str(ENTRY), "--import-worker",
         str(layout.node_configs[node_id]), str(export)],
        capture_output=True, text=True, check=False, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"import worker failed: {out.stderr.strip()[-2000:]}")
    worker = json.loads(out.stdout.strip().splitlines()[-1])
    return ImportFigures(
        **worker, subjects=subjects, node=node_id, export_bytes=export.stat().st_size,
        rate=subjects / worker["seconds"], evaluations=evaluations, floor_sample=sample,
        floor_seconds=floor, floor_cpu_seconds=floor_cpu,
        floor_ratio=worker["seconds"] / floor,
        coordinator_cpu_seconds=cpu_delta(before, servers.cpu()).get("coordinator", math.nan))
