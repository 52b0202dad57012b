"""Settings every measurement shares, and small helpers (percentiles, log)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

from samenloop.node.config import MAX_SUBJECTS, STANDARD_PURPOSES

BENCH = Path(__file__).resolve().parent.parent
ENTRY = BENCH / "check.py"  # the script; subprocesses run it with a hidden option
RESULTS = BENCH / "results-check.md"
# Above anything a run asks, so the figures are the code's cost, not the coordinator's
# budgets (an import paces itself in its own budget: 100,000 evaluations a minute by default).
RATE_LIMITS = {"checks_per_minute": 100_000, "checks_per_day": 1_000_000,
               "evaluations_per_minute": 10_000_000, "evaluations_per_day": 100_000_000,
               "import_evaluations_per_minute": 100_000_000,
               "import_evaluations_per_day": 1_000_000_000}
DEADLINE_SECONDS = 5.0
# Targets of issue #15, each a ratio to a floor measured in the same run.
TARGET_P50_RATIO = 1.5  # one-subject check at 25 nodes, p50
TARGET_P99_RATIO = 2.0  # and p99
TARGET_WIDE_P50_RATIO = 2.0  # one-subject check at 400 nodes, p50
TARGET_SUSTAINED_RATE = 0.6  # checks/s under 16 users, share of the floor's fan-outs/s
TARGET_SUSTAINED_P99 = 3.0  # and their p99
# The import's floor is timed on at most this many evaluations and scaled (libsodium's cost
# per evaluation does not depend on the count), so a full run does not spend minutes on it.
FLOOR_SAMPLE = 50_000
HIT_SHARE = 0.1  # share of latency checks for a registered person (a hit at one node)
# The per-user limits of the querying node (node.toml [limits]) would stop the run after 30
# checks; the count query still runs on every check. A check may hold the persons of one
# case, at most MAX_SUBJECTS (20); the bench's group checks use that ceiling.
NODE_SETTINGS = ("[limits]\nchecks_per_user_per_hour = 10000000\n"
                 "checks_per_user_per_day = 10000000\n"
                 f"max_subjects_per_check = {MAX_SUBJECTS}\n")
PURPOSE = STANDARD_PURPOSES[0]  # a category from the network's list
OWN_CASE = "Q-TRIAGE"


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"



def log(message: str) -> None:
    print(f"[bench/check] {message}", file=sys.stderr, flush=True)

