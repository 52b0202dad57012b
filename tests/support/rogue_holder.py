"""A key holder under the test's control, put at a real holder's endpoint: it answers
honestly or lies in one chosen way, and counts the calls that reached it.

Lies a node must catch (tests/test_key_holders.py): a wrong share with a proof that is
valid for that wrong share (`wrong_share`), the right share with a broken proof
(`bad_proof`), an earlier answer replayed (`replay`), an answer in another holder's name
(`other_holder`). It runs on the synchronous gRPC server with the same mutual TLS as the
real one (proto/transport.py); only its answers differ.
"""

from __future__ import annotations

import threading
from concurrent import futures
from pathlib import Path

import grpc
import pysodium

from samenloop.crypto import threshold
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import SERVER_OPTIONS, TlsFiles, server_credentials

MODES = ("honest", "wrong_share", "bad_proof", "replay", "other_holder")


class RogueHolder(pb_grpc.KeyHolderServicer):
    def __init__(self, holder_id: str, secret: bytes, mode: str = "honest") -> None:
        assert mode in MODES, mode
        self.holder_id = holder_id
        self.secret = secret
        self.mode = mode
        self.calls = 0
        self.first: pb.EvaluateShareResponse | None = None
        self.lock = threading.Lock()
        self.server: grpc.Server | None = None

    def EvaluateShare(self, request: pb.EvaluateShareRequest,
                      context: grpc.ServicerContext) -> pb.EvaluateShareResponse:
        with self.lock:
            self.calls += 1
        blinded = [bytes(b) for b in request.blinded_elements]
        secret = (pysodium.crypto_core_ristretto255_scalar_random()
                  if self.mode == "wrong_share" else self.secret)
        evaluated, proof = threshold.evaluate_share(secret, blinded)
        if self.mode == "bad_proof":
            proof = proof[:32] + pysodium.crypto_core_ristretto255_scalar_random()
        response = pb.EvaluateShareResponse(
            holder_id="kh-elders" if self.mode == "other_holder" else self.holder_id,
            epoch=request.epoch, request_id=request.request_id,
            evaluated_elements=evaluated, proof=proof)
        if self.mode == "replay":
            with self.lock:
                if self.first is None:
                    self.first = response  # answered honestly once, then replayed
                elif len(self.first.evaluated_elements) == len(blinded):
                    return self.first
        return response

    def start(self, endpoint: str, tls: TlsFiles) -> RogueHolder:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                  options=SERVER_OPTIONS)
        pb_grpc.add_KeyHolderServicer_to_server(self, self.server)
        if not self.server.add_secure_port(endpoint, server_credentials(tls)):
            raise OSError(f"cannot listen on {endpoint}")
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0).wait()


def tls_of(pki_dir: Path, identity: str) -> TlsFiles:
    return TlsFiles(pki_dir / "ca.crt", pki_dir / f"{identity}.crt", pki_dir / f"{identity}.key")
