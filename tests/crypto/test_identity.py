"""Parsing, normalisation and match keys (DESIGN.md, "Identifiers and match keys")."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samenloop.crypto.identity import (
    STRENGTHS,
    InvalidSubject,
    MatchKey,
    Subject,
    match_keys,
    parse_subject,
    phonetic_code,
    place_key,
    surname_cores,
)

TODAY = date(2025, 6, 1)
VALID_BSN = "111222333"


def subject(
    surname: str = "Berg",
    prefix: str = "van der",
    given_names: str = "Johannes Petrus",
    dob: str = "1990-01-02",
    place: str = "Utrecht",
    bsn: str | None = None,
) -> Subject:
    return parse_subject(
        surname=surname,
        prefix=prefix,
        given_names=given_names,
        date_of_birth=dob,
        place_of_birth=place,
        bsn=bsn,
        today=TODAY,
    )


def keys_by_kind(s: Subject, **kwargs: bool) -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {}
    for key in match_keys(s, **kwargs):
        out.setdefault(key.kind, set()).add(key.oprf_input)
    return out


def shared_kinds(a: Subject, b: Subject) -> set[str]:
    ka, kb = keys_by_kind(a), keys_by_kind(b)
    return {kind for kind in ka if ka[kind] & kb.get(kind, set())}


def all_inputs(s: Subject) -> set[bytes]:
    return {k.oprf_input for k in match_keys(s)}


# ---------------------------------------------------------------------------------------------
# Normalisations the design lists: pairs that must share a key of the given kind
# ---------------------------------------------------------------------------------------------

SAME_PERSON = [
    # (description, subject a kwargs, subject b kwargs, kind they must share)
    ("diacritics ü", {"surname": "Müller", "prefix": ""}, {"surname": "Muller", "prefix": ""},
     "full"),
    ("diacritics ç", {"surname": "Çelik", "prefix": ""}, {"surname": "Celik", "prefix": ""},
     "full"),
    ("ß", {"surname": "Straße", "prefix": ""}, {"surname": "Strasse", "prefix": ""}, "full"),
    ("ø", {"surname": "Sørensen", "prefix": ""}, {"surname": "Sorensen", "prefix": ""}, "full"),
    ("Turkish dotted and dotless i", {"surname": "Kılıç", "prefix": "", "place": "İstanbul"},
     {"surname": "Kilic", "prefix": "", "place": "Istanbul"}, "full"),
    ("case", {"surname": "BERG", "prefix": "VAN DER", "given_names": "  JOHANNES "},
     {}, "full"),
    ("prefix capitalised", {"prefix": "Van Der"}, {}, "full"),
    ("prefix in surname", {"surname": "van der Berg", "prefix": ""}, {}, "full"),
    ("prefix after comma", {"surname": "Berg, van der", "prefix": ""}, {}, "full"),
    ("prefix missing", {"prefix": ""}, {}, "full"),
    ("'t prefix in front", {"surname": "'t Hooft", "prefix": ""},
     {"surname": "Hooft", "prefix": "'t"}, "full"),
    ("'t prefix after comma", {"surname": "Hooft, 't", "prefix": ""},
     {"surname": "Hooft", "prefix": "'t"}, "full"),
    ("d' prefix glued", {"surname": "d'Ancona", "prefix": ""},
     {"surname": "Ancona", "prefix": "d'"}, "full"),
    ("name word in prefix field", {"surname": "Malsen", "prefix": "van Kuijc van"},
     {"surname": "van Kuijc van Malsen", "prefix": ""}, "full"),
    ("IJ/Y", {"surname": "IJzerman", "prefix": ""}, {"surname": "Yzerman", "prefix": ""}, "full"),
    ("ij/y inside", {"surname": "Dijkstra", "prefix": ""}, {"surname": "Dykstra", "prefix": ""},
     "full"),
    ("hyphen vs space", {"surname": "Groen-Postma", "prefix": ""},
     {"surname": "Groen Postma", "prefix": ""}, "full"),
    ("apostrophe", {"surname": "O'Brien", "prefix": ""}, {"surname": "OBrien", "prefix": ""},
     "full"),
    ("double surname, second part", {"surname": "Prins-Molenaar", "prefix": ""},
     {"surname": "Molenaar", "prefix": ""}, "full"),
    ("double surname, first part", {"surname": "Prins-Molenaar", "prefix": ""},
     {"surname": "Prins", "prefix": ""}, "full"),
    ("double surname with prefix", {"surname": "Schäfer-van der Heijden", "prefix": ""},
     {"surname": "Heijden", "prefix": "van der"}, "full"),
    ("Den Haag", {"place": "'s-Gravenhage"}, {"place": "Den Haag"}, "full"),
    ("s Gravenhage", {"place": "'s-Gravenhage"}, {"place": "s Gravenhage"}, "full"),
    ("Den Bosch", {"place": "'s-Hertogenbosch"}, {"place": "Den Bosch"}, "full"),
    ("Frisian name", {"place": "Heerenveen"}, {"place": "It Hearrenfean"}, "full"),
    ("Snits", {"place": "Sneek"}, {"place": "Snits"}, "full"),
    ("Súdwest-Fryslân", {"place": "Súdwest-Fryslân"}, {"place": "Sudwest Fryslan"}, "full"),
    ("date D-M-YYYY", {"dob": "1990-01-02"}, {"dob": "2-1-1990"}, "full"),
    ("date DD-MM-YYYY", {"dob": "1990-01-02"}, {"dob": "02-01-1990"}, "full"),
    ("date DD/MM/YYYY", {"dob": "1990-01-02"}, {"dob": "02/01/1990"}, "full"),
    ("date D.M.YYYY", {"dob": "1990-01-02"}, {"dob": "2.1.1990"}, "full"),
    ("date YYYYMMDD", {"dob": "1990-01-02"}, {"dob": "19900102"}, "full"),
    ("only first given name", {"given_names": "Johannes"}, {}, "full"),
    ("place missing", {"place": ""}, {}, "name_dob"),
    ("initials only", {"given_names": "J.P."}, {}, "name_dob"),
    ("roepnaam Kees", {"given_names": "Cornelis"}, {"given_names": "Kees"}, "alias"),
    ("roepnaam Jan", {"given_names": "Johannes"}, {"given_names": "Jan"}, "alias"),
    ("roepnaam Piet", {"given_names": "Petrus"}, {"given_names": "Piet"}, "alias"),
    ("roepnaam Mien", {"given_names": "Wilhelmina"}, {"given_names": "Mien"}, "alias"),
    ("roepnaam Truus", {"given_names": "Geertruida"}, {"given_names": "Truus"}, "alias"),
    ("roepnaam Toos", {"given_names": "Catharina Maria"}, {"given_names": "Toos"}, "alias"),
    ("Mohammed", {"given_names": "Mohamed"}, {"given_names": "Muhammad"}, "alias"),
    ("Youssef", {"given_names": "Youssef"}, {"given_names": "Yusuf"}, "alias"),
    ("Fatma", {"given_names": "Fatima"}, {"given_names": "Fadma"}, "alias"),
    ("Jousef by rule", {"given_names": "Youssef"}, {"given_names": "Jousef"}, "spelling"),
    ("Hadija by rule", {"given_names": "Khadija"}, {"given_names": "Hadija"}, "spelling"),
    ("ou/u by rule", {"given_names": "Soufiane"}, {"given_names": "Sufyane"}, "spelling"),
    ("surname typo: doubled vowel", {"surname": "Graaf", "prefix": "de"},
     {"surname": "Graf", "prefix": "de"}, "phonetic"),
    ("surname typo: ij/ei", {"surname": "Rijnders", "prefix": ""},
     {"surname": "Reinders", "prefix": ""}, "phonetic"),
    ("surname typo: ch/kh", {"surname": "Boukhari", "prefix": ""},
     {"surname": "Bouchari", "prefix": ""}, "phonetic"),
    ("surname typo: k/c", {"surname": "Beek", "prefix": "van"},
     {"surname": "Beec", "prefix": "van"}, "phonetic"),
    ("surname typo: au/ou", {"surname": "Pauw", "prefix": "de"},
     {"surname": "Pouw", "prefix": "de"}, "phonetic"),
    ("surname typo: doubled consonant", {"surname": "Janssen", "prefix": ""},
     {"surname": "Jansssen", "prefix": ""}, "phonetic"),
]


@pytest.mark.parametrize(
    ("a", "b", "kind"), [case[1:] for case in SAME_PERSON], ids=[c[0] for c in SAME_PERSON]
)
def test_variants_of_one_person_share_a_key(a: dict, b: dict, kind: str) -> None:
    assert kind in shared_kinds(subject(**a), subject(**b))


LOOK_ALIKES = [
    ("sibling with another first name", {"given_names": "Johannes", "dob": "1990-01-02"},
     {"given_names": "Petrus", "dob": "1993-05-06"}),
    ("twin with another initial", {"given_names": "Johannes"}, {"given_names": "Petrus"}),
    ("same name other date", {"dob": "1990-01-02"}, {"dob": "1990-02-01"}),
    ("parent with the same name", {"dob": "1990-01-02"}, {"dob": "1962-01-02"}),
    ("modern name is not a roepnaam", {"given_names": "Elisabeth"}, {"given_names": "Ilse"}),
    ("Lisa is not Elisabeth", {"given_names": "Elisabeth"}, {"given_names": "Lisa"}),
    ("Jesse is not Youssef", {"given_names": "Youssef"}, {"given_names": "Jesse"}),
    ("other surname", {"surname": "Berg"}, {"surname": "Burg"}),
]


@pytest.mark.parametrize(
    ("a", "b"), [case[1:] for case in LOOK_ALIKES], ids=[c[0] for c in LOOK_ALIKES]
)
def test_look_alikes_share_no_key(a: dict, b: dict) -> None:
    assert not all_inputs(subject(**a)) & all_inputs(subject(**b))


def test_variant_keys_are_weaker_than_the_exact_key() -> None:
    exact = {k.kind: k.strength for k in match_keys(subject())}
    assert exact["full"] == "sterk"
    assert exact["name_dob"] == "waarschijnlijk"
    assert exact["phonetic"] == "mogelijk"
    assert exact["spelling"] == "mogelijk"
    assert exact["alias"] == "waarschijnlijk"


def test_no_full_key_without_place_or_from_an_initial() -> None:
    assert "full" not in keys_by_kind(subject(place=""))
    assert "full" not in keys_by_kind(subject(given_names="J. P."))


def test_double_surname_yields_each_part() -> None:
    assert surname_cores("Prins-Molenaar") == ["prinsmolenaar", "prins", "molenaar"]
    assert surname_cores("Peters-de Jong") == ["petersjong", "peters", "jong"]
    assert surname_cores("van der Berg") == ["berg"]
    assert surname_cores("Uit de Willigen") == ["willigen"]


def test_place_aliases_are_canonical() -> None:
    assert place_key("Den Haag") == place_key("'s-Gravenhage") == place_key("s-Gravenhage")
    assert place_key("Den Bosch") == place_key("'s-Hertogenbosch")
    assert place_key("Horst") == place_key("Horst aan de Maas")
    assert place_key("") == ""


def test_phonetic_code_folds_dutch_spelling() -> None:
    assert phonetic_code("rooy") == phonetic_code("roy")
    assert phonetic_code("bosch") == phonetic_code("boskh")
    assert phonetic_code("berg") != phonetic_code("burg")


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["1990-01-02", "2-1-1990", "02-01-1990", "02/01/1990", "2.1.1990", "19900102", "02011990",
     " 02-01-1990 "],
)
def test_date_formats(text: str) -> None:
    assert subject(dob=text).date_of_birth == date(1990, 1, 2)


def test_date_object_is_accepted() -> None:
    assert subject(dob=date(1990, 1, 2)).date_of_birth == date(1990, 1, 2)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Refusals: the field is named, the value never appears
# ---------------------------------------------------------------------------------------------

REFUSALS = [
    ("achternaam", {"surname": ""}),
    ("achternaam", {"surname": "   "}),
    ("achternaam", {"surname": "Berg7"}),
    ("achternaam", {"surname": "B@rg"}),
    ("achternaam", {"surname": ", van der"}),
    ("achternaam", {"surname": "X" * 300}),
    ("tussenvoegsel", {"prefix": "v4n"}),
    ("voornamen", {"given_names": ""}),
    ("voornamen", {"given_names": " . "}),
    ("voornamen", {"given_names": "Jan#"}),
    ("geboortedatum", {"dob": ""}),
    ("geboortedatum", {"dob": "31-02-1990"}),
    ("geboortedatum", {"dob": "1990-13-01"}),
    ("geboortedatum", {"dob": "gisteren"}),
    ("geboortedatum", {"dob": "2-1-90"}),
    ("geboortedatum", {"dob": "2030-01-01"}),
    ("geboortedatum", {"dob": "1899-12-31"}),
    ("geboorteplaats", {"place": "Utrecht 3512"}),
    ("bsn", {"bsn": "111222334"}),
    ("bsn", {"bsn": "12345"}),
    ("bsn", {"bsn": "11122233x"}),
    ("bsn", {"bsn": "000000000"}),
]


@pytest.mark.parametrize(("field", "kwargs"), REFUSALS)
def test_refusals_name_the_field_and_hide_the_value(field: str, kwargs: dict) -> None:
    with pytest.raises(InvalidSubject) as info:
        subject(**kwargs)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    value = next(iter(kwargs.values())).strip()
    text = str(info.value) + repr(info.value) + " ".join(map(str, info.value.args))
    if value:
        assert value not in text
    assert info.value.message == str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dob": "2030-01-01"}, "geboortedatum ligt in de toekomst"),
        ({"surname": ""}, "achternaam ontbreekt"),
        ({"dob": "31-02-1990"}, "geboortedatum is geen geldige datum"),
        ({"bsn": "111222334"}, "BSN voldoet niet aan de elfproef"),
    ],
)
def test_dutch_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidSubject, match=message):
        subject(**kwargs)


def test_reprs_do_not_leak_identifiers() -> None:
    s = subject(bsn=VALID_BSN)
    assert "Berg" not in repr(s) and VALID_BSN not in repr(s)
    assert all(b"berg" not in repr(k).encode() for k in match_keys(s))


# ---------------------------------------------------------------------------------------------
# BSN
# ---------------------------------------------------------------------------------------------


def test_bsn_key_only_when_enabled() -> None:
    s = subject(bsn="111.222.333")
    assert s.bsn == VALID_BSN
    assert "bsn" not in keys_by_kind(s)
    enabled = [k for k in match_keys(s, bsn_enabled=True) if k.kind == "bsn"]
    assert enabled == [MatchKey("bsn", "zeker", b"samenloop/v1|bsn|" + VALID_BSN.encode())]
    assert match_keys(s, bsn_enabled=True)[0].kind == "bsn"  # strongest first
    assert "bsn" not in keys_by_kind(subject(), bsn_enabled=True)


def test_keys_are_deduplicated_and_ordered_by_strength() -> None:
    keys = match_keys(subject())
    assert len({k.oprf_input for k in keys}) == len(keys)
    ranks = [STRENGTHS.index(k.strength) for k in keys]
    assert ranks == sorted(ranks)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

SURNAMES = ["Berg", "Dijkstra", "Öztürk", "Müller", "Groen-Postma", "Jong", "Çelik", "Hooft"]
PREFIXES = ["", "van", "van der", "de", "'t", "van den"]
GIVEN = ["Johannes", "Maria Anna", "Ayşe", "Kees", "Mohamed Said", "Élodie", "IJsbrand"]
PLACES = ["", "Utrecht", "'s-Gravenhage", "Súdwest-Fryslân", "İstanbul"]
ACCENTS = {"a": "á", "e": "é", "i": "ï", "o": "ö", "u": "ü", "c": "ç", "n": "ñ"}

people = st.fixed_dictionaries(
    {
        "surname": st.sampled_from(SURNAMES),
        "prefix": st.sampled_from(PREFIXES),
        "given_names": st.sampled_from(GIVEN),
        "dob": st.dates(min_value=date(1900, 1, 1), max_value=TODAY).map(date.isoformat),
        "place": st.sampled_from(PLACES),
    }
)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@PROPERTY_SETTINGS
@given(person=people, data=st.data())
def test_keys_invariant_under_case(person: dict, data: st.DataObject) -> None:
    change = data.draw(st.sampled_from([str.upper, str.lower, str.title, str.swapcase]))
    changed = {k: change(v) if k != "dob" else v for k, v in person.items()}
    assert all_inputs(subject(**changed)) == all_inputs(subject(**person))


@PROPERTY_SETTINGS
@given(person=people, data=st.data())
def test_keys_invariant_under_accents(person: dict, data: st.DataObject) -> None:
    plain = {k: strip_accents(v) for k, v in person.items()}
    add = data.draw(st.booleans())
    accented = {
        k: "".join(ACCENTS.get(c, c) if add else c for c in v) if k != "dob" else v
        for k, v in plain.items()
    }
    assert all_inputs(subject(**accented)) == all_inputs(subject(**person))


@PROPERTY_SETTINGS
@given(person=people, data=st.data())
def test_keys_invariant_under_extra_spaces(person: dict, data: st.DataObject) -> None:
    pad = data.draw(st.sampled_from([" ", "  ", "\t", " \u00a0"]))
    spaced = {
        k: pad + pad.join(v.split(" ")) + pad if k != "dob" else v for k, v in person.items()
    }
    assert all_inputs(subject(**spaced)) == all_inputs(subject(**person))


@PROPERTY_SETTINGS
@given(person=people, position=st.sampled_from(["comma", "leading"]))
def test_keys_invariant_under_prefix_position(person: dict, position: str) -> None:
    if not person["prefix"]:
        return
    moved = dict(person, prefix="")
    if position == "comma":
        moved["surname"] = f"{person['surname']}, {person['prefix']}"
    else:
        moved["surname"] = f"{person['prefix']} {person['surname']}"
    assert all_inputs(subject(**moved)) == all_inputs(subject(**person))


@PROPERTY_SETTINGS
@given(person=people, bsn_enabled=st.booleans())
def test_no_key_holds_an_empty_field(person: dict, bsn_enabled: bool) -> None:
    keys = match_keys(subject(**person, bsn=VALID_BSN), bsn_enabled=bsn_enabled)
    assert keys
    for key in keys:
        assert key.oprf_input.startswith(b"samenloop/v1|")
        assert b"||" not in key.oprf_input
        assert not key.oprf_input.endswith(b"|")
        assert key.strength in STRENGTHS
        assert key.oprf_input.split(b"|")[1].decode() == key.kind
