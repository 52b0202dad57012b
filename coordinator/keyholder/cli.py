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
