"""coordinator.toml: what the network operator sets for the coordinator process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from samenloop.crypto.voprf import public_key
from samenloop.proto.configfile import ConfigError, Section, read_key_file
from samenloop.proto.transport import TlsFiles


@dataclass(frozen=True)
class RateLimits:
    """Per node. Evaluations count blinded elements. Imports (many cases at once) have their
    own evaluation budget, so a large import cannot starve checks: `evaluations_*` are the
    checks' evaluations, `import_evaluations_*` the imports'."""

    evaluations_per_minute: int = 100_000
    evaluations_per_day: int = 2_000_000
    checks_per_minute: int = 120
    checks_per_day: int = 20_000
    import_evaluations_per_minute: int = 100_000
    import_evaluations_per_day: int = 4_000_000


@dataclass(frozen=True)
class StoreSettings:
    """Where the audit records and rate-limit windows live. Without `url`: SQLite in
    data_dir, for one replica. With `url = "postgresql://user@host/db"`: PostgreSQL,
    shared by every replica; the password comes from `password_file` (or the URL's
    `passfile`), never from the URL itself, so the config file holds no secret."""

    url: str | None = None
    password_file: Path | None = None


def _store(root: Section) -> StoreSettings:
    section = root.section("store", required=False)
    if not section.has("url"):
        if section.has("password_file"):
            raise ConfigError("store.password_file", "only with store.url")
        return StoreSettings()
    url = section.str("url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ConfigError("store.url", "is not a valid URL") from None
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname \
            or parts.path.strip("/") == "":
        raise ConfigError("store.url", "must be postgresql://user@host[:port]/database")
    if parts.password is not None:
        raise ConfigError("store.url", "must not contain a password; put it in "
                                       "store.password_file (mode 600)")
    password_file = section.secret_file("password_file") if section.has("password_file") \
        else None
    return StoreSettings(url, password_file)


@dataclass(frozen=True)
class CoordinatorConfig:
    listen: str
    data_dir: Path
    directory_file: Path
    directory_verify_key: bytes
    oprf_keys: dict[int, bytes]  # epoch -> skS; none for epochs split over key holders
    tls: TlsFiles
    deadline_seconds: float = 2.0
    rate_limits: RateLimits = RateLimits()
    audit_retention_days: int = 1461
    metrics_listen: str | None = None
    store: StoreSettings = StoreSettings()

    @classmethod
    def load(cls, path: Path) -> CoordinatorConfig:
        root = Section.load(path)
        keys: dict[int, bytes] = {}
        for entry in root.sections("oprf_keys"):
            epoch = entry.int("epoch", 0, minimum=1)
            if epoch in keys:
                raise ConfigError(f"{entry.name}.epoch", f"epoch {epoch} is listed twice")
            keys[epoch] = read_key_file(entry.secret_file("key"), 32, f"{entry.name}.key")
            public_key(keys[epoch])  # refuses a zero or non-canonical scalar early
        limits = root.section("rate_limits", required=False)
        default = RateLimits()
        data_dir = root.path("data_dir", must_exist=False, default="data")
        config = cls(
            listen=root.endpoint("listen", "127.0.0.1:7000"),
            data_dir=data_dir,
            directory_file=root.path("directory"),
            directory_verify_key=root.hex_bytes("directory_public_key", 32),
            oprf_keys=keys,
            tls=root.tls(),
            deadline_seconds=root.float("deadline_seconds", 2.0),
            rate_limits=RateLimits(
                evaluations_per_minute=limits.int(
                    "evaluations_per_minute", default.evaluations_per_minute, minimum=1),
                evaluations_per_day=limits.int(
                    "evaluations_per_day", default.evaluations_per_day, minimum=1),
                checks_per_minute=limits.int(
                    "checks_per_minute", default.checks_per_minute, minimum=1),
                checks_per_day=limits.int("checks_per_day", default.checks_per_day, minimum=1),
                import_evaluations_per_minute=limits.int(
                    "import_evaluations_per_minute", default.import_evaluations_per_minute,
                    minimum=1),
                import_evaluations_per_day=limits.int(
                    "import_evaluations_per_day", default.import_evaluations_per_day,
                    minimum=1),
            ),
            audit_retention_days=root.int("audit_retention_days", 1461, minimum=1),
            metrics_listen=root.endpoint("metrics_listen") if root.has("metrics_listen") else None,
            store=_store(root),
        )
        root.refuse_unknown()
        return config
