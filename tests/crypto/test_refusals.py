"""Refusals and boundaries of the pure crypto: one row per limit, on both sides of it.

Mutation testing found each of these could be removed or moved without a test failing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import nacl.public
import pytest

from samenloop.crypto import seal, voprf
from samenloop.crypto.identity import Subject, parse_subject, surname_cores

# ------------------------------------------------------------------------------- VOPRF

SK, PK = voprf.derive_key_pair(bytes(32), b"refusals", voprf.Mode.VOPRF)
_, ELEMENT = voprf.blind(b"input", voprf.Mode.VOPRF, blind=voprf.derive_key_pair(
    bytes([1]) * 32, b"blind", voprf.Mode.OPRF)[0])
OVER = voprf.MAX_BATCH + 1

# Each call gets batches one past MAX_BATCH; refused before any group operation, so the rows
# are quick (without the limit they would run for seconds and then answer or fail the proof).
BATCH_ROWS: list[tuple[str, Callable[[], Any]]] = [
    ("blind_evaluate", lambda: voprf.blind_evaluate(SK, [ELEMENT] * OVER)),
    ("blind_evaluate_verifiable",
     lambda: voprf.blind_evaluate_verifiable(SK, PK, [ELEMENT] * OVER)),
    ("finalize_verifiable",
     lambda: voprf.finalize_verifiable([b"x"] * OVER, [SK] * OVER, [ELEMENT] * OVER,
                                       [ELEMENT] * OVER, PK, bytes(voprf.PROOF_BYTES))),
]


@pytest.mark.parametrize(("case", "call"), BATCH_ROWS, ids=[r[0] for r in BATCH_ROWS])
def test_batches_past_max_batch_are_refused(case: str, call: Callable[[], Any]) -> None:
    with pytest.raises(voprf.InvalidInputError):
        call()


@pytest.mark.parametrize(("size", "refused"), [(0, True), (1, False),
                                               (voprf.MAX_BATCH, False), (OVER, True)])
def test_batch_size_edges(size: int, refused: bool) -> None:
    """The batch check itself at 0, 1, MAX_BATCH and one more (a full batch of group
    operations at MAX_BATCH would take seconds, so the check is called directly)."""
    values = [b""] * size
    if refused:
        with pytest.raises(voprf.InvalidInputError):
            voprf._as_list(values, "batch")
    else:
        assert voprf._as_list(values, "batch") == values


# ------------------------------------------------------------------------------ sealing

ALICE = seal.generate_box_key_pair()
BOB = seal.generate_box_key_pair()


def _box_unpadded(padded: bytes) -> bytes:
    """Alice's crypto_box of `padded` as it is, bypassing seal()'s bucket padding."""
    box = nacl.public.Box(nacl.public.PrivateKey(ALICE[0]), nacl.public.PublicKey(BOB[1]))
    return bytes(box.encrypt(padded))


def _framed(plaintext: bytes, size: int) -> bytes:
    return (len(plaintext).to_bytes(4, "big") + plaintext).ljust(size, b"\0")


SMALLEST = seal.BUCKETS[0]
OPEN_ROWS: list[tuple[str, bytes, bytes | None]] = [
    ("a bucket-sized box", _box_unpadded(_framed(b"query", SMALLEST)), b"query"),
    # A well-formed box of a size no bucket has opens fine with the key: only the size
    # check refuses it (it would tell the coordinator more than the bucket).
    ("a box one byte above a bucket", _box_unpadded(_framed(b"query", SMALLEST + 1)), None),
    ("a box one byte below a bucket", _box_unpadded(_framed(b"query", SMALLEST - 1)), None),
    ("a box between buckets", _box_unpadded(_framed(b"query", 2000)), None),
    ("exactly full", _box_unpadded(_framed(b"q" * (SMALLEST - 4), SMALLEST)),
     b"q" * (SMALLEST - 4)),
    ("length one past the bucket",
     _box_unpadded((SMALLEST - 3).to_bytes(4, "big") + b"q" * (SMALLEST - 4)), None),
    ("non-zero padding", _box_unpadded(_framed(b"query", SMALLEST)[:-1] + b"\1"), None),
]


@pytest.mark.parametrize(("case", "sealed", "opened"), OPEN_ROWS, ids=[r[0] for r in OPEN_ROWS])
def test_opening_refuses_every_size_but_a_bucket(case: str, sealed: bytes,
                                                 opened: bytes | None) -> None:
    if opened is None:
        with pytest.raises(seal.SealError):
            seal.open_sealed(sealed, BOB[0], ALICE[1])
    else:
        assert seal.open_sealed(sealed, BOB[0], ALICE[1]) == opened


@pytest.mark.parametrize(("size", "bucket", "fits"), [
    (SMALLEST - 4, SMALLEST, True),       # exactly fills it with the length prefix
    (SMALLEST - 3, SMALLEST, False),
    (0, SMALLEST, True),
    (seal.BUCKETS[-1] - 4, seal.BUCKETS[-1], True),
])
def test_a_payload_that_exactly_fills_its_bucket(size: int, bucket: int, fits: bool) -> None:
    plaintext = b"p" * size
    if not fits:
        with pytest.raises(seal.SealError):
            seal.seal(plaintext, ALICE[0], BOB[1], bucket=bucket)
        assert seal.bucket_for(size) > bucket
        return
    assert seal.bucket_for(size) == bucket
    sealed = seal.seal(plaintext, ALICE[0], BOB[1], bucket=bucket)
    assert len(sealed) == seal.sealed_size(bucket)
    assert seal.open_sealed(sealed, BOB[0], ALICE[1]) == plaintext


def test_nothing_above_the_largest_bucket() -> None:
    with pytest.raises(seal.SealError):
        seal.bucket_for(seal.BUCKETS[-1] - 3)
    with pytest.raises(seal.SealError):
        seal.seal(b"p", ALICE[0], BOB[1], bucket=SMALLEST + 1)  # not a bucket


KEY_ROWS: list[tuple[str, Callable[[], Any]]] = [
    ("secret key one byte short", lambda: seal.Sealer(ALICE[0][:-1])),
    ("secret key one byte long", lambda: seal.Sealer(ALICE[0] + b"\0")),
    ("secret key as text", lambda: seal.Sealer(ALICE[0].hex())),
    ("public key one byte short", lambda: seal.seal(b"q", ALICE[0], BOB[1][:-1])),
    ("public key one byte long", lambda: seal.seal(b"q", ALICE[0], BOB[1] + b"\0")),
    ("public key as text", lambda: seal.open_sealed(seal.seal(b"q", ALICE[0], BOB[1]), BOB[0],
                                                    ALICE[1].hex())),
    ("sealed payload as text", lambda: seal.open_sealed("00" * 1064, BOB[0], ALICE[1])),
]


@pytest.mark.parametrize(("case", "call"), KEY_ROWS, ids=[r[0] for r in KEY_ROWS])
def test_keys_and_payloads_of_the_wrong_type_or_length(case: str, call: Callable[[], Any]) -> None:
    with pytest.raises(seal.SealError):
        call()


# ---------------------------------------------------------------------------- identity

PERSON = dict(surname="Zwartkruis", prefix="van", given_names="Quirinus Bartholomeus",
              date_of_birth="1983-11-27", place_of_birth="Zaltbommel", bsn="111222333")


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Subject)])
def test_no_field_of_a_subject_is_in_its_repr(field: str) -> None:
    subject = parse_subject(**PERSON)
    value = getattr(subject, field)
    assert value, field
    shown = repr(subject) + str(subject)
    texts = [value.isoformat(), str(value.year)] if isinstance(value, date) else [value]
    for text in texts:
        assert text not in shown, field
    assert not next(f for f in dataclasses.fields(Subject) if f.name == field).repr


SURNAME_ROWS: list[tuple[str, list[str]]] = [
    # A part made only of voorvoegsels is not a surname core of its own.
    ("Peters-de", ["peters"]),
    ("de-Peters", ["peters"]),
    ("Peters-van der", ["peters"]),
    ("van-der", ["vander"]),  # a name made only of them is kept whole, once
    ("de Vries-de Jong", ["vriesjong", "vries", "jong"]),
    ("Peters-Peters", ["peterspeters", "peters"]),  # each core once
    ("Peters", ["peters"]),
]


@pytest.mark.parametrize(("surname", "cores"), SURNAME_ROWS, ids=[r[0] for r in SURNAME_ROWS])
def test_double_surname_parts(surname: str, cores: list[str]) -> None:
    assert surname_cores(surname) == cores
