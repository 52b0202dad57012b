"""Tests for samenloop.crypto.threshold: a split key evaluates exactly as the single key."""

from __future__ import annotations

import itertools
from typing import Any

import pysodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samenloop.crypto import threshold, voprf
from samenloop.crypto.threshold import (
    CombinationMismatch,
    InsufficientShares,
    InvalidSplitError,
    Share,
    ThresholdError,
)
from samenloop.crypto.voprf import (
    InvalidElementError,
    InvalidInputError,
    InvalidScalarError,
    Mode,
    VerifyError,
    VoprfError,
)
from tests.crypto.test_voprf import DOC, LOAD_ERROR, _flip, _h, _hl
from tests.support.keyholders import reconstruct_key

SHAPES = [(1, 1), (2, 3), (3, 5)]
PROPS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _vector_key() -> tuple[bytes, bytes]:
    if LOAD_ERROR:
        pytest.fail(LOAD_ERROR)
    sk, pk = voprf.derive_key_pair(_h(DOC["Seed"]), _h(DOC["KeyInfo"]), Mode.VOPRF)
    assert sk.hex() == DOC["modes"]["VOPRF"]["skSm"]
    return sk, pk



def _partials(shares: list[Share], blinded: list[bytes]) -> dict[int, list[bytes]]:
    """What a node collects: each holder's answer, checked against its public share."""
    out = {}
    for s in shares:
        evaluated, proof = threshold.evaluate_share(s.secret, blinded)
        threshold.verify_share_evaluation(threshold.public_share(s.secret), blinded, evaluated,
                                          proof)
        out[s.index] = evaluated
    return out


def _public_shares(shares: list[Share]) -> dict[int, bytes]:
    return {s.index: threshold.public_share(s.secret) for s in shares}


# --------------------------------------------------------------------------- RFC 9497 key


@pytest.mark.parametrize(("t", "n"), SHAPES, ids=[f"{t}-of-{n}" for t, n in SHAPES])
def test_split_vector_key_every_subset_gives_vector_output(t: int, n: int) -> None:
    sk, pk = _vector_key()
    shares = threshold.split_key(sk, t, n)
    assert [s.index for s in shares] == list(range(1, n + 1))
    public = _public_shares(shares)
    vectors = DOC["modes"]["VOPRF"]["vectors"]
    assert any(v.get("Batch", 1) > 1 for v in vectors)
    for vector in vectors:
        inputs, blinds = _hl(vector["Input"]), _hl(vector["Blind"])
        blinded = _hl(vector["BlindedElement"])
        for subset in itertools.combinations(shares, t):
            partials = _partials(list(subset), blinded)
            combined = threshold.combine(pk, public, partials, threshold=t)
            assert combined == _hl(vector["EvaluationElement"])
            outputs = [voprf.finalize(x, r, e, Mode.VOPRF)
                       for x, r, e in zip(inputs, blinds, combined, strict=True)]
            assert outputs == _hl(vector["Output"])
            assert threshold.combine(pk, public, partials) == combined  # threshold optional


def test_every_subset_reconstructs_key_and_public_key() -> None:
    sk, pk = _vector_key()
    shares = threshold.split_key(sk, 3, 5)
    public = _public_shares(shares)
    for subset in itertools.combinations(shares, 3):
        assert reconstruct_key(list(subset)) == sk
        assert threshold.combined_public_key({s.index: public[s.index] for s in subset}) == pk
    for subset in itertools.combinations(shares, 2):
        assert reconstruct_key(list(subset)) != sk
        assert threshold.combined_public_key({s.index: public[s.index] for s in subset}) != pk


def test_one_of_one_share_is_the_key() -> None:
    sk, _ = _vector_key()
    assert threshold.split_key(sk, 1, 4)[2].secret == sk


def test_split_is_random_per_call() -> None:
    sk, _ = _vector_key()
    assert threshold.split_key(sk, 2, 3) != threshold.split_key(sk, 2, 3)


def test_lagrange_weights_sum_to_one() -> None:
    weights = threshold.lagrange_at_zero([7, 2, 255])
    total = bytes(32)
    for w in weights.values():
        total = pysodium.crypto_core_ristretto255_scalar_add(total, w)
    assert total == (1).to_bytes(32, "little")
    assert threshold.lagrange_at_zero([5]) == {5: (1).to_bytes(32, "little")}


def test_share_repr_hides_secret() -> None:
    sk, _ = _vector_key()
    share = threshold.split_key(sk, 2, 3)[0]
    for text in (repr(share), str(share)):
        assert "secret" not in text
        assert share.secret.hex() not in text and repr(share.secret) not in text
    assert "index=1" in repr(share)


# --------------------------------------------------------------------------- random keys


@PROPS
@given(
    seed=st.binary(min_size=32, max_size=32),
    data=st.lists(st.binary(max_size=40), min_size=1, max_size=3),
    shape=st.sampled_from(SHAPES),
    order=st.randoms(use_true_random=False),
)
def test_random_keys_any_subset_equals_single_key(
    seed: bytes, data: list[bytes], shape: tuple[int, int], order: Any
) -> None:
    sk, pk = voprf.derive_key_pair(seed, b"threshold", Mode.VOPRF)
    t, n = shape
    shares = threshold.split_key(sk, t, n)
    subset = order.sample(shares, t)
    pairs = [voprf.blind(x, Mode.VOPRF) for x in data]
    blinded = [e for _, e in pairs]
    combined = threshold.combine(pk, _public_shares(shares), _partials(subset, blinded),
                                 threshold=t)
    assert combined == voprf.blind_evaluate(sk, blinded)
    for x, (r, _), e in zip(data, pairs, combined, strict=True):
        assert voprf.finalize(x, r, e, Mode.VOPRF) == voprf.evaluate(sk, x, Mode.VOPRF)


# --------------------------------------------------------------------------- lying holders


def _setup() -> tuple[bytes, bytes, list[Share], list[bytes]]:
    sk, pk = voprf.derive_key_pair(b"\x11" * 32, b"threshold refusals", Mode.VOPRF)
    blinded = [voprf.blind(x, Mode.VOPRF)[1] for x in (b"alpha", b"beta", b"gamma")]
    return sk, pk, threshold.split_key(sk, 2, 3), blinded


def test_wrong_partial_or_bad_proof_refused() -> None:
    _, _, shares, blinded = _setup()
    holder, other = shares[0], shares[1]
    p_holder = threshold.public_share(holder.secret)
    evaluated, proof = threshold.evaluate_share(holder.secret, blinded)
    threshold.verify_share_evaluation(p_holder, blinded, evaluated, proof)

    # Another holder's (valid) answer passed off as this holder's.
    other_eval, other_proof = threshold.evaluate_share(other.secret, blinded)
    with pytest.raises(VerifyError):
        threshold.verify_share_evaluation(p_holder, blinded, other_eval, other_proof)
    # One element evaluated with a wrong share, proof kept.
    wrong = [*evaluated[:2], voprf.blind_evaluate(other.secret, blinded[2:])[0]]
    with pytest.raises(VerifyError):
        threshold.verify_share_evaluation(p_holder, blinded, wrong, proof)
    # Reordered answers, a subset of the batch, and flipped proof bits.
    with pytest.raises(VerifyError):
        threshold.verify_share_evaluation(p_holder, blinded, evaluated[::-1], proof)
    with pytest.raises(VerifyError):
        threshold.verify_share_evaluation(p_holder, blinded[:2], evaluated[:2], proof)
    for index, bit in ((0, 0), (33, 2), (31, 7), (63, 7)):
        with pytest.raises(VerifyError):
            threshold.verify_share_evaluation(p_holder, blinded, evaluated,
                                              _flip(proof, index, bit))
    # A plain VOPRF answer by the full key is no answer for this holder either.
    sk, pk = voprf.derive_key_pair(b"\x11" * 32, b"threshold refusals", Mode.VOPRF)
    full_eval, full_proof = voprf.blind_evaluate_verifiable(sk, pk, blinded)
    with pytest.raises(VerifyError):
        threshold.verify_share_evaluation(p_holder, blinded, full_eval, full_proof)


def test_combination_against_wrong_public_key_refused() -> None:
    _, pk, shares, blinded = _setup()
    public = _public_shares(shares)
    partials = _partials(shares[:2], blinded)
    other_pk = voprf.generate_key_pair(Mode.VOPRF)[1]
    with pytest.raises(CombinationMismatch, match="do not combine to the public key"):
        threshold.combine(other_pk, public, partials)
    # Shares of another key, each with a valid proof, do not combine to this key either.
    other_shares = threshold.split_key(voprf.generate_key_pair(Mode.VOPRF)[0], 2, 3)
    with pytest.raises(CombinationMismatch):
        threshold.combine(pk, _public_shares(other_shares), _partials(other_shares[:2], blinded))
    # A holder whose directory entry is swapped for another holder's public share.
    swapped = {1: public[2], 2: public[1], 3: public[3]}
    with pytest.raises(CombinationMismatch):
        threshold.combine(pk, swapped, partials)
    # A partial from an index without a public share.
    with pytest.raises(CombinationMismatch, match="no public share for index 3"):
        threshold.combine(pk, {1: public[1], 2: public[2]}, _partials(shares[1:], blinded))


def test_too_few_or_too_many_partials_refused() -> None:
    _, pk, shares, blinded = _setup()
    public = _public_shares(shares)
    one = _partials(shares[:1], blinded)
    with pytest.raises(InsufficientShares, match="1 partial evaluations, threshold is 2"):
        threshold.combine(pk, public, one, threshold=2)
    with pytest.raises(CombinationMismatch):  # without the threshold: the key check catches it
        threshold.combine(pk, public, one)
    with pytest.raises(InsufficientShares):
        threshold.combine(pk, public, {})
    everyone = _partials(shares, blinded)
    with pytest.raises(InvalidSplitError, match="expected exactly 2"):
        threshold.combine(pk, public, everyone, threshold=2)


def test_partials_of_different_batch_sizes_refused() -> None:
    _, pk, shares, blinded = _setup()
    partials = _partials(shares[:2], blinded)
    partials[2] = partials[2][:2]
    with pytest.raises(InvalidInputError, match="batch size"):
        threshold.combine(pk, _public_shares(shares), partials)


# --------------------------------------------------------------------------- bad input


def test_exception_hierarchy() -> None:
    for exc in (InsufficientShares, CombinationMismatch, InvalidSplitError):
        assert issubclass(exc, ThresholdError)
    assert issubclass(InvalidSplitError, InvalidInputError)
    assert issubclass(ThresholdError, VoprfError)
    assert issubclass(ThresholdError, ValueError)


@pytest.mark.parametrize(
    ("t", "n", "message"),
    [(3, 2, "threshold 3 is outside 1..count"), (0, 3, "threshold 0"), (1, 0, "count 0"),
     (1, 256, "count 256"), (True, 3, "threshold must be an int"), (2, "3", "count must be")],
)
def test_split_parameters_refused(t: Any, n: Any, message: str) -> None:
    sk, _ = _vector_key()
    with pytest.raises(InvalidSplitError, match=message):
        threshold.split_key(sk, t, n)


def test_split_limits_accepted() -> None:
    sk, pk = _vector_key()
    shares = threshold.split_key(sk, 255, 255)
    assert shares[-1].index == 255
    assert threshold.combined_public_key(_public_shares(shares)) == pk


@pytest.mark.parametrize(
    ("indices", "error", "message"),
    [([], InsufficientShares, "empty"), ([0, 1], InvalidSplitError, "0 is outside"),
     ([1, 256], InvalidSplitError, "256 is outside"),
     ([2, 5, 2], InvalidSplitError, "index 2 more than once"),
     (["1"], InvalidSplitError, "must be an int"), ([1.0], InvalidSplitError, "must be an int"),
     (b"\x01\x02", InvalidSplitError, "list of share indices"),
     (list(range(1, 257)), InvalidSplitError, "more than 255")],
    # Explicit ids: a bytes parameter breaks id generation when mutmut disables escaping.
    ids=["empty", "zero", "256", "duplicate", "str", "float", "bytes", "256-indices"],
)
def test_bad_indices_refused(indices: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        threshold.lagrange_at_zero(indices)


def test_bad_shares_refused() -> None:
    sk, _ = _vector_key()
    for index in (0, 256, -1, True):
        with pytest.raises(InvalidSplitError):
            Share(index, sk)
    with pytest.raises(InvalidInputError, match="share secret must be 32 bytes"):
        Share(1, sk[:31])
    with pytest.raises(InvalidScalarError):
        Share(1, bytes(32))
    for bad in (sk[:31], sk + b"\x00", sk.hex()):
        with pytest.raises(InvalidInputError):
            threshold.split_key(bad, 2, 3)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            threshold.public_share(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidScalarError):
        threshold.split_key(bytes(32), 2, 3)


def test_bad_elements_and_lengths_refused() -> None:
    _, pk, shares, blinded = _setup()
    secret = shares[0].secret
    p = threshold.public_share(secret)
    evaluated, proof = threshold.evaluate_share(secret, blinded)
    for bad in ([blinded[0][:31]], blinded[0], [], [blinded[0].hex()]):
        with pytest.raises(InvalidInputError):
            threshold.evaluate_share(secret, bad)  # type: ignore[arg-type]
    for element in (bytes(32), b"\xff" * 32):
        with pytest.raises(InvalidElementError):
            threshold.evaluate_share(secret, [element])
        with pytest.raises(InvalidElementError):
            threshold.verify_share_evaluation(element, blinded, evaluated, proof)
        with pytest.raises(InvalidElementError):
            threshold.verify_share_evaluation(p, blinded, [element, *evaluated[1:]], proof)
        with pytest.raises(InvalidElementError):
            threshold.combine(element, _public_shares(shares), _partials(shares[:2], blinded))
        with pytest.raises(InvalidElementError):
            threshold.combined_public_key({1: element, 2: p})
    with pytest.raises(InvalidInputError, match="blinded has 3 elements, evaluated 2"):
        threshold.verify_share_evaluation(p, blinded, evaluated[:2], proof)
    for bad_proof in (proof[:63], proof + b"\x00", proof.hex()):
        with pytest.raises(InvalidInputError, match="proof"):
            threshold.verify_share_evaluation(p, blinded, evaluated, bad_proof)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="mapping"):
        threshold.combine(pk, [p], {1: evaluated})  # type: ignore[arg-type]
    with pytest.raises(InvalidSplitError, match="0 is outside"):
        threshold.combine(pk, _public_shares(shares), {0: evaluated, 1: evaluated})


def _field_rows() -> list[Any]:
    """One bad argument per call, and the field its refusal must name."""
    _, pk, shares, blinded = _setup()
    secret = shares[0].secret
    p = threshold.public_share(secret)
    evaluated, proof = threshold.evaluate_share(secret, blinded)
    public = _public_shares(shares)
    partials = _partials(shares[:2], blinded)
    bad = b"\xff" * 32
    rows: list[tuple[str, Any, str]] = [
        ("public_share", lambda: threshold.public_share(secret[:5]), "share secret"),
        ("evaluate_share secret", lambda: threshold.evaluate_share(secret[:5], blinded),
         "share secret"),
        ("evaluate_share blinded", lambda: threshold.evaluate_share(secret, [bad]),
         r"blinded\[0\]"),
        ("evaluate_share batch", lambda: threshold.evaluate_share(secret, []), "blinded"),
        ("verify public_share", lambda: threshold.verify_share_evaluation(
            bad, blinded, evaluated, proof), "public_share"),
        ("verify blinded", lambda: threshold.verify_share_evaluation(
            p, [*blinded[:2], bad], evaluated, proof), r"blinded\[2\]"),
        ("verify evaluated", lambda: threshold.verify_share_evaluation(
            p, blinded, [bad, *evaluated[1:]], proof), r"evaluated\[0\]"),
        ("verify evaluated batch", lambda: threshold.verify_share_evaluation(
            p, blinded, [], proof), "evaluated"),
        ("verify proof", lambda: threshold.verify_share_evaluation(
            p, blinded, evaluated, "text"), "proof"),
        ("combined_public_key", lambda: threshold.combined_public_key({1: p, 2: bad}),
         r"public_shares\[2\]"),
        ("combined_public_key mapping", lambda: threshold.combined_public_key([p]),
         "public_shares"),
        ("combined_public_key index", lambda: threshold.combined_public_key({0: p}),
         "public_shares entry 0"),
        ("lagrange index", lambda: threshold.lagrange_at_zero([1, 300]), "indices entry 300"),
        ("combine public_key", lambda: threshold.combine(bad, public, partials),
         "public_key"),
        ("combine public_shares", lambda: threshold.combine(pk, [p], partials),
         "public_shares"),
        ("combine public share", lambda: threshold.combine(pk, {**public, 2: bad}, partials),
         r"public_shares\[2\]"),
        ("combine evaluations", lambda: threshold.combine(pk, public, [evaluated]),
         "evaluations"),
        ("combine evaluations index", lambda: threshold.combine(pk, public, {0: evaluated}),
         "evaluations entry 0"),
        ("combine partial", lambda: threshold.combine(
            pk, public, {1: partials[1], 2: [bad, *partials[2][1:]]}), r"evaluations\[2\]\[0\]"),
        ("combine partial batch", lambda: threshold.combine(
            pk, public, {1: partials[1], 2: []}), r"evaluations\[2\]"),
    ]
    return [pytest.param(call, field, id=name) for name, call, field in rows]


@pytest.mark.parametrize(("call", "field"), _field_rows())
def test_refusals_name_the_field(call: Any, field: str) -> None:
    with pytest.raises(VoprfError, match=field):
        call()
