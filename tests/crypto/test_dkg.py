"""Tests for samenloop.crypto.dkg: a key nobody holds, usable by any t of n holders."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from samenloop.crypto import dkg, threshold, voprf
from samenloop.crypto.dkg import BadDealing, Dealing
from samenloop.crypto.threshold import (
    InsufficientShares,
    InvalidSplitError,
    Share,
    ThresholdError,
)
from samenloop.crypto.voprf import InvalidInputError, Mode, VoprfError
from tests.support.keyholders import reconstruct_key

SHAPES = [(1, 1), (2, 3), (3, 5)]


def _ceremony(t: int, n: int) -> tuple[dict[int, Dealing], dict[int, list[bytes]]]:
    indices = list(range(1, n + 1))
    dealings = {j: dkg.deal(t, indices) for j in indices}
    return dealings, {j: list(d.commitments) for j, d in dealings.items()}


def _finish_all(dealings: dict[int, Dealing], commitments: dict[int, list[bytes]]) -> list[Share]:
    return [
        dkg.finish(i, {j: d.shares[i] for j, d in dealings.items()}, commitments)
        for i in sorted(dealings)
    ]


@pytest.mark.parametrize(("t", "n"), SHAPES, ids=[f"{t}-of-{n}" for t, n in SHAPES])
def test_dkg_end_to_end(t: int, n: int) -> None:
    dealings, commitments = _ceremony(t, n)
    for j, dealing in dealings.items():
        assert dealing.threshold == t and len(dealing.commitments) == t
        for i, share in dealing.shares.items():
            assert dkg.verify_dealt_share(i, share, dealing.commitments), (j, i)
    shares = _finish_all(dealings, commitments)
    pk = dkg.public_key_from(commitments)
    public = {s.index: dkg.public_share_from(s.index, commitments) for s in shares}
    assert public == {s.index: threshold.public_share(s.secret) for s in shares}

    keys = {reconstruct_key(list(subset)) for subset in itertools.combinations(shares, t)}
    assert len(keys) == 1  # every t-subset gives the same key ...
    key = keys.pop()
    assert voprf.public_key(key) == pk  # ... the published one
    if t > 1:
        assert all(reconstruct_key(list(s)) != key for s in itertools.combinations(shares, t - 1))

    data = [b"Pieter van den Berg 1984-03-12", b"Tjeerd Dijkstra"]
    pairs = [voprf.blind(x, Mode.VOPRF) for x in data]
    blinded = [e for _, e in pairs]
    for subset in itertools.combinations(shares, t):
        partials = {}
        for s in subset:
            evaluated, proof = threshold.evaluate_share(s.secret, blinded)
            threshold.verify_share_evaluation(public[s.index], blinded, evaluated, proof)
            partials[s.index] = evaluated
        combined = threshold.combine(pk, public, partials, threshold=t)
        for x, (r, _), e in zip(data, pairs, combined, strict=True):
            assert voprf.finalize(x, r, e, Mode.VOPRF) == voprf.evaluate(key, x, Mode.VOPRF)


def test_dealing_keeps_no_coefficients_and_hides_shares() -> None:
    dealing = dkg.deal(2, [1, 2, 3])
    assert [f.name for f in dataclasses.fields(dealing)] == ["threshold", "commitments", "shares"]
    text = repr(dealing)
    assert "shares" not in text
    assert all(s.hex() not in text and repr(s) not in text for s in dealing.shares.values())
    assert dkg.deal(2, [1, 2, 3]).commitments != dealing.commitments


def test_bad_share_is_detected_and_dealer_named() -> None:
    dealings, commitments = _ceremony(2, 3)
    received = {j: d.shares[3] for j, d in dealings.items()}
    received[2] = dealings[2].shares[1]  # dealer 2 sends holder 3 the share meant for 1
    assert not dkg.verify_dealt_share(3, received[2], commitments[2])
    with pytest.raises(BadDealing, match="dealer 2 does not match") as caught:
        dkg.finish(3, received, commitments)
    assert caught.value.dealer == 2

    # A share checked against another dealer's commitments fails too.
    assert not dkg.verify_dealt_share(3, dealings[1].shares[3], commitments[2])
    # Malformed shares are the dealer's fault: False, not an exception.
    for bad in (bytes(32), b"\xff" * 32, dealings[1].shares[3][:31], "text"):
        assert not dkg.verify_dealt_share(3, bad, commitments[1])  # type: ignore[arg-type]
        with pytest.raises(BadDealing) as caught:
            dkg.finish(3, {**received, 2: dealings[2].shares[3], 1: bad}, commitments)
        assert caught.value.dealer == 1


def test_bad_commitments_name_the_dealer() -> None:
    dealings, commitments = _ceremony(2, 3)
    received = {j: d.shares[1] for j, d in dealings.items()}
    cases: list[tuple[int, list[bytes], str]] = [
        (3, [commitments[3][0]], "dealer 3 committed to threshold 1, the others to 2"),
        (2, [commitments[2][0], bytes(32)], "dealer 2: .*identity"),
        (1, [commitments[1][0], b"\xff" * 32], "dealer 1: .*valid"),
        (2, [commitments[2][0], commitments[2][1][:31]], "dealer 2: .*32 bytes"),
        (3, [], "dealer 3: .*1..255 commitments"),
    ]
    for dealer, bad, message in cases:
        tampered = {**commitments, dealer: bad}
        calls: list[Any] = [lambda c: dkg.finish(1, received, c), dkg.public_key_from,
                            lambda c: dkg.public_share_from(1, c)]
        for call in calls:
            with pytest.raises(BadDealing, match=message) as caught:
                call(tampered)
            assert caught.value.dealer == dealer
        assert not dkg.verify_dealt_share(1, received[dealer], bad)
    # Commitments swapped between two dealers: both shares fail, the first is named.
    swapped = {**commitments, 1: commitments[2], 2: commitments[1]}
    with pytest.raises(BadDealing) as caught:
        dkg.finish(1, received, swapped)
    assert caught.value.dealer == 1


def test_missing_or_unqualified_share_refused() -> None:
    dealings, commitments = _ceremony(2, 3)
    received = {j: d.shares[2] for j, d in dealings.items()}
    with pytest.raises(BadDealing, match="no share from dealer 3") as caught:
        dkg.finish(2, {1: received[1], 2: received[2]}, commitments)
    assert caught.value.dealer == 3
    # Dealer 3 disqualified: its share must not be summed in.
    qualified = {1: commitments[1], 2: commitments[2]}
    with pytest.raises(BadDealing, match="dealer 3, which is not qualified") as caught:
        dkg.finish(2, received, qualified)
    assert caught.value.dealer == 3
    share = dkg.finish(2, {1: received[1], 2: received[2]}, qualified)
    assert threshold.public_share(share.secret) == dkg.public_share_from(2, qualified)


def test_fewer_qualified_dealers_than_threshold_refused() -> None:
    dealings, commitments = _ceremony(3, 4)
    qualified = {1: commitments[1], 2: commitments[2]}
    with pytest.raises(InsufficientShares, match="2 qualified dealers, threshold is 3"):
        dkg.public_key_from(qualified)
    with pytest.raises(InsufficientShares):
        dkg.finish(1, {1: dealings[1].shares[1], 2: dealings[2].shares[1]}, qualified)
    with pytest.raises(InsufficientShares):
        dkg.public_key_from({})


def test_exception_hierarchy() -> None:
    assert issubclass(BadDealing, ThresholdError)
    assert issubclass(ThresholdError, VoprfError)
    assert BadDealing(4, "x").dealer == 4


@pytest.mark.parametrize(
    ("t", "indices", "message"),
    [(3, [1, 2], "threshold 3 is outside 1..count"), (0, [1, 2], "threshold 0"),
     (1, [0, 1], "0 is outside"), (1, [1, 256], "256 is outside"),
     (2, [1, 2, 2], "index 2 more than once"), (True, [1, 2], "threshold must be an int"),
     (1, b"\x01", "list of share indices")],
    # Explicit ids: a bytes parameter breaks id generation when mutmut disables escaping.
    ids=["t-over-count", "t-zero", "index-zero", "index-256", "duplicate", "bool", "bytes"],
)
def test_bad_deal_parameters_refused(t: Any, indices: Any, message: str) -> None:
    with pytest.raises(InvalidSplitError, match=message):
        dkg.deal(t, indices)


def test_bad_indices_and_shapes_refused() -> None:
    dealings, commitments = _ceremony(2, 3)
    received = {j: d.shares[1] for j, d in dealings.items()}
    for index in (0, 256, True, "1"):
        with pytest.raises(InvalidSplitError):
            dkg.verify_dealt_share(index, received[1], commitments[1])  # type: ignore[arg-type]
        with pytest.raises(InvalidSplitError):
            dkg.finish(index, received, commitments)  # type: ignore[arg-type]
        with pytest.raises(InvalidSplitError):
            dkg.public_share_from(index, commitments)  # type: ignore[arg-type]
    with pytest.raises(InvalidSplitError, match="0 is outside"):
        dkg.public_key_from({0: commitments[1], 1: commitments[1]})
    with pytest.raises(InvalidInputError, match="mapping"):
        dkg.public_key_from([commitments[1]])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="mapping"):
        dkg.finish(1, list(received.values()), commitments)  # type: ignore[arg-type]
    with pytest.raises(BadDealing, match=r"dealer 1: .*list of commitments"):
        dkg.public_key_from({1: commitments[1][0], 2: commitments[2]})  # type: ignore[dict-item]


def test_largest_dealing_accepted() -> None:
    """255 holders with threshold 255: 255 commitments per dealer is the limit, not past it."""
    indices = list(range(1, 256))
    dealing = dkg.deal(255, indices)
    assert len(dealing.commitments) == 255
    assert dkg.verify_dealt_share(255, dealing.shares[255], dealing.commitments)
    assert not dkg.verify_dealt_share(255, dealing.shares[255], [*dealing.commitments,
                                                                dealing.commitments[0]])
    with pytest.raises(InsufficientShares, match="1 qualified dealers, threshold is 255"):
        dkg.finish(7, {1: dealing.shares[7]}, {1: list(dealing.commitments)})


def test_refusals_name_the_field() -> None:
    dealings, commitments = _ceremony(2, 3)
    received = {j: d.shares[1] for j, d in dealings.items()}
    rows: list[tuple[Any, str]] = [
        (lambda: dkg.deal(2, [1, 0]), "indices entry 0"),
        (lambda: dkg.verify_dealt_share(0, received[1], commitments[1]), "index 0"),
        (lambda: dkg.finish(0, received, commitments), "index 0"),
        (lambda: dkg.finish(1, {**received, 0: received[1]}, commitments),
         "shares_received entry 0"),
        (lambda: dkg.finish(1, list(received.values()), commitments), "shares_received"),
        (lambda: dkg.public_share_from(0, commitments), "index 0"),
        (lambda: dkg.public_key_from({0: commitments[1]}), "dealers entry 0"),
        (lambda: dkg.public_key_from([commitments[1]]), "all_commitments"),
        (lambda: dkg.public_key_from({1: commitments[1], 2: [commitments[2][0], b"x"]}),
         r"dealer 2 commitments\[1\]"),
    ]
    for call, field in rows:
        with pytest.raises(VoprfError, match=field):
            call()
