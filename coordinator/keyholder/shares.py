"""A key holder's share file and the public-shares file the administrator signs from.

The share file (TOML, mode 0600) holds, per epoch, the Shamir index and the secret share
k_i; nothing else ever holds k_i. The public-shares file is an `[[oprf_keys]]` block of
directory.toml (epoch, combined public key, threshold, every holder's P_i), so the
administrator pastes it in as written; it holds nothing secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from samenloop.crypto import threshold, voprf
from samenloop.proto.configfile import ConfigError, Section, write_secret

SCALAR_BYTES = voprf.SCALAR_BYTES


@dataclass(frozen=True)
class EpochShare:
    """One epoch's share: its Shamir x-coordinate and k_i (never shown by repr)."""

    epoch: int
    index: int
    secret: bytes = field(repr=False)

    @property
    def public_share(self) -> bytes:
        return threshold.public_share(self.secret)


@dataclass(frozen=True)
class ShareFile:
    holder_id: str
    shares: dict[int, EpochShare]  # epoch -> share


def read_share_file(path: Path, field_name: str = "shares") -> ShareFile:
    """Read and check a share file: every secret a canonical non-zero scalar, epochs once.
    Errors name the file and field, never a secret."""
    try:
        return _read_share_file(path, field_name)
    except ConfigError as exc:
        if exc.file:
            raise
        raise ConfigError(exc.field, exc.problem, file=str(path)) from None


def _read_share_file(path: Path, field_name: str) -> ShareFile:
    root = Section.load(path)
    holder_id = root.str("holder_id")
    shares: dict[int, EpochShare] = {}
    for entry in root.sections("shares"):
        epoch = entry.int("epoch", 0, minimum=1)
        if epoch in shares:
            raise ConfigError(f"{entry.name}.epoch", f"epoch {epoch} is listed twice",
                              file=str(path))
        index = entry.int("index", 0, minimum=1, maximum=255)
        try:
            secret = bytes.fromhex(entry.str("secret"))
        except ValueError:
            raise ConfigError(f"{entry.name}.secret", "must be hexadecimal",
                              file=str(path)) from None
        if len(secret) != SCALAR_BYTES:
            raise ConfigError(f"{entry.name}.secret", f"must be {SCALAR_BYTES} bytes",
                              file=str(path))
        try:
            voprf.public_key(secret)
        except voprf.VoprfError:
            raise ConfigError(f"{entry.name}.secret", "is not a valid non-zero scalar",
                              file=str(path)) from None
        shares[epoch] = EpochShare(epoch, index, secret)
    if not shares:
        raise ConfigError(f"{field_name}", f"{path} holds no [[shares]]")
    root.refuse_unknown()
    return ShareFile(holder_id, shares)


def share_file_text(holder_id: str, shares: Iterable[EpochShare]) -> str:
    lines = ["# A key holder's share of split OPRF keys (samenloop keyholder). Secret: keep it",
             "# mode 0600, readable by the key holder service only; back it up offline.",
             f'holder_id = "{holder_id}"', ""]
    for share in sorted(shares, key=lambda s: s.epoch):
        lines += ["[[shares]]", f"epoch = {share.epoch}", f"index = {share.index}",
                  f'secret = "{share.secret.hex()}"', ""]
    return "\n".join(lines)


def write_share_file(path: Path, holder_id: str, shares: Iterable[EpochShare]) -> None:
    """Create the share file 0600 from its first byte; refuses to overwrite one."""
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite a share file")
    write_secret(path, share_file_text(holder_id, shares))


def add_share(path: Path, holder_id: str, share: EpochShare) -> ShareFile:
    """Add a new epoch's share to a holder's existing share file (rotation: the holder keeps
    one file, read by its running service on reload). Refuses another holder's file or an
    epoch it already holds; the file is replaced whole (a temporary file, 0600 from its
    first byte, then a rename), so a crash leaves the old file or the new one."""
    existing = read_share_file(path, "--add-to")
    if existing.holder_id != holder_id:
        raise ConfigError("--add-to", f"{path} holds the shares of {existing.holder_id!r}, "
                          f"not of {holder_id!r}")
    if share.epoch in existing.shares:
        raise ConfigError("--add-to", f"{path} already holds a share of epoch {share.epoch}")
    shares = {**existing.shares, share.epoch: share}
    _replace_share_file(path, holder_id, shares.values())
    return ShareFile(holder_id, shares)


def remove_share(path: Path, holder_id: str, epoch: int) -> ShareFile:
    """Destroy a retired epoch's share: the file is replaced whole without it (a crash
    leaves the old file or the new one). Refuses the last share (a holder serves at least
    one epoch) and an epoch the file does not hold."""
    existing = read_share_file(path, "shares")
    if existing.holder_id != holder_id:
        raise ConfigError("shares", f"{path} holds the shares of {existing.holder_id!r}, "
                          f"not of {holder_id!r}")
    if epoch not in existing.shares:
        held = ", ".join(map(str, sorted(existing.shares)))
        raise ConfigError("--epoch", f"{path} holds no share of epoch {epoch} (it holds "
                          f"{held})")
    if len(existing.shares) == 1:
        raise ConfigError("--epoch", f"epoch {epoch} is the only share in {path}; a key "
                          "holder serves at least one epoch")
    shares = {e: s for e, s in existing.shares.items() if e != epoch}
    _replace_share_file(path, holder_id, shares.values())
    return ShareFile(holder_id, shares)


def _replace_share_file(path: Path, holder_id: str, shares: Iterable[EpochShare]) -> None:
    """Write a temporary file 0600 from its first byte, flush it to disk, rename it over
    the share file."""
    import os

    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        write_secret(temporary, share_file_text(holder_id, shares))
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def public_shares_text(epoch: int, public_key: bytes, threshold: int,
                       public_shares: Mapping[str, tuple[int, bytes]]) -> str:
    """The epoch's `[[oprf_keys]]` block for directory.toml: holder -> (index, P_i)."""
    lines = [f"# Epoch {epoch}, split {threshold} of {len(public_shares)}: paste into "
             "directory.toml (replacing the epoch's", "# [[oprf_keys]] entry), list the "
             "holders under [[key_holders]], raise serial and sign. Nothing here is secret.",
             "[[oprf_keys]]", f"epoch = {epoch}", f'public_key = "{public_key.hex()}"',
             f"threshold = {threshold}", ""]
    for holder_id, (index, share) in sorted(public_shares.items(), key=lambda kv: kv[1][0]):
        lines += ["[[oprf_keys.public_shares]]", f'holder_id = "{holder_id}"',
                  f"index = {index}", f'public_share = "{share.hex()}"', ""]
    return "\n".join(lines)
