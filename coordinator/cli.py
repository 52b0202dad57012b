"""`samenloop coordinator|pki|directory ...`: the network operator's commands."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from samenloop.crypto import pki, signature, voprf
from samenloop.proto import directory as directory_mod
from samenloop.proto.configfile import ConfigError, Section, write_secret

coordinator_app = typer.Typer(help="Run the coordinator and manage its OPRF key.",
                              no_args_is_help=True)
pki_app = typer.Typer(help="The network CA: node CSRs signed, demo and coordinator "
                           "certificates issued.",
                      no_args_is_help=True)
directory_app = typer.Typer(help="The signed node directory.", no_args_is_help=True)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


# ---------------------------------------------------------------- coordinator


@coordinator_app.command("keygen")
def coordinator_keygen(
    out: Annotated[Path, typer.Option(help="key file to create (mode 0600)")],
) -> None:
    """Create a VOPRF key for a new epoch; prints its public key for the directory."""
    if out.exists():
        raise fail(f"{out} exists; refusing to overwrite a key")
    sk, pk = voprf.generate_key_pair(voprf.Mode.VOPRF)
    write_secret(out, sk.hex() + "\n")
    typer.echo(pk.hex())


@coordinator_app.command("rotate-key")
def coordinator_rotate_key(
    config: Annotated[Path, typer.Option(help="coordinator.toml")],
) -> None:
    """Create the OPRF key of the next epoch and print the runbook steps. On a network
    whose key is split over key holders (#13) it refuses: the coordinator must not hold
    the next key; the holders generate it without a dealer."""
    from samenloop.coordinator.config import CoordinatorConfig

    try:
        current = CoordinatorConfig.load(config)
        directory = directory_mod.parse_file(current.directory_file.read_bytes(),
                                             current.directory_verify_key)
    except (ConfigError, directory_mod.DirectoryError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"directory: cannot read {exc.filename} ({exc.strerror})") from None
    epoch = max((*directory.oprf_keys, *current.oprf_keys)) + 1
    if directory.key_splits or not current.oprf_keys:
        split = ", ".join(map(str, sorted(directory.key_splits))) or "none"
        raise fail(f"the directory (serial {directory.serial}) splits the OPRF key over key "
                   f"holders (split epochs: {split}); the coordinator must not hold epoch "
                   f"{epoch}'s key. The key holders generate it without a dealer: `samenloop "
                   f"keyholder dkg keygen`, `deal`, `finish --add-to` (README, 'Rotating a "
                   "split network')")
    out = config.resolve().parent / "keys" / f"oprf-epoch-{epoch}.key"
    if out.exists():
        raise fail(f"{out} exists; refusing to overwrite a key")
    sk, pk = voprf.generate_key_pair(voprf.Mode.VOPRF)
    write_secret(out, sk.hex() + "\n")
    typer.echo(f"""created {out} (epoch {epoch})

1. Add to {config.name}:
     [[oprf_keys]]
     epoch = {epoch}
     key = "{out}"
2. Add to directory.toml, set current_epoch = {epoch} and raise serial:
     [[oprf_keys]]
     epoch = {epoch}
     public_key = "{pk.hex()}"
   then `samenloop directory sign` and put the new directory.pb in place.
3. `systemctl reload samenloop-coordinator` (SIGHUP). Nodes pick the directory up within a
   minute; checks ask every listed epoch, so hits keep being found.
4. Every node re-imports (`samenloop node import ... --sync`): its tags move to epoch {epoch}.
5. When every node has re-imported (and check_registration_grace_days have passed),
   remove the old epoch from directory.toml and coordinator.toml, raise serial, sign,
   reload. Nodes delete the tags of the retired epoch.""")
@coordinator_app.command("serve")
def coordinator_serve(
    config: Annotated[Path, typer.Option(help="coordinator.toml")],
) -> None:
    """Run the coordinator until SIGINT or SIGTERM."""
    from samenloop.coordinator.config import CoordinatorConfig
    from samenloop.coordinator.server import CoordinatorServer
    from samenloop.coordinator.store import StoreUnavailable
    from samenloop.proto.observability import configure_logging

    try:
        configure_logging()
    except ValueError as exc:  # a bad SAMENLOOP_LOG_LEVEL
        raise fail(str(exc)) from None
    try:
        server = CoordinatorServer(CoordinatorConfig.load(config), config_path=config)
    except (ConfigError, directory_mod.DirectoryError, ValueError, OSError,
            StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    server.start()
    serve_until_signalled(server.stop, server.reload)


@coordinator_app.command("audit")
def coordinator_audit(
    config: Annotated[Path, typer.Option(help="coordinator.toml")],
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="newest records to show")] = 50,
) -> None:
    """Print the newest audit records of the coordinator's store (of every replica when
    they share PostgreSQL): who asked when, never what."""
    from samenloop.coordinator.config import CoordinatorConfig
    from samenloop.coordinator.store import StoreUnavailable, open_store

    try:
        store = open_store(CoordinatorConfig.load(config))
    except (ConfigError, ValueError, OSError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    try:
        records = store.records(limit)
        total = store.count()
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
    for r in reversed(records):
        at = dt.datetime.fromtimestamp(r.at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        purpose = f" purpose={r.purpose}" if r.purpose else ""
        typer.echo(f"{at} {r.kind:8} node={r.node_id} request={r.request_id} count={r.count} "
                   f"outcome={r.outcome} reached={r.nodes_reached}{purpose}")
    typer.echo(f"{len(records)} of {total} record(s)")


def serve_until_signalled(stop: Callable[[], None],
                          reload: Callable[[], None] | None = None) -> None:
    """Block until SIGINT/SIGTERM, then stop cleanly (systemd and Ctrl-C alike); SIGHUP
    reloads (`systemctl reload`), keeping the old state if the new one is refused."""
    import logging

    log = logging.getLogger("samenloop")
    done = threading.Event()
    hup = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if reload is not None:
        signal.signal(signal.SIGHUP, lambda *_: hup.set())
    while not done.wait(0.5):
        if reload is not None and hup.is_set():
            hup.clear()
            try:
                reload()
            except Exception as exc:
                log.error("reload refused, keeping the running configuration: %s", exc)
    stop()


# ---------------------------------------------------------------- pki


@pki_app.command("init")
def pki_init(
    dir: Annotated[Path, typer.Option(help="folder for the CA files")] = Path("pki"),
    network: Annotated[str, typer.Option(help="network name")] = "samenloop",
) -> None:
    """Create a network CA (ca.key, ca.crt)."""
    if (dir / "ca.key").exists():
        raise fail(f"{dir / 'ca.key'} exists; refusing to overwrite the CA")
    key, cert = pki.new_ca(network, now=dt.datetime.now(dt.UTC))
    write_secret(dir / "ca.key", key)
    (dir / "ca.crt").write_bytes(cert)
    typer.echo(f"created {dir / 'ca.crt'}")


@pki_app.command("issue")
def pki_issue(
    dir: Annotated[Path, typer.Option(help="folder with ca.key and ca.crt")] = Path("pki"),
    node: Annotated[str | None, typer.Option(help="node id to issue for")] = None,
    coordinator: Annotated[bool, typer.Option("--coordinator", help="issue for the coordinator")
                           ] = False,
    host: Annotated[list[str] | None, typer.Option(help="extra DNS name or IP (repeatable)")
                    ] = None,
    days: Annotated[int, typer.Option(min=1, max=825)] = 365,
) -> None:
    """Issue a key and certificate for a node or the coordinator (ID.key, ID.crt)."""
    if bool(node) == coordinator:
        raise fail("give exactly one of --node ID or --coordinator")
    identity = pki.COORDINATOR if coordinator else str(node)
    if not coordinator:
        try:
            directory_mod.validate_node_id(identity)
        except directory_mod.DirectoryError as exc:
            raise fail(str(exc)) from None
    try:
        key, cert = pki.issue((dir / "ca.key").read_bytes(), (dir / "ca.crt").read_bytes(),
                              identity, now=dt.datetime.now(dt.UTC),
                              hosts=("localhost", "127.0.0.1", *(host or [])), days=days)
    except OSError as exc:
        raise fail(f"cannot read the CA in {dir}: {exc.strerror}") from None
    write_secret(dir / f"{identity}.key", key)
    (dir / f"{identity}.crt").write_bytes(cert)
    typer.echo(f"issued {dir / f'{identity}.crt'} for {identity}")


@pki_app.command("sign")
def pki_sign(
    csr: Annotated[Path, typer.Option(help="the node's CSR from `samenloop node csr`")],
    out: Annotated[Path, typer.Option(help="certificate to write for the node")],
    dir: Annotated[Path, typer.Option(help="folder with ca.key and ca.crt")] = Path("pki"),
    host: Annotated[list[str] | None, typer.Option(help="extra DNS name or IP (repeatable)")
                    ] = None,
    days: Annotated[int, typer.Option(min=1, max=825)] = 365,
) -> None:
    """Sign a node's certificate signing request with the network CA: its key stays at the
    node. Refuses a CSR that is not for a valid node id or asks for anything else."""
    try:
        request = csr.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {csr}: {exc.strerror}") from None
    try:
        identity = directory_mod.validate_node_id(pki.csr_identity(request))
    except (pki.PkiError, directory_mod.DirectoryError) as exc:
        raise fail(f"{csr}: {exc}") from None
    try:
        ca_key, ca_cert = (dir / "ca.key").read_bytes(), (dir / "ca.crt").read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the CA in {dir}: {exc.strerror}") from None
    cert = pki.sign_csr(ca_key, ca_cert, request, identity, now=dt.datetime.now(dt.UTC),
                        hosts=tuple(host or ()), days=days)
    out.write_bytes(cert)
    typer.echo(f"signed {out} for node {identity}, valid for {days} days; send it to the "
               "node with ca.crt")


# ---------------------------------------------------------------- directory


@directory_app.command("keygen")
def directory_keygen(
    out: Annotated[Path, typer.Option(help="administrator signing key to create (mode 0600)")],
) -> None:
    """Create the network administrator's Ed25519 key; prints the public key every process
    pins (directory_public_key)."""
    if out.exists():
        raise fail(f"{out} exists; refusing to overwrite a key")
    seed, verify = signature.generate_signing_key()
    write_secret(out, seed.hex() + "\n")
    typer.echo(verify.hex())


def sign_from_file(spec: Path, key_file: Path, out: Path, now: int) -> directory_mod.NodeDirectory:
    """Sign the directory described by a TOML file (see deploy/examples/directory.toml)."""
    from samenloop.proto.configfile import read_key_file

    root = Section.load(spec)
    nodes = [directory_mod.DirectoryNode(
        node_id=n.str("node_id"), display_name=n.str("display_name"),
        endpoint=n.endpoint("endpoint"), box_public_key=n.hex_bytes("box_public_key", 32))
        for n in root.sections("nodes")]
    keys: dict[int, bytes] = {}
    splits: dict[int, directory_mod.KeySplit] = {}
    for k in root.sections("oprf_keys"):
        epoch = k.int("epoch", 0, minimum=1)
        keys[epoch] = k.hex_bytes("public_key", 32)
        # A split epoch (#13): the entry `samenloop keyholder split` / `dkg finish` wrote.
        if k.has("threshold") or k.has("public_shares"):
            splits[epoch] = directory_mod.KeySplit(
                k.int("threshold", 0, minimum=1, maximum=255),
                tuple(directory_mod.PublicShare(
                    s.str("holder_id"), s.int("index", 0, minimum=1, maximum=255),
                    s.hex_bytes("public_share", 32)) for s in k.sections("public_shares")))
    holders = [directory_mod.KeyHolder(
        holder_id=h.str("holder_id"), display_name=h.str("display_name"),
        endpoint=h.endpoint("endpoint")) for h in root.sections("key_holders")]
    signing_key = read_key_file(key_file, 32, "--key")
    network, serial = root.str("network"), root.int("serial", 1, minimum=1)
    current_epoch = root.int("current_epoch", 1, minimum=1)
    bsn_enabled = root.bool("bsn_enabled", False)
    versions = root.value("match_key_versions", list(directory_mod.DEFAULT_MATCH_KEY_VERSIONS))
    if not isinstance(versions, list):
        raise ConfigError("match_key_versions", "must be a list such as [1] or [1, 2]")
    root.refuse_unknown()
    signed = directory_mod.build(
        network=network, serial=serial, issued_at=now,
        nodes=nodes, oprf_keys=keys, current_epoch=current_epoch, signing_key=signing_key,
        bsn_enabled=bsn_enabled, match_key_versions=versions, key_holders=holders,
        key_splits=splits)
    out.write_bytes(signed.SerializeToString())
    return directory_mod.verify(signed, signature.verify_key_of(signing_key))


@directory_app.command("sign")
def directory_sign(
    spec: Annotated[Path, typer.Option(help="directory.toml listing nodes and OPRF keys")],
    key: Annotated[Path, typer.Option(help="administrator signing key")],
    out: Annotated[Path, typer.Option(help="signed directory to write")] = Path("directory.pb"),
) -> None:
    """Validate and sign the node directory."""
    try:
        signed = sign_from_file(spec, key, out, int(dt.datetime.now(dt.UTC).timestamp()))
    except (ConfigError, directory_mod.DirectoryError, signature.SignatureError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"signed directory serial {signed.serial}: {len(signed.nodes)} nodes, "
               f"epoch {signed.current_epoch} -> {out}")


@directory_app.command("show")
def directory_show(
    file: Annotated[Path, typer.Argument(help="signed directory")],
    public_key: Annotated[str, typer.Option(help="administrator public key (hex)")],
) -> None:
    """Verify a signed directory and print it."""
    try:
        d = directory_mod.parse_file(file.read_bytes(), bytes.fromhex(public_key))
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"network {d.network}, serial {d.serial}, current epoch {d.current_epoch}, "
               f"BSN matching {'on' if d.bsn_enabled else 'off'}, "
               f"match key versions {', '.join(map(str, d.match_key_versions))}")
    for epoch, pk in sorted(d.oprf_keys.items()):
        typer.echo(f"  oprf epoch {epoch}: {pk.hex()}")
    for epoch, split in sorted(d.key_splits.items()):
        typer.echo(f"  epoch {epoch} split {split.threshold} of {len(split.shares)}: "
                   + ", ".join(f"{s.holder_id} (index {s.index})" for s in split.shares))
    for n in d.nodes:
        typer.echo(f"  {n.node_id:28} {n.endpoint:22} {n.display_name}")
    for h in d.key_holders:
        typer.echo(f"  key holder {h.holder_id:17} {h.endpoint:22} {h.display_name}")
