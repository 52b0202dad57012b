"""Write the match-key known-answer vectors once: persons -> match keys -> pseudonyms -> tags.

Match keys are a wire format: two nodes find each other only when both derive the same
OPRF input for a person, so what `match_keys` and `node_tag` produce must not change by
accident. `tests/crypto/test_matchkey_vectors.py` recomputes every entry of the file this
script writes and fails on any difference. A deliberate change of the encoding bumps the
input version (`samenloop/v2|...`) and adds a vector file for it; it never rewrites this one.

The OPRF key is RFC 9497's test key (seed a3..a3, info "test key", VOPRF mode), blinds and
the proof nonce are derived from the input, so the whole blind -> evaluate -> finalize path
runs deterministically.

    python -m tests.vectors.make_matchkey_vectors [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pysodium

from samenloop.crypto import voprf
from samenloop.crypto.identity import match_keys, parse_subject
from samenloop.crypto.tags import node_tag

VECTOR_FILE = Path(__file__).with_name("matchkeys-v1.json")
INPUT_VERSION = 1
# RFC 9497 appendix A.1 Seed and KeyInfo ("test key").
SEED = bytes.fromhex("a3" * 32)
KEY_INFO = b"test key"
NODE_IDS = ("zvh-fryslan", "zvh-noord-limburg")
TODAY = date(2026, 1, 1)
VALID_BSN = "111222333"

# name, raw fields as staff type them, and whether the node has BSN matching on.
PERSONS: list[tuple[str, dict[str, str], bool]] = [
    ("tussenvoegsel in surname", dict(surname="Van den Berg", given_names="Pieter",
                                      date_of_birth="12-3-1985", place_of_birth="Venlo"), False),
    ("tussenvoegsel in prefix field", dict(surname="Berg", prefix="van den",
                                           given_names="Pieter", date_of_birth="1985-03-12",
                                           place_of_birth="Venlo"), False),
    ("tussenvoegsel after comma", dict(surname="Berg, van der", given_names="J.C.",
                                       date_of_birth="31/01/1970"), False),
    ("van 't with apostrophe", dict(surname="van 't Hoek", given_names="Gerrit",
                                    date_of_birth="01.02.1961",
                                    place_of_birth="'s-Gravenhage"), False),
    ("Den Haag as place", dict(surname="Hoek", prefix="van 't", given_names="Gerrit",
                               date_of_birth="1961-02-01", place_of_birth="Den Haag"), False),
    ("Frisian place alias", dict(surname="Dijkstra", given_names="Tjeerd Jan",
                                 date_of_birth="30-07-1979", place_of_birth="Snits"), False),
    ("IJ spelled Y", dict(surname="Dykstra", given_names="Tjeerd", date_of_birth="19790730",
                          place_of_birth="Sneek"), False),
    ("IJ ligature", dict(surname="\u0132zerman", given_names="Kees",
                         date_of_birth="24-12-1960"), False),
    ("roepnaam", dict(surname="Rijnders", given_names="Cornelis Johannes",
                      date_of_birth="1958-05-17", place_of_birth="Utrecht"), False),
    ("diacritics", dict(surname="M\u00fcller", given_names="J\u00fcrgen",
                        date_of_birth="05-01-1980", place_of_birth="D\u00fcsseldorf"), False),
    ("diacritics decomposed", dict(surname="Mu\u0308ller", given_names="Ju\u0308rgen",
                                   date_of_birth="1980-01-05"), False),
    ("Turkish letters", dict(surname="\u00c7elik", given_names="Ay\u015fe",
                             date_of_birth="1995-02-01", place_of_birth="Rotterdam"), False),
    ("Nordic letters", dict(surname="S\u00f8rensen", given_names="\u00d8ystein",
                            date_of_birth="1972-11-09"), False),
    ("sharp s", dict(surname="Stra\u00dfer", given_names="Hans", date_of_birth="1949-07-07"),
     False),
    ("double surname", dict(surname="Jansen-de Vries", given_names="Anne-Marie",
                            date_of_birth="1988-08-08", place_of_birth="Leeuwarden"), False),
    ("double surname, bare voorvoegsel", dict(surname="Peters-de", given_names="Sanne",
                                              date_of_birth="2001-04-30"), False),
    ("transliteration Youssef", dict(surname="El Amrani", given_names="Youssef",
                                     date_of_birth="21-06-1990"), False),
    ("transliteration Joessef", dict(surname="El Amrani", given_names="Joessef",
                                     date_of_birth="21-06-1990"), False),
    ("transliteration Khadija", dict(surname="Ouali", given_names="Khadija",
                                     date_of_birth="1999-09-19", place_of_birth="Amsterdam"),
     False),
    ("phonetic spelling", dict(surname="De Graaff", given_names="Marieke",
                               date_of_birth="1983-03-03"), False),
    ("BSN, matching off", dict(surname="Visser", given_names="Karin", date_of_birth="1975-05-05",
                               bsn=VALID_BSN), False),
    ("BSN, matching on", dict(surname="Visser", given_names="Karin", date_of_birth="1975-05-05",
                              bsn="1112.22.333"), True),
    ("initial only", dict(surname="Bakker", given_names="M.", date_of_birth="1966-06-16",
                          place_of_birth="Zwolle"), False),
]


def key_pair() -> tuple[bytes, bytes]:
    return voprf.derive_key_pair(SEED, KEY_INFO, voprf.Mode.VOPRF)


def _test_scalar(label: bytes, data: bytes) -> bytes:
    """A fixed, non-zero scalar per input: the blinds and nonce of a reproducible run."""
    reduced: bytes = pysodium.crypto_core_ristretto255_scalar_reduce(
        hashlib.sha512(b"samenloop/test/" + label + b"/" + data).digest())
    return reduced


def pseudonyms(inputs: list[bytes]) -> list[bytes]:
    """Ψ(x) for each input through the client/server protocol, with fixed randomness."""
    sk, pk = key_pair()
    blinds, blinded = [], []
    for item in inputs:
        b, element = voprf.blind(item, voprf.Mode.VOPRF, blind=_test_scalar(b"blind", item))
        blinds.append(b)
        blinded.append(element)
    evaluated, proof = voprf.blind_evaluate_verifiable(
        sk, pk, blinded, proof_random=_test_scalar(b"proof", b"".join(inputs)))
    return voprf.finalize_verifiable(inputs, blinds, evaluated, blinded, pk, proof)


def derive_entry(name: str, fields: dict[str, str], bsn_enabled: bool) -> dict[str, Any]:
    """One vector: what the node's code derives for this person today."""
    subject = parse_subject(**fields, today=TODAY)
    keys = match_keys(subject, bsn_enabled=bsn_enabled)
    psis = pseudonyms([k.oprf_input for k in keys])
    return {
        "name": name,
        "person": fields,
        "bsn_enabled": bsn_enabled,
        "keys": [{
            "kind": k.kind,
            "strength": k.strength,
            "oprf_input": k.oprf_input.decode("utf-8"),
            "pseudonym": psi.hex(),
            "tags": {n: node_tag(psi, n).hex() for n in NODE_IDS},
        } for k, psi in zip(keys, psis, strict=True)],
    }


def build() -> dict[str, Any]:
    sk, pk = key_pair()
    return {
        "description": "Samenloop match-key known answers; written once by "
                       "tests/vectors/make_matchkey_vectors.py, never regenerated in place",
        "input_version": INPUT_VERSION,
        "oprf_key": {"mode": "VOPRF", "seed": SEED.hex(), "info": KEY_INFO.decode(),
                     "skS": sk.hex(), "pkS": pk.hex()},
        "node_ids": list(NODE_IDS),
        "today": TODAY.isoformat(),
        "vectors": [derive_entry(*p) for p in PERSONS],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true",
                        help="overwrite the existing file (only for a new, empty version)")
    args = parser.parse_args()
    if VECTOR_FILE.exists() and not args.force:
        print(f"{VECTOR_FILE} exists; vectors are written once", file=sys.stderr)
        return 1
    VECTOR_FILE.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")
    print(f"wrote {VECTOR_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
