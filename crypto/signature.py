"""Ed25519 signatures on the node directory (PyNaCl).

Every process pins the network administrator's public key; a directory that does not
verify is refused, so nobody can swap a node's keys or endpoint in transit.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIRECTORY_LABEL = b"samenloop/v1/directory"
CHECKPOINT_LABEL = b"samenloop/v1/audit-checkpoint"
SIGNING_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class SignatureError(ValueError):
    """A signature or key is invalid."""


def generate_signing_key() -> tuple[bytes, bytes]:
    """(seed, verify_key) for a new network administrator key."""
    key = nacl.signing.SigningKey.generate()
    return bytes(key), bytes(key.verify_key)


def verify_key_of(signing_key: bytes) -> bytes:
    return bytes(_signing(signing_key).verify_key)


def sign_directory(directory: bytes, signing_key: bytes) -> bytes:
    return _signing(signing_key).sign(DIRECTORY_LABEL + directory).signature


def verify_directory(directory: bytes, signature: bytes, verify_key: bytes) -> None:
    """Raises SignatureError unless `signature` is the administrator's over `directory`."""
    if len(verify_key) != SIGNING_KEY_BYTES:
        raise SignatureError("directory verify key must be 32 bytes")
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError("directory signature must be 64 bytes")
    try:
        nacl.signing.VerifyKey(verify_key).verify(DIRECTORY_LABEL + directory, signature)
    except nacl.exceptions.BadSignatureError:
        raise SignatureError("directory signature does not verify") from None


def derive_signing_key(secret: bytes, purpose: bytes) -> bytes:
    """A signing seed for `purpose` from another 32-byte secret of the same process (HKDF),
    so a node signs its audit checkpoints without a second key file to manage."""
    if len(secret) != SIGNING_KEY_BYTES:
        raise SignatureError("secret must be 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=SIGNING_KEY_BYTES, salt=None,
                info=purpose).derive(secret)


def sign_checkpoint(message: bytes, signing_key: bytes) -> bytes:
    return _signing(signing_key).sign(CHECKPOINT_LABEL + message).signature


def checkpoint_signature_ok(message: bytes, signature: bytes, signing_key: bytes) -> bool:
    try:
        _signing(signing_key).verify_key.verify(CHECKPOINT_LABEL + message, signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True


def _signing(key: bytes) -> nacl.signing.SigningKey:
    if len(key) != SIGNING_KEY_BYTES:
        raise SignatureError("signing key must be 32 bytes")
    return nacl.signing.SigningKey(key)
