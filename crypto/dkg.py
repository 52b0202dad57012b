"""Distributed key generation for a new epoch's threshold VOPRF key, without a dealer.

Why: `threshold.split_key` needs someone to hold the whole key once (fine for migrating an
existing key offline). For a new epoch no party should ever hold `k`: each key holder deals
a random polynomial of its own, and the key is the sum of all their constants, which nobody
knows. Each holder ends with a share `k_i = Σ_j f_j(i)` of `k = Σ_j f_j(0)` that works with
`threshold.evaluate_share` / `threshold.combine` unchanged.

Scheme: joint-Feldman VSS, the DKG of Pedersen (1991). Dealer j draws `f_j` of degree `t-1`,
publishes Feldman commitments `A_{j,k} = a_{j,k}·G` and sends `f_j(i)` to holder i; holder
i checks `f_j(i)·G == Σ_k i^k A_{j,k}` (`verify_dealt_share`). The public key is
`Σ_j A_{j,0}` and every public share `P_i = Σ_j Σ_k i^k A_{j,k}` is computable by anyone from
the commitments, so the directory's entries can be checked by every node and holder.

Known caveat (Gennaro, Jarecki, Krawczyk, Rabin, "Secure distributed key generation for
discrete-log based cryptosystems", 1999): a dealer that sees the others' commitments first
can choose whether to get itself disqualified, and so bias the key's distribution (with c
such dealers, a choice among at most 2^c keys). Accepted here because the choice is only
among keys none of whose discrete logs a cheating dealer learns, and the one-more-DH
hardness the OPRF relies on concerns the unknown key, not its exact distribution. That is an
argument, not a proof for this OPRF; GJKR 2003 ("Secure applications of Pedersen's
distributed key generation protocol") prove the analogous statement for threshold Schnorr
signatures. Each disqualification is recorded by the ceremony, so an attempt is visible, not
silent. GJKR's own fix (Pedersen commitments first, Feldman values revealed after QUAL is
fixed) needs a second generator and a second broadcast round; it is the upgrade path if the
argument is not accepted.

What the ceremony (the key holder service, not this module) must do:
1. Fix the participants' indices and `t`; each calls `deal(t, indices)`, broadcasts its
   signed commitments to all, and sends share i sealed to holder i only.
2. Every holder checks that it saw the same commitments from each dealer as everyone else
   (echo a hash of all commitments), then checks each share it received with
   `verify_dealt_share`; for a failing or missing share it broadcasts a complaint naming
   the dealer.
3. A dealer answers each complaint by publishing that share; anyone checks it with
   `verify_dealt_share`. A dealer that does not answer, or answers with a bad share, is
   disqualified; the complainer then uses the published share.
4. QUAL, the dealers not disqualified, must number at least `t` (refused otherwise, so at
   least one honest dealer is in it); all holders agree on QUAL, call `finish` with the
   shares and commitments of QUAL only, and publish `public_key_from` and
   `public_share_from(i)` for the signed directory.
Dealings and shares are secrets in transit and never logged or stored unsealed.

Every operation is libsodium's ristretto255 (via pysodium). Pure: no I/O, no state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pysodium

from samenloop.crypto._common import (
    InvalidInputError,
    VoprfError,
    _add,
    _element,
    _is_zero,
    _mul,
    _mul_base,
    _random_scalar,
    _scalar,
)
from samenloop.crypto.threshold import (
    MAX_HOLDERS,
    InsufficientShares,
    Share,
    ThresholdError,
    _index,
    _indices,
    _int_scalar,
    _polynomial_at,
    _random_polynomial,
    _threshold_and_count,
)

__all__ = [
    "BadDealing",
    "Dealing",
    "deal",
    "finish",
    "public_key_from",
    "public_share_from",
    "verify_dealt_share",
]

_IDENTITY = bytes(32)


class BadDealing(ThresholdError):
    """A dealer's commitments or share are missing, malformed or inconsistent; `dealer`
    names it, so the ceremony can file the complaint against the right holder."""

    def __init__(self, dealer: int, message: str) -> None:
        super().__init__(message)
        self.dealer = dealer


@dataclass(frozen=True)
class Dealing:
    """One dealer's contribution: public commitments A_k = a_k·G (k = 0..t-1) and the
    secret share f(i) for each recipient index i. The coefficients are not kept."""

    threshold: int
    commitments: tuple[bytes, ...]
    shares: Mapping[int, bytes] = field(repr=False)


# --------------------------------------------------------------------------- helpers


def _commitment_list(value: object, name: str) -> list[bytes]:
    """A dealer's commitments: 1..255 valid, non-identity elements."""
    if isinstance(value, bytes | bytearray | memoryview | str) or not isinstance(value, Sequence):
        raise InvalidInputError(f"{name} must be a list of commitments")
    if not 1 <= len(value) <= MAX_HOLDERS:
        raise InvalidInputError(f"{name} must hold 1..{MAX_HOLDERS} commitments")
    return [_element(v, f"{name}[{k}]") for k, v in enumerate(value)]


def _polynomial_in_exponent(commitments: Sequence[bytes], x: int) -> bytes:
    """Σ_k x^k A_k by Horner's rule on points: the commitment to f(x)·G."""
    point = _int_scalar(x)
    acc = commitments[-1]
    for commitment in reversed(commitments[:-1]):
        acc = _add(_mul(point, acc), commitment)
    return acc


def _qualified(all_commitments: object) -> dict[int, list[bytes]]:
    """Every dealer's commitments, validated; a malformed or odd-length set names its dealer.
    At least `t` dealers: fewer could all be dishonest and know the key between them."""
    if not isinstance(all_commitments, Mapping):
        raise InvalidInputError("all_commitments must be a mapping from dealer index")
    dealers = _indices(list(all_commitments), "dealers")
    out: dict[int, list[bytes]] = {}
    for dealer in dealers:
        try:
            out[dealer] = _commitment_list(all_commitments[dealer], f"dealer {dealer} commitments")
        except VoprfError as exc:
            raise BadDealing(dealer, f"dealer {dealer}: {exc}") from None
    lengths = Counter(len(c) for c in out.values())
    t, _ = lengths.most_common(1)[0]
    odd = sorted(d for d, c in out.items() if len(c) != t)
    if odd:
        raise BadDealing(odd[0], f"dealer {odd[0]} committed to threshold "
                                 f"{len(out[odd[0]])}, the others to {t}")
    if len(out) < t:
        raise InsufficientShares(f"{len(out)} qualified dealers, threshold is {t}")
    return out


def _summed(all_commitments: dict[int, list[bytes]]) -> list[bytes]:
    """Σ_j A_{j,k} per k: the commitments to the joint polynomial Σ_j f_j."""
    columns = zip(*all_commitments.values(), strict=True)
    summed = []
    for column in columns:
        total = _IDENTITY
        for commitment in column:
            total = _add(total, commitment)
        summed.append(total)
    return summed


# --------------------------------------------------------------------------- public API


def deal(threshold: int, indices: Sequence[int]) -> Dealing:
    """A fresh random polynomial of degree threshold-1: its commitments and one share per
    index (every participant, the dealer included); the polynomial itself is dropped."""
    recipients = _indices(indices, "indices")
    t, _ = _threshold_and_count(threshold, len(recipients))
    coefficients = _random_polynomial(_random_scalar(), t - 1, recipients)
    return Dealing(
        threshold=t,
        commitments=tuple(_mul_base(a) for a in coefficients),
        shares={i: _polynomial_at(coefficients, i) for i in recipients},
    )


def verify_dealt_share(index: int, share: bytes, commitments: Sequence[bytes]) -> bool:
    """share·G == Σ_k index^k A_k. False for a share or commitment the dealer got wrong
    (malformed included: that is the dealer's fault); a bad index is the caller's and
    raises."""
    x = _index(index, "index")
    try:
        secret = _scalar(share, "share")
        points = _commitment_list(commitments, "commitments")
    except VoprfError:
        return False
    return _mul_base(secret) == _polynomial_in_exponent(points, x)


def finish(
    index: int, shares_received: Mapping[int, bytes], all_commitments: Mapping[int, Sequence[bytes]]
) -> Share:
    """Holder `index`'s share of the joint key: Σ_j f_j(index) over the qualified dealers
    (the keys of all_commitments). Refuses, naming the dealer, if any share is missing,
    unexpected or does not match its dealer's commitments."""
    x = _index(index, "index")
    dealers = _qualified(all_commitments)
    if not isinstance(shares_received, Mapping):
        raise InvalidInputError("shares_received must be a mapping from dealer index")
    unexpected = sorted(set(_indices(list(shares_received), "shares_received")) - set(dealers))
    if unexpected:
        raise BadDealing(unexpected[0], f"a share from dealer {unexpected[0]}, "
                                        "which is not qualified")
    total = bytes(32)
    for dealer, commitments in dealers.items():
        if dealer not in shares_received:
            raise BadDealing(dealer, f"no share from dealer {dealer}")
        if not verify_dealt_share(x, shares_received[dealer], commitments):
            raise BadDealing(dealer, f"share from dealer {dealer} does not match its "
                                     "commitments")
        total = pysodium.crypto_core_ristretto255_scalar_add(total, shares_received[dealer])
    if _is_zero(total):  # probability ~2^-252; a zero share cannot evaluate
        raise ThresholdError("the dealt shares sum to zero: run the ceremony again")
    return Share(x, total)


def public_key_from(all_commitments: Mapping[int, Sequence[bytes]]) -> bytes:
    """pkS = Σ_j A_{j,0} over the qualified dealers: what the directory publishes."""
    key = _summed(_qualified(all_commitments))[0]
    if key == _IDENTITY:
        raise ThresholdError("the dealers' constants sum to zero: run the ceremony again")
    return key


def public_share_from(index: int, all_commitments: Mapping[int, Sequence[bytes]]) -> bytes:
    """P_i = Σ_j Σ_k i^k A_{j,k}: holder i's public share, computable by anyone."""
    x = _index(index, "index")
    share = _polynomial_in_exponent(_summed(_qualified(all_commitments)), x)
    if share == _IDENTITY:
        raise ThresholdError(f"public share of index {x} is the identity: run the ceremony again")
    return share
