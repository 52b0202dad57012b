"""Threshold VOPRF: the RFC 9497 VOPRF key split Shamir-wise over key holders, t of n.

Why: with one key, whoever holds it (the coordinator) can pseudonymise guessed identities
together with one node. Split over independent key holders, any `t` of them together
evaluate the same PRF, fewer learn nothing about the key, and the output equals the
single-key VOPRF output under `k = Σ λ_i k_i`, so splitting a running network's key keeps
its tags (issue #13).

Protocol: holder i holds the share `k_i = f(i)` of a polynomial `f` of degree `t-1` with
`f(0) = k`, and publishes `P_i = k_i·G`. For a node's blinded elements `B` it answers
`Z_i = k_i·B` with one RFC 9497 batch DLEQ proof (VOPRF context) against `P_i`. The node
verifies each proof (`verify_share_evaluation`), then `combine` takes exactly `t` verified
partials, checks `Σ λ_i P_i == pkS` and returns `Σ λ_i Z_i = k·B` per element, which the
node unblinds with `voprf.finalize(..., Mode.VOPRF)`. The proofs bind each `Z_i` to `P_i`,
and the public-key check binds the `P_i` to `pkS`, so the result is `k·B` or an error.

Every scalar and point operation is libsodium's (ristretto255, via pysodium); Lagrange
coefficients are libsodium scalar arithmetic. Pure: no I/O, no state.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pysodium

from samenloop.crypto._common import (
    PROOF_BYTES,
    SCALAR_BYTES,
    InvalidInputError,
    Mode,
    VoprfError,
    _add,
    _as_bytes,
    _as_list,
    _element,
    _generate_proof,
    _is_zero,
    _mul,
    _mul_base,
    _random_scalar,
    _scalar,
    _verify_proof,
)

__all__ = [
    "MAX_HOLDERS",
    "CombinationMismatch",
    "InsufficientShares",
    "InvalidSplitError",
    "Share",
    "ThresholdError",
    "combine",
    "combined_public_key",
    "evaluate_share",
    "lagrange_at_zero",
    "public_share",
    "split_key",
    "verify_share_evaluation",
]

MAX_HOLDERS = 255  # Shamir x-coordinates are 1..255 (one byte in the directory's contract)
_IDENTITY = bytes(32)


class ThresholdError(VoprfError):
    """Base of every refusal specific to the threshold mode."""


class InvalidSplitError(ThresholdError, InvalidInputError):
    """Bad threshold, count or share indices (out of 1..255, duplicated, not an int)."""


class InsufficientShares(ThresholdError):
    """Fewer partial evaluations than the threshold (or none at all)."""


class CombinationMismatch(ThresholdError):
    """The public shares do not combine to the epoch's public key, or partials disagree
    with the public shares they claim (wrong holder set, wrong epoch, a lying holder)."""


@dataclass(frozen=True)
class Share:
    """One key holder's Shamir share: the point (index, secret) on the key's polynomial."""

    index: int
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _index(self.index, "share index")
        object.__setattr__(self, "secret", _scalar(self.secret, "share secret"))


# --------------------------------------------------------------------------- validation


def _index(value: object, name: str) -> int:
    """A Shamir x-coordinate: an int in 1..255 (0 is where the key itself sits)."""
    value = _count(value, name)
    if not 1 <= value <= MAX_HOLDERS:
        raise InvalidSplitError(f"{name} {value} is outside 1..{MAX_HOLDERS}")
    return value


def _indices(values: object, name: str) -> list[int]:
    """A non-empty list of distinct indices, in the caller's order."""
    if isinstance(values, bytes | bytearray | memoryview | str) or not isinstance(
        values, Sequence | Mapping
    ):
        raise InvalidSplitError(f"{name} must be a list of share indices")
    if not values:
        raise InsufficientShares(f"{name} is empty")
    if len(values) > MAX_HOLDERS:  # before any work on the items
        raise InvalidSplitError(f"{name} holds more than {MAX_HOLDERS} indices")
    out = [_index(v, f"{name} entry") for v in values]
    duplicates = sorted({i for i in out if out.count(i) > 1})
    if duplicates:
        raise InvalidSplitError(f"{name} holds index {duplicates[0]} more than once")
    return out


def _count(value: object, name: str) -> int:
    """A plain int (a bool is refused: True would silently count as 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSplitError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _threshold_and_count(threshold: object, count: object) -> tuple[int, int]:
    """1 <= threshold <= count <= 255."""
    t, n = _count(threshold, "threshold"), _count(count, "count")
    if not 1 <= n <= MAX_HOLDERS:
        raise InvalidSplitError(f"count {n} is outside 1..{MAX_HOLDERS}")
    if not 1 <= t <= n:
        raise InvalidSplitError(f"threshold {t} is outside 1..count ({n})")
    return t, n


def _mapping(value: object, name: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{name} must be a mapping from share index to value")
    return value


def _elements(values: object, name: str) -> list[bytes]:
    """A batch of valid non-identity ristretto255 encodings."""
    return [_element(v, f"{name}[{i}]") for i, v in enumerate(_as_list(values, name))]


def _proof(value: object) -> bytes:
    raw = _as_bytes(value, "proof")
    if len(raw) != PROOF_BYTES:
        raise InvalidInputError(f"proof must be {PROOF_BYTES} bytes, got {len(raw)}")
    return raw


# --------------------------------------------------------------------------- scalar helpers


def _int_scalar(value: int) -> bytes:
    """A small non-negative integer as a ristretto255 scalar (little-endian, < L)."""
    return value.to_bytes(SCALAR_BYTES, "little")


def _polynomial_at(coefficients: Sequence[bytes], x: int) -> bytes:
    """f(x) = Σ a_k x^k by Horner's rule, in libsodium's scalar arithmetic."""
    point = _int_scalar(x)
    acc = coefficients[-1]
    for coefficient in reversed(coefficients[:-1]):
        acc = pysodium.crypto_core_ristretto255_scalar_add(
            pysodium.crypto_core_ristretto255_scalar_mul(acc, point), coefficient
        )
    return acc


def _random_polynomial(constant: bytes, degree: int, xs: Sequence[int]) -> list[bytes]:
    """Random coefficients a_1..a_degree (libsodium's CSPRNG) after a_0 = constant, redrawn
    in the (probability ~2^-252) case that some f(x) is zero, which is no valid share."""
    while True:
        coefficients = [constant] + [_random_scalar() for _ in range(degree)]
        if not any(_is_zero(_polynomial_at(coefficients, x)) for x in xs):
            return coefficients


def _weighted_sum(weights: Mapping[int, bytes], elements: Mapping[int, bytes]) -> bytes:
    """Σ λ_i E_i over the indices of `weights`."""
    total = _IDENTITY
    for index, weight in weights.items():
        total = _add(total, _mul(weight, elements[index]))
    return total


# --------------------------------------------------------------------------- public API


def split_key(skS: bytes, threshold: int, count: int) -> list[Share]:
    """Trusted-dealer Shamir split of an existing key into shares 1..count, any `threshold`
    of which reconstruct it (used offline to migrate a running network: tags stay valid)."""
    key = _scalar(skS, "skS")
    t, n = _threshold_and_count(threshold, count)
    xs = list(range(1, n + 1))
    coefficients = _random_polynomial(key, t - 1, xs)
    return [Share(x, _polynomial_at(coefficients, x)) for x in xs]


def public_share(secret: bytes) -> bytes:
    """P_i = k_i·G, what the directory lists for a holder and its proofs are checked against."""
    return _mul_base(_scalar(secret, "share secret"))


def lagrange_at_zero(indices: Sequence[int]) -> dict[int, bytes]:
    """λ_i = Π_{j≠i} j / (j - i) mod L: the weights that interpolate f(0) from f(i), i in S."""
    xs = _indices(indices, "indices")
    mul = pysodium.crypto_core_ristretto255_scalar_mul
    out: dict[int, bytes] = {}
    for i in xs:
        numerator = denominator = _int_scalar(1)
        for j in xs:
            if j != i:
                numerator = mul(numerator, _int_scalar(j))
                denominator = mul(
                    denominator,
                    pysodium.crypto_core_ristretto255_scalar_sub(_int_scalar(j), _int_scalar(i)),
                )
        # Distinct indices below L: the denominator is a product of non-zero scalars.
        out[i] = mul(numerator, pysodium.crypto_core_ristretto255_scalar_invert(denominator))
    return out


def combined_public_key(public_shares: Mapping[int, bytes]) -> bytes:
    """Σ λ_i P_i over the given indices: equals pkS iff these shares are of pkS's key (and
    there are at least `threshold` of them)."""
    items = _mapping(public_shares, "public_shares")
    indices = _indices(list(items), "public_shares")
    return _combine_public({i: _element(items[i], f"public_shares[{i}]") for i in indices})


def _combine_public(shares: dict[int, bytes]) -> bytes:
    """Σ λ_i P_i over validated shares; the identity is no public key."""
    combined = _weighted_sum(lagrange_at_zero(list(shares)), shares)
    if combined == _IDENTITY:
        raise CombinationMismatch("public shares combine to the identity element")
    return combined


def evaluate_share(secret: bytes, blinded: Sequence[bytes]) -> tuple[list[bytes], bytes]:
    """Holder side: k_i·B for every blinded element and one RFC 9497 batch DLEQ proof
    (VOPRF context) that they use the same k_i as P_i = public_share(secret)."""
    k = _scalar(secret, "share secret")
    elements = _elements(blinded, "blinded")
    evaluated = [_mul(k, b) for b in elements]
    proof = _generate_proof(k, _mul_base(k), elements, evaluated, _random_scalar(), Mode.VOPRF)
    return evaluated, proof


def verify_share_evaluation(
    public_share: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], proof: bytes
) -> None:
    """Node side: raises voprf.VerifyError unless `evaluated` is log_G(public_share)·blinded,
    element by element (and InvalidInputError/InvalidElementError for bad encodings)."""
    pk = _element(public_share, "public_share")
    cs = _elements(blinded, "blinded")
    ds = _elements(evaluated, "evaluated")
    if len(cs) != len(ds):
        raise InvalidInputError(f"blinded has {len(cs)} elements, evaluated {len(ds)}")
    _verify_proof(pk, cs, ds, _proof(proof), Mode.VOPRF)


def combine(
    public_key: bytes,
    public_shares: Mapping[int, bytes],
    evaluations: Mapping[int, Sequence[bytes]],
    *,
    threshold: int | None = None,
) -> list[bytes]:
    """Σ λ_i Z_i per element over the partials in `evaluations` (index -> the holder's
    evaluated elements, each batch already checked by verify_share_evaluation against
    public_shares[index]). Refuses unless Σ λ_i P_i over those indices equals public_key,
    which also catches fewer than `threshold` partials; pass `threshold` to have exactly
    that many demanded up front (InsufficientShares below it). `public_shares` may list
    more holders than answered."""
    pk = _element(public_key, "public_key")
    shares = _mapping(public_shares, "public_shares")
    partials = _mapping(evaluations, "evaluations")
    indices = _indices(list(partials), "evaluations")
    if threshold is not None:
        t, _ = _threshold_and_count(threshold, MAX_HOLDERS)
        if len(indices) < t:
            raise InsufficientShares(f"{len(indices)} partial evaluations, threshold is {t}")
        if len(indices) > t:
            raise InvalidSplitError(f"{len(indices)} partial evaluations, expected exactly {t}")
    missing = [i for i in indices if i not in shares]
    if missing:
        raise CombinationMismatch(f"no public share for index {missing[0]}")
    claimed = {i: _element(shares[i], f"public_shares[{i}]") for i in indices}
    if not hmac.compare_digest(_combine_public(claimed), pk):
        raise CombinationMismatch(
            f"public shares of indices {sorted(indices)} do not combine to the public key "
            "(fewer than the threshold, or shares of another key)"
        )
    batches = {i: _elements(partials[i], f"evaluations[{i}]") for i in indices}
    sizes = {len(batch) for batch in batches.values()}
    if len(sizes) != 1:
        raise InvalidInputError("partial evaluations differ in batch size")
    weights = lagrange_at_zero(indices)
    combined = [
        _weighted_sum(weights, {i: batches[i][n] for i in indices}) for n in range(sizes.pop())
    ]
    if _IDENTITY in combined:
        # Only reachable with an unverified partial: k·B is never the identity.
        raise CombinationMismatch("partial evaluations combine to the identity element")
    return combined
