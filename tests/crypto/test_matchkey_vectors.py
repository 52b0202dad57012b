"""Known answers for our own derivations: person -> match keys -> pseudonym -> node tags.

The vectors were written once by tests/vectors/make_matchkey_vectors.py. Any change in
parsing, normalisation, the `samenloop/v1|...` encoding, the OPRF or the tag formula fails
here: during a rolling upgrade such a change would make nodes miss each other (a wrong
"no hit"), so it must come as a new input version, never as a silent edit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from samenloop.crypto import identity, voprf
from tests.vectors import make_matchkey_vectors as vectors


def _load() -> dict[str, Any]:
    """The committed file; missing or unreadable fails every test, it is never skipped."""
    return json.loads(vectors.VECTOR_FILE.read_text(encoding="utf-8"))


DOC = _load()
CASES = [pytest.param(v, id=v["name"]) for v in DOC["vectors"]]


def test_vector_file_is_complete() -> None:
    assert DOC["input_version"] == vectors.INPUT_VERSION == 1
    assert len(DOC["vectors"]) == len(vectors.PERSONS) >= 20
    assert {k["kind"] for v in DOC["vectors"] for k in v["keys"]} == {
        "bsn", "full", "name_dob", "alias", "phonetic", "spelling"}
    assert all(k["oprf_input"].startswith("samenloop/v1|")
               for v in DOC["vectors"] for k in v["keys"])


def test_every_supported_version_has_vectors() -> None:
    """A new input version comes with its own, new vector file beside this one."""
    for version in identity.SUPPORTED_INPUT_VERSIONS:
        assert vectors.VECTOR_FILE.with_name(f"matchkeys-v{version}.json").exists(), version
    assert identity.INPUT_VERSION in identity.SUPPORTED_INPUT_VERSIONS


def test_key_is_rfc_9497_test_key() -> None:
    sk, pk = vectors.key_pair()
    # RFC 9497 A.1.2 (VOPRF) skSm for this seed and info.
    assert sk.hex() == "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909"
    assert DOC["oprf_key"]["skS"] == sk.hex()
    assert DOC["oprf_key"]["pkS"] == pk.hex()
    assert DOC["node_ids"] == list(vectors.NODE_IDS)


@pytest.mark.parametrize("vector", CASES)
def test_match_keys(vector: dict[str, Any]) -> None:
    """Kinds, strengths and the exact OPRF input bytes, in order."""
    got = vectors.derive_entry(vector["name"], vector["person"], vector["bsn_enabled"])
    assert [(k["kind"], k["strength"], k["oprf_input"]) for k in got["keys"]] == \
        [(k["kind"], k["strength"], k["oprf_input"]) for k in vector["keys"]]


@pytest.mark.parametrize("vector", CASES)
def test_pseudonyms_and_tags(vector: dict[str, Any]) -> None:
    """Ψ through blind/evaluate/finalize equals the direct evaluation and the vector."""
    sk, _ = vectors.key_pair()
    inputs = [k["oprf_input"].encode("utf-8") for k in vector["keys"]]
    psis = vectors.pseudonyms(inputs)
    assert psis == [voprf.evaluate(sk, x, voprf.Mode.VOPRF) for x in inputs]
    got = vectors.derive_entry(vector["name"], vector["person"], vector["bsn_enabled"])
    assert got["keys"] == vector["keys"]
