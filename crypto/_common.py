"""Shared RFC 9497 machinery for every OPRF mode: encodings, libsodium group operations,
hashing and the batch DLEQ proof.

Why apart: the single-key VOPRF (voprf.py) and the threshold VOPRF (threshold.py) prove
their evaluations with the same RFC 9497 proof; one copy keeps both bound to the vectors
(house style §6: one file per mode, shared proof code apart). Pure, like its callers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import IntEnum

import pysodium


class Mode(IntEnum):
    """Protocol variant; the byte is part of every domain separation tag."""

    OPRF = 0
    VOPRF = 1


class VoprfError(ValueError):
    """Base of every refusal raised by the OPRF modules (voprf, threshold, dkg)."""


class InvalidInputError(VoprfError):
    """Wrong type or length, oversize input, bad batch shape, or input hashing to identity."""


class InvalidElementError(VoprfError):
    """Not a canonical ristretto255 encoding, or the identity element."""


class InvalidScalarError(VoprfError):
    """Zero or non-canonical (>= L) scalar."""


class VerifyError(VoprfError):
    """The DLEQ proof does not verify (including a proof with non-canonical scalars)."""


SUITE_ID = b"ristretto255-SHA512"
ELEMENT_BYTES = 32  # Noe
SCALAR_BYTES = 32  # Nok
SEED_BYTES = 32  # Nseed
OUTPUT_BYTES = 64  # Nh
PROOF_BYTES = 2 * SCALAR_BYTES
MAX_INPUT_BYTES = 0xFFFF  # lengths are framed with I2OSP(., 2)
MAX_BATCH = 0x10000  # composite indices are framed with I2OSP(i, 2)
_HASH_BLOCK = 128  # SHA-512 input block size, s_in_bytes in RFC 9380
_HASH_OUT = 64  # SHA-512 output size, b_in_bytes in RFC 9380
_UNIFORM_BYTES = 64  # expand_message_xmd output for both HashToGroup and HashToScalar
_IDENTITY = bytes(ELEMENT_BYTES)  # the one canonical encoding of the identity
_ZERO_SCALAR = bytes(SCALAR_BYTES)


# --------------------------------------------------------------------------- encoding helpers


def _i2osp(value: int, length: int) -> bytes:
    """Big-endian fixed-width integer, as RFC 8017 I2OSP."""
    return value.to_bytes(length, "big")


def _framed(data: bytes) -> bytes:
    """I2OSP(len(data), 2) || data: the RFC's length-prefixed hash input."""
    return _i2osp(len(data), 2) + data


def _as_bytes(value: object, name: str) -> bytes:
    """Accept bytes-like only, so a str or int never silently becomes a protocol input."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidInputError(f"{name} must be bytes, not {type(value).__name__}")


def _as_list(values: object, name: str) -> list[object]:
    """A non-empty batch; bytes itself is refused because iterating it yields ints."""
    if isinstance(values, bytes | bytearray | memoryview | str) or not isinstance(values, Sequence):
        raise InvalidInputError(f"{name} must be a list of bytes")
    if not values:
        raise InvalidInputError(f"{name} must not be empty")
    if len(values) > MAX_BATCH:
        raise InvalidInputError(f"{name} holds more than {MAX_BATCH} items")
    return list(values)


def _as_mode(mode: object) -> Mode:
    """Only OPRF and VOPRF are implemented; POPRF (mode 2) is refused."""
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise InvalidInputError("mode must be Mode.OPRF or Mode.VOPRF")
    try:
        return Mode(mode)
    except ValueError as exc:
        raise InvalidInputError(f"unsupported mode {mode!r}") from exc


def _input(value: object, name: str = "input") -> bytes:
    """PRF input: any bytes up to 65535 long, since it is framed with a 2-byte length."""
    data = _as_bytes(value, name)
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInputError(f"{name} is longer than {MAX_INPUT_BYTES} bytes")
    return data


def _is_canonical_scalar(data: bytes) -> bool:
    """A scalar is canonical iff reducing it mod L leaves it unchanged."""
    return pysodium.crypto_core_ristretto255_scalar_reduce(data + bytes(32)) == data


def _scalar(value: object, name: str) -> bytes:
    """DeserializeScalar plus the zero check the protocol needs for keys and blinds."""
    data = _as_bytes(value, name)
    if len(data) != SCALAR_BYTES:
        raise InvalidInputError(f"{name} must be {SCALAR_BYTES} bytes, got {len(data)}")
    if not _is_canonical_scalar(data):
        raise InvalidScalarError(f"{name} is not a canonical scalar (>= L)")
    if _is_zero(data):
        raise InvalidScalarError(f"{name} is zero")
    return data


def _element(value: object, name: str) -> bytes:
    """DeserializeElement: canonical ristretto255 and not the identity (RFC 9497 §4.1)."""
    data = _as_bytes(value, name)
    if len(data) != ELEMENT_BYTES:
        raise InvalidInputError(f"{name} must be {ELEMENT_BYTES} bytes, got {len(data)}")
    if data == _IDENTITY:
        raise InvalidElementError(f"{name} is the identity element")
    if not pysodium.crypto_core_ristretto255_is_valid_point(data):
        raise InvalidElementError(f"{name} is not a valid ristretto255 encoding")
    return data


# --------------------------------------------------------------------------- group operations


def _is_zero(scalar: bytes) -> bool:
    """Constant-time zero test, since scalars here are often secret."""
    return hmac.compare_digest(scalar, _ZERO_SCALAR)


def _mul(scalar: bytes, element: bytes) -> bytes:
    """scalar * element; libsodium refuses an identity result, which here is a legal value."""
    if element == _IDENTITY or _is_zero(scalar):
        return _IDENTITY
    # Valid non-identity element in a prime-order group and a non-zero canonical scalar:
    # the product is never the identity, so libsodium's check cannot fire.
    return pysodium.crypto_scalarmult_ristretto255(scalar, element)


def _mul_base(scalar: bytes) -> bytes:
    """scalar * G, with the identity for a zero scalar instead of libsodium's error."""
    if _is_zero(scalar):
        return _IDENTITY
    return pysodium.crypto_scalarmult_ristretto255_base(scalar)


def _add(p: bytes, q: bytes) -> bytes:
    """Element addition (libsodium accepts the identity as an operand)."""
    return pysodium.crypto_core_ristretto255_add(p, q)


def _random_scalar() -> bytes:
    """Uniform non-zero scalar from libsodium's CSPRNG."""
    while True:
        scalar = pysodium.crypto_core_ristretto255_scalar_random()
        if not _is_zero(scalar):
            return scalar


# --------------------------------------------------------------------------- hashing


def context_string(mode: Mode) -> bytes:
    """contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier (RFC 9497 §3.1)."""
    return b"OPRFV1-" + _i2osp(int(_as_mode(mode)), 1) + b"-" + SUITE_ID


def _expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-512; the hash-to-curve front end of both hash functions."""
    if len(dst) > 255:
        raise InvalidInputError("DST longer than 255 bytes")
    ell = -(-length // _HASH_OUT)
    if ell > 255 or length > 0xFFFF:
        raise InvalidInputError("requested expand_message_xmd output too long")
    dst_prime = dst + _i2osp(len(dst), 1)
    msg_prime = bytes(_HASH_BLOCK) + msg + _i2osp(length, 2) + b"\x00" + dst_prime
    b0 = hashlib.sha512(msg_prime).digest()
    bi = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    blocks = [bi]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, bi, strict=True))
        bi = hashlib.sha512(mixed + _i2osp(i, 1) + dst_prime).digest()
        blocks.append(bi)
    return b"".join(blocks)[:length]


def _hash_to_group(data: bytes, mode: Mode) -> bytes:
    """HashToGroup: expand to 64 bytes, then the ristretto255 one-way map (RFC 9496 §4.3.4)."""
    dst = b"HashToGroup-" + context_string(mode)
    uniform = _expand_message_xmd(data, dst, _UNIFORM_BYTES)
    return pysodium.crypto_core_ristretto255_from_hash(uniform)


def _hash_to_scalar(data: bytes, mode: Mode, dst: bytes | None = None) -> bytes:
    """HashToScalar: 64 uniform bytes read little-endian and reduced mod L."""
    if dst is None:
        dst = b"HashToScalar-" + context_string(mode)
    uniform = _expand_message_xmd(data, dst, _UNIFORM_BYTES)
    return pysodium.crypto_core_ristretto255_scalar_reduce(uniform)


def _input_element(data: bytes, mode: Mode) -> bytes:
    """HashToGroup with the RFC's InvalidInputError for an identity image (§3.3.1)."""
    element = _hash_to_group(data, mode)
    if element == _IDENTITY:
        raise InvalidInputError("input maps to the identity element")
    return element


def _finalize_hash(data: bytes, element: bytes) -> bytes:
    """Hash(len||input || len||element || "Finalize"); note no mode or context here."""
    return hashlib.sha512(_framed(data) + _framed(element) + b"Finalize").digest()


# --------------------------------------------------------------------------- DLEQ proofs


def _composite_seed(pk: bytes, mode: Mode) -> bytes:
    """Seed = Hash(len||Bm || len||"Seed-"||contextString), shared by both composite forms."""
    seed_dst = b"Seed-" + context_string(mode)
    return hashlib.sha512(_framed(pk) + _framed(seed_dst)).digest()


def _composite_scalars(pk: bytes, cs: list[bytes], ds: list[bytes], mode: Mode) -> list[bytes]:
    """The per-item weights d_i that bind each (C_i, D_i) pair into the composite."""
    seed = _composite_seed(pk, mode)
    return [
        _hash_to_scalar(_framed(seed) + _i2osp(i, 2) + _framed(c) + _framed(d) + b"Composite", mode)
        for i, (c, d) in enumerate(zip(cs, ds, strict=True))
    ]


def _compute_composites(
    pk: bytes, cs: list[bytes], ds: list[bytes], mode: Mode
) -> tuple[bytes, bytes]:
    """ComputeComposites (verifier side): M = sum d_i C_i, Z = sum d_i D_i."""
    m = z = _IDENTITY
    for d_i, c, d in zip(_composite_scalars(pk, cs, ds, mode), cs, ds, strict=True):
        m = _add(_mul(d_i, c), m)
        z = _add(_mul(d_i, d), z)
    return m, z


def _compute_composites_fast(
    k: bytes, pk: bytes, cs: list[bytes], ds: list[bytes], mode: Mode
) -> tuple[bytes, bytes]:
    """ComputeCompositesFast (prover side): Z = k * M saves one multiplication per item."""
    m = _IDENTITY
    for d_i, c in zip(_composite_scalars(pk, cs, ds, mode), cs, strict=True):
        m = _add(_mul(d_i, c), m)
    return m, _mul(k, m)


def _challenge(pk: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes, mode: Mode) -> bytes:
    """Fiat-Shamir challenge over B, M, Z, t2, t3 with the "Challenge" label."""
    transcript = b"".join(_framed(x) for x in (pk, m, z, t2, t3)) + b"Challenge"
    return _hash_to_scalar(transcript, mode)


def _generate_proof(
    k: bytes, pk: bytes, cs: list[bytes], ds: list[bytes], r: bytes, mode: Mode
) -> bytes:
    """GenerateProof with A = G, B = pkS: proves log_G(pkS) == log_{C_i}(D_i) for all i."""
    m, z = _compute_composites_fast(k, pk, cs, ds, mode)
    t2 = _mul_base(r)
    t3 = _mul(r, m)
    c = _challenge(pk, m, z, t2, t3, mode)
    s = pysodium.crypto_core_ristretto255_scalar_sub(
        r, pysodium.crypto_core_ristretto255_scalar_mul(c, k)
    )
    return c + s


def _verify_proof(pk: bytes, cs: list[bytes], ds: list[bytes], proof: bytes, mode: Mode) -> None:
    """VerifyProof; raises VerifyError instead of returning False so it cannot be ignored."""
    c, s = proof[:SCALAR_BYTES], proof[SCALAR_BYTES:]
    if not (_is_canonical_scalar(c) and _is_canonical_scalar(s)):
        raise VerifyError("proof holds a non-canonical scalar")
    m, z = _compute_composites(pk, cs, ds, mode)
    t2 = _add(_mul_base(s), _mul(c, pk))
    t3 = _add(_mul(s, m), _mul(c, z))
    expected = _challenge(pk, m, z, t2, t3, mode)
    if not hmac.compare_digest(expected, c):
        raise VerifyError("proof does not verify")


def _batch_invert(scalars: list[bytes]) -> list[bytes]:
    """1/s for every non-zero scalar with a single inversion (Montgomery's trick): one
    libsodium inversion costs as much as ~30 scalar multiplications."""
    if not scalars:
        return []
    mul = pysodium.crypto_core_ristretto255_scalar_mul
    prefix = [scalars[0]]
    for scalar in scalars[1:]:
        prefix.append(mul(prefix[-1], scalar))
    inverse = pysodium.crypto_core_ristretto255_scalar_invert(prefix[-1])
    out = [b""] * len(scalars)
    for i in range(len(scalars) - 1, 0, -1):
        out[i] = mul(inverse, prefix[i - 1])
        inverse = mul(inverse, scalars[i])
    out[0] = inverse
    return out
