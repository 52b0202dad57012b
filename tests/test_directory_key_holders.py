"""The signed directory lists key holders and each split epoch's public shares (#13)."""

from __future__ import annotations

import nacl.signing
import pytest

from samenloop.proto import directory
from samenloop.proto.directory import (
    DirectoryError,
    DirectoryNode,
    KeyHolder,
    KeySplit,
    PublicShare,
)

NODE = DirectoryNode("rotterdam", "ZVH Rotterdam-Rijnmond", "127.0.0.1:7101", bytes(32))
HOLDERS = (KeyHolder("houder-a", "Netwerkbeheerder", "127.0.0.1:7201"),
           KeyHolder("houder-b", "Tweede overheidsorgaan", "127.0.0.1:7202"),
           KeyHolder("houder-c", "Onafhankelijke partij", "127.0.0.1:7203"))


def _split(threshold: int = 2, shares: tuple[PublicShare, ...] | None = None) -> KeySplit:
    return KeySplit(threshold, shares if shares is not None else tuple(
        PublicShare(h.holder_id, i, bytes([i]) * 32) for i, h in enumerate(HOLDERS, 1)))


def _build(splits: dict[int, KeySplit], holders: tuple[KeyHolder, ...] = HOLDERS) -> object:
    key = nacl.signing.SigningKey.generate()
    signed = directory.build(
        network="test", serial=1, issued_at=0, nodes=[NODE], oprf_keys={1: b"\x01" * 32},
        current_epoch=1, signing_key=bytes(key), key_holders=holders, key_splits=splits)
    return directory.verify(signed, bytes(key.verify_key))


def test_split_epoch_round_trips_through_the_signature() -> None:
    parsed = _build({1: _split()})
    assert parsed.key_holders == HOLDERS
    assert parsed.key_splits == {1: _split()}
    assert parsed.key_holder("houder-b") == HOLDERS[1]


def test_an_unsplit_epoch_has_no_split() -> None:
    assert _build({}, holders=()).key_splits == {}


@pytest.mark.parametrize(("splits", "holders", "message"), [
    ({1: _split(threshold=4)}, HOLDERS, "threshold 4"),
    ({1: _split(threshold=0, shares=(PublicShare("houder-a", 1, bytes(32)),))}, HOLDERS,
     "no threshold"),
    ({1: _split(shares=(PublicShare("houder-a", 1, bytes(32)),
                        PublicShare("houder-b", 1, bytes(32))))}, HOLDERS, "twice"),
    ({1: _split(shares=(PublicShare("houder-a", 1, bytes(32)),
                        PublicShare("houder-x", 2, bytes(32))))}, HOLDERS, "not a listed"),
    ({1: _split(shares=(PublicShare("houder-a", 1, bytes(32)),
                        PublicShare("houder-b", 256, bytes(32))))}, HOLDERS, "1-255"),
    ({1: _split(shares=(PublicShare("houder-a", 1, bytes(32)),
                        PublicShare("houder-b", 2, bytes(31))))}, HOLDERS, "32 bytes"),
    ({2: _split()}, HOLDERS, "epoch without"),
    ({}, (*HOLDERS, KeyHolder("rotterdam", "Dubbel", "127.0.0.1:1")), "also a node"),
    ({}, (KeyHolder("houder-a", "A", "geen-poort"),), "host:port"),
])
def test_inconsistent_key_holders_are_refused(
        splits: dict[int, KeySplit], holders: tuple[KeyHolder, ...], message: str) -> None:
    with pytest.raises(DirectoryError, match=message):
        _build(splits, holders)
