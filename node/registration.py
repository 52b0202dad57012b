"""Registering active cases from a case-system export (CSV or JSON).

Every row is validated before anything is pseudonymised; one bad row refuses the whole
file and the report names line, field and problem without echoing the value. The export
is read as a stream, twice (validate and stage cases; pseudonymise and stage tags), so
memory does not grow with its size; the store applies the staging in one transaction, so
an import is all or nothing.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

from samenloop.crypto.identity import (
    InvalidSubject,
    Subject,
    match_keys,
    parse_date,
    parse_subject,
)
from samenloop.crypto.tags import node_tag
from samenloop.node.config import NodeConfig
from samenloop.node.model import (
    AFSCHALING,
    CONTACT_AFTER_ASSESSMENT,
    INFORM_POSTPONED,
    PHASES,
    STRENGTHS,
)
from samenloop.node.network import EVALUATE_BATCH, Network, match_key_versions, new_query_id
from samenloop.node.store import AuditRecord, ImportSummary, NodeStore, StagedCase
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

log = logging.getLogger("samenloop.node")

# How long an import may wait in all for its evaluation budget before it gives up.
IMPORT_MAX_PACING_SECONDS = 1800.0
CASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
# Column names as case systems export them (Dutch) and as our own docs write them.
COLUMNS = {
    "case_ref": ("case_ref", "casusnummer", "casus", "zaaknummer"),
    "phase": ("phase", "fase"),
    "procesregisseur_id": ("procesregisseur_id", "procesregisseur"),
    "surname": ("surname", "achternaam"),
    "prefix": ("prefix", "tussenvoegsel"),
    "given_names": ("given_names", "voornamen"),
    "date_of_birth": ("date_of_birth", "geboortedatum", "dob"),
    "place_of_birth": ("place_of_birth", "geboorteplaats", "birthplace"),
    "bsn": ("bsn",),
    "last_changed": ("laatste_wijziging", "last_changed"),
    "assess_first": ("beoordeling_vooraf", "assess_first"),
    "informed_on": ("geinformeerd_op", "informed_on"),
    "inform_postponed": ("informeren_uitgesteld", "inform_postponed"),
    "reassess_on": ("herbeoordeling_op", "reassess_on"),
}
YES = ("ja", "j", "yes", "y", "true", "1")
NO = ("", "nee", "n", "no", "false", "0")
# Exports are flat records; anything nested deeper than this is refused before it can
# exhaust the parser's recursion (50,000 nested brackets once crashed the import).
MAX_JSON_DEPTH = 32
NOT_JSON = "not valid JSON"
COLUMN_COUNT = "columns"  # the RowError field of a row with the wrong number of fields
REQUIRED = ("case_ref", "phase", "procesregisseur_id", "surname", "given_names",
            "date_of_birth")
# Streaming: characters read at a time, the largest JSON record, rows staged per store
# transaction, OPRF inputs per pseudonymise call (split further into chunks there) and
# the threads that run those calls while the next rows are read.
READ_BLOCK = 1 << 16
MAX_RECORD_CHARS = 1 << 20
STAGE_ROWS = 2_000
IMPORT_BLOCK = 2 * EVALUATE_BATCH
IMPORT_WORKERS = 2
# Problems kept for the report; a file with more is refused with their count.
MAX_REPORTED = 1_000


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class ImportRefused(Exception):
    """The file was refused; nothing was changed."""

    def __init__(self, errors: list[RowError], total: int | None = None) -> None:
        self.total = len(errors) if total is None else total
        super().__init__(f"import refused, nothing changed: {self.total} problem(s)")
        self.errors = errors


@dataclass(frozen=True)
class ExportRow:
    line: int
    case_ref: str
    phase: str
    procesregisseur_id: str
    subject: Subject | None  # None on an afschaling row: it only closes the case
    last_changed: str = ""
    assess_first: bool = False
    informing: tuple[str, str, str] = ("", "", "")


def read_export(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused([RowError(0, "file", "not UTF-8 text")]) from None
    except OSError as exc:
        raise ImportRefused([RowError(0, "file", f"cannot read ({exc.strerror})")]) from None


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    return parse_rows(read_export(path))


def parse_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; JSON arrays, JSON lines and CSV (comma or semicolon)."""
    return list(iter_rows(io.StringIO(text.removeprefix("\ufeff"), newline="")))


class _Digest:
    """A text stream read line by line or in blocks, hashing everything read: the second
    pass of an import proves it read the same file as the first."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._stream)
        self._hash.update(line.encode("utf-8", "surrogatepass"))
        return line

    def read(self, size: int = -1) -> str:
        text = self._stream.read(size)
        self._hash.update(text.encode("utf-8", "surrogatepass"))
        return text

    def readline(self) -> str:
        line = self._stream.readline()
        self._hash.update(line.encode("utf-8", "surrogatepass"))
        return line

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@contextmanager
def _opened(export: Path | str) -> Iterator[_Digest]:
    """The export as a text stream (a file read as it goes, or an uploaded text), with
    read and decoding errors as the file's refusal."""
    try:
        if isinstance(export, Path):
            with export.open(encoding="utf-8-sig", newline="") as stream:
                yield _Digest(stream)
        else:
            yield _Digest(io.StringIO(export.removeprefix("\ufeff"), newline=""))
    except UnicodeDecodeError:
        raise ImportRefused([RowError(0, "file", "not UTF-8 text")]) from None
    except OSError as exc:
        raise ImportRefused([RowError(0, "file", f"cannot read ({exc.strerror})")]) from None


def iter_rows(stream: TextIO | _Digest) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs read as they come, never the whole file at once; JSON
    arrays, JSON lines and CSV (comma or semicolon). A problem of the file's form refuses
    it (ImportRefused) when it is met; rows with the wrong number of fields are reported
    together at the end, as the file's only problems."""
    start = ""
    while not start.strip():
        block = stream.read(READ_BLOCK)
        if not block:
            break
        start += block
    head = start.lstrip()
    if head.startswith("["):
        return _json_array_rows(start, stream)
    if head.startswith("{"):
        return _json_lines_rows(start, stream)
    return _csv_rows(start, stream)


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of a JSON text, counting brackets outside strings; the scan stops
    as soon as it passes `limit`, and it never recurses, whatever the input."""
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        found = match.group()
        if found in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif found in ("]", "}"):
            depth -= 1
    return deepest


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def loads_bounded(text: str, limit: int = MAX_JSON_DEPTH) -> object:
    """json.loads, refusing (ValueError) texts nested deeper than `limit` before parsing."""
    if json_depth(text, limit) > limit:
        raise ValueError(f"nested deeper than {limit} levels")
    try:
        return json.loads(text)
    except RecursionError:  # unreachable after the scan; never let it become a crash
        raise ValueError(f"nested deeper than {limit} levels") from None


def _value_depth(value: object) -> int:
    """The nesting depth of a decoded JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


_TOO_DEEP = f"{NOT_JSON} (nested deeper than {MAX_JSON_DEPTH} levels)"


def _record(number: int, item: object) -> tuple[int, dict[str, str]]:
    if not isinstance(item, dict):
        raise ImportRefused([RowError(number, "file", "each record must be an object")])
    return number, {str(k).strip().lower(): "" if v is None else str(v)
                    for k, v in item.items()}


def _json_array_rows(start: str, stream: TextIO | _Digest
                     ) -> Iterator[tuple[int, dict[str, str]]]:
    """The records of one JSON array, decoded one at a time from a sliding buffer; each
    record at most MAX_RECORD_CHARS and nested at most MAX_JSON_DEPTH deep in all."""
    decoder = json.JSONDecoder()
    buffer, pos, eof = start, start.index("[") + 1, False

    def more() -> bool:
        nonlocal buffer, pos, eof
        block = "" if eof else stream.read(READ_BLOCK)
        eof = not block
        buffer, pos = buffer[pos:] + block, 0
        return not eof

    def next_char() -> str:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer) or not more():
                return buffer[pos] if pos < len(buffer) else ""

    number = 0
    if next_char() == "]":
        pos += 1
    else:
        while True:
            number += 1
            next_char()
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, pos)
                    break
                except RecursionError:
                    raise ImportRefused([RowError(0, "file", _TOO_DEEP)]) from None
                except json.JSONDecodeError:
                    if len(buffer) - pos > MAX_RECORD_CHARS or not more():
                        raise ImportRefused([RowError(number, "file", NOT_JSON)]) from None
            if _value_depth(item) + 1 > MAX_JSON_DEPTH:
                raise ImportRefused([RowError(0, "file", _TOO_DEEP)])
            pos = end
            yield _record(number, item)
            found = next_char()
            pos += 1
            if found == "]":
                break
            if found != ",":
                raise ImportRefused([RowError(number, "file", NOT_JSON)])
    if next_char():
        raise ImportRefused([RowError(number, "file", NOT_JSON)])


def _json_lines_rows(start: str, stream: TextIO | _Digest
                     ) -> Iterator[tuple[int, dict[str, str]]]:
    """JSON lines, one record per line; or one object over several lines (a record of at
    most MAX_RECORD_CHARS)."""
    pending = start

    def lines() -> Iterator[str]:
        nonlocal pending
        while True:
            cut = pending.find("\n")
            while cut < 0:
                block = stream.read(READ_BLOCK)
                if not block:
                    if pending:
                        yield pending
                    return
                pending += block
                cut = pending.find("\n", len(pending) - len(block))
            line, pending = pending[:cut + 1], pending[cut + 1:]
            yield line

    source = lines()
    blank = 0
    first = next(source, "")
    while first and not first.strip():
        blank, first = blank + 1, next(source, "")
    try:
        loads_bounded(first)
    except ValueError as exc:
        whole = first
        for line in source:
            whole += line
            if len(whole) > MAX_RECORD_CHARS:
                raise ImportRefused([RowError(0, "file", NOT_JSON)]) from None
        if "nested" in str(exc) or json_depth(whole) > MAX_JSON_DEPTH:
            raise ImportRefused([RowError(0, "file", _TOO_DEEP)]) from None
        try:
            data = loads_bounded(whole)
        except ValueError:
            raise ImportRefused([RowError(0, "file", NOT_JSON)]) from None
        yield _record(1, data)
        return
    for number, line in enumerate(itertools.chain([first], source), start=blank + 1):
        if not line.strip():
            continue
        try:
            item = loads_bounded(line)
        except ValueError:  # JSONDecodeError is a ValueError
            raise ImportRefused([RowError(number, "file", NOT_JSON)]) from None
        yield _record(number, item)


def _csv_rows(start: str, stream: TextIO | _Digest) -> Iterator[tuple[int, dict[str, str]]]:
    if start and not start.endswith("\n"):
        start += stream.readline()  # the first block ends mid-line (or between \r and \n)
    lines = itertools.chain(io.StringIO(start, newline=""), stream)
    first = next(lines, "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(itertools.chain([first] if first else [], lines),
                            delimiter=delimiter)
    counts: list[RowError] = []
    try:
        if not reader.fieldnames:
            raise ImportRefused([RowError(1, "file", "empty file or no header row")])
        headers = list(reader.fieldnames)
        for record in reader:
            found = _field_count(record, len(headers))
            if found != len(headers):
                # DictReader puts extra fields under None and fills missing ones with None.
                first = headers[found] if found < len(headers) else ""
                if len(counts) < MAX_REPORTED:
                    counts.append(RowError(reader.line_num, COLUMN_COUNT, (
                        f"has {found} fields, expected {len(headers)}"
                        + (f" (missing from column '{first}' on)" if first else
                           f" (extra from field {len(headers) + 1} on)"))))
                continue
            if not counts:  # after a count problem only count problems are reported
                yield (reader.line_num,
                       {k.strip().lower(): (v or "") for k, v in record.items()})
    except csv.Error:
        raise ImportRefused([RowError(reader.line_num, "file", "not valid CSV")]) from None
    if counts:
        raise ImportRefused(counts)


def _field_count(record: dict[str | None, object], headers: int) -> int:
    """How many fields a CSV record really had."""
    extra = record.get(None)
    if isinstance(extra, list):
        return headers + len(extra)
    return sum(1 for key, value in record.items() if key is not None and value is not None)


def file_columns(text: str) -> dict[str, str]:
    """Which column of the file each field was read from, spelled as in the file's header
    (the alias that matched, as `_column` reads it): reports then name the beheerder's own
    columns, not ours."""
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    headers: list[str] = []
    if stripped.startswith("[") or stripped.startswith("{"):
        first: object = None
        for candidate in (stripped, stripped.splitlines()[0]):  # an array, or JSON lines
            try:
                data = loads_bounded(candidate)
            except ValueError:
                continue
            first = data[0] if isinstance(data, list) and data else data
            break
        if isinstance(first, dict):
            headers = [str(k) for k in first]
    elif text.strip():
        line = text.splitlines()[0]
        delimiter = ";" if line.count(";") > line.count(",") else ","
        headers = next(csv.reader([line], delimiter=delimiter), [])
    spelled = {h.strip().lower(): h.strip() for h in headers}
    out: dict[str, str] = {}
    for name, aliases in COLUMNS.items():
        match = next((spelled[a] for a in aliases if a in spelled), None)
        if match is not None:
            out[name] = match
    return out


def _column(row: dict[str, str], name: str) -> str:
    for alias in COLUMNS[name]:
        if alias in row:
            return row[alias].strip()
    return ""


def _informing(row: dict[str, str], line: int, today: date,
               errors: list[RowError]) -> tuple[str, str, str]:
    """The informing status of a row: informed on a date, or postponed for a reason from
    the fixed list until a reassessment date."""
    dates = []
    for name in ("informed_on", "reassess_on"):
        text = _column(row, name)
        try:
            dates.append(parse_date(text).isoformat() if text else "")
        except InvalidSubject:
            errors.append(RowError(line, name, "not a valid date"))
            dates.append("")
    informed_on, reassess_on = dates
    postponed = _column(row, "inform_postponed").lower()
    if informed_on and informed_on > today.isoformat():
        errors.append(RowError(line, "informed_on", "lies in the future"))
    if postponed and postponed not in INFORM_POSTPONED:
        errors.append(RowError(line, "inform_postponed",
                               f"must be one of {', '.join(INFORM_POSTPONED)}"))
    if postponed and not reassess_on:
        errors.append(RowError(line, "reassess_on", "needed when informing is postponed"))
    return (informed_on, postponed, reassess_on)


class RowValidator:
    """The checks of one row on its own (fields, dates, phase, procesregisseur, the
    person); whether the rows of one case agree is the caller's (a dict in memory, or the
    store's staging for a streamed import)."""

    def __init__(self, known_procesregisseurs: set[str], today: date,
                 phase_names: dict[str, str] | None = None) -> None:
        self.known = known_procesregisseurs
        self.today = today
        self.names = {**{p: p for p in (*PHASES, AFSCHALING)}, **(phase_names or {})}

    def header(self, row: dict[str, str]) -> list[RowError]:
        """Required columns missing from the first row's keys."""
        return [RowError(1, name, f"column missing (one of {', '.join(COLUMNS[name])})")
                for name in REQUIRED if not set(row).intersection(COLUMNS[name])]

    def row(self, line: int, row: dict[str, str]
            ) -> tuple[StagedCase, ExportRow | None, list[RowError]]:
        """The row as its case sees it, the parsed row (None if it has problems), and its
        problems."""
        case_ref = _column(row, "case_ref")
        phase = self.names.get(_column(row, "phase").lower(), "")
        regisseur = _column(row, "procesregisseur_id")
        errors = []
        if not CASE_REF.match(case_ref):
            errors.append(RowError(line, "case_ref", "must be 1-64 letters, digits, "
                                                     "'.', '_', '/' or '-'"))
        if not phase:
            errors.append(RowError(line, "phase", f"must be one of {', '.join(self.names)} "
                                                  f"(mapped in node.toml [import] phases)"))
        last_changed = _column(row, "last_changed")
        if last_changed:
            try:
                changed = parse_date(last_changed)
                last_changed = changed.isoformat()
                if changed > self.today:
                    errors.append(RowError(line, "last_changed", "lies in the future"))
            except InvalidSubject:
                errors.append(RowError(line, "last_changed", "not a valid date"))
        assess = _column(row, "assess_first").lower()
        if assess not in YES + NO:
            errors.append(RowError(line, "assess_first", "must be ja or nee"))
        informing = _informing(row, line, self.today, errors)
        if regisseur not in self.known:
            errors.append(RowError(line, "procesregisseur_id", "unknown procesregisseur "
                                   "(add it to node.toml or with `samenloop node "
                                   "procesregisseur add`)"))
        subject: Subject | None = None
        if phase != AFSCHALING:  # an afschaling row closes the case; persons not needed
            try:
                subject = parse_subject(
                    surname=_column(row, "surname"), prefix=_column(row, "prefix"),
                    given_names=_column(row, "given_names"),
                    date_of_birth=_column(row, "date_of_birth"),
                    place_of_birth=_column(row, "place_of_birth"),
                    bsn=_column(row, "bsn") or None, today=self.today)
            except InvalidSubject as exc:
                errors.append(RowError(line, exc.field, str(exc)))
        staged = StagedCase(line, case_ref, phase, regisseur, has_subject=subject is not None,
                            ended=phase == AFSCHALING,
                            last_changed=last_changed if subject else "",
                            assess_first=bool(subject) and assess in YES,
                            informing=informing if subject else ("", "", ""))
        if errors:
            return staged, None, errors
        return staged, ExportRow(line, case_ref, phase, regisseur, subject,
                                 staged.last_changed, staged.assess_first,
                                 staged.informing), []


def _disagrees(row: StagedCase, first: tuple[str, str, int]) -> RowError | None:
    if (first[0], first[1]) != (row.phase, row.procesregisseur_id):
        return RowError(row.line, "case_ref", f"phase or procesregisseur differs from "
                                              f"line {first[2]} of the same case")
    return None


def validate(rows: list[tuple[int, dict[str, str]]], known_procesregisseurs: set[str],
             today: date, phase_names: dict[str, str] | None = None) -> list[ExportRow]:
    """Every problem in the rows, or the parsed rows if there are none (rows already in
    memory, as the web app's check before applying has them). Phases may be the case
    system's own names, mapped by `phase_names` ([import] phases in node.toml)."""
    if not rows:
        raise ImportRefused([RowError(0, "file", "no rows")])
    checker = RowValidator(known_procesregisseurs, today, phase_names)
    errors = checker.header(rows[0][1])
    if errors:
        raise ImportRefused(errors)
    parsed: list[ExportRow] = []
    firsts: dict[str, tuple[str, str, int]] = {}
    for line, row in rows:
        staged, export_row, row_errors = checker.row(line, row)
        first = firsts.setdefault(staged.case_ref, (staged.phase, staged.procesregisseur_id,
                                                    line))
        disagreement = _disagrees(staged, first)
        if disagreement:
            row_errors.append(disagreement)
        if export_row is not None and not row_errors:
            parsed.append(export_row)
        errors.extend(row_errors)
    if errors:
        raise ImportRefused(errors)
    return parsed


def import_cases(config: NodeConfig, store: NodeStore, network: Network, export: Path | str,
                 *, sync: bool, actor: str = "operator",
                 now: Callable[[], float] = time.time) -> ImportSummary:
    """Register an export (a file, or its text as uploaded: it never touches the disk).

    Two passes over the export, so memory does not grow with its size: the first
    validates every row and stages each case's attributes in the store; the second reads
    the export again, pseudonymises the persons chunk by chunk and stages their tags. One
    transaction then applies the staging with the audit record. A refusal or a failure
    anywhere drops the staging: nothing changed."""
    started = now()
    import_id = new_query_id()
    store.begin_import(import_id, now=started)
    try:
        checker = RowValidator(store.procesregisseur_ids(), date.fromtimestamp(started),
                               config.phase_names)
        digest, persons = _stage_cases(export, store, import_id, checker, now)
        epoch = 0
        versions: tuple[int, ...] = ()
        if persons:
            directory = network.directory(refresh=True, timeout=3.0, max_age=60.0)
            # Tags of every match-key version this node uses, so checks of either side of
            # a version rollout find these cases.
            versions = match_key_versions(config, directory)
            epoch = directory.current_epoch
            if _stage_tags(config, export, store, network, import_id, checker,
                           directory.bsn_enabled, versions, epoch, now) != digest:
                raise ImportRefused([RowError(0, "file", "changed while it was imported")])
        summary = store.apply_staged_import(
            import_id, now=now(), sync=sync,
            keep_checked_since=started - config.check_registration_grace_days * 86400,
            all_after_assessment=config.contact_release == CONTACT_AFTER_ASSESSMENT,
            audit=AuditRecord("import", actor, {"sync": sync, "epoch": epoch,
                                                "match_key_versions": list(versions)}))
    except BaseException:
        with contextlib.suppress(Exception):
            store.drop_import(import_id)
        raise
    log.info("import: cases=%d added=%d updated=%d refreshed=%d removed=%d closed=%d tags=%d "
             "sync=%s seconds=%.1f", summary.cases, summary.added, summary.updated,
             summary.refreshed, summary.removed, summary.closed, summary.tags, sync,
             now() - started)
    return summary


def _stage_cases(export: Path | str, store: NodeStore, import_id: str,
                 checker: RowValidator, now: Callable[[], float]) -> tuple[str, int]:
    """Pass 1: validate every row and stage its case; refuse with every problem (the
    first MAX_REPORTED of them). Returns the digest of what was read and the number of
    rows with a person."""
    errors: list[RowError] = []
    total = persons = rows_read = 0
    pending: list[StagedCase] = []

    def flush() -> None:
        nonlocal total
        for staged, first in zip(pending, store.stage_import_cases(import_id, pending,
                                                                   now=now()),
                                 strict=True):
            disagreement = _disagrees(staged, first)
            if disagreement:
                total += 1
                if len(errors) < MAX_REPORTED:
                    errors.append(disagreement)
        pending.clear()

    with _opened(export) as stream:
        rows = iter_rows(stream)
        for line, row in rows:
            if not rows_read:
                missing = checker.header(row)
                if missing:
                    raise ImportRefused(missing)
            staged, _, row_errors = checker.row(line, row)
            persons += staged.has_subject
            total += len(row_errors)
            errors.extend(row_errors[:MAX_REPORTED - len(errors)])
            pending.append(staged)
            rows_read += 1
            if len(pending) >= STAGE_ROWS:
                flush()
        flush()
        digest = stream.hexdigest()
    if not rows_read:
        raise ImportRefused([RowError(0, "file", "no rows")])
    if total:
        raise ImportRefused(errors, total)
    return digest, persons


@dataclass(frozen=True)
class _Block:
    """Persons of one Evaluate block: (case_ref, strength) per input, in input order."""

    number: int
    owners: list[tuple[str, int]]
    inputs: list[bytes]


def _stage_tags(config: NodeConfig, export: Path | str, store: NodeStore, network: Network,
                import_id: str, checker: RowValidator, bsn_enabled: bool,
                versions: tuple[int, ...], epoch: int, now: Callable[[], float]) -> str:
    """Pass 2: the persons' match keys in blocks of IMPORT_BLOCK inputs, pseudonymised
    (blinded, evaluated with a proof, verified) by IMPORT_WORKERS threads while this one
    reads the next rows, turned into tags and staged in the order read; at most one block
    more than there are workers is in flight. Every row is validated again: the digest of
    what was read (returned) must be the first pass's. Persons of a case that an
    afschaling row closes are not evaluated."""
    pace_until = time.monotonic() + IMPORT_MAX_PACING_SECONDS

    def pseudonymise(number: int, owners: list[tuple[str, int]], inputs: list[bytes]
                     ) -> list[tuple[str, bytes, int, int]]:
        pseudonyms: list[bytes]
        _, pseudonyms = network.pseudonymise(
            inputs, request_id=f"import-{import_id}-{number}", epoch=epoch,
            purpose=pb.EVALUATION_FOR_IMPORT,
            pace_for=max(0.0, pace_until - time.monotonic()))
        return [(case_ref, node_tag(psi, config.node_id), epoch, strength)
                for (case_ref, strength), psi in zip(owners, pseudonyms, strict=True)]

    pool = ThreadPoolExecutor(max_workers=IMPORT_WORKERS, thread_name_prefix="import")
    in_flight: deque[Future[list[tuple[str, bytes, int, int]]]] = deque()
    owners: list[tuple[str, int]] = []
    inputs: list[bytes] = []
    blocks = 0

    def send() -> None:
        nonlocal owners, inputs, blocks
        in_flight.append(pool.submit(pseudonymise, blocks, owners, inputs))
        blocks, owners, inputs = blocks + 1, [], []
        while len(in_flight) > IMPORT_WORKERS:
            store.stage_import_tags(import_id, in_flight.popleft().result(), now=now())

    def add(rows: list[ExportRow]) -> None:
        ended = store.staged_ended(import_id, (r.case_ref for r in rows))
        for row in rows:
            if row.subject is None or row.case_ref in ended:
                continue
            for version in versions:
                for key in match_keys(row.subject, bsn_enabled=bsn_enabled, version=version):
                    owners.append((row.case_ref, STRENGTHS[key.strength]))
                    inputs.append(key.oprf_input)
            if len(inputs) >= IMPORT_BLOCK:
                send()

    try:
        with _opened(export) as stream:
            rows: list[ExportRow] = []
            for line, row in iter_rows(stream):
                _, parsed, problems = checker.row(line, row)
                if parsed is None or problems:
                    raise ImportRefused([RowError(line, "file", "changed while it was "
                                                                "imported")])
                rows.append(parsed)
                if len(rows) >= STAGE_ROWS:
                    add(rows)
                    rows = []
            add(rows)
            digest = stream.hexdigest()
        if inputs:
            send()
        while in_flight:
            store.stage_import_tags(import_id, in_flight.popleft().result(), now=now())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return digest
