"""Sealed, padded payloads between nodes (NaCl crypto_box through PyNaCl).

The coordinator relays every query and answer, so a payload must be unreadable and
unforgeable for it, and its length must not tell a hit from a no-hit: plaintexts are
padded to a size bucket before sealing and the bucket is all the length reveals.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.public

BOX_KEY_BYTES = 32
# Plaintext sizes a sealed payload is padded to. A query's bucket follows from how many
# subjects it carries (which the coordinator can count anyway from its size); an answer is
# padded to the bucket its query asked for, whatever the number of hits. Above 64 KiB the
# steps halve, so a bulk check's answers are not padded to four times their size.
BUCKETS: tuple[int, ...] = (1024, 4096, 16384, 65536, 131072, 262144, 524288, 1048576,
                            2097152, 4194304)
_LENGTH_BYTES = 4
OVERHEAD = nacl.public.Box.NONCE_SIZE + 16  # nonce + Poly1305 tag


class SealError(ValueError):
    """A payload could not be sealed or opened; the message never carries the payload."""


def generate_box_key_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair (secret, public) for crypto_box."""
    secret = nacl.public.PrivateKey.generate()
    return bytes(secret), bytes(secret.public_key)


def box_public_key(secret_key: bytes) -> bytes:
    return bytes(_secret(secret_key).public_key)


def bucket_for(size: int) -> int:
    """The smallest bucket that holds `size` plaintext bytes plus the length prefix."""
    for bucket in BUCKETS:
        if size + _LENGTH_BYTES <= bucket:
            return bucket
    raise SealError(f"payload of {size} bytes exceeds the largest bucket ({BUCKETS[-1]} bytes)")


def sealed_size(bucket: int) -> int:
    """The ciphertext length of a payload sealed into `bucket`."""
    return bucket + OVERHEAD


def seal(plaintext: bytes, sender_secret: bytes, recipient_public: bytes, *,
         bucket: int | None = None) -> bytes:
    """Pad `plaintext` to `bucket` (default: the smallest that fits) and box it."""
    return Sealer(sender_secret).seal(plaintext, recipient_public, bucket=bucket)


def _pad(plaintext: bytes, bucket: int | None) -> bytes:
    size = bucket_for(len(plaintext)) if bucket is None else bucket
    if size not in BUCKETS:
        raise SealError(f"bucket {size} is not one of {BUCKETS}")
    if len(plaintext) + _LENGTH_BYTES > size:
        raise SealError(f"payload of {len(plaintext)} bytes does not fit bucket {size}")
    return (len(plaintext).to_bytes(_LENGTH_BYTES, "big") + plaintext).ljust(size, b"\0")


def _check_sealed(sealed: object) -> None:
    if not isinstance(sealed, bytes | bytearray):
        raise SealError("sealed payload must be bytes")
    if len(sealed) - OVERHEAD not in BUCKETS:
        raise SealError("sealed payload has no valid bucket size (truncated or altered)")


def open_sealed(sealed: bytes, recipient_secret: bytes, sender_public: bytes) -> bytes:
    """Open and unpad; refuses anything tampered with, truncated, or sealed by another key."""
    return Sealer(recipient_secret).open(sealed, sender_public)


def _unpad(padded: bytes) -> bytes:
    length = int.from_bytes(padded[:_LENGTH_BYTES], "big")
    end = _LENGTH_BYTES + length
    if length > len(padded) - _LENGTH_BYTES or padded.count(0, end) != len(padded) - end:
        raise SealError("sealed payload has inconsistent padding")
    return padded[_LENGTH_BYTES:end]


class Sealer:
    """seal/open for one party's secret key, keeping the X25519 agreement per peer: a node
    seals to every node of the directory on each check, and computing the shared key anew
    each time costs ten times the sealing itself."""

    def __init__(self, own_secret: bytes) -> None:
        self._secret = _secret(own_secret)
        self._boxes: dict[bytes, nacl.public.Box] = {}

    def _box(self, peer_public: bytes) -> nacl.public.Box:
        box = self._boxes.get(peer_public)
        if box is None:
            box = self._boxes[bytes(peer_public)] = nacl.public.Box(self._secret,
                                                                    _public(peer_public))
        return box

    def seal(self, plaintext: bytes, peer_public: bytes, *, bucket: int | None = None) -> bytes:
        return bytes(self._box(peer_public).encrypt(_pad(plaintext, bucket)))

    def open(self, sealed: bytes, peer_public: bytes) -> bytes:
        _check_sealed(sealed)
        try:
            padded = self._box(peer_public).decrypt(bytes(sealed))
        except nacl.exceptions.CryptoError:
            raise SealError(
                "sealed payload does not open: altered, or sealed with another key"
            ) from None
        return _unpad(padded)


def _secret(key: bytes) -> nacl.public.PrivateKey:
    if not isinstance(key, bytes | bytearray) or len(key) != BOX_KEY_BYTES:
        raise SealError(f"box secret key must be {BOX_KEY_BYTES} bytes")
    return nacl.public.PrivateKey(bytes(key))


def _public(key: bytes) -> nacl.public.PublicKey:
    if not isinstance(key, bytes | bytearray) or len(key) != BOX_KEY_BYTES:
        raise SealError(f"box public key must be {BOX_KEY_BYTES} bytes")
    return nacl.public.PublicKey(bytes(key))
