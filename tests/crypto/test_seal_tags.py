"""Sealing and tags: what the coordinator relays must be unreadable, unforgeable and
length-blind, and tags of two nodes must not be joinable."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samenloop.crypto import seal, tags

ALICE = seal.generate_box_key_pair()
BOB = seal.generate_box_key_pair()
MALLORY = seal.generate_box_key_pair()


def test_round_trip() -> None:
    sealed = seal.seal(b"query", ALICE[0], BOB[1])
    assert seal.open_sealed(sealed, BOB[0], ALICE[1]) == b"query"


def test_sealer_agrees_with_the_functions_and_keeps_peers_apart() -> None:
    alice, bob = seal.Sealer(ALICE[0]), seal.Sealer(BOB[0])
    for _ in range(2):  # the second round uses the cached agreement
        assert seal.open_sealed(alice.seal(b"q", BOB[1]), BOB[0], ALICE[1]) == b"q"
        assert bob.open(seal.seal(b"a", ALICE[0], BOB[1]), ALICE[1]) == b"a"
        with pytest.raises(seal.SealError):
            bob.open(alice.seal(b"q", BOB[1]), MALLORY[1])
        with pytest.raises(seal.SealError):
            seal.Sealer(MALLORY[0]).open(alice.seal(b"q", BOB[1]), ALICE[1])


@settings(max_examples=30)
@given(st.binary(max_size=64))
def test_padding_must_be_zeros(tail: bytes) -> None:
    from samenloop.crypto.seal import _unpad

    padded = (3).to_bytes(4, "big") + b"abc" + b"\0" * 100
    assert _unpad(padded) == b"abc"
    if tail.strip(b"\0"):
        with pytest.raises(seal.SealError):
            _unpad(padded[:7] + tail + b"\0" * (100 - len(tail)))


@settings(max_examples=30)
@given(st.binary(max_size=3000), st.binary(max_size=3000))
def test_length_depends_only_on_bucket(a: bytes, b: bytes) -> None:
    bucket = seal.bucket_for(max(len(a), len(b)))
    sa = seal.seal(a, ALICE[0], BOB[1], bucket=bucket)
    sb = seal.seal(b, ALICE[0], BOB[1], bucket=bucket)
    assert len(sa) == len(sb) == seal.sealed_size(bucket)
    assert seal.open_sealed(sa, BOB[0], ALICE[1]) == a
    assert seal.open_sealed(sb, BOB[0], ALICE[1]) == b


def test_every_bit_flip_is_refused() -> None:
    sealed = bytearray(seal.seal(b"answer with a hit", ALICE[0], BOB[1]))
    for index in range(0, len(sealed), 97):
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        with pytest.raises(seal.SealError):
            seal.open_sealed(bytes(tampered), BOB[0], ALICE[1])


def test_truncated_or_extended_is_refused() -> None:
    sealed = seal.seal(b"x", ALICE[0], BOB[1])
    for bad in (sealed[:-1], sealed[:10], sealed + b"\0", b""):
        with pytest.raises(seal.SealError):
            seal.open_sealed(bad, BOB[0], ALICE[1])


def test_other_keys_are_refused() -> None:
    sealed = seal.seal(b"x", ALICE[0], BOB[1])
    with pytest.raises(seal.SealError):  # Mallory is not the recipient
        seal.open_sealed(sealed, MALLORY[0], ALICE[1])
    forged = seal.seal(b"x", MALLORY[0], BOB[1])
    with pytest.raises(seal.SealError):  # Bob expects Alice as the sender
        seal.open_sealed(forged, BOB[0], ALICE[1])


def test_refuses_oversize_and_bad_keys() -> None:
    with pytest.raises(seal.SealError):
        seal.seal(b"x" * 2000, ALICE[0], BOB[1], bucket=1024)
    with pytest.raises(seal.SealError):
        seal.seal(b"x", ALICE[0], BOB[1], bucket=1000)
    with pytest.raises(seal.SealError):
        seal.seal(b"x", ALICE[0][:31], BOB[1])
    with pytest.raises(seal.SealError):
        seal.bucket_for(seal.BUCKETS[-1])


def test_error_messages_do_not_carry_the_payload() -> None:
    secret = b"Jansen 1990-01-02"
    with pytest.raises(seal.SealError) as info:
        seal.seal(secret * 1000, ALICE[0], BOB[1], bucket=1024)
    assert b"Jansen".decode() not in str(info.value)


def test_node_tag_matches_design_formula() -> None:
    pseudonym = hashlib.sha512(b"x").digest()
    expected = hmac.new(pseudonym, b"samenloop/v1/tag/zvh-a", hashlib.sha256).digest()
    assert tags.node_tag(pseudonym, "zvh-a") == expected
    assert tags.node_tag(pseudonym, "zvh-a") != tags.node_tag(pseudonym, "zvh-b")


def test_node_tag_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        tags.node_tag(b"short", "zvh-a")
    with pytest.raises(ValueError):
        tags.node_tag(b"\0" * 64, "")


@given(st.binary(min_size=64, max_size=64),
       st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5))
def test_node_tags_equal_one_node_tag_per_node(pseudonym: bytes, node_ids: list[str]) -> None:
    assert tags.node_tags(pseudonym, node_ids) == [tags.node_tag(pseudonym, n)
                                                   for n in node_ids]


def test_node_tags_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        tags.node_tags(b"short", ["zvh-a"])
    with pytest.raises(ValueError):
        tags.node_tags(b"\0" * 64, ["zvh-a", ""])
