"""The Spectral CLI (npm @stoplight/spectral-cli, pinned) for linting the OpenAPI document:
installed on first use into a cache directory, with Debian's nodejs and npm installed by apt
when they are missing. Where that cannot work, the test is skipped with a message naming
what is missing (never silently passed)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SPECTRAL_PACKAGE = "@stoplight/spectral-cli"
SPECTRAL_VERSION = "6.16.3"
NPM_CACHE = Path(os.environ.get("SAMENLOOP_NPM_CACHE",
                                Path.home() / ".cache" / "samenloop" / "npm"))
# Spectral's dependencies would report their install to a third party (scarf); they never
# run install scripts here, and these keep them quiet at run time too.
QUIET = {"SCARF_ANALYTICS": "false", "DO_NOT_TRACK": "1", "NO_UPDATE_NOTIFIER": "1"}


def _node_and_npm() -> None:
    """node and npm on PATH, from apt when missing and we may install; else skip."""
    if shutil.which("node") and shutil.which("npm"):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600,
                       env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "nodejs", "npm"],
                       capture_output=True, timeout=900, env=env, check=False)
    missing = [tool for tool in ("node", "npm") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"Spectral lint needs {' and '.join(missing)} (apt-get install nodejs npm "
                    f"did not provide them here)")


def spectral() -> Path:
    """The pinned `spectral` executable, installed into NPM_CACHE once (under a lock, so
    parallel test runs do not install over each other)."""
    prefix = NPM_CACHE / f"spectral-cli-{SPECTRAL_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "spectral"
    if binary.exists():
        return binary
    _node_and_npm()
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    with open(NPM_CACHE / ".spectral.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        building = prefix.with_name(prefix.name + ".partial")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        done = subprocess.run(
            ["npm", "install", "--prefix", str(building), "--ignore-scripts", "--no-audit",
             "--no-fund", "--loglevel=error", f"{SPECTRAL_PACKAGE}@{SPECTRAL_VERSION}"],
            capture_output=True, text=True, timeout=900, env={**os.environ, **QUIET},
            check=False)
        if done.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"Spectral lint needs npm {SPECTRAL_PACKAGE}@{SPECTRAL_VERSION}, "
                        f"which npm could not install: {reason}")
        building.rename(prefix)
    return binary


def lint(document: Path, ruleset: Path) -> list[dict[str, object]]:
    """Spectral's findings (all severities) for `document` against `ruleset`, as JSON."""
    done = subprocess.run(
        [str(spectral()), "lint", "--format", "json", "--quiet", "--ruleset", str(ruleset),
         "--fail-severity", "error", str(document)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **QUIET},
        cwd=document.parent, check=False)
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith("["):
        raise AssertionError(f"spectral failed ({done.returncode}): {done.stderr or done.stdout}")
    findings: list[dict[str, object]] = json.loads(done.stdout)
    return findings
