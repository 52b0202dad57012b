"""Cost of the threshold VOPRF's crypto per subject, beside its libsodium floor (#13).

Measures, for a t-of-n split (2-of-3 by default) and a subject's match keys (5 elements, the
mean of a check of 20 persons in bench/check.py is 5.3):
- holder: `threshold.evaluate_share` (k_i·B per element and the batch DLEQ proof);
- node: `threshold.verify_share_evaluation` for each of the t answers, then
  `threshold.combine` (public-key check and Lagrange combination);
and, for comparison, the single-key VOPRF's `blind_evaluate_verifiable` and its proof check.
Each is set against a floor timed in the same run: exactly the ristretto255 scalar
multiplications (variable-base and fixed-base) and point additions that call performs,
straight through pysodium in one thread, on random points. The ratio is what the protocol's
hashing, validation and Python glue add on top of libsodium. Times are the calling thread's
CPU time (CLOCK_THREAD_CPUTIME_ID), p50 per call: on a shared 2-core machine wall time
mostly measures who else runs; real calls and floors also alternate in blocks.

    .venv/bin/python bench/threshold.py [--threshold 2] [--holders 3] [--keys 5]
                                        [--batch 1000] [--rounds 400] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pysodium

from samenloop.crypto import _common, threshold, voprf
from samenloop.crypto.voprf import Mode

BLOCK = 20  # calls per block; real and floor blocks alternate


@dataclass(frozen=True)
class Operations:
    """What one call costs in libsodium group operations."""

    mul: int  # variable-base scalar multiplications
    mul_base: int  # fixed-base scalar multiplications (k·G)
    add: int  # point additions


@dataclass(frozen=True)
class Figure:
    """One measured call: p50 of the call and of its floor, and their ratio."""

    name: str
    elements: int
    operations: Operations
    p50_us: float
    floor_p50_us: float

    @property
    def ratio(self) -> float:
        return self.p50_us / self.floor_p50_us


def holder_operations(k: int) -> Operations:
    """evaluate_share: k·B_j (k), composite M (k muls, k adds), Z = k·M, t3 = r·M; P_i and
    t2 = r·G on the fixed base."""
    return Operations(mul=2 * k + 2, mul_base=2, add=k)


def verify_operations(k: int) -> Operations:
    """verify_share_evaluation: composites M and Z (2k muls, 2k adds), t2 = s·G + c·P_i,
    t3 = s·M + c·Z."""
    return Operations(mul=2 * k + 3, mul_base=1, add=2 * k + 2)


def combine_operations(k: int, t: int) -> Operations:
    """combine: Σ λ_i P_i against pkS, then Σ λ_i Z_i per element."""
    return Operations(mul=t * (k + 1), mul_base=0, add=t * (k + 1))


def single_key_operations(k: int) -> tuple[Operations, Operations]:
    """blind_evaluate_verifiable (it also recomputes pkS from skS) and the proof check."""
    return Operations(mul=2 * k + 2, mul_base=3, add=k), verify_operations(k)


def plus(*ops: Operations) -> Operations:
    return Operations(sum(o.mul for o in ops), sum(o.mul_base for o in ops),
                      sum(o.add for o in ops))


def floor_call(ops: Operations) -> Callable[[], None]:
    """A call doing exactly `ops` through pysodium, on fresh random points and scalars."""
    points = [pysodium.crypto_core_ristretto255_from_hash(os.urandom(64)) for _ in range(8)]
    scalars = [pysodium.crypto_core_ristretto255_scalar_random() for _ in range(8)]
    mul = pysodium.crypto_scalarmult_ristretto255
    mul_base = pysodium.crypto_scalarmult_ristretto255_base
    add = pysodium.crypto_core_ristretto255_add

    def run() -> None:
        acc = points[0]
        for n in range(ops.mul):
            mul(scalars[n % 8], points[n % 8])
        for n in range(ops.mul_base):
            mul_base(scalars[n % 8])
        for n in range(ops.add):
            acc = add(acc, points[n % 8])

    return run


def timed(real: Callable[[], object], floor: Callable[[], None],
          rounds: int) -> tuple[float, float]:
    """p50 thread-CPU seconds per call of each, in alternating blocks of BLOCK calls."""
    samples: dict[str, list[float]] = {"real": [], "floor": []}
    for fn in (real, floor):  # warm up
        fn()
    for _ in range(max(1, rounds // BLOCK)):
        for name, fn in (("real", real), ("floor", floor)):
            for _ in range(BLOCK):
                started = time.thread_time_ns()
                fn()
                samples[name].append((time.thread_time_ns() - started) / 1e9)
    return statistics.median(samples["real"]), statistics.median(samples["floor"])


def measure(t: int, n: int, k: int, rounds: int) -> list[Figure]:
    """The holder's and the node's side for one batch of k elements."""
    sk, pk = voprf.generate_key_pair(Mode.VOPRF)
    shares = threshold.split_key(sk, t, n)
    public = {s.index: threshold.public_share(s.secret) for s in shares}
    blinded = [voprf.blind(os.urandom(16), Mode.VOPRF)[1] for _ in range(k)]
    answers = {s.index: threshold.evaluate_share(s.secret, blinded) for s in shares[:t]}

    def node() -> None:
        for index, (evaluated, proof) in answers.items():
            threshold.verify_share_evaluation(public[index], blinded, evaluated, proof)
        threshold.combine(pk, public, {i: a[0] for i, a in answers.items()}, threshold=t)

    evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, blinded)
    single_holder, single_verify = single_key_operations(k)
    cases: list[tuple[str, Callable[[], object], Operations]] = [
        ("holder: evaluate_share", lambda: threshold.evaluate_share(shares[0].secret, blinded),
         holder_operations(k)),
        (f"node: {t} x verify_share_evaluation + combine", node,
         plus(*[verify_operations(k)] * t, combine_operations(k, t))),
        ("single key: blind_evaluate_verifiable",
         lambda: voprf.blind_evaluate_verifiable(sk, pk, blinded), single_holder),
        # finalize_verifiable also unblinds; the proof check alone is the shared private one.
        ("single key: proof check",
         lambda: _common._verify_proof(pk, blinded, evaluated, proof, Mode.VOPRF), single_verify),
    ]
    figures = []
    for name, real, ops in cases:
        p50, floor_p50 = timed(real, floor_call(ops), rounds)
        figures.append(Figure(name, k, ops, p50 * 1e6, floor_p50 * 1e6))
    return figures


def report(t: int, n: int, figures: list[Figure]) -> str:
    lines = [
        f"{t}-of-{n}; Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        "",
        "| call | elements | scalar mults (+ fixed-base) / point adds | CPU p50 | floor p50 "
        "| ratio |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for f in figures:
        o = f.operations
        lines.append(f"| {f.name} | {f.elements} | {o.mul} (+{o.mul_base}) / {o.add} "
                     f"| {f.p50_us:,.0f} µs | {f.floor_p50_us:,.0f} µs | {f.ratio:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=int, default=2)
    parser.add_argument("--holders", type=int, default=3)
    parser.add_argument("--keys", type=int, default=5, help="elements per subject")
    parser.add_argument("--batch", type=int, default=1000,
                        help="a second, import-sized batch (0: skip)")
    parser.add_argument("--rounds", type=int, default=400, help="calls per measure (subject)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(args.threshold, args.holders, args.keys, args.rounds)
    if args.batch:
        figures += measure(args.threshold, args.holders, args.batch, max(20, args.rounds // 100))
    print(report(args.threshold, args.holders, figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump([asdict(f) | {"ratio": f.ratio} for f in figures], out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
