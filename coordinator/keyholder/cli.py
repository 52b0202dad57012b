"""`samenloop keyholder ...`: a key holder's commands (English, for operators).

serve: the KeyHolder gRPC service. split: share an existing epoch key among holders (a
trusted dealer, offline, for migrating a running network: its tags stay valid). dkg deal /
dkg finish: a new epoch's key generated jointly, without a dealer, over files.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from samenloop.proto.configfile import ConfigError

if TYPE_CHECKING:
    from samenloop.coordinator.keyholder.ceremony import Ceremony
    from samenloop.coordinator.keyholder.server import KeyHolderServer

keyholder_app = typer.Typer(help="Run a key holder and take part in key ceremonies (#13).",
                            no_args_is_help=True)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@keyholder_app.command("serve")
def keyholder_serve(
    config: Annotated[Path, typer.Option(help="keyholder.toml")],
) -> None:
    """Run the key holder until SIGINT or SIGTERM (SIGHUP reloads config, shares and
    directory)."""
    from samenloop.coordinator.keyholder.config import KeyHolderConfig
    from samenloop.coordinator.keyholder.server import KeyHolderServer
    from samenloop.proto.directory import DirectoryError
    from samenloop.proto.observability import configure_logging

    try:
        configure_logging()
    except ValueError as exc:  # a bad SAMENLOOP_LOG_LEVEL
        raise fail(str(exc)) from None
    try:
        holder = KeyHolderServer(KeyHolderConfig.load(config), config_path=config)
    except (ConfigError, DirectoryError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    asyncio.run(_serve_until_signalled(holder))


async def _serve_until_signalled(holder: KeyHolderServer) -> None:
    """Start, serve until SIGINT/SIGTERM, then stop gracefully (NOT_SERVING first, running
    calls finish); SIGHUP reloads, keeping the running state if the new one is refused."""
    import logging

    log = logging.getLogger("samenloop.keyholder")
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def reload() -> None:
        try:
            holder.reload()
        except Exception as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    await holder.start()
    await done.wait()
    log.info("stopping: finishing running calls")
    await holder.stop(grace=5.0)


# ---------------------------------------------------------------- trusted-dealer split


@keyholder_app.command("split")
def keyholder_split(
    key: Annotated[Path, typer.Option(help="the epoch's OPRF key file, as the coordinator "
                                           "stores it (hex, mode 0600)")],
    threshold: Annotated[int, typer.Option(help="how many holders evaluate together (t)")],
    holders: Annotated[str, typer.Option(help="holder ids, comma-separated: index 1, 2, ... "
                                              "in this order")],
    out: Annotated[Path, typer.Option(help="folder for one share file per holder and the "
                                           "public-shares file")],
    epoch: Annotated[int, typer.Option(min=1, help="the key's epoch")] = 1,
) -> None:
    """Split an existing epoch key t of n (trusted dealer, offline; for migrating a running
    network: tags stay valid). Writes HOLDER.share (0600) per holder and
    public-shares-epoch-E.toml for directory.toml."""
    from samenloop.coordinator.keyholder.ceremony import CeremonyError, split
    from samenloop.coordinator.keyholder.shares import write_share_file
    from samenloop.proto.configfile import read_key_file

    names = [h.strip() for h in holders.split(",") if h.strip()]
    try:
        secret = read_key_file(key, 32, "--key")
        result = split(secret, epoch, threshold, names)
    except (ConfigError, CeremonyError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"--key: cannot read {key} ({exc.strerror})") from None
    targets = [out / f"{h}.share" for h in names]
    public = out / f"public-shares-epoch-{epoch}.toml"
    existing = [p for p in (*targets, public) if p.exists()]
    if existing:
        raise fail(f"--out: {existing[0]} exists; refusing to overwrite")
    for holder_id, target in zip(names, targets, strict=True):
        write_share_file(target, holder_id, [result.shares[holder_id]])
    public.write_text(result.public_shares_text, encoding="utf-8")
    typer.echo(f"split epoch {epoch} key {threshold} of {len(names)}; public key "
               f"{result.public_key.hex()} (unchanged: tags stay valid)")
    for holder_id, target in zip(names, targets, strict=True):
        typer.echo(f"  {target}: for {holder_id} only (index {result.shares[holder_id].index})")
    typer.echo(f"  {public}: paste into directory.toml, list the holders, sign.\n"
               f"Once every holder serves and the signed directory is out, destroy {key} and "
               "these share files: then nobody holds the whole key.")


@keyholder_app.command("retire-share")
def keyholder_retire_share(
    config: Annotated[Path, typer.Option(help="keyholder.toml (names the share file and the "
                                              "signed directory)")],
    epoch: Annotated[int, typer.Option(min=1, help="the retired epoch")],
) -> None:
    """Destroy a retired epoch's share in this holder's share file, once the signed
    directory no longer lists the epoch (the last step of a rotation). The running
    service takes the file within 15 s."""
    from samenloop.coordinator.keyholder.config import KeyHolderConfig
    from samenloop.coordinator.keyholder.shares import remove_share
    from samenloop.proto.directory import DirectoryError, parse_file

    try:
        loaded = KeyHolderConfig.load(config)
        directory = parse_file(loaded.directory_file.read_bytes(), loaded.directory_verify_key)
        if epoch in directory.oprf_keys:
            raise fail(f"--epoch: epoch {epoch} is still listed in the directory (serial "
                       f"{directory.serial}); it can be retired once a directory without it "
                       "is signed and in place")
        left = remove_share(loaded.share_file, loaded.holder_id, epoch)
    except (ConfigError, DirectoryError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read or write {exc.filename} ({exc.strerror})") from None
    typer.echo(f"removed the share of epoch {epoch} from {loaded.share_file}; epochs held: "
               f"{', '.join(map(str, sorted(left.shares)))}. Destroy backups of it too.")


# ---------------------------------------------------------------- DKG

dkg_app = typer.Typer(help="Generate a new epoch's key jointly, without a dealer: nobody "
                           "ever holds it whole.", no_args_is_help=True)
keyholder_app.add_typer(dkg_app, name="dkg")


@dkg_app.command("keygen")
def dkg_keygen(
    out: Annotated[Path, typer.Option(help="X25519 box key file to create (mode 0600)")],
) -> None:
    """Create this holder's box key for ceremonies; prints the public key for
    ceremony.toml."""
    from samenloop.crypto import seal
    from samenloop.proto.configfile import write_secret

    if out.exists():
        raise fail(f"{out} exists; refusing to overwrite a key")
    secret, public = seal.generate_box_key_pair()
    write_secret(out, secret.hex() + "\n")
    typer.echo(public.hex())


def _ceremony_inputs(ceremony: Path, box_key: Path) -> tuple[Ceremony, bytes]:
    from samenloop.coordinator.keyholder.ceremony import Ceremony
    from samenloop.proto.configfile import read_key_file

    try:
        if box_key.stat().st_mode & 0o077:
            raise fail(f"--box-key: {box_key} must not be readable by group or others "
                       "(chmod 600)")
        return Ceremony.load(ceremony), read_key_file(box_key, 32, "--box-key")
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read {exc.filename} ({exc.strerror})") from None


@dkg_app.command("deal")
def dkg_deal(
    ceremony: Annotated[Path, typer.Option(help="ceremony.toml: epoch, threshold, holders")],
    holder: Annotated[str, typer.Option(help="my holder id")],
    box_key: Annotated[Path, typer.Option(help="my box key (from `dkg keygen`)")],
    out: Annotated[Path, typer.Option(help="folder to write HOLDER.dealing.toml into")],
) -> None:
    """Deal: my commitments and every holder's share of my random polynomial, sealed to
    that holder. Give the file to every holder; the polynomial is not kept."""
    from samenloop.coordinator.keyholder.ceremony import CeremonyError, deal_text

    loaded, secret = _ceremony_inputs(ceremony, box_key)
    target = out / f"{holder}.dealing.toml"
    if target.exists():
        raise fail(f"--out: {target} exists; refusing to overwrite")
    try:
        text = deal_text(loaded, holder, secret)
    except CeremonyError as exc:
        raise fail(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    typer.echo(f"dealt {target}: give it to every holder of epoch {loaded.epoch}")


@dkg_app.command("finish")
def dkg_finish(
    ceremony: Annotated[Path, typer.Option(help="ceremony.toml: epoch, threshold, holders")],
    holder: Annotated[str, typer.Option(help="my holder id")],
    box_key: Annotated[Path, typer.Option(help="my box key (from `dkg keygen`)")],
    dealings: Annotated[Path, typer.Option(help="folder with every holder's dealing")],
    out: Annotated[Path, typer.Option(help="folder for my share file and the public shares")],
    add_to: Annotated[Path | None, typer.Option(
        help="my existing share file (the one keyholder.toml names): add this epoch's "
             "share to it instead of writing HOLDER.share; for rotating to a new epoch")
    ] = None,
) -> None:
    """Verify every dealing addressed to me, then write my share (HOLDER.share, 0600, or
    added to --add-to) and the epoch's public shares. A bad dealing is refused naming its
    dealer."""
    from samenloop.coordinator.keyholder.ceremony import CeremonyError, finish
    from samenloop.coordinator.keyholder.shares import (
        add_share,
        read_share_file,
        write_share_file,
    )

    loaded, secret = _ceremony_inputs(ceremony, box_key)
    share_file = add_to or out / f"{holder}.share"
    public = out / f"public-shares-epoch-{loaded.epoch}.toml"
    existing = [p for p in ((public,) if add_to else (share_file, public)) if p.exists()]
    if existing:
        raise fail(f"--out: {existing[0]} exists; refusing to overwrite")
    try:
        if add_to is not None:  # refuse before the ceremony's work, and change nothing
            current = read_share_file(add_to, "--add-to")
            if current.holder_id != holder:
                raise ConfigError("--add-to", f"{add_to} holds the shares of "
                                  f"{current.holder_id!r}, not of {holder!r}")
            if loaded.epoch in current.shares:
                raise ConfigError("--add-to", f"{add_to} already holds a share of epoch "
                                  f"{loaded.epoch}")
        done = finish(loaded, holder, secret, dealings)
        if add_to is not None:
            add_share(add_to, holder, done.share)
        else:
            write_share_file(share_file, holder, [done.share])
    except (CeremonyError, ConfigError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {exc.filename} ({exc.strerror})") from None
    out.mkdir(parents=True, exist_ok=True)
    public.write_text(done.public_shares_text, encoding="utf-8")
    added = " (added; reload the key holder)" if add_to else ""
    typer.echo(f"epoch {loaded.epoch}: my share (index {done.share.index}) in {share_file}"
               f"{added}; "
               f"public key {done.public_key.hex()}; public shares in {public}.\n"
               f"Fingerprint of all commitments: {done.fingerprint}\n"
               "Compare it with every other holder before the directory is signed.")
