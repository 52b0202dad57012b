"""A real PostgreSQL for tests: Debian's `postgresql` (installed with apt when missing), a
fresh cluster in a temporary folder owned by an unprivileged user (postgres refuses to run
as root), on a free loopback port with its unix socket in that folder.

Password authentication over TCP (scram-sha-256), so the coordinator's `password_file`
is exercised as in production."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from samenloop.node.demo import free_port

USER = "samenloop"
DATABASE = "samenloop"


class PostgresMissing(Exception):
    """PostgreSQL cannot be installed or started here; the message says what is missing."""


def _bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return versions[-1] if versions else None


def _install() -> Path:
    """Debian's server binaries, installed with apt if they are not there yet."""
    found = _bin_dir()
    if found is not None:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise PostgresMissing("PostgreSQL (Debian package 'postgresql') is not installed, and "
                              "apt-get as root is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise PostgresMissing(f"'{' '.join(command)}' failed: {done.stderr[-500:]}")
    found = _bin_dir()
    if found is None:
        raise PostgresMissing("apt installed 'postgresql' but no initdb was found under "
                              "/usr/lib/postgresql")
    return found


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresMissing("no unprivileged user (postgres or nobody) to run PostgreSQL as")


@dataclass
class Postgres:
    """A running cluster; `url` has no password (it is in `password_file`)."""

    folder: Path
    port: int
    password_file: Path
    process: subprocess.Popen[bytes]
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def new_database(self, name: str) -> str:
        """A fresh, empty database (one per test), its URL."""
        self._psql(f'CREATE DATABASE "{name}" OWNER {USER}')
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        """Drop the database of `url` under its users' feet (they get errors from now on)."""
        self._psql(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _psql(self, sql: str) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None
        subprocess.run(_as(self.user, [str(bin_dir / "psql"), "-h", str(self.folder),
                                       "-p", str(self.port), "-U", USER, "-d", DATABASE,
                                       "-v", "ON_ERROR_STOP=1", "-c", sql]),
                       check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        shutil.rmtree(self.password_file.parent, ignore_errors=True)


def _as(user: str, command: list[str]) -> list[str]:
    return command if os.geteuid() != 0 else ["runuser", "-u", user, "--", *command]


def start_postgres() -> Postgres:
    """initdb + postgres in a new temporary folder; ready when it accepts connections."""
    bin_dir = _install()
    user = _unprivileged_user() if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    folder = Path(tempfile.mkdtemp(prefix="samenloop-pg-"))
    data = folder / "data"
    password_file = folder / "password"
    password_file.write_text(secrets.token_urlsafe(24) + "\n")
    password_file.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(folder, user)
        shutil.chown(password_file, user)
    folder.chmod(0o700)
    initdb = subprocess.run(
        _as(user, [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
                   "--auth-host=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8",
                   "--no-sync"]),
        capture_output=True, text=True, timeout=120)
    if initdb.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresMissing(f"initdb failed: {initdb.stderr[-500:]}")
    port = free_port()
    log = (folder / "postgres.log").open("wb")
    process = subprocess.Popen(
        _as(user, [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                   "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
                   "-c", "fsync=off", "-c", "max_connections=100"]),
        stdout=log, stderr=subprocess.STDOUT)
    server = Postgres(folder, port, password_file, process, user)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = (folder / "postgres.log").read_text(errors="replace")[-800:]
            shutil.rmtree(folder, ignore_errors=True)
            raise PostgresMissing(f"postgres exited at start: {text}")
        ready = subprocess.run(_as(user, [str(bin_dir / "pg_isready"), "-h", str(folder),
                                          "-p", str(port), "-U", USER]),
                               capture_output=True, timeout=30)
        if ready.returncode == 0:
            subprocess.run(_as(user, [str(bin_dir / "createdb"), "-h", str(folder), "-p",
                                      str(port), "-U", USER, DATABASE]),
                           check=True, capture_output=True, timeout=60)
            # The coordinators (run as root here) read the password from their own copy.
            readable = Path(tempfile.mkdtemp(prefix="samenloop-pgpass-")) / "password"
            readable.write_text(password_file.read_text())
            readable.chmod(0o600)
            server.password_file = readable
            return server
        time.sleep(0.2)
    server.stop()
    raise PostgresMissing("postgres did not accept connections within 60 s")
