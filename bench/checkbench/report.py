"""Every figure of a run, the machine and revision, and the markdown report."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pysodium

from checkbench.group import GroupFigures
from checkbench.importing import ImportFigures
from checkbench.latency import LatencyFigures
from checkbench.settings import (
    BENCH,
    HIT_SHARE,
    TARGET_P50_RATIO,
    TARGET_P99_RATIO,
    TARGET_SUSTAINED_P99,
    TARGET_SUSTAINED_RATE,
    TARGET_TRUST_P50_RATIO,
    TARGET_WIDE_P50_RATIO,
    ms,
)
from checkbench.sustained import SustainedFigures
from checkbench.trust import (
    BLIND,
    COMBINE,
    EVALUATE,
    FINALIZE,
    HOLDERS,
    REST,
    VERIFY,
    KeyFigures,
    TrustFigures,
)
from checkbench.wide import WideFigures
from samenloop.node.config import MAX_SUBJECTS

# --------------------------------------------------------------------------- the benchmark


@dataclass
class Results:
    """Every figure the report prints."""

    setup: dict[str, Any] = field(default_factory=dict)
    latency: LatencyFigures | None = None
    group: GroupFigures | None = None
    imported: ImportFigures | None = None
    sustained: SustainedFigures | None = None
    wide: WideFigures | None = None
    trust: TrustFigures | None = None


def machine() -> dict[str, Any]:
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": _cpu_model(),
            "python": platform.python_version(), "grpcio": grpc.__version__,
            "libsodium": _libsodium_version(), "platform": platform.platform()}


def code_changed_since(moment: float) -> float | None:
    """The newest modification time of project code after `moment`, if any."""
    newest = max((f.stat().st_mtime for folder in ("coordinator", "crypto", "node", "proto")
                  for f in (BENCH.parent / folder).rglob("*.py")), default=0.0)
    return newest if newest > moment else None


def revision() -> str:
    """The commit measured, and whether files outside bench/ differ from it."""
    repo = BENCH.parent
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                 "--untracked-files=no", "--", ".", ":!bench"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = len(status.splitlines())
    return f"{head} + {changed} uncommitted file(s) outside bench/" if changed else head


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _libsodium_version() -> str:
    with contextlib.suppress(Exception):
        version = pysodium.sodium.sodium_version_string
        version.restype = __import__("ctypes").c_char_p
        return str(version().decode())
    return "unknown"


def _cpu_row(label: str, cpu: dict[str, float], server: str, fanned: str, cores: int,
             wall: float) -> str:
    """One row of the CPU table, in ms per call."""
    client, coordinator, nodes = (cpu.get(k, 0.0) for k in ("client", server, fanned))
    total = sum(cpu.values())
    return (f"| {label} | {client * 1000:.1f} | {coordinator * 1000:.1f} | {nodes * 1000:.1f} "
            f"| {total * 1000:.1f} | {total / cores * 1000:.1f} | {wall * 1000:.1f} |")


def report(results: Results) -> str:
    """The markdown section for bench/README.md."""
    s, lat, grp, imp = results.setup, results.latency, results.group, results.imported
    m = s["machine"]
    processes = s["servers"] == "process"
    verdict = {True: "**met**", False: "**missed**"}
    lines = [
        "## Check latency, split trust, sustained load, 400 nodes and import (`bench/check.py`)",
        "",
        f"{s['nodes']} nodes with {s['subjects_per_node']:,} registered subjects each "
        f"({s['tags_per_node']:,.0f} tags per node); the real `CoordinatorServer` and "
        f"`NodeServer`s as {'separate processes' if processes else 'threads of one process'} "
        f"on 127.0.0.1, mutual TLS on every connection; the querying node's side of a check "
        f"(`run_check`) runs in the benchmark process. Machine: {m['nproc']} cores "
        f"({m['cpu']}), Python {m['python']}, grpcio {m['grpcio']}, libsodium {m['libsodium']}; "
        f"revision {s['revision']}. `{s['command']}` took {s['wall_seconds']:.0f} s; other "
        f"processes on the machine used {s['foreign_cpu_seconds']:.0f} CPU-seconds meanwhile "
        f"(noise in these figures when well above 0).",
        "",
        "| measure | result | floor (same run) | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    if lat:
        lines += [
            f"| one-subject check, p50 ({lat.checks} checks, {lat.hit_checks} with a hit) "
            f"| {ms(lat.p50)} | {ms(lat.floor_p50)} | {lat.ratio_p50:.2f}x "
            f"| <= {TARGET_P50_RATIO}x | {verdict[lat.ratio_p50 <= TARGET_P50_RATIO]} |",
            f"| one-subject check, p99 | {ms(lat.p99)} | {ms(lat.floor_p99)} "
            f"| {lat.ratio_p99:.2f}x | <= {TARGET_P99_RATIO}x "
            f"| {verdict[lat.ratio_p99 <= TARGET_P99_RATIO]} |",
        ]
        if lat.grid_p50 is not None and lat.grid_p99 is not None:
            lines += [
                f"| the answer grid alone: fan-out to echo servers that answer on the "
                f"nodes' grid, no crypto, no registry, one round trip, p50 "
                f"| {ms(lat.grid_p50)} | {ms(lat.floor_p50)} "
                f"| {lat.grid_p50 / lat.floor_p50:.2f}x | - | |",
                f"| the same, p99 | {ms(lat.grid_p99)} | {ms(lat.floor_p99)} "
                f"| {lat.grid_p99 / lat.floor_p99:.2f}x | - | |",
            ]
    trust = results.trust
    if trust:
        sp, un = trust.split, trust.unsplit
        lines += [
            f"| one-subject check through {trust.threshold} of {trust.holders} key holders "
            f"(#13), p50 ({sp.checks} checks, {sp.hit_checks} with a hit) | {ms(sp.p50)} "
            f"| {ms(sp.floor_p50)} | {sp.ratio_p50:.2f}x | <= {TARGET_TRUST_P50_RATIO}x "
            f"| {verdict[sp.ratio_p50 <= TARGET_TRUST_P50_RATIO]} |",
            f"| the same, p99 | {ms(sp.p99)} | {ms(sp.floor_p99)} | {sp.ratio_p99:.2f}x "
            f"| - | |",
        ]
        if un:
            lines += [
                f"| the same checks on a network whose coordinator holds the key (built "
                f"after, same size; its own floor), p50 | {ms(un.p50)} | {ms(un.floor_p50)} "
                f"| {un.ratio_p50:.2f}x | - | |",
                f"| the same, p99 | {ms(un.p99)} | {ms(un.floor_p99)} | {un.ratio_p99:.2f}x "
                f"| - | |",
            ]
    sus, wide = results.sustained, results.wide
    if sus:
        clean = sus.errors == 0 and sus.floor_errors == 0
        lines += [
            f"| sustained load: {sus.users} procesregisseurs checking at once for "
            f"{sus.seconds:.0f} s, checks per second ({sus.checks:,} checks) "
            f"| {sus.checks_per_second:.1f}/s | {sus.floor_per_second:.1f} fan-outs/s "
            f"({sus.users} clients) | {sus.rate_ratio:.2f}x | >= {TARGET_SUSTAINED_RATE}x "
            f"| {verdict[sus.rate_ratio >= TARGET_SUSTAINED_RATE]} |",
            f"| sustained load, p99 (p50 {ms(sus.p50)}; floor p50 {ms(sus.floor_p50)}) "
            f"| {ms(sus.p99)} | {ms(sus.floor_p99)} | {sus.ratio_p99:.2f}x "
            f"| <= {TARGET_SUSTAINED_P99}x | {verdict[sus.ratio_p99 <= TARGET_SUSTAINED_P99]} |",
            f"| sustained load, errors (failed, incomplete, or a registered person missed) "
            f"| {sus.errors} ({sus.incomplete} incomplete, {sus.hits_missed} missed) "
            f"| {sus.floor_errors} | - | 0 | {verdict[clean]} |",
        ]
    if wide:
        wl = wide.latency
        lines += [
            f"| one-subject check at {wide.nodes} nodes, p50 ({wl.checks} checks; "
            f"{wide.per_process} node servers per process) | {ms(wl.p50)} "
            f"| {ms(wl.floor_p50)} | {wl.ratio_p50:.2f}x | <= {TARGET_WIDE_P50_RATIO}x "
            f"| {verdict[wl.ratio_p50 <= TARGET_WIDE_P50_RATIO]} |",
            f"| one-subject check at {wide.nodes} nodes, p99 | {ms(wl.p99)} "
            f"| {ms(wl.floor_p99)} | {wl.ratio_p99:.2f}x | - | |",
        ]
        if wl.grid_p50 is not None:
            lines.append(
                f"| the answer grid alone at {wide.nodes} nodes (echo servers on the nodes' "
                f"grid), p50 | {ms(wl.grid_p50)} | {ms(wl.floor_p50)} "
                f"| {wl.grid_p50 / wl.floor_p50:.2f}x | - | |")
    if grp:
        lines += [
            f"| one check of {grp.subjects} persons, the most a check may hold, p50 "
            f"({grp.checks} checks, each with one registered person) | {ms(grp.p50)} "
            f"(max {ms(grp.max)}) | - | - | - | |",
        ]
    if imp:
        summary = imp.summary
        lines += [
            f"| import of {imp.subjects:,} subjects ({summary['cases']:,} cases, "
            f"{summary['tags']:,} tags; {imp.evaluations:,} evaluations) with "
            f"`import_cases(sync=True)`: the batch figure "
            f"| {imp.seconds:.1f} s ({imp.rate:,.0f} subjects/s) "
            f"| {imp.floor_seconds:.1f} s | {imp.floor_ratio:.2f}x | not yet set | |",
            f"| peak memory of that import, its own process (VmHWM = `ru_maxrss` of the new "
            f"program) | {imp.peak_rss_kb / 1024:,.0f} MiB "
            f"| {imp.rss_before_kb / 1024:,.0f} MiB before `import_cases` | - | - | |",
        ]
    lines.append("")
    cores = m["nproc"]
    if lat and processes:
        lines += [
            f"CPU per call in ms, summed over the processes of each role, against the wall "
            f"time: a fan-out to {s['nodes']} processes on {cores} cores cannot be faster than "
            f"its total CPU divided by the cores. The total includes the idle servers of the "
            f"other set (real services during floor calls and vice versa, 1-2 ms).",
            "",
            "| per call | querying node | coordinator / relay | nodes / echo servers | total "
            "| total / cores | wall (mean) |",
            "|---|---|---|---|---|---|---|",
            _cpu_row("one-subject check", lat.cpu_per_check, "coordinator", "nodes",
                     cores, lat.mean),
            _cpu_row("floor fan-out", lat.floor_cpu_per_call, "relay", "echo servers",
                     cores, lat.floor_mean),
        ]
        if lat.grid_cpu_per_call is not None and lat.grid_mean is not None:
            lines.append(_cpu_row("fan-out to echo servers on the answer grid",
                                  lat.grid_cpu_per_call, "grid relay", "grid echo servers",
                                  cores, lat.grid_mean))
        if grp:
            lines.append(_cpu_row(f"one check of {grp.subjects} persons", grp.cpu,
                                  "coordinator", "nodes", cores, grp.mean))
        if sus:
            lines += [
                _cpu_row(f"check under {sus.users} users (wall: 1 / checks per second)",
                         sus.cpu_per_check, "coordinator", "nodes", cores,
                         1 / sus.checks_per_second),
                _cpu_row(f"floor fan-out under {sus.users} clients (wall: 1 / rate)",
                         sus.floor_cpu_per_call, "relay", "echo servers", cores,
                         1 / sus.floor_per_second),
            ]
        if wide:
            lines += [
                _cpu_row(f"one-subject check at {wide.nodes} nodes",
                         wide.latency.cpu_per_check, "coordinator", "nodes", cores,
                         wide.latency.mean),
                _cpu_row(f"floor fan-out at {wide.nodes} nodes",
                         wide.latency.floor_cpu_per_call, "relay", "echo servers", cores,
                         wide.latency.floor_mean),
            ]
            if wide.latency.grid_cpu_per_call is not None and wide.latency.grid_mean:
                lines.append(_cpu_row(f"fan-out at {wide.nodes} nodes to echo servers on "
                                      f"the answer grid", wide.latency.grid_cpu_per_call,
                                      "grid relay", "grid echo servers", cores,
                                      wide.latency.grid_mean))
        lines.append("")
    if lat:
        sz = lat.sizes
        lines += [
            f"Latency floor: a client calls a relay that fans out to {s['nodes']} echo servers "
            f"at once and waits for all: the same topology, certificates, `CHANNEL_OPTIONS`, "
            f"grpc.aio servers and {'processes' if processes else 'process'} as the real services, "
            f"and messages of the real sizes ({sz.check_request:,} B request, "
            f"{sz.lookup_request:,} B to and {sz.lookup_response:,} B from each node, "
            f"{sz.check_response:,} B response), but no crypto, no registry, and one round "
            f"trip where a check makes three (GetDirectory, Evaluate, Check). Checks and floor "
            f"calls alternate in blocks of 10; {HIT_SHARE:.0%} of the checks are for a "
            f"registered person (one node answers with a hit and files a melding). A node's "
            f"Lookup answer leaves on a time grid (at 2 ms, then in steps of 12.5%: hit and "
            f"no-hit look alike), which the echo servers do not have: it is part of the "
            f"check's cost."
            + (" A second floor shows that part alone: the same relay and echo servers, "
               "but each echo server answers on the nodes' grid as a node does (the wait "
               "in the event loop's executor, `node/server.py` `answer_time`); its blocks "
               "take turns with the other two." if lat.grid_p50 is not None else ""),
            "",
        ]
    if trust:
        lines += _trust_section(trust)
    if sus:
        lines += [
            f"Sustained load: {sus.users} threads of the benchmark process, each a "
            f"procesregisseur of the querying node, run one-subject checks back to back "
            f"({HIT_SHARE:.0%} for a registered person, whose hit must be found) through "
            f"`run_check`, as the web app's worker threads do; the floor is as many clients "
            f"calling the relay back to back. Each ran {sus.seconds:.0f} s, in halves in the "
            f"order floor, checks, checks, floor.",
            "",
        ]
    if wide:
        lines += [
            f"Wide network: {wide.nodes} nodes of {wide.subjects_per_node:,} persons "
            f"({wide.tags_per_node:,.0f} tags per node), a network of its own built after "
            f"the other figures: {wide.per_process} `NodeServer`s share one event loop in each "
            f"of {wide.node_processes} processes, the coordinator has its own process, and "
            f"the floor's {wide.nodes} echo servers run {wide.per_process} to a process in "
            f"{wide.echo_processes} more (the relay in one). One-subject checks and floor "
            f"fan-outs alternate in blocks of 10 as above. Filling took "
            f"{wide.fill_seconds:.0f} s.",
            "",
        ]
    if grp:
        lines += [
            f"Checks of {grp.subjects} persons: the persons of one case, the most a check "
            f"may hold (`max_subjects_per_check` cannot exceed {MAX_SUBJECTS}; the covenants "
            f"allow no bulk check). About {grp.evaluations:.0f} evaluations each; one "
            f"person is registered at some node past aanmelding and must be found.",
            "",
        ]
    if imp:
        per_eval = imp.seconds / max(1, imp.summary["tags"])
        import_cpu = (imp.cpu_seconds + imp.coordinator_cpu_seconds
                      + imp.key_holders_cpu_seconds)
        lines += [
            f"Import: a `;`-separated case-system export ({imp.export_bytes / 1e6:.1f} MB, "
            f"households of 1-3 persons per case) imported into node `{imp.node}` by a "
            f"subprocess against the running coordinator, replacing that node's filled "
            f"registry (sync). The import used {imp.cpu_seconds:.1f} CPU-seconds, the "
            f"coordinator {imp.coordinator_cpu_seconds:.1f}, the key holders (all of them; "
            f"they evaluate a split epoch) {imp.key_holders_cpu_seconds:.1f}: together "
            f"{import_cpu / imp.floor_cpu_seconds:.2f}x "
            f"the floor's {imp.floor_cpu_seconds:.1f} (CPU time, less sensitive than wall "
            f"time to other load on the machine); about "
            f"{per_eval * 1e6:.0f} µs of wall time per stored tag.",
            "",
            f"Import floor: the libsodium calls RFC 9497's verifiable mode needs for the "
            f"import's {imp.evaluations:,} evaluations (every person's match keys, one key "
            f"epoch) through pysodium in one thread: hash-to-group from 64 bytes, blind, "
            f"evaluate and unblind (three ristretto255 scalar multiplications), and the proof's "
            f"composites at prover and verifier (three more and three additions; libsodium has "
            f"no multi-scalar multiplication); no CSV, no transport, no SQLite. Timed on "
            f"{imp.floor_sample:,} evaluations"
            f"{' and scaled linearly' if imp.floor_sample < imp.evaluations else ''}, "
            f"before the import. The floor runs on one core; the importing node and the "
            f"coordinator overlap on two, so the import can come in under 1x.",
            "",
        ]
    lines += [
        f"Registries: every node's {s['subjects_per_node']:,} persons are synthetic, one case "
        f"each, stored with `NodeStore.apply_import` and their real tags "
        f"(`node_tag(voprf.evaluate(skS, input), node)` over `match_keys`, which equals what an "
        f"import through the coordinator stores: the run checks one registered person per "
        f"node and requires the hit); the querying node's own triage case comes from a real "
        f"`import_cases`. Filling took {s['fill_seconds']:.0f} s and is not measured.",
    ]
    return "\n".join(lines)




def _trust_section(trust: TrustFigures) -> list[str]:
    """Where a check's time goes with key holders and with the coordinator's key."""
    sp, un = trust.split, trust.unsplit
    lines = [
        f"Split trust (#13): the main network's key is split {trust.threshold} of "
        f"{trust.holders} over key holders (`samenloop keyholder serve`, processes of their "
        f"own like the coordinator); the querying node blinds once, asks all "
        f"{trust.holders} holders at once, verifies each answer's DLEQ proof as it arrives "
        f"until {trust.threshold} are valid, combines them and finalises. {sp.checks} "
        f"one-subject checks alternate with floor fan-outs in blocks of 10, after the "
        f"latency figures above (the same checks: those also go through the holders). "
        + (f"For the holders' cost, a second network of the same size whose coordinator "
           f"holds the key (`key_holders=()`, as before the split) is built, filled "
           f"({trust.unsplit_fill_seconds:.0f} s) and started after the first has stopped, "
           f"and measured the same way beside a floor of its own." if un else ""),
        "",
        "Where a check's time goes, ms per check (p50 / mean over the checks; the stages "
        "are timed around the querying node's own calls, so a round trip includes the "
        "holders' or coordinator's work and the waiting for it):",
        "",
        "| stage | 2 of 3 key holders | coordinator's key |",
        "|---|---|---|",
    ]

    def cell(figures: KeyFigures | None, stage: str) -> str:
        if figures is None or stage not in figures.stages_p50:
            return "-"
        return (f"{figures.stages_p50[stage] * 1000:.1f} / "
                f"{figures.stages_mean[stage] * 1000:.1f}")

    for stage in (BLIND, HOLDERS, VERIFY, COMBINE, EVALUATE, FINALIZE, REST):
        lines.append(f"| {stage} | {cell(sp, stage)} | {cell(un, stage)} |")
    lines.append(f"| whole check | {ms(sp.p50)} / {ms(sp.mean)} | "
                 + (f"{ms(un.p50)} / {ms(un.mean)} |" if un else "- |"))
    holders_cpu = sp.cpu_per_check.get("key holders")
    if holders_cpu is not None:
        lines += ["", f"CPU per check (processes mode), ms: querying node "
                      f"{sp.cpu_per_check.get('client', 0.0) * 1000:.1f}, key holders "
                      f"{holders_cpu * 1000:.1f} (all {trust.holders}; a cancelled third "
                      f"answer still costs its holder), coordinator "
                      f"{sp.cpu_per_check.get('coordinator', 0.0) * 1000:.1f}, nodes "
                      f"{sp.cpu_per_check.get('nodes', 0.0) * 1000:.1f}"
                  + (f"; with the coordinator's key: querying node "
                     f"{un.cpu_per_check.get('client', 0.0) * 1000:.1f}, coordinator "
                     f"{un.cpu_per_check.get('coordinator', 0.0) * 1000:.1f}, nodes "
                     f"{un.cpu_per_check.get('nodes', 0.0) * 1000:.1f}." if un else ".")]
    lines.append("")
    return lines


def revision_note(measured: str, began: float, last_start: float) -> str:
    """The revision measured, and whether code changed while the run loaded it."""
    changed = code_changed_since(began)
    if changed is None:
        return measured
    if changed > last_start:
        return (f"{measured} (project code changed during the run, after every process had "
                f"loaded it; now {revision()})")
    return f"{measured} (project code changed while processes were starting: figures may mix)"


