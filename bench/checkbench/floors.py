"""The floors: bare gRPC fan-out servers (echo, relay) and the libsodium floor."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pysodium

from samenloop.node.server import answer_time
from samenloop.proto.transport import (
    SERVER_OPTIONS,
    TlsFiles,
    aio_secure_channel,
    server_credentials,
)

# --------------------------------------------------------------------------- floor servers
# Raw bytes over the same mTLS credentials, channel options and grpc.aio servers as the real
# services: the floor is what the transport costs, so any gap is the check's own work.

ECHO_METHOD = "/bench.Echo/Echo"
RELAY_METHOD = "/bench.Relay/Fanout"
Handler = Callable[[bytes, "grpc.aio.ServicerContext[bytes, bytes]"], Awaitable[bytes]]


async def _bytes_server(listen: str, tls: TlsFiles, service: str, method: str,
                        handler: Handler) -> grpc.aio.Server:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        service, {method.rsplit("/", 1)[1]: grpc.unary_unary_rpc_method_handler(handler)}),))
    if not server.add_secure_port(listen, server_credentials(tls)):
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    return server


async def echo_server(listen: str, tls: TlsFiles, response_bytes: int,
                      on_grid: bool = False) -> grpc.aio.Server:
    """A trivial node: returns fixed bytes of the size of a real LookupResponse. With
    `on_grid`, it answers on the node's answer grid the way a node does (the wait in the
    loop's executor, node/server.py): what the privacy rule "hit and no-hit look the same
    from outside" costs by itself, with no registry and no crypto."""
    answer = os.urandom(response_bytes)

    def wait_for_grid(started: float) -> bytes:
        elapsed = time.monotonic() - started
        time.sleep(answer_time(elapsed) - elapsed)
        return answer

    async def echo(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        if on_grid:
            return await asyncio.get_running_loop().run_in_executor(
                None, wait_for_grid, time.monotonic())
        return answer

    return await _bytes_server(listen, tls, "bench.Echo", ECHO_METHOD, echo)


async def relay_server(listen: str, tls: TlsFiles, peers: Sequence[tuple[str, str]],
                       lookup_bytes: int, response_bytes: int, deadline: float
                       ) -> grpc.aio.Server:
    """A trivial coordinator: fans fixed-size bytes out to every peer at once over one kept
    channel each and waits for all with `asyncio.wait`, as `Fanout.lookup_all` does."""
    channels = [aio_secure_channel(endpoint, tls, expected_peer=peer)
                for endpoint, peer in peers]
    # Connect before serving: 400 TLS handshakes at once on 2 cores outlast a first call's
    # connect timeout (CHANNEL_OPTIONS' 200 ms); the real coordinator's channels are warmed
    # by the benchmark's warm-up checks.
    await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)), 120)
    calls = [c.unary_unary(ECHO_METHOD) for c in channels]
    payload = os.urandom(lookup_bytes)
    answer = os.urandom(response_bytes)

    async def fanout(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]
                     ) -> bytes:
        pending = [asyncio.ensure_future(call(payload, timeout=deadline)) for call in calls]
        await asyncio.wait(pending, timeout=deadline + 0.5)
        for done in pending:
            done.result()  # a floor call that fails is no floor
        return answer

    return await _bytes_server(listen, tls, "bench.Relay", RELAY_METHOD, fanout)


async def start_floor(spec: dict[str, Any]) -> list[grpc.aio.Server]:
    """The servers of one floor spec: several echo servers, or the relay."""
    if spec["role"] == "echo":
        return [await echo_server(s["listen"], TlsFiles(*(Path(p) for p in s["tls"])),
                                  spec["response_bytes"], spec.get("on_grid", False))
                for s in spec["servers"]]
    tls = TlsFiles(*(Path(p) for p in spec["tls"]))
    return [await relay_server(spec["listen"], tls, [tuple(p) for p in spec["peers"]],
                               spec["lookup_bytes"], spec["response_bytes"], spec["deadline"])]


@dataclass(frozen=True)
class Sizes:
    """Serialized message sizes of a real one-subject check, for the floor to copy."""

    check_request: int
    lookup_request: int
    lookup_response: int
    check_response: int


def tls_files(root: Path, identity: str) -> TlsFiles:
    pki = root / "pki"
    return TlsFiles(pki / "ca.crt", pki / f"{identity}.crt", pki / f"{identity}.key")


def serve_floor(spec_path: Path) -> None:
    """Subprocess entry: run the floor servers of one spec until SIGTERM."""
    spec = json.loads(spec_path.read_text())

    async def serve() -> None:
        servers = await start_floor(spec)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await asyncio.gather(*(s.stop(0) for s in servers))

    asyncio.run(serve())


def voprf_floor(count: int) -> float:
    """Seconds for the libsodium calls RFC 9497's verifiable mode needs for `count`
    evaluations in one batch, in one thread: hash-to-group, blind, evaluate and unblind
    (three scalar multiplications), the prover's composite (one more and an addition) and
    the verifier's two composites (two more and two additions)."""
    uniform = [os.urandom(64) for _ in range(count)]
    blinds = [pysodium.crypto_core_ristretto255_scalar_random() for _ in range(count)]
    inverses = [pysodium.crypto_core_ristretto255_scalar_invert(b) for b in blinds]
    weights = [pysodium.crypto_core_ristretto255_scalar_random() for _ in range(count)]
    key = pysodium.crypto_core_ristretto255_scalar_random()
    from_hash = pysodium.crypto_core_ristretto255_from_hash
    mul = pysodium.crypto_scalarmult_ristretto255
    add = pysodium.crypto_core_ristretto255_add
    started = time.perf_counter()
    prover = verifier_m = verifier_z = from_hash(uniform[0])
    for u, r, r_inv, d in zip(uniform, blinds, inverses, weights, strict=True):
        blinded = mul(r, from_hash(u))
        evaluated = mul(key, blinded)
        prover = add(prover, mul(d, blinded))
        verifier_m = add(verifier_m, mul(d, blinded))
        verifier_z = add(verifier_z, mul(d, evaluated))
        mul(r_inv, evaluated)
    return time.perf_counter() - started


