"""Mutation testing of the modules whose refusals matter most, each against its own tests.

Why a staging folder: mutmut names a mutant after the file's path (crypto/voprf.py is
`crypto.voprf`) and imports the copy it mutated from `mutants/`, but the package maps
`samenloop.crypto` onto `crypto/`, so run in place no mutant would ever be called. The strict
editable install (`build/__editable__.*`) already lays the package out under its real names;
a copy of that tree, with the tests, is a folder mutmut understands as it is.

Each module gets its own folder and run, bounded by --timeout; a run cut short reports the
mutants it finished. Scores go to stdout as the rows of the table in bench/README.md.
Run with `make mutation` (installs the `mutation` extra).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGING = REPO / "build" / "mutation"

# module file in the package -> its own tests (the refusal tables included).
MODULES: dict[str, tuple[str, ...]] = {
    "crypto/voprf.py": ("tests/crypto/test_voprf.py", "tests/crypto/test_refusals.py"),
    "crypto/_common.py": ("tests/crypto/test_voprf.py", "tests/crypto/test_refusals.py",
                          "tests/crypto/test_threshold.py"),
    "crypto/threshold.py": ("tests/crypto/test_threshold.py",),
    "crypto/dkg.py": ("tests/crypto/test_dkg.py",),
    "crypto/identity.py": ("tests/crypto/test_identity.py", "tests/crypto/test_refusals.py"),
    "crypto/seal.py": ("tests/crypto/test_seal_tags.py", "tests/crypto/test_refusals.py"),
    "crypto/tags.py": ("tests/crypto/test_seal_tags.py", "tests/crypto/test_refusals.py"),
    "node/lookup.py": ("tests/test_lookup.py", "tests/test_refusals.py"),
}


def installed_tree() -> Path:
    """The `samenloop` folder of the strict editable install (links to the sources)."""
    spec = importlib.util.find_spec("samenloop.crypto")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("samenloop is not installed: run `make mutation`")
    tree = Path(next(iter(spec.submodule_search_locations))).parent
    if not (tree / "crypto").is_symlink() and not (tree / "crypto" / "voprf.py").is_symlink():
        sys.exit(f"{tree} is not a strict editable install: run `make mutation`")
    return tree


def toml_value(value: object) -> str:
    """Strings, numbers and lists of strings: their JSON spelling is valid TOML."""
    return json.dumps(value)


def stage(module: str, tests: tuple[str, ...], tree: Path) -> Path:
    """A fresh folder with the package under its real names, the tests and a config."""
    folder = STAGING / module.replace("/", "-").removesuffix(".py")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(tree, folder / "samenloop", symlinks=False, ignore=skip)
    shutil.copytree(REPO / "tests", folder / "tests", ignore=skip)
    # tests/crypto/test_voprf.py reads the RFC vectors from ../shared beside the repository.
    shared = REPO.parent / "shared"
    if shared.exists():
        (folder / "shared").symlink_to(shared)
    pytest_options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]
    selection = [t for t in tests if (REPO / t).exists()]
    lines = [
        "[tool.mutmut]",
        'source_paths = ["samenloop"]',
        f"only_mutate = {toml_value(['samenloop/' + module])}",
        f"pytest_add_cli_args_test_selection = {toml_value(selection)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]',
        # gRPC is not fork-safe: workers fork from a server that never ran a test.
        'process_isolation = "forkserver"',
        "",
        "[tool.pytest.ini_options]",
        *(f"{key} = {toml_value(value)}" for key, value in pytest_options.items()
          if key != "testpaths"),
        # mutmut hands pytest the node ids it collected; pytest escapes non-ASCII in ids
        # ("Súdwest-Fryslân"), finds no such test and every mutant of identity.py would
        # count as a timeout (that is: killed) without any test having run.
        "disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true",
    ]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return folder


def mutmut(folder: Path, *args: str, timeout: float | None = None) -> bool:
    """Run mutmut in `folder`; False when it was stopped at the time limit."""
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    with open(folder / "mutmut.log", "a") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return False
    return True


def score(folder: Path) -> dict[str, int]:
    mutmut(folder, "export-cicd-stats", timeout=120)
    stats_file = folder / "mutants" / "mutmut-cicd-stats.json"
    if not stats_file.exists():
        return {}
    stats: dict[str, int] = json.loads(stats_file.read_text())
    return stats


def survivors(folder: Path) -> list[str]:
    """Names of the surviving mutants (`mutmut show NAME` in the folder shows the diff)."""
    mutmut(folder, "results", timeout=120)
    log = (folder / "mutmut.log").read_text(errors="replace")
    return sorted({line.split(":")[0].strip() for line in log.splitlines()
                   if line.strip().endswith(": survived")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES),
                        help="package files, e.g. crypto/voprf.py (default: all)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds per module before the run is cut short (default 900)")
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        sys.exit(f"unknown module(s) {unknown}; choose from {list(MODULES)}")
    tree = installed_tree()
    today = dt.date.today().isoformat()
    print("| module | mutants | killed (by timeout) | survived | score | date |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for module in args.modules:
        folder = stage(module, MODULES[module], tree)
        started = time.monotonic()
        finished = mutmut(folder, "run", "--max-children", str(args.max_children),
                          timeout=args.timeout)
        took = time.monotonic() - started
        stats = score(folder)
        if not stats:
            print(f"| {module} | mutmut failed, see {folder / 'mutmut.log'} | | | | {today} |",
                  flush=True)
            continue
        # A mutant the tests stop by timing out or crashing counts as killed.
        killed = stats["killed"] + stats["timeout"] + stats["segfault"]
        tested = killed + stats["survived"] + stats["suspicious"] + stats["no_tests"]
        note = "" if finished else f" (cut short after {took:.0f} s)"
        rate = f"{100 * killed / tested:.0f}%" if tested else "-"
        print(f"| {module} | {tested} | {killed} ({stats['timeout']}) | {stats['survived']} "
              f"| {rate}{note} | {today} |", flush=True)
        (folder / "survivors.txt").write_text("\n".join(survivors(folder)) + "\n")


if __name__ == "__main__":
    main()
