"""RFC 9497 OPRF and VOPRF, suite ristretto255-SHA512, on libsodium's ristretto255.

Why: the oblivious PRF lets a node have a person's identifier pseudonymised by the key holder
without the key holder ever seeing the identifier; the verifiable mode lets the node check
that every answer came from the one published key.

Only the protocol is composed here (RFC 9497 sections 2-3, RFC 9380 expand_message_xmd);
every group and scalar operation is libsodium's, via pysodium. Scalars and elements are the
RFC's 32-byte encodings. The module is pure: no I/O and no state besides constants.
"""

from __future__ import annotations

import pysodium

# The shared machinery lives in _common (also used by threshold.py); the public names are
# re-exported through __all__ so callers keep reaching them as voprf.X.
from samenloop.crypto._common import (
    ELEMENT_BYTES,
    MAX_BATCH,
    MAX_INPUT_BYTES,
    OUTPUT_BYTES,
    PROOF_BYTES,
    SCALAR_BYTES,
    SEED_BYTES,
    InvalidElementError,
    InvalidInputError,
    InvalidScalarError,
    Mode,
    VerifyError,
    VoprfError,
    _as_bytes,
    _as_list,
    _as_mode,
    _batch_invert,
    _element,
    _finalize_hash,
    _framed,
    _generate_proof,
    _hash_to_scalar,
    _i2osp,
    _input,
    _input_element,
    _is_zero,
    _mul,
    _mul_base,
    _random_scalar,
    _scalar,
    _verify_proof,
    context_string,
)

__all__ = [
    "ELEMENT_BYTES",
    "MAX_BATCH",
    "MAX_INPUT_BYTES",
    "OUTPUT_BYTES",
    "PROOF_BYTES",
    "SCALAR_BYTES",
    "SEED_BYTES",
    "InvalidElementError",
    "InvalidInputError",
    "InvalidScalarError",
    "Mode",
    "VerifyError",
    "VoprfError",
    "blind",
    "blind_evaluate",
    "blind_evaluate_verifiable",
    "context_string",
    "derive_key_pair",
    "evaluate",
    "finalize",
    "finalize_verifiable",
    "generate_key_pair",
    "public_key",
]


# --------------------------------------------------------------------------- public API


def public_key(skS: bytes) -> bytes:
    """pkS = skS * G, the key a VOPRF client verifies against."""
    return _mul_base(_scalar(skS, "skS"))


def derive_key_pair(seed: bytes, info: bytes, mode: Mode) -> tuple[bytes, bytes]:
    """DeriveKeyPair (RFC 9497 §3.2.1): reproducible keys from a 32-byte seed and a label."""
    mode = _as_mode(mode)
    seed = _as_bytes(seed, "seed")
    if len(seed) != SEED_BYTES:
        raise InvalidInputError(f"seed must be {SEED_BYTES} bytes, got {len(seed)}")
    info = _input(info, "info")
    derive_input = seed + _framed(info)
    dst = b"DeriveKeyPair" + context_string(mode)
    for counter in range(256):
        sk = _hash_to_scalar(derive_input + _i2osp(counter, 1), mode, dst=dst)
        if not _is_zero(sk):
            return sk, _mul_base(sk)
    raise InvalidInputError("DeriveKeyPairError: no non-zero scalar in 256 attempts")


def generate_key_pair(mode: Mode) -> tuple[bytes, bytes]:
    """Fresh random key pair; the mode is checked only so callers state their intent."""
    _as_mode(mode)
    sk = _random_scalar()
    return sk, _mul_base(sk)


def blind(input: bytes, mode: Mode, blind: bytes | None = None) -> tuple[bytes, bytes]:
    """Client Blind: returns (blind, blind * HashToGroup(input)); pass blind only for tests."""
    mode = _as_mode(mode)
    data = _input(input)
    r = _random_scalar() if blind is None else _scalar(blind, "blind")
    return r, _mul(r, _input_element(data, mode))


def blind_evaluate(skS: bytes, blinded_elements: list[bytes]) -> list[bytes]:
    """Server BlindEvaluate without a proof (OPRF mode): skS * each blinded element."""
    k = _scalar(skS, "skS")
    items = _as_list(blinded_elements, "blinded_elements")
    blinded = [_element(b, f"blinded_elements[{i}]") for i, b in enumerate(items)]
    return [_mul(k, b) for b in blinded]


def blind_evaluate_verifiable(
    skS: bytes,
    pkS: bytes,
    blinded_elements: list[bytes],
    proof_random: bytes | None = None,
) -> tuple[list[bytes], bytes]:
    """VOPRF BlindEvaluateBatch: evaluations plus one DLEQ proof covering the whole batch."""
    k = _scalar(skS, "skS")
    pk = _element(pkS, "pkS")
    if pk != _mul_base(k):
        raise InvalidInputError("pkS does not belong to skS")
    items = _as_list(blinded_elements, "blinded_elements")
    blinded = [_element(b, f"blinded_elements[{i}]") for i, b in enumerate(items)]
    r = _random_scalar() if proof_random is None else _scalar(proof_random, "proof_random")
    evaluated = [_mul(k, b) for b in blinded]
    proof = _generate_proof(k, pk, blinded, evaluated, r, Mode.VOPRF)
    return evaluated, proof


def finalize(input: bytes, blind: bytes, evaluated_element: bytes, mode: Mode) -> bytes:
    """Client Finalize without proof check: unblind and hash to the 64-byte PRF output.

    The mode is validated but not hashed: RFC 9497's Finalize carries no context string,
    the mode only reaches the output through HashToGroup in blind().
    """
    _as_mode(mode)
    data = _input(input)
    r = _scalar(blind, "blind")
    element = _element(evaluated_element, "evaluated_element")
    unblinded = _mul(pysodium.crypto_core_ristretto255_scalar_invert(r), element)
    return _finalize_hash(data, unblinded)


def finalize_verifiable(
    inputs: list[bytes],
    blinds: list[bytes],
    evaluated: list[bytes],
    blinded: list[bytes],
    pkS: bytes,
    proof: bytes,
) -> list[bytes]:
    """VOPRF FinalizeBatch: verify the batch proof against pkS, then finalize each item."""
    data = [_input(x, f"inputs[{i}]") for i, x in enumerate(_as_list(inputs, "inputs"))]
    rs = [_scalar(x, f"blinds[{i}]") for i, x in enumerate(_as_list(blinds, "blinds"))]
    ds = [_element(x, f"evaluated[{i}]") for i, x in enumerate(_as_list(evaluated, "evaluated"))]
    cs = [_element(x, f"blinded[{i}]") for i, x in enumerate(_as_list(blinded, "blinded"))]
    if not len(data) == len(rs) == len(ds) == len(cs):
        raise InvalidInputError("inputs, blinds, evaluated and blinded differ in length")
    pk = _element(pkS, "pkS")
    raw_proof = _as_bytes(proof, "proof")
    if len(raw_proof) != PROOF_BYTES:
        raise InvalidInputError(f"proof must be {PROOF_BYTES} bytes, got {len(raw_proof)}")
    _verify_proof(pk, cs, ds, raw_proof, Mode.VOPRF)
    # Everything is validated above; unblind with one inversion for the whole batch.
    return [_finalize_hash(x, _mul(r_inv, d))
            for x, r_inv, d in zip(data, _batch_invert(rs), ds, strict=True)]


def evaluate(skS: bytes, input: bytes, mode: Mode) -> bytes:
    """Server-side direct PRF evaluation, equal to what a client's Finalize yields."""
    mode = _as_mode(mode)
    k = _scalar(skS, "skS")
    data = _input(input)
    return _finalize_hash(data, _mul(k, _input_element(data, mode)))
