"""Reading case-system exports: whatever arrives, a clear refusal naming line and field,
never a crash (inputs below were found by schemathesis or seen in exports)."""

from __future__ import annotations

from datetime import date

import pytest

from samenloop.node.registration import ImportRefused, file_columns, parse_rows, validate

HEADER = "casusnummer;fase;procesregisseur;achternaam;voornamen;geboortedatum\n"


@pytest.mark.parametrize("text", ["\r0", "a\rb\n\r", "x\0y\n1\0", '"open quote\n', "", "   ",
                                  "[1, 2]", "{not json", '[{"a": 1}, 3]', "\ufeff"])
def test_malformed_exports_are_refused_not_crashed(text: str) -> None:
    with pytest.raises(ImportRefused) as info:
        validate(parse_rows(text), {"pr-1"}, date(2026, 1, 1))
    assert info.value.errors and all(e.field for e in info.value.errors)


def test_formats_agree() -> None:
    csv_rows = parse_rows(HEADER + "C-1;triage;pr-1;Jansen;Kees;1970-01-01\n")
    semi = parse_rows(HEADER.replace(";", ",") + "C-1,triage,pr-1,Jansen,Kees,1970-01-01\r\n")
    json_rows = parse_rows('[{"casusnummer": "C-1", "fase": "triage", "procesregisseur": '
                           '"pr-1", "achternaam": "Jansen", "voornamen": "Kees", '
                           '"geboortedatum": "1970-01-01"}]')
    lines = parse_rows('{"casusnummer": "C-1", "fase": "triage", "procesregisseur": "pr-1", '
                       '"achternaam": "Jansen", "voornamen": "Kees", "geboortedatum": '
                       '"1970-01-01"}\n')
    parsed = [validate(rows, {"pr-1"}, date(2026, 1, 1)) for rows in
              (csv_rows, semi, json_rows, lines)]
    assert all(len(p) == 1 and p[0].case_ref == "C-1" for p in parsed)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ImportRefused) as info:
        validate(parse_rows("casusnummer;fase\nC-1;triage\n"), {"pr-1"}, date(2026, 1, 1))
    assert {e.field for e in info.value.errors} >= {"procesregisseur_id", "surname",
                                                    "given_names", "date_of_birth"}


@pytest.mark.parametrize("text", ["[" * 50_000 + "]" * 50_000, "[" * 50_000,
                                  '{"a": ' * 50_000 + "1" + "}" * 50_000,
                                  '{"casusnummer": "C-1"}\n' + "[" * 50_000 + "\n",
                                  "[" * 33 + "]" * 33])
def test_deeply_nested_json_is_refused_not_crashed(text: str) -> None:
    with pytest.raises(ImportRefused) as info:
        parse_rows(text)
    assert info.value.errors[0].field == "file"
    assert info.value.errors[0].reason.startswith("not valid JSON")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    rows = parse_rows('[{"casusnummer": "C-1", "achternaam": "' + "[{" * 40 + '\\"]"}]')
    assert rows[0][1]["casusnummer"] == "C-1"


def test_rows_with_too_few_or_too_many_fields_are_reported_each_in_english() -> None:
    """DictReader fills a short row with None and keeps a long row's extras under None:
    both are the wrong number of fields, each reported with its line (CLI: English)."""
    text = (HEADER + "C-1;triage;pr-1;Jansen;Kees;1970-01-01\n"
            "C-2;triage;pr-1;Jansen\n" "C-3;triage;pr-1;Jansen;Kees;1970-01-01;x;y\n")
    with pytest.raises(ImportRefused) as info:
        parse_rows(text)
    assert [str(e) for e in info.value.errors] == [
        "line 3: columns: has 4 fields, expected 6 (missing from column 'voornamen' on)",
        "line 4: columns: has 8 fields, expected 6 (extra from field 7 on)"]


def test_file_columns_keep_the_spelling_and_alias_of_the_file() -> None:
    assert file_columns("Zaaknummer;FASE;Procesregisseur;Achternaam;Voornamen;DOB\n") == {
        "case_ref": "Zaaknummer", "phase": "FASE", "procesregisseur_id": "Procesregisseur",
        "surname": "Achternaam", "given_names": "Voornamen", "date_of_birth": "DOB"}
    assert file_columns('[{"Casus": "C-1", "Geboortedatum": "1970-01-01"}]') == {
        "case_ref": "Casus", "date_of_birth": "Geboortedatum"}
    assert file_columns('{"zaaknummer": "C-1"}\n{"zaaknummer": "C-2"}\n') == {
        "case_ref": "zaaknummer"}
