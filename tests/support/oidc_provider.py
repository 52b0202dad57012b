"""A real OpenID provider on loopback for the sign-in tests: npm's `oidc-provider`, a
certified OpenID Connect implementation, run with Debian's nodejs.

The package (pinned) is installed once into a cache directory (~/.cache/samenloop/npm, or
$SAMENLOOP_NPM_CACHE) from the npm registry; nodejs and npm come from apt when missing.
`provider_or_skip` skips a test with a message naming what is missing only when node or
npm cannot be installed or the package cannot be fetched. The provider's issuer is
http://localhost:<port> while the node's web app is http://127.0.0.1:<port>: two sites,
so the browser treats the sign-in's redirects as cross-site, as it will in production.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from samenloop.node.demo import free_port

OIDC_PROVIDER_VERSION = "9.13.3"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CACHE = Path(os.environ.get("SAMENLOOP_NPM_CACHE",
                            Path.home() / ".cache" / "samenloop" / "npm"))


class ProviderMissing(Exception):
    """What could not be installed, for the skip message."""


@dataclass(frozen=True)
class Account:
    """A person at the provider: what the sign-in gets as claims, `acr` and `amr`."""

    password: str
    claims: dict[str, Any]
    acr: str
    amr: tuple[str, ...] = ("pwd",)


@dataclass
class OidcProvider:
    port: int
    process: subprocess.Popen[str]
    accounts: dict[str, Account] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port}"


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages],
                   env=env, capture_output=True, timeout=900, check=False)


def install() -> Path:
    """The directory whose node_modules holds the pinned oidc-provider."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _apt_install("nodejs", "npm")
    for tool, package in (("node", "nodejs"), ("npm", "npm")):
        if shutil.which(tool) is None:
            raise ProviderMissing(f"`{tool}` is not installed and `apt-get install {package}` "
                                  f"did not install it")
    home = CACHE / f"oidc-provider-{OIDC_PROVIDER_VERSION}"
    installed = home / "node_modules" / "oidc-provider" / "package.json"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:  # other test runs may install at the same time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed.exists() or json.loads(installed.read_text())["version"] \
                != OIDC_PROVIDER_VERSION:
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix",
                 str(home), f"oidc-provider@{OIDC_PROVIDER_VERSION}"],
                capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0 or not installed.exists():
                raise ProviderMissing(f"npm could not install oidc-provider@"
                                      f"{OIDC_PROVIDER_VERSION} into {home}: "
                                      f"{done.stderr.strip()[-300:]}")
    # Beside its node_modules, so `import 'oidc-provider'` finds the package.
    script = home / SCRIPT.name
    if not script.exists() or script.read_text() != SCRIPT.read_text():
        script.write_text(SCRIPT.read_text())
    return home


@contextmanager
def running_provider(workdir: Path, *, client: dict[str, Any], accounts: dict[str, Account],
                     acr_values: list[str]) -> Iterator[OidcProvider]:
    """The provider on 127.0.0.1 (issuer http://localhost:<port>), until the block ends."""
    home = install()
    port = free_port()
    config = workdir / "oidc-provider.json"
    config.write_text(json.dumps({
        "issuer": f"http://localhost:{port}", "port": port, "client": client,
        "acr_values": acr_values,
        "accounts": {sub: {"password": a.password, "claims": a.claims, "acr": a.acr,
                           "amr": list(a.amr)} for sub, a in accounts.items()}}))
    process = subprocess.Popen(["node", str(home / SCRIPT.name), str(config)], cwd=home,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    ready = threading.Event()
    lines: list[str] = []

    def watch(stream: Any) -> None:
        for line in stream:
            lines.append(line.rstrip())
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=watch, args=(process.stdout,), daemon=True).start()
    threading.Thread(target=watch, args=(process.stderr,), daemon=True).start()
    try:
        if not ready.wait(120):
            raise RuntimeError("oidc-provider did not start: " + "\n".join(lines[-20:]))
        yield OidcProvider(port, process, accounts)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def provider_or_skip(workdir: Path, **kwargs: Any) -> Any:
    """`running_provider`, or a skip naming what is missing (node, npm, the package)."""
    try:
        install()
    except ProviderMissing as exc:
        pytest.skip(f"no OpenID provider for the sign-in tests: {exc}")
    return running_provider(workdir, **kwargs)
