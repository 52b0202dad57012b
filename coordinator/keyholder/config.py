"""keyholder.toml: what a key holder's operator sets (English errors naming the field).

The directory comes from a file, verified against the pinned administrator key, rather
than fetched from the coordinator: a key holder is independent of the network operator, so
it takes nothing from the coordinator's process, opens no connection to it, and keeps
serving when the coordinator is down. The signature, not the transport, is what makes a
directory trustworthy; operators put each new edition in place and reload (SIGHUP), and
the service also notices a replaced file by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from samenloop.coordinator.keyholder.shares import ShareFile, read_share_file
from samenloop.crypto.pki import PkiError, certificate_identity
from samenloop.proto.configfile import ConfigError, Section
from samenloop.proto.directory import DirectoryError, validate_node_id
from samenloop.proto.transport import TlsFiles


@dataclass(frozen=True)
class HolderRateLimits:
    """Per node, in blinded elements, like the coordinator's evaluation budgets: a check's
    evaluations and an import's have separate budgets, so an import cannot starve checks."""

    evaluations_per_minute: int = 100_000
    evaluations_per_day: int = 2_000_000
    import_evaluations_per_minute: int = 100_000
    import_evaluations_per_day: int = 4_000_000


@dataclass(frozen=True)
class KeyHolderConfig:
    holder_id: str
    listen: str
    tls: TlsFiles
    share_file: Path
    shares: ShareFile
    directory_file: Path
    directory_verify_key: bytes
    audit_db: Path
    rate_limits: HolderRateLimits = HolderRateLimits()
    audit_retention_days: int = 1461
    metrics_listen: str | None = None

    @classmethod
    def load(cls, path: Path) -> KeyHolderConfig:
        root = Section.load(path)
        holder_id = root.str("holder_id")
        try:
            validate_node_id(holder_id)
        except DirectoryError:
            raise ConfigError("holder_id", "must be 1-63 lower-case letters, digits, '-' or "
                              "'_', as listed in the directory", file=str(path)) from None
        tls = root.tls()
        try:
            identity = certificate_identity(tls.cert.read_bytes())
        except (OSError, ValueError, PkiError):
            raise ConfigError("tls.cert", f"{tls.cert} is not a readable PEM certificate",
                              file=str(path)) from None
        if identity != holder_id:
            raise ConfigError("tls.cert", f"certificate is issued to {identity!r}, not to "
                              f"holder_id {holder_id!r}", file=str(path))
        share_file = root.secret_file("shares")
        shares = read_share_file(share_file)
        if shares.holder_id != holder_id:
            raise ConfigError("shares", f"{share_file} holds the shares of "
                              f"{shares.holder_id!r}, not of {holder_id!r}", file=str(path))
        limits = root.section("rate_limits", required=False)
        default = HolderRateLimits()
        config = cls(
            holder_id=holder_id,
            listen=root.endpoint("listen", "127.0.0.1:7300"),
            tls=tls,
            share_file=share_file,
            shares=shares,
            directory_file=root.path("directory"),
            directory_verify_key=root.hex_bytes("directory_public_key", 32),
            audit_db=root.path("audit_db", must_exist=False,
                               default="data/keyholder-audit.sqlite"),
            rate_limits=HolderRateLimits(
                evaluations_per_minute=limits.int(
                    "evaluations_per_minute", default.evaluations_per_minute, minimum=1),
                evaluations_per_day=limits.int(
                    "evaluations_per_day", default.evaluations_per_day, minimum=1),
                import_evaluations_per_minute=limits.int(
                    "import_evaluations_per_minute", default.import_evaluations_per_minute,
                    minimum=1),
                import_evaluations_per_day=limits.int(
                    "import_evaluations_per_day", default.import_evaluations_per_day,
                    minimum=1),
            ),
            audit_retention_days=root.int("audit_retention_days", 1461, minimum=1),
            metrics_listen=root.endpoint("metrics_listen") if root.has("metrics_listen") else None,
        )
        root.refuse_unknown()
        return config


def config_text(holder_id: str, listen: str, *, ca: str, cert: str, key: str, shares: str,
                directory: str, directory_public_key: bytes, audit_db: str,
                metrics_listen: str | None = None,
                rate_limits: dict[str, int] | None = None) -> str:
    """A keyholder.toml (the demo and tests write theirs with this; paths as given,
    relative ones against the file's folder)."""
    lines = [f'holder_id = "{holder_id}"', f'listen = "{listen}"',
             *([f'metrics_listen = "{metrics_listen}"'] if metrics_listen else []),
             f'shares = "{shares}"', f'directory = "{directory}"',
             f'directory_public_key = "{directory_public_key.hex()}"',
             f'audit_db = "{audit_db}"', "",
             "[tls]", f'ca = "{ca}"', f'cert = "{cert}"', f'key = "{key}"', "",
             "[rate_limits]", *(f"{k} = {v}" for k, v in (rate_limits or {}).items()), ""]
    return "\n".join(lines)
