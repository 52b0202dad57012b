"""Small secrets a node keeps in its own database, encrypted (AES-256-GCM, `cryptography`).

A TOTP secret must be readable by the node (to check a code), so it cannot be hashed like
a password; a copy of the SQLite file alone must still not give it away. The key is
derived (HKDF) from the node's box key, which lives in its own key file, so there is no
second key file to manage. The ciphertext is bound to what it belongs to (`context`, e.g.
the account name): a sealed value copied to another row does not open there.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
VERSION = b"\x01"  # first byte of every sealed value, so the scheme can change later


class AtRestError(ValueError):
    """A key of the wrong size, or a sealed value that does not open; never the value."""


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for `purpose` from another 32-byte secret of the same node (HKDF)."""
    if len(secret) != KEY_BYTES:
        raise AtRestError("secret must be 32 bytes")
    if not purpose:
        raise AtRestError("purpose must not be empty")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=purpose).derive(secret)


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """version || random nonce || AES-GCM(plaintext) with `context` as associated data."""
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + _aead(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """The plaintext, or AtRestError for a wrong key, context, version or a changed byte."""
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[:1] != VERSION:
        raise AtRestError("sealed value has an unknown format")
    nonce = sealed[1:1 + NONCE_BYTES]
    try:
        return _aead(key).decrypt(nonce, sealed[1 + NONCE_BYTES:], context)
    except InvalidTag:
        raise AtRestError("sealed value does not open with this key") from None


def _aead(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise AtRestError("key must be 32 bytes")
    return AESGCM(key)
