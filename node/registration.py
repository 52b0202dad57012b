"""Registering active cases from a case-system export (CSV or JSON).

Every row is validated before anything is pseudonymised or stored; one bad row refuses
the whole file and the report names line, field and problem without echoing the value.
The store applies the result in one transaction, so an import is all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

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
    CONTACT_DIRECT,
    INFORM_POSTPONED,
    PHASES,
    STRENGTHS,
    Registration,
    TagRow,
)
from samenloop.node.network import Network, match_key_versions, new_query_id
from samenloop.node.store import AuditRecord, ImportSummary, NodeStore
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


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class ImportRefused(Exception):
    """The file was refused; nothing was changed."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"import refused, nothing changed: {len(errors)} problem(s)")
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
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        return _json_rows(text)
    return _csv_rows(text)


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


def _json_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ImportRefused([RowError(0, "file", f"{NOT_JSON} (nested deeper than "
                                                 f"{MAX_JSON_DEPTH} levels)")])
    try:
        data = loads_bounded(text)
        items = list(enumerate(data if isinstance(data, list) else [data], start=1))
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((number, loads_bounded(line)))
            except ValueError:  # JSONDecodeError is a ValueError
                raise ImportRefused([RowError(number, "file", NOT_JSON)]) from None
    except ValueError:
        raise ImportRefused([RowError(0, "file", NOT_JSON)]) from None
    rows = []
    for number, item in items:
        if not isinstance(item, dict):
            raise ImportRefused([RowError(number, "file", "each record must be an object")])
        rows.append((number, {str(k).strip().lower(): "" if v is None else str(v)
                              for k, v in item.items()}))
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
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
                counts.append(RowError(reader.line_num, COLUMN_COUNT, (
                    f"has {found} fields, expected {len(headers)}"
                    + (f" (missing from column '{first}' on)" if first else
                       f" (extra from field {len(headers) + 1} on)"))))
                continue
            rows.append((reader.line_num,
                         {k.strip().lower(): (v or "") for k, v in record.items()}))
    except csv.Error:
        raise ImportRefused([RowError(reader.line_num, "file", "not valid CSV")]) from None
    if counts:
        raise ImportRefused(counts)
    return rows


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


def validate(rows: list[tuple[int, dict[str, str]]], known_procesregisseurs: set[str],
             today: date, phase_names: dict[str, str] | None = None) -> list[ExportRow]:
    """Every problem in the file, or the parsed rows if there are none. Phases may be the
    case system's own names, mapped by `phase_names` ([import] phases in node.toml)."""
    names = {**{p: p for p in (*PHASES, AFSCHALING)}, **(phase_names or {})}
    errors: list[RowError] = []
    if not rows:
        raise ImportRefused([RowError(0, "file", "no rows")])
    headers = set(rows[0][1])
    for name in REQUIRED:
        if not headers.intersection(COLUMNS[name]):
            errors.append(RowError(1, name, f"column missing (one of {', '.join(COLUMNS[name])})"))
    if errors:
        raise ImportRefused(errors)
    parsed: list[ExportRow] = []
    case_owner: dict[str, tuple[str, str, int]] = {}
    for line, row in rows:
        case_ref = _column(row, "case_ref")
        phase = names.get(_column(row, "phase").lower(), "")
        regisseur = _column(row, "procesregisseur_id")
        row_errors = []
        if not CASE_REF.match(case_ref):
            row_errors.append(RowError(line, "case_ref", "must be 1-64 letters, digits, "
                                                         "'.', '_', '/' or '-'"))
        if not phase:
            row_errors.append(RowError(line, "phase", f"must be one of {', '.join(names)} "
                                                      f"(mapped in node.toml [import] phases)"))
        last_changed = _column(row, "last_changed")
        if last_changed:
            try:
                changed = parse_date(last_changed)
                last_changed = changed.isoformat()
                if changed > today:
                    row_errors.append(RowError(line, "last_changed", "lies in the future"))
            except InvalidSubject:
                row_errors.append(RowError(line, "last_changed", "not a valid date"))
        assess = _column(row, "assess_first").lower()
        if assess not in YES + NO:
            row_errors.append(RowError(line, "assess_first", "must be ja or nee"))
        informing = _informing(row, line, today, row_errors)
        if regisseur not in known_procesregisseurs:
            row_errors.append(RowError(line, "procesregisseur_id", "unknown procesregisseur "
                                       "(add it to node.toml or with `samenloop node "
                                       "procesregisseur add`)"))
        if case_ref in case_owner and case_owner[case_ref][:2] != (phase, regisseur):
            row_errors.append(RowError(line, "case_ref", f"phase or procesregisseur differs from "
                                       f"line {case_owner[case_ref][2]} of the same case"))
        case_owner.setdefault(case_ref, (phase, regisseur, line))
        if phase == AFSCHALING:  # closes the case; persons on the row are not needed
            if not row_errors:
                parsed.append(ExportRow(line, case_ref, phase, regisseur, None))
            errors.extend(row_errors)
            continue
        try:
            subject = parse_subject(
                surname=_column(row, "surname"), prefix=_column(row, "prefix"),
                given_names=_column(row, "given_names"),
                date_of_birth=_column(row, "date_of_birth"),
                place_of_birth=_column(row, "place_of_birth"),
                bsn=_column(row, "bsn") or None, today=today)
        except InvalidSubject as exc:
            row_errors.append(RowError(line, exc.field, str(exc)))
        else:
            if not row_errors:
                parsed.append(ExportRow(line, case_ref, phase, regisseur, subject,
                                        last_changed, assess in YES, informing))
        errors.extend(row_errors)
    if errors:
        raise ImportRefused(errors)
    return parsed


def import_cases(config: NodeConfig, store: NodeStore, network: Network, export: Path | str,
                 *, sync: bool, actor: str = "operator",
                 now: Callable[[], float] = time.time) -> ImportSummary:
    """Register an export (a file, or its text as uploaded: it never touches the disk)."""
    started = now()
    text = read_export(export) if isinstance(export, Path) else export
    all_rows = validate(parse_rows(text), store.procesregisseur_ids(),
                        date.fromtimestamp(started), config.phase_names)
    del text
    ended = sorted({r.case_ref for r in all_rows if r.subject is None})
    rows = [r for r in all_rows if r.subject is not None and r.case_ref not in ended]
    directory = network.directory(refresh=True, timeout=3.0, max_age=60.0) if rows else None
    bsn_enabled = directory.bsn_enabled if directory else False
    # Tags of every match-key version this node uses, so checks of either side of a
    # version rollout find these cases.
    versions = match_key_versions(config, directory) if directory else ()
    keys = [[k for v in versions
             for k in match_keys(r.subject, bsn_enabled=bsn_enabled, version=v)]
            for r in rows if r.subject]
    inputs = [k.oprf_input for ks in keys for k in ks]
    pseudonyms: list[bytes]
    # Imports count against their own budget at the coordinator and pace themselves in
    # it, so a large export completes (slower) instead of failing, and checks keep theirs.
    epoch, pseudonyms = (network.pseudonymise(inputs, request_id=f"import-{new_query_id()}",
                                              purpose=pb.EVALUATION_FOR_IMPORT,
                                              pace_for=IMPORT_MAX_PACING_SECONDS)
                         if inputs else (0, []))
    del inputs
    cases: dict[str, tuple[ExportRow, dict[bytes, int]]] = {}
    offset = 0
    for row, ks in zip(rows, keys, strict=True):
        _, tags = cases.setdefault(row.case_ref, (row, {}))
        for key, psi in zip(ks, pseudonyms[offset:offset + len(ks)], strict=True):
            tag = node_tag(psi, config.node_id)
            tags[tag] = max(tags.get(tag, 0), STRENGTHS[key.strength])
        offset += len(ks)
    del rows, keys, pseudonyms
    assess_cases = {r.case_ref for r in all_rows if r.assess_first}
    last_changed: dict[str, str] = {}
    for r in all_rows:  # one pass: the latest date of new data per case
        last_changed[r.case_ref] = max(last_changed.get(r.case_ref, ""), r.last_changed)
    registrations = [
        Registration(ref, first.phase, first.procesregisseur_id,
                     tuple(TagRow(t, epoch, s) for t, s in tags.items()),
                     last_changed=last_changed.get(ref, ""),
                     informing=first.informing,
                     contact_release=CONTACT_AFTER_ASSESSMENT
                     if ref in assess_cases or config.contact_release == CONTACT_AFTER_ASSESSMENT
                     else CONTACT_DIRECT)
        for ref, (first, tags) in cases.items()]
    summary = store.apply_import(registrations, now=now(), sync=sync, ended=ended,
                                 keep_checked_since=started
                                 - config.check_registration_grace_days * 86400,
                                 audit=AuditRecord("import", actor, {
                                     "sync": sync, "epoch": epoch,
                                     "match_key_versions": list(versions)}))
    log.info("import: cases=%d added=%d updated=%d refreshed=%d removed=%d closed=%d tags=%d "
             "sync=%s seconds=%.1f", summary.cases, summary.added, summary.updated,
             summary.refreshed, summary.removed, summary.closed, summary.tags, sync,
             now() - started)
    return summary
