"""crypto/batch.py: one client batch finishes with one key or with t partial evaluations, and
both give the single-key PRF output; the blinds never show."""

from __future__ import annotations

import pytest

from samenloop.crypto import threshold, voprf
from samenloop.crypto.batch import ClientBatch

INPUTS = [b"samenloop/v1|full|berg|pieter|1985-03-12|venlo", b"samenloop/v1|name_dob|x|y|z"]


def test_one_key_and_t_of_n_give_the_prf_output() -> None:
    sk, pk = voprf.generate_key_pair(voprf.Mode.VOPRF)
    expected = [voprf.evaluate(sk, x, voprf.Mode.VOPRF) for x in INPUTS]
    batch = ClientBatch(INPUTS)
    evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, list(batch.blinded))
    assert batch.finalize(evaluated, proof, pk) == expected

    shares = threshold.split_key(sk, 2, 3)
    public = {s.index: threshold.public_share(s.secret) for s in shares}
    for pair in ((shares[0], shares[2]), (shares[1], shares[2])):
        batch = ClientBatch(INPUTS)
        partials = {}
        for share in pair:
            partial, share_proof = threshold.evaluate_share(share.secret, batch.blinded)
            batch.verify_share(public[share.index], partial, share_proof)
            partials[share.index] = partial
        assert batch.finalize_combined(pk, public, partials, 2) == expected


def test_a_wrong_share_or_count_is_refused_and_nothing_shows_in_repr() -> None:
    sk, _ = voprf.generate_key_pair(voprf.Mode.VOPRF)
    share = threshold.split_key(sk, 2, 3)[0]
    batch = ClientBatch(INPUTS)
    other, _ = voprf.generate_key_pair(voprf.Mode.VOPRF)
    partial, proof = threshold.evaluate_share(other, batch.blinded)
    with pytest.raises(voprf.VerifyError):
        batch.verify_share(threshold.public_share(share.secret), partial, proof)
    with pytest.raises(voprf.InvalidInputError):
        batch.verify_share(threshold.public_share(share.secret), partial[:1], proof)
    assert repr(batch) == "ClientBatch(2 elements)"
    assert not hasattr(batch, "__dict__")  # slots: nothing else is kept on it
