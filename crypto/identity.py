"""Identifier parsing, normalisation and match keys (DESIGN.md, "Identifiers and match keys").

Pure functions, no I/O. The same `match_keys` runs when a node registers its active cases and
when a procesregisseur checks a person, so every rule here is applied to both sides: two
subjects match exactly when they share one OPRF input. Errors never carry the offending
value, because identifiers must not reach logs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.nl import bsn as stdnum_bsn

from samenloop.crypto import _identity_data as data

__all__ = [
    "INPUT_VERSION",
    "STRENGTHS",
    "SUPPORTED_INPUT_VERSIONS",
    "InvalidSubject",
    "MatchKey",
    "Subject",
    "match_keys",
    "mentions_identifiers",
    "parse_subject",
    "strength_rank",
]

#: The match-key input encoding this code derives for new tags: `samenloop/v1|<kind>|...`.
#: Any change in what `match_keys` returns for a person is a new version (the known-answer
#: vectors in tests/vectors/ fail otherwise), because nodes on different versions cannot
#: find each other; the network lists the versions it accepts in the signed directory, and
#: during a rollout checks ask for every listed version, as they do for key epochs.
INPUT_VERSION = 1
#: The versions this code can derive. A real v2 adds its rules behind `version >= 2` below.
SUPPORTED_INPUT_VERSIONS: tuple[int, ...] = (1,)
MIN_DATE = date(1900, 1, 1)
MAX_FIELD_LENGTH = 200

#: Strongest first. A hit is shown with the strongest strength of the keys it shared.
STRENGTHS: tuple[str, ...] = ("zeker", "sterk", "waarschijnlijk", "mogelijk")

# Key kind -> strength. `full`, `name_dob`, `phonetic` and `bsn` are the design's base keys;
# `alias` (roepnaam or transliteration table) and `spelling` (rule-based transliteration
# skeleton) only add hits where the first initial differs, so they sit below the exact key.
KIND_STRENGTH: dict[str, str] = {
    "bsn": "zeker",
    "full": "sterk",
    "name_dob": "waarschijnlijk",
    "alias": "waarschijnlijk",
    "phonetic": "mogelijk",
    "spelling": "mogelijk",
}


def strength_rank(strength: str) -> int:
    """0 for the strongest; lets callers keep the best strength per hit with min()."""
    return STRENGTHS.index(strength)


class InvalidSubject(ValueError):
    """Refused input. `field` is the Dutch field name; the message never holds the value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidSubjects(InvalidSubject):
    """More than one field of a person refused: `problems` has one per field, in the
    order of the form; as an InvalidSubject it reads as `first`, the refusal a single-error
    caller always got."""

    def __init__(self, problems: list[InvalidSubject], first: InvalidSubject) -> None:
        super().__init__(first.field, first.message)
        self.problems = problems


@dataclass(frozen=True)
class Subject:
    """A parsed person. The repr is redacted so a stray log line cannot leak identifiers."""

    surname: str = field(repr=False)
    prefix: str = field(repr=False)
    given_names: str = field(repr=False)
    date_of_birth: date = field(repr=False)
    place_of_birth: str = field(default="", repr=False)
    bsn: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MatchKey:
    """One OPRF input and the strength a hit on it is shown with; repr hides the input."""

    kind: str
    strength: str
    oprf_input: bytes = field(repr=False)


# --------------------------------------------------------------------------------------------
# Text folding
# --------------------------------------------------------------------------------------------

_SPECIAL_LETTERS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "ı": "i",
        "ĳ": "ij",
        "Ĳ": "ij",
        "’": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "ʼ": "'",
        "‐": "-",
        "‑": "-",
        "–": "-",
        "—": "-",
    }
)
_WORD = re.compile(r"[^\W\d_]+")


def _fold(text: str) -> str:
    """Case, diacritics (Müller/Muller, Çelik/Celik, ß, ø) and IJ/Y folded away."""
    text = unicodedata.normalize("NFKC", text).translate(_SPECIAL_LETTERS)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return text.replace("ij", "y")


def _words(folded: str) -> list[str]:
    """Letter runs only: hyphens, spaces, apostrophes and dots separate, nothing else counts."""
    return _WORD.findall(folded)


# --------------------------------------------------------------------------------------------
# Surnames
# --------------------------------------------------------------------------------------------

_TUSSENVOEGSELS = frozenset(_fold(w) for w in data.TUSSENVOEGSELS)


def _core_of(words: list[str]) -> str:
    """Drop voorvoegsels wherever they stand; a name made only of them is kept whole."""
    kept = [w for w in words if w not in _TUSSENVOEGSELS]
    return "".join(kept or words)


def _full_surname(prefix: str, surname: str) -> str:
    """Prefix field and surname as one name: a word in the prefix field that is not a
    voorvoegsel ("van Kuijc van" + "Malsen") belongs to the surname, the others drop out."""
    return f"{prefix} {surname.split(',', 1)[0]}" if prefix else surname


def surname_cores(surname: str) -> list[str]:
    """The surname core and, for a double surname, each part on its own (whole first).

    "van der Berg", "Berg, van der" and "Van Der Berg" all give "berg": text after a comma is
    the voorvoegsel, and voorvoegsel words are dropped wherever they stand, so the position
    (prefix field, leading, after a comma) does not matter.
    """
    folded = _fold(surname).split(",", 1)[0]
    parts = [_words(p) for p in folded.split("-")]
    parts = [p for p in parts if p]
    if not parts:
        return []
    whole = _core_of([w for p in parts for w in p])
    cores = [whole]
    if len(parts) > 1:
        for part in parts:
            core = _core_of(part)
            # A part made only of voorvoegsels ("de" in "Peters-de") is not a name.
            if core and not all(w in _TUSSENVOEGSELS for w in part) and core not in cores:
                cores.append(core)
    return [c for c in cores if c]


_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"sch", "sg"),
        (r"[ck]h", "g"),
        (r"gh", "g"),
        (r"ph", "f"),
        (r"th", "t"),
        (r"ck", "k"),
        (r"qu", "kw"),
        (r"q", "k"),
        (r"x", "ks"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"dt$", "t"),
        (r"d$", "t"),
        (r"z", "s"),
        (r"v", "f"),
        (r"uy", "ui"),
        (r"oy", "oi"),
        (r"ey", "ei"),
        (r"y", "ei"),
        (r"ou", "au"),
        (r"auw", "au"),
        (r"oe", "u"),
        (r"ue", "u"),
        (r"ae", "a"),
        (r"ie", "i"),
        (r"(.)\1+", r"\1"),
    )
)


def phonetic_code(core: str) -> str:
    """A Dutch sound code for a surname core: Graaf/Graf, Rijnders/Reinders, Bosch/Boskh.

    Folds what typists confuse in Dutch names: doubled letters, ij/ei/y, c/k/s, ch/kh/g,
    ou/au(w), z/s, v/f, a final d/t. Only used in the weakest key.
    """
    code = core
    for pattern, repl in _PHONETIC_RULES:
        code = pattern.sub(repl, code)
    return code


# --------------------------------------------------------------------------------------------
# Given names
# --------------------------------------------------------------------------------------------


def given_name_tokens(given_names: str) -> list[str]:
    """Given names in order, folded; "Anne-Marie" stays one name, "J.C." gives "j", "c"."""
    tokens: list[str] = []
    for chunk in re.split(r"[\s,]+", _fold(given_names)):
        if "." in chunk:  # initials typed as "J.C." or "J."
            tokens.extend(w for part in chunk.split(".") for w in _words(part))
        else:
            joined = "".join(_words(chunk))
            if joined:
                tokens.append(joined)
    return tokens


def _build_alias_table() -> dict[str, frozenset[str]]:
    """Name -> alias groups (an official name or a transliteration family) it belongs to."""
    table: dict[str, set[str]] = {}

    def add(name: str, group: str) -> None:
        key = "".join(_words(_fold(name)))
        if key:
            table.setdefault(key, set()).add("".join(_words(_fold(group))))

    canonical = {}
    for variants in data.OFFICIAL_VARIANTS:
        for variant in variants:
            canonical["".join(_words(_fold(variant)))] = variants[0]
            add(variant, variants[0])
    for official, short_forms in data.ROEPNAMEN.items():
        group = canonical.get("".join(_words(_fold(official))), official)
        add(official, group)
        for short in short_forms:
            add(short, group)
    for main, variants in data.TRANSLIT_NAMES.items():
        add(main, main)
        for variant in variants:
            add(variant, main)
    return {k: frozenset(v) for k, v in table.items()}


_ALIASES: dict[str, frozenset[str]] = _build_alias_table()


def alias_groups(first_name: str) -> frozenset[str]:
    """Official names behind a roepnaam (Kees -> cornelis) and transliteration families."""
    return _ALIASES.get(first_name, frozenset())


_SPELLING_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"kh", "h"),
        (r"gh", "g"),
        (r"ph", "f"),
        (r"th", "t"),
        (r"dj", "j"),
        (r"s?ch|sh|sj", "s"),
        (r"ck|q|c", "k"),
        (r"x", "ks"),
        (r"z", "s"),
        (r"oe|ou|o", "u"),
        (r"(?<=.)w", "u"),
        (r"ee|ie", "i"),
        (r"[yj]", "i"),
        (r"(?<=...)[eh]$", ""),
        (r"d$", "t"),
        (r"(.)\1+", r"\1"),
    )
)


def spelling_skeleton(first_name: str) -> str:
    """Transliteration skeleton of a given name: Youssef/Joessef, Khadija/Hadija, Anwar/Anouar.

    Folds the ways Arabic and Turkish names are written in Latin letters: oe/ou/o/u, kh/h,
    dj/j, y/j/i, ee/ie/i, sh/ch/s, ph/f, doubled letters, a final e, h or d/t.
    """
    skeleton = first_name
    for pattern, repl in _SPELLING_RULES:
        skeleton = pattern.sub(repl, skeleton)
    return skeleton


# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------


def _place_token(place: str) -> str:
    """Letters only, without a leading 's ('s-Gravenhage, s Gravenhage, Gravenhage)."""
    words = _words(_fold(place))
    if len(words) > 1 and words[0] == "s":
        words = words[1:]
    return "".join(words)


def _build_place_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for official, aliases in data.PLACE_ALIASES.items():
        canonical = _place_token(official)
        table[canonical] = canonical
        for alias in aliases:
            table.setdefault(_place_token(alias), canonical)
    return table


_PLACES: dict[str, str] = _build_place_table()


def place_key(place: str) -> str:
    """Canonical place of birth: Den Haag -> gravenhage, Snits -> sneek; '' when empty."""
    token = _place_token(place)
    return _PLACES.get(token, token)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_NAME_PUNCTUATION = frozenset(" -'.,()")
_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_DUTCH_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_SHORT_YEAR = re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2}$")
_COMPACT_DATE = re.compile(r"^\d{8}$")


def _clean(value: object, field_name: str) -> str:
    """Strip and collapse whitespace; refuse non-text and absurd lengths."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidSubject(field_name, f"{field_name} moet tekst zijn")
    text = " ".join(unicodedata.normalize("NFKC", value).translate(_SPECIAL_LETTERS).split())
    if len(text) > MAX_FIELD_LENGTH:
        raise InvalidSubject(field_name, f"{field_name} is te lang")
    return text


def _check_name_text(text: str, field_name: str) -> None:
    """Letters, spaces and - ' . , ( ) only: no digits or symbols in names and places."""
    if not all(
        c.isalpha() or c in _NAME_PUNCTUATION or unicodedata.category(c).startswith("M")
        for c in text
    ):
        raise InvalidSubject(field_name, f"{field_name} bevat ongeldige tekens")


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(value: str | date) -> date:
    """Date of birth from what staff type: ISO, or Dutch day-month-year with - / or . ."""
    field_name = "geboortedatum"
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _clean(value, field_name).replace(" ", "")
    if not text:
        raise InvalidSubject(field_name, "geboortedatum ontbreekt")
    parsed: date | None = None
    if m := _ISO_DATE.match(text):
        parsed = _make_date(int(m[1]), int(m[2]), int(m[3]))
    elif m := _DUTCH_DATE.match(text):
        parsed = _make_date(int(m[3]), int(m[2]), int(m[1]))
    elif _COMPACT_DATE.match(text):
        ymd = _make_date(int(text[:4]), int(text[4:6]), int(text[6:]))
        dmy = _make_date(int(text[4:]), int(text[2:4]), int(text[:2]))
        parsed = ymd if ymd is not None and ymd >= MIN_DATE else dmy
    elif _SHORT_YEAR.match(text):
        raise InvalidSubject(field_name, "geboortedatum moet een jaartal van vier cijfers hebben")
    if parsed is None:
        raise InvalidSubject(field_name, "geboortedatum is geen geldige datum")
    return parsed


def _parse_bsn(value: str | None) -> str | None:
    text = _clean(value, "bsn")
    text = re.sub(r"[\s.\-]", "", text)
    if not text:
        return None
    if not text.isdigit() or len(text) not in (8, 9):
        raise InvalidSubject("bsn", "BSN moet uit 9 cijfers bestaan")
    try:
        return stdnum_bsn.validate(text)
    except InvalidChecksum:
        raise InvalidSubject("bsn", "BSN voldoet niet aan de elfproef") from None
    except ValidationError:
        raise InvalidSubject("bsn", "BSN is geen geldig burgerservicenummer") from None


def parse_subject(
    *,
    surname: str,
    prefix: str = "",
    given_names: str,
    date_of_birth: str | date,
    place_of_birth: str = "",
    bsn: str | None = None,
    today: date | None = None,
) -> Subject:
    """Parse raw user input into a Subject, or raise InvalidSubject naming the field
    (InvalidSubjects naming each, when more than one field is refused: a form reports an
    impossible date together with missing voornamen).

    A voorvoegsel typed after a comma ("Berg, van der") or in front of the surname with an
    empty prefix field ("van der Berg") is moved to the prefix, so the stored subject reads
    the same however it was typed.
    """
    today = today or date.today()
    try:
        return _parse_subject(surname=surname, prefix=prefix, given_names=given_names,
                              date_of_birth=date_of_birth, place_of_birth=place_of_birth,
                              bsn=bsn, today=today)
    except InvalidSubject as first:
        # Only a refused person pays for the second pass over every field.
        problems = _subject_problems(surname, prefix, given_names, date_of_birth,
                                     place_of_birth, bsn, today)
        if len(problems) > 1:
            raise InvalidSubjects(problems, first) from None
        raise


def _subject_problems(surname: str, prefix: str, given_names: str, date_of_birth: str | date,
                      place_of_birth: str, bsn: str | None,
                      today: date) -> list[InvalidSubject]:
    """Each field checked on its own: at most one problem per field, in form order."""
    problems: list[InvalidSubject] = []

    def surname_ok() -> None:
        text = _clean(surname, "achternaam")
        if not text.strip(" -'.,"):
            raise InvalidSubject("achternaam", "achternaam ontbreekt")
        _check_name_text(text, "achternaam")

    def given_ok() -> None:
        text = _clean(given_names, "voornamen")
        if not given_names or not given_name_tokens(text):
            raise InvalidSubject("voornamen", "voornamen ontbreken")
        _check_name_text(text, "voornamen")

    checks: list[Callable[[], object]] = [
        surname_ok,
        lambda: _check_name_text(_clean(prefix, "tussenvoegsel"), "tussenvoegsel"),
        given_ok,
        lambda: _check_date_range(parse_date(date_of_birth), today),
        lambda: _check_name_text(_clean(place_of_birth, "geboorteplaats"), "geboorteplaats"),
        lambda: _parse_bsn(bsn),
    ]
    for check in checks:
        try:
            check()
        except InvalidSubject as exc:
            problems.append(exc)
    return problems


def _check_date_range(dob: date, today: date) -> None:
    if dob > today:
        raise InvalidSubject("geboortedatum", "geboortedatum ligt in de toekomst")
    if dob < MIN_DATE:
        raise InvalidSubject("geboortedatum", "geboortedatum ligt voor 1900")


def _parse_subject(*, surname: str, prefix: str, given_names: str, date_of_birth: str | date,
                   place_of_birth: str, bsn: str | None, today: date) -> Subject:
    surname_text = _clean(surname, "achternaam")
    prefix_text = _clean(prefix, "tussenvoegsel")
    given_text = _clean(given_names, "voornamen")
    place_text = _clean(place_of_birth, "geboorteplaats")

    if not surname_text.strip(" -'.,"):
        raise InvalidSubject("achternaam", "achternaam ontbreekt")
    _check_name_text(surname_text, "achternaam")
    _check_name_text(prefix_text, "tussenvoegsel")
    if not given_names or not given_name_tokens(given_text):
        raise InvalidSubject("voornamen", "voornamen ontbreken")
    _check_name_text(given_text, "voornamen")
    _check_name_text(place_text, "geboorteplaats")

    if "," in surname_text:
        head, _, tail = surname_text.partition(",")
        surname_text, tail = head.strip(), tail.strip()
        prefix_text = prefix_text or tail
        if not surname_text:
            raise InvalidSubject("achternaam", "achternaam ontbreekt")
    if not prefix_text:
        words = surname_text.split(" ")
        lead = 0
        while lead < len(words) - 1 and _fold(words[lead]).strip("'") in _TUSSENVOEGSELS:
            lead += 1
        if lead:
            prefix_text, surname_text = " ".join(words[:lead]), " ".join(words[lead:])
    if not surname_cores(_full_surname(prefix_text, surname_text)):
        raise InvalidSubject("achternaam", "achternaam ontbreekt")

    dob = parse_date(date_of_birth)
    _check_date_range(dob, today)

    return Subject(
        surname=surname_text,
        prefix=prefix_text,
        given_names=given_text,
        date_of_birth=dob,
        place_of_birth=place_text,
        bsn=_parse_bsn(bsn),
    )


# --------------------------------------------------------------------------------------------
# Free text that must hold no identifiers
# --------------------------------------------------------------------------------------------

_MONTHS = {name: number for number, names in enumerate((
    ("januari", "jan"), ("februari", "feb"), ("maart", "mrt", "mar"), ("april", "apr"),
    ("mei",), ("juni", "jun"), ("juli", "jul"), ("augustus", "aug"),
    ("september", "sep", "sept"), ("oktober", "okt", "oct"), ("november", "nov"),
    ("december", "dec")), start=1) for name in names}
_DATE_TRIPLE = re.compile(r"(?<!\d)(\d{1,4})[-/. ]+(\d{1,2})[-/. ]+(\d{1,4})(?!\d)")
_LONG_NUMBER = re.compile(r"(?<!\d)\d{8,9}(?!\d)")


def mentions_identifiers(text: str, subjects: Iterable[Subject]) -> bool:
    """Whether a free text (a check's note) holds any part of these persons' identifiers:
    a name part of three or more letters, the date of birth in any usual form, a BSN, or any
    8-9 digit number. Errs on the side of refusing."""
    folded = _fold(text)
    words = set(re.findall(r"[a-z]+", folded))
    letters = re.sub(r"[^a-z]", "", folded)
    digits = re.sub(r"(?<=\d)[\s.]+(?=\d)", "", folded)  # 123 456 782, 123.456.782
    if _LONG_NUMBER.search(digits):
        return True
    numbered = re.sub(r"[a-z]+", lambda m: f" {_MONTHS[m[0]]} " if m[0] in _MONTHS else m[0],
                      folded)
    for subject in subjects:
        parts = {w for field_text in (subject.surname, subject.prefix, subject.given_names,
                                      subject.place_of_birth)
                 for w in re.findall(r"[a-z]+", _fold(field_text)) if len(w) >= 3}
        # "vanderberg", "vandenberg": a surname with its voorvoegsels written as one word
        whole = re.sub(r"[^a-z]", "", _fold(f"{subject.prefix} {subject.surname}"))
        if parts & words or (whole not in parts and len(whole) >= 6 and whole in letters):
            return True
        dob = subject.date_of_birth
        for m in _DATE_TRIPLE.finditer(numbered):
            a, b, c = (int(x) for x in m.groups())
            for year, month, day in ((c, b, a), (a, b, c)):
                if (month, day) == (dob.month, dob.day) and year in (dob.year, dob.year % 100):
                    return True
        if subject.bsn and subject.bsn in digits:
            return True
    return False


# --------------------------------------------------------------------------------------------
# Match keys
# --------------------------------------------------------------------------------------------


def _encode(version: int, kind: str, *fields: str) -> bytes:
    if not all(fields) or any("|" in f for f in fields):
        raise ValueError("match key field is empty or holds the separator")
    return "|".join((f"samenloop/v{version}", kind, *fields)).encode("utf-8")


def match_keys(subject: Subject, *, bsn_enabled: bool = False,
               version: int = INPUT_VERSION) -> list[MatchKey]:
    """All OPRF inputs for a subject in one input version, strongest first, no duplicates.

    Registering and checking call this same function, so every variant a rule produces on one
    side is also produced on the other. No key is derived from an empty field.
    """
    if version not in SUPPORTED_INPUT_VERSIONS:
        raise ValueError(f"match key input version {version} is not supported "
                         f"(supported: {', '.join(map(str, SUPPORTED_INPUT_VERSIONS))})")
    keys: dict[bytes, MatchKey] = {}

    def add(kind: str, *fields: str) -> None:
        if all(fields):
            encoded = _encode(version, kind, *fields)
            keys.setdefault(encoded, MatchKey(kind, KIND_STRENGTH[kind], encoded))

    if bsn_enabled and subject.bsn:
        add("bsn", subject.bsn)

    cores = surname_cores(_full_surname(subject.prefix, subject.surname))
    tokens = given_name_tokens(subject.given_names)
    first = tokens[0] if tokens else ""
    initial = first[:1]
    full_first = first if len(first) > 1 else ""
    dob = subject.date_of_birth.isoformat()
    place = place_key(subject.place_of_birth)
    groups = sorted(alias_groups(full_first)) if full_first else []
    skeleton = spelling_skeleton(full_first) if full_first else ""

    for core in cores:
        add("full", core, full_first, dob, place)
    for core in cores:
        add("name_dob", core, initial, dob)
    for core in cores:
        for group in groups:
            add("alias", core, group, dob)
    for core in cores:
        add("phonetic", phonetic_code(core), initial, dob)
    for core in cores:
        add("spelling", core, skeleton, dob)

    return sorted(keys.values(), key=lambda k: strength_rank(k.strength))
