"""Tests for samenloop.crypto.voprf: RFC 9497 vectors, refusals and round-trip properties."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pysodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samenloop.crypto import _common, voprf
from samenloop.crypto.voprf import (
    InvalidElementError,
    InvalidInputError,
    InvalidScalarError,
    Mode,
    VerifyError,
    VoprfError,
)

VECTOR_FILE = "rfc9497-ristretto255-sha512.json"
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = bytes(32)
NOT_A_POINT = b"\xff" * 32
NEGATIVE_S = b"\x01" + bytes(31)  # canonical field element but "negative", so not ristretto
PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _shared_dir() -> Path:
    """SAMENLOOP_SHARED overrides the sibling checkout /work/shared of the repo root."""
    override = os.environ.get("SAMENLOOP_SHARED")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared"


def _load_cases() -> tuple[dict[str, Any], list[Any], str | None]:
    """Read the shared vector file; an error is reported by the tests, never skipped."""
    path = _shared_dir() / "vectors" / VECTOR_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, [], f"RFC 9497 vector file unusable at {path}: {exc}"
    cases = []
    for name in ("OPRF", "VOPRF"):
        block = doc.get("modes", {}).get(name)
        if block is None:
            return doc, [], f"{path} has no {name} section"
        for i, vector in enumerate(block["vectors"]):
            batch = vector.get("Batch", 1)
            cases.append(pytest.param(name, vector, id=f"{name}-{i}-batch{batch}"))
    return doc, cases, None


DOC, CASES, LOAD_ERROR = _load_cases()


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _hl(value: str | list[str]) -> list[bytes]:
    """Single vectors hold strings, batch vectors lists; normalise to a list."""
    return [_h(v) for v in value] if isinstance(value, list) else [_h(value)]


def _key(mode: Mode) -> tuple[bytes, bytes]:
    return voprf.derive_key_pair(b"\x42" * 32, b"samenloop test key", mode)


def _batch(
    sk: bytes, pk: bytes, inputs: list[bytes]
) -> tuple[list[bytes], list[bytes], list[bytes], bytes]:
    pairs = [voprf.blind(x, Mode.VOPRF) for x in inputs]
    blinds = [b for b, _ in pairs]
    blinded = [e for _, e in pairs]
    evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, blinded)
    return blinds, blinded, evaluated, proof


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


# --------------------------------------------------------------------------- RFC vectors


def test_vector_file_present_and_nonempty() -> None:
    if LOAD_ERROR:
        pytest.fail(LOAD_ERROR)
    assert len(CASES) > 0
    assert {c.values[0] for c in CASES} == {"OPRF", "VOPRF"}
    assert any(c.values[1].get("Batch", 1) > 1 for c in CASES), "batch vector missing"


@pytest.mark.parametrize(
    ("mode_name", "vector"),
    CASES or [pytest.param(None, None, id="vectors-missing")],
)
def test_rfc9497_vector(mode_name: str | None, vector: dict[str, Any] | None) -> None:
    if LOAD_ERROR or mode_name is None or vector is None:
        pytest.fail(LOAD_ERROR or "no RFC 9497 vectors loaded")
    block = DOC["modes"][mode_name]
    mode = Mode(block["mode"])
    assert mode.name == mode_name

    sk, pk = voprf.derive_key_pair(_h(DOC["Seed"]), _h(DOC["KeyInfo"]), mode)
    assert sk.hex() == block["skSm"]
    assert voprf.public_key(sk) == pk
    if "pkSm" in block:
        assert pk.hex() == block["pkSm"]

    inputs = _hl(vector["Input"])
    blinds = _hl(vector["Blind"])
    assert len(inputs) == len(blinds) == vector.get("Batch", 1)
    blinded = []
    for x, r in zip(inputs, blinds, strict=True):
        r_out, element = voprf.blind(x, mode, blind=r)
        assert r_out == r
        blinded.append(element)
    assert blinded == _hl(vector["BlindedElement"])

    expected_eval = _hl(vector["EvaluationElement"])
    outputs = _hl(vector["Output"])
    assert voprf.blind_evaluate(sk, blinded) == expected_eval
    if mode is Mode.VOPRF:
        evaluated, proof = voprf.blind_evaluate_verifiable(
            sk, pk, blinded, proof_random=_h(vector["ProofRandomScalar"])
        )
        assert evaluated == expected_eval
        assert proof.hex() == vector["Proof"]
        assert voprf.finalize_verifiable(inputs, blinds, evaluated, blinded, pk, proof) == outputs

    for x, r, e, out in zip(inputs, blinds, expected_eval, outputs, strict=True):
        assert voprf.finalize(x, r, e, mode) == out
        assert voprf.evaluate(sk, x, mode) == out


def test_expand_message_xmd_rfc9380_k3() -> None:
    """The RFC 9497 vectors only use 64-byte output; cover the multi-block path too."""
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    expand = _common._expand_message_xmd
    assert expand(b"", dst, 0x20).hex() == (
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    )
    assert expand(b"abc", dst, 0x20).hex() == (
        "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"
    )
    assert expand(b"abc", dst, 0x80).hex() == (
        "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
        "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
        "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
        "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"
    )


def test_context_strings_differ_by_mode() -> None:
    assert voprf.context_string(Mode.OPRF) == b"OPRFV1-\x00-ristretto255-SHA512"
    assert voprf.context_string(Mode.VOPRF) == b"OPRFV1-\x01-ristretto255-SHA512"
    r = voprf.generate_key_pair(Mode.OPRF)[0]
    assert voprf.blind(b"x", Mode.OPRF, r)[1] != voprf.blind(b"x", Mode.VOPRF, r)[1]


# --------------------------------------------------------------------------- refusals


def test_exception_hierarchy() -> None:
    for exc in (InvalidInputError, InvalidElementError, InvalidScalarError, VerifyError):
        assert issubclass(exc, VoprfError)
    assert issubclass(VoprfError, ValueError)


@pytest.mark.parametrize("bad", [IDENTITY, NOT_A_POINT, NEGATIVE_S], ids=["identity", "ff", "neg"])
def test_bad_elements_refused(bad: bytes) -> None:
    sk, pk = _key(Mode.VOPRF)
    r, good = voprf.blind(b"in", Mode.VOPRF)
    evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, [good])
    with pytest.raises(InvalidElementError):
        voprf.blind_evaluate(sk, [good, bad])
    with pytest.raises(InvalidElementError):
        voprf.blind_evaluate_verifiable(sk, pk, [bad])
    with pytest.raises(InvalidElementError):
        voprf.blind_evaluate_verifiable(sk, bad, [good])
    with pytest.raises(InvalidElementError):
        voprf.finalize(b"in", r, bad, Mode.OPRF)
    with pytest.raises(InvalidElementError):
        voprf.finalize_verifiable([b"in"], [r], [bad], [good], pk, proof)
    with pytest.raises(InvalidElementError):
        voprf.finalize_verifiable([b"in"], [r], evaluated, [bad], pk, proof)
    with pytest.raises(InvalidElementError):
        voprf.finalize_verifiable([b"in"], [r], evaluated, [good], bad, proof)


def test_wrong_lengths_and_types_refused() -> None:
    sk, pk = _key(Mode.VOPRF)
    r, good = voprf.blind(b"in", Mode.VOPRF)
    evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, [good])
    cases: list[tuple[Any, ...]] = [
        (voprf.derive_key_pair, b"\x00" * 31, b"", Mode.OPRF),
        (voprf.derive_key_pair, b"\x00" * 32, b"i" * 65536, Mode.OPRF),
        (voprf.derive_key_pair, "a" * 32, b"", Mode.OPRF),
        (voprf.blind, b"x" * 65536, Mode.OPRF),
        (voprf.blind, "text", Mode.OPRF),
        (voprf.blind, b"x", Mode.OPRF, r[:31]),
        (voprf.blind, b"x", 2),
        (voprf.blind, b"x", "OPRF"),
        (voprf.blind_evaluate, sk + b"\x00", [good]),
        (voprf.blind_evaluate, sk, [good[:31]]),
        (voprf.blind_evaluate, sk, good),
        (voprf.blind_evaluate, sk, [good.hex()]),
        (voprf.blind_evaluate_verifiable, sk, pk[:31], [good]),
        (voprf.blind_evaluate_verifiable, sk, voprf.generate_key_pair(Mode.VOPRF)[1], [good]),
        (voprf.blind_evaluate_verifiable, sk, pk, [good], b"\x01" * 33),
        (voprf.evaluate, sk, b"x" * 65536, Mode.OPRF),
        (voprf.finalize, b"x" * 65536, r, good, Mode.OPRF),
        (voprf.finalize, b"in", r, good + b"\x00", Mode.OPRF),
        (voprf.finalize_verifiable, [b"in"], [r], evaluated, [good], pk, proof[:63]),
        (voprf.finalize_verifiable, [b"in"], [r], evaluated, [good], pk, proof + b"\x00"),
        (voprf.finalize_verifiable, [b"in"], [r], evaluated, [good], pk, proof.hex()),
        (voprf.public_key, sk[:16]),
    ]
    for fn, *args in cases:
        with pytest.raises(InvalidInputError):
            fn(*args)


def test_max_length_input_accepted() -> None:
    sk, _ = _key(Mode.OPRF)
    data = b"x" * 65535
    r, element = voprf.blind(data, Mode.OPRF)
    out = voprf.finalize(data, r, voprf.blind_evaluate(sk, [element])[0], Mode.OPRF)
    assert out == voprf.evaluate(sk, data, Mode.OPRF)


@pytest.mark.parametrize(
    "bad",
    [bytes(32), L.to_bytes(32, "little"), (L + 1).to_bytes(32, "little"), b"\xff" * 32],
    ids=["zero", "L", "L+1", "ff"],
)
def test_bad_scalars_refused(bad: bytes) -> None:
    sk, pk = _key(Mode.VOPRF)
    _, good = voprf.blind(b"in", Mode.VOPRF)
    evaluated, proof = voprf.blind_evaluate_verifiable(sk, pk, [good])
    calls = [
        lambda: voprf.public_key(bad),
        lambda: voprf.blind(b"in", Mode.OPRF, bad),
        lambda: voprf.blind_evaluate(bad, [good]),
        lambda: voprf.blind_evaluate_verifiable(bad, pk, [good]),
        lambda: voprf.blind_evaluate_verifiable(sk, pk, [good], proof_random=bad),
        lambda: voprf.evaluate(bad, b"in", Mode.OPRF),
        lambda: voprf.finalize(b"in", bad, evaluated[0], Mode.VOPRF),
        lambda: voprf.finalize_verifiable([b"in"], [bad], evaluated, [good], pk, proof),
    ]
    for call in calls:
        with pytest.raises(InvalidScalarError):
            call()


def test_largest_canonical_scalar_accepted() -> None:
    top = (L - 1).to_bytes(32, "little")
    _, element = voprf.blind(b"in", Mode.OPRF, top)
    assert voprf.blind_evaluate(top, [element])


def test_batch_shape_refused() -> None:
    sk, pk = _key(Mode.VOPRF)
    inputs = [b"a", b"b"]
    blinds, blinded, evaluated, proof = _batch(sk, pk, inputs)
    with pytest.raises(InvalidInputError):
        voprf.blind_evaluate(sk, [])
    with pytest.raises(InvalidInputError):
        voprf.blind_evaluate_verifiable(sk, pk, [])
    with pytest.raises(InvalidInputError):
        voprf.finalize_verifiable([], [], [], [], pk, proof)
    mismatched = [
        (inputs[:1], blinds, evaluated, blinded),
        (inputs, blinds[:1], evaluated, blinded),
        (inputs, blinds, evaluated[:1], blinded),
        (inputs, blinds, evaluated, blinded[:1]),
    ]
    for args in mismatched:
        with pytest.raises(InvalidInputError):
            voprf.finalize_verifiable(*args, pk, proof)


def test_tampered_proofs_refused() -> None:
    sk, pk = _key(Mode.VOPRF)
    inputs = [b"alpha", b"beta", b"gamma"]
    blinds, blinded, evaluated, proof = _batch(sk, pk, inputs)
    assert len(voprf.finalize_verifiable(inputs, blinds, evaluated, blinded, pk, proof)) == 3

    # A low bit in c, a low bit in s, and the top bit of each half (non-canonical scalar).
    for index, bit in ((0, 0), (5, 3), (32, 0), (40, 6), (31, 7), (63, 7)):
        with pytest.raises(VerifyError):
            voprf.finalize_verifiable(
                inputs, blinds, evaluated, blinded, pk, _flip(proof, index, bit)
            )

    other_pk = voprf.generate_key_pair(Mode.VOPRF)[1]
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(inputs, blinds, evaluated, blinded, other_pk, proof)

    swapped = [evaluated[1], evaluated[0], evaluated[2]]
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(inputs, blinds, swapped, blinded, pk, proof)

    # Swapping both evaluations and their blinded elements changes the composite order.
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(
            inputs,
            blinds,
            [evaluated[1], evaluated[0], evaluated[2]],
            [blinded[1], blinded[0], blinded[2]],
            pk,
            proof,
        )

    # The proof does not cover a subset of the batch either.
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(inputs[:2], blinds[:2], evaluated[:2], blinded[:2], pk, proof)


def test_input_hashing_to_identity_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unreachable in practice (needs a hash preimage), so force the map's output."""
    sk, _ = _key(Mode.OPRF)
    monkeypatch.setattr(pysodium, "crypto_core_ristretto255_from_hash", lambda _u: IDENTITY)
    with pytest.raises(InvalidInputError):
        voprf.blind(b"in", Mode.OPRF)
    with pytest.raises(InvalidInputError):
        voprf.evaluate(sk, b"in", Mode.VOPRF)


def test_derive_key_pair_depends_on_mode_and_info() -> None:
    seed = b"\x07" * 32
    keys = {
        voprf.derive_key_pair(seed, info, mode)[0]
        for info in (b"", b"a", b"b")
        for mode in (Mode.OPRF, Mode.VOPRF)
    }
    assert len(keys) == 6
    assert voprf.derive_key_pair(seed, b"a", Mode.OPRF) == voprf.derive_key_pair(
        bytearray(seed), b"a", 0
    )


def test_fresh_randomness() -> None:
    sk1, pk1 = voprf.generate_key_pair(Mode.VOPRF)
    sk2, _ = voprf.generate_key_pair(Mode.VOPRF)
    assert sk1 != sk2
    assert voprf.public_key(sk1) == pk1
    r1, e1 = voprf.blind(b"same", Mode.OPRF)
    r2, e2 = voprf.blind(b"same", Mode.OPRF)
    assert r1 != r2 and e1 != e2


# --------------------------------------------------------------------------- properties

seeds = st.binary(min_size=32, max_size=32)
inputs_st = st.binary(max_size=80)
modes = st.sampled_from(list(Mode))


@PROPS
@given(seed=seeds, data=inputs_st, mode=modes)
def test_blind_evaluate_finalize_matches_evaluate(seed: bytes, data: bytes, mode: Mode) -> None:
    sk, pk = voprf.derive_key_pair(seed, b"prop", mode)
    r, element = voprf.blind(data, mode)
    expected = voprf.evaluate(sk, data, mode)
    assert len(expected) == voprf.OUTPUT_BYTES
    evaluated = voprf.blind_evaluate(sk, [element])[0]
    assert voprf.finalize(data, r, evaluated, mode) == expected
    if mode is Mode.VOPRF:
        ev, proof = voprf.blind_evaluate_verifiable(sk, pk, [element])
        assert ev == [evaluated]
        assert voprf.finalize_verifiable([data], [r], ev, [element], pk, proof) == [expected]


@PROPS
@given(seed1=seeds, seed2=seeds, data=st.lists(inputs_st, min_size=1, max_size=3))
def test_proof_from_other_key_never_verifies(seed1: bytes, seed2: bytes, data: list[bytes]) -> None:
    sk1, pk1 = voprf.derive_key_pair(seed1, b"", Mode.VOPRF)
    sk2, pk2 = voprf.derive_key_pair(seed2, b"", Mode.VOPRF)
    if sk1 == sk2:
        return
    blinds, blinded, evaluated, proof = _batch(sk2, pk2, data)
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(data, blinds, evaluated, blinded, pk1, proof)
    # Nor does a proof by key 2 cover evaluations made with key 1.
    ev1 = voprf.blind_evaluate(sk1, blinded)
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(data, blinds, ev1, blinded, pk2, proof)
    with pytest.raises(VerifyError):
        voprf.finalize_verifiable(data, blinds, ev1, blinded, pk1, proof)


@PROPS
@given(seed=seeds, data=st.lists(inputs_st, min_size=1, max_size=5))
def test_batch_round_trip(seed: bytes, data: list[bytes]) -> None:
    sk, pk = voprf.derive_key_pair(seed, b"batch", Mode.VOPRF)
    blinds, blinded, evaluated, proof = _batch(sk, pk, data)
    outputs = voprf.finalize_verifiable(data, blinds, evaluated, blinded, pk, proof)
    assert outputs == [voprf.evaluate(sk, x, Mode.VOPRF) for x in data]
