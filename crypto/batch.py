"""The client side of one VOPRF batch: blind inputs, hand over the elements, finalise.

Why: a node pseudonymises either with the coordinator's single key (before the split) or
with t of n key holders' partial evaluations (#13). Both finish exactly as RFC 9497's
VOPRF Finalize, so the tags are the same either way. This object keeps the blinds to
itself (they never leave it, not even in its repr) and offers the two ways to finish, so
node/network.py and node/matching.py compose no protocol steps of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from samenloop.crypto import threshold, voprf

__all__ = ["ClientBatch"]


class ClientBatch:
    """PRF inputs blinded once; `blinded` goes to the evaluator, the rest stays here."""

    __slots__ = ("_blinds", "_inputs", "blinded")

    def __init__(self, inputs: Sequence[bytes]) -> None:
        self._inputs = list(inputs)
        self._blinds: list[bytes] = []
        blinded: list[bytes] = []
        for item in self._inputs:
            b, element = voprf.blind(item, voprf.Mode.VOPRF)
            self._blinds.append(b)
            blinded.append(element)
        self.blinded: tuple[bytes, ...] = tuple(blinded)

    def __len__(self) -> int:
        return len(self._inputs)

    def __repr__(self) -> str:
        return f"ClientBatch({len(self._inputs)} elements)"

    def finalize(self, evaluated: Sequence[bytes], proof: bytes, public_key: bytes
                 ) -> list[bytes]:
        """One evaluator holding the whole key: verify its batch proof against the
        epoch's public key, then unblind and hash. Raises voprf.VoprfError."""
        return voprf.finalize_verifiable(self._inputs, self._blinds, list(evaluated),
                                         list(self.blinded), public_key, proof)

    def verify_share(self, public_share: bytes, evaluated: Sequence[bytes], proof: bytes
                     ) -> None:
        """One key holder's partial evaluation k_i·B of this batch, with its DLEQ proof
        against the holder's public share P_i from the signed directory. Raises
        voprf.VoprfError (a VerifyError for a wrong share or proof)."""
        if len(evaluated) != len(self.blinded):
            raise voprf.InvalidInputError(
                f"the share evaluation has {len(evaluated)} elements; the batch has "
                f"{len(self.blinded)}")
        threshold.verify_share_evaluation(public_share, list(self.blinded), list(evaluated),
                                          proof)

    def finalize_combined(self, public_key: bytes, public_shares: Mapping[int, bytes],
                          evaluations: Mapping[int, Sequence[bytes]], threshold_of: int
                          ) -> list[bytes]:
        """Exactly `threshold_of` verified partial evaluations (by share index) combined
        with Lagrange coefficients, checked against the epoch's combined public key, then
        finalised as the single-key VOPRF: the output equals evaluation under the whole
        key. Raises voprf.VoprfError (threshold's errors are under it)."""
        combined = threshold.combine(public_key, public_shares, evaluations,
                                     threshold=threshold_of)
        return [voprf.finalize(x, r, z, voprf.Mode.VOPRF)
                for x, r, z in zip(self._inputs, self._blinds, combined, strict=True)]
