"""Metrics endpoints and JSON logs shared by the coordinator and the node.

Each server owns its own Prometheus registry, so several servers in one process (tests,
the benchmark) do not mix their figures. Labels are node ids, outcomes and phases only:
never case references, users' names, identifiers or tags.
"""

from __future__ import annotations

import json
import logging
import time
from importlib.metadata import PackageNotFoundError, version
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, Info, start_http_server

from samenloop.crypto.pki import certificate_not_after
from samenloop.proto.transport import TlsFiles


def package_version() -> str:
    try:
        return version("samenloop")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


class ProcessMetrics:
    """What every process reports: build, certificate expiry, directory edition."""

    def __init__(self, prefix: str, tls: TlsFiles) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.prefix = prefix
        Info(f"{prefix}_build", "Samenloop version of this process",
             registry=self.registry).info({"version": package_version()})
        cert = Gauge(f"{prefix}_certificate_expiry_seconds",
                     "Seconds until this process's TLS certificate expires",
                     registry=self.registry)
        cert.set_function(lambda: _seconds_left(tls))
        self.directory_serial = Gauge(f"{prefix}_directory_serial",
                                      "Serial of the signed directory in use",
                                      registry=self.registry)
        self.directory_epoch = Gauge(f"{prefix}_directory_epoch",
                                     "Current OPRF key epoch of the directory in use",
                                     registry=self.registry)
        self._http: WSGIServer | None = None

    def serve(self, endpoint: str) -> int:
        """Serve /metrics on host:port (port 0 picks one); returns the port."""
        host, _, port = endpoint.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host, registry=self.registry)
        self._http = server
        return int(server.server_port)

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


def _seconds_left(tls: TlsFiles) -> float:
    try:
        return certificate_not_after(tls.cert.read_bytes()).timestamp() - time.time()
    except (OSError, ValueError):
        return float("nan")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ids travel as fields, never identifiers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("query_id", "node", "request_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.args and isinstance(record.args, tuple):
            # Our log lines name ids as key=value; lift the query id into its own field.
            text = entry["message"]
            for marker in ("query=", "request="):
                if marker in text:
                    entry.setdefault(marker.rstrip("=") + "_id",
                                     text.split(marker, 1)[1].split()[0])
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}


def configure_logging(level: int | None = None, fmt: str | None = None) -> None:
    """Servers log one JSON object per line by default (SAMENLOOP_LOG_FORMAT=text for a
    terminal) at INFO (SAMENLOOP_LOG_LEVEL=debug shows every lookup); the CLI's own
    commands log plain text to stderr."""
    import os
    import sys

    if level is None:
        name = os.environ.get("SAMENLOOP_LOG_LEVEL", "info").lower()
        if name not in LOG_LEVELS:
            raise ValueError(f"SAMENLOOP_LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}, "
                             f"not {name!r}")
        level = LOG_LEVELS[name]
    chosen = (fmt or os.environ.get("SAMENLOOP_LOG_FORMAT", "json")).lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
