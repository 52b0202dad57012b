"""The floors: bare gRPC fan-out servers (echo, relay) and the libsodium floor."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pysodium

from samenloop.proto.transport import (
    SERVER_OPTIONS,
    TlsFiles,
    secure_channel,
    server_credentials,
)

# --------------------------------------------------------------------------- floor servers
# Raw bytes over the same mTLS credentials and channel options as the real services.

ECHO_METHOD = "/bench.Echo/Echo"
RELAY_METHOD = "/bench.Relay/Fanout"


def _bytes_server(listen: str, tls: TlsFiles, service: str, method: str,
                  handler: Callable[[bytes, grpc.ServicerContext], bytes],
                  workers: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        service, {method.rsplit("/", 1)[1]: grpc.unary_unary_rpc_method_handler(handler)}),))
    if not server.add_secure_port(listen, server_credentials(tls)):
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server


def start_echo(listen: str, tls: TlsFiles, response_bytes: int) -> grpc.Server:
    """A trivial node: returns fixed bytes of the size of a real LookupResponse."""
    answer = os.urandom(response_bytes)
    return _bytes_server(listen, tls, "bench.Echo", ECHO_METHOD, lambda _req, _ctx: answer,
                         workers=16)  # as NodeServer


def start_relay(listen: str, tls: TlsFiles, peers: Sequence[tuple[str, str]],
                lookup_bytes: int, response_bytes: int, deadline: float) -> grpc.Server:
    """A trivial coordinator: fans fixed-size bytes out to every peer at once, waits for all."""
    calls = [secure_channel(endpoint, tls, expected_peer=peer).unary_unary(ECHO_METHOD)
             for endpoint, peer in peers]
    payload = os.urandom(lookup_bytes)
    answer = os.urandom(response_bytes)

    def fanout(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        pending = [call.future(payload, timeout=deadline) for call in calls]
        for done in pending:
            done.result()
        return answer

    return _bytes_server(listen, tls, "bench.Relay", RELAY_METHOD, fanout,
                         workers=32)  # as CoordinatorServer


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
    """Subprocess entry: run one floor server (echo or relay) until SIGTERM."""
    spec = json.loads(spec_path.read_text())
    tls = TlsFiles(*(Path(p) for p in spec["tls"]))
    if spec["role"] == "echo":
        server = start_echo(spec["listen"], tls, spec["response_bytes"])
    else:
        server = start_relay(spec["listen"], tls, [tuple(p) for p in spec["peers"]],
                             spec["lookup_bytes"], spec["response_bytes"], spec["deadline"])
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    while not stop[0]:
        time.sleep(0.2)
    server.stop(0).wait()




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


