"""A real Prometheus for tests: find or install promtool/prometheus (Debian's `prometheus`
package), run a server on loopback, and query its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samenloop.node.demo import free_port

_install_attempted: dict[str, str | None] = {}


def find_or_install_prometheus() -> tuple[str | None, str]:
    """(promtool path, "") when available, else (None, why not). Installs Debian's
    `prometheus` package (apt-get update once, then install) when running as root."""
    promtool = shutil.which("promtool")
    if promtool and shutil.which("prometheus"):
        return promtool, ""
    if "result" in _install_attempted:
        why = _install_attempted["result"] or ""
        return shutil.which("promtool"), why
    why: str | None = None
    if shutil.which("apt-get") is None:
        why = "promtool is missing and apt-get is unavailable (install Prometheus' promtool)"
    elif os.geteuid() != 0:
        why = "promtool is missing and not root: run `apt-get install -y prometheus`"
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                         "prometheus"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=600, check=False)
            if done.returncode != 0:
                why = f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}"
                break
        else:
            if not (shutil.which("promtool") and shutil.which("prometheus")):
                why = "the prometheus package installed no promtool/prometheus on PATH"
    _install_attempted["result"] = why
    return (None, why) if why else (shutil.which("promtool"), "")


class PrometheusServer:
    """`prometheus` on 127.0.0.1 with its TSDB in a temporary folder."""

    def __init__(self, config: Path, storage: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = storage.parent / "prometheus.log"
        storage.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [shutil.which("prometheus") or "prometheus",
             f"--config.file={config}", f"--storage.tsdb.path={storage}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=self._log_file, stderr=subprocess.STDOUT)

    def __enter__(self) -> PrometheusServer:
        try:
            self.wait_until(self._ready, 30, "Prometheus to become ready")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log_file.close()

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited ({self.process.returncode}): "
                               f"{self.log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as reply:
            body = json.load(reply)
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    @staticmethod
    def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds} s waiting for {what}")
            time.sleep(0.5)
