"""The incident register of the privacy role: security incidents and data breaches, the
decision on notifying the Autoriteit Persoonsgegevens with its 72-hour clock, and the report
to the Manager within 36 hours (covenant 001 art. 14; 000 art. 23).

Nothing here holds an identifier: the category comes from a fixed list and the short
description is refused when it looks like it holds personal data. A broken audit chain and
a refused directory or a key holder's refused answer open an incident on their own, once per
cause.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from dataclasses import dataclass

from samenloop.crypto.identity import mentions_identifiers
from samenloop.node.store import AuditRecord, Incident, NodeStore

log = logging.getLogger("samenloop.node")

CATEGORIES = {
    "beveiligingsincident": "Beveiligingsincident",
    "datalek": "Datalek",
    "auditspoor_gebroken": "Auditspoor gebroken",
    "ongeldige_directory": "Ongeldige directory geweigerd",
    "sleutelhouder_geweigerd": "Antwoord van sleutelhouder geweigerd",
    "overig": "Overig",
}
PERSONAL_DATA = {"ja": "ja", "nee": "nee", "onbekend": "onbekend"}
AP_DECISIONS = {"open": "nog niet besloten", "gemeld": "gemeld",
                "niet_melden": "niet melden"}
# Why a breach is not notified to the Autoriteit Persoonsgegevens (AVG art. 33 lid 1).
NOT_NOTIFIED_REASONS = {
    "geen_persoonsgegevens": "geen persoonsgegevens betrokken",
    "geen_risico": "waarschijnlijk geen risico voor de betrokkenen",
    "geen_incident": "na onderzoek geen incident",
    "gemeld_door_ander": "gemeld door een andere verwerkingsverantwoordelijke",
}
AP_HOURS = 72       # "binnen 72 uur na ontdekking"
MANAGER_HOURS = 36  # "uiterlijk binnen 36 uur"
DESCRIPTION_CHARS = 200
SYSTEM = "systeem"  # the actor of an incident the node opened itself

_DATE = re.compile(r"^\s*(\d{1,2})-(\d{1,2})-(\d{4})(?:\s+(\d{1,2}):(\d{2}))?\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2}))?\s*$")
_DATE_LIKE = re.compile(r"(?<!\d)\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?!\d)")
_EMAIL = re.compile(r"\S+@\S+")


class IncidentRefused(ValueError):
    """A refused incident entry; `field` and a Dutch message for the privacy officer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Clock:
    """One term of an incident: its deadline and how it stands, in Dutch."""

    deadline: float
    done_at: float | None
    text: str
    overdue: bool


def parse_moment(text: str, field: str, now: float) -> float:
    """A Dutch date "dd-mm-jjjj", optionally with "uu:mm" (local time), or the ISO form a
    browser's date field sends; not in the future."""
    if m := _DATE.match(text):
        day, month, year, hour, minute = m.groups()
    elif m := _ISO.match(text):
        year, month, day, hour, minute = m.groups()
    else:
        raise IncidentRefused(field, "vul een datum in als dd-mm-jjjj, eventueel met uu:mm")
    try:
        moment = dt.datetime(int(year), int(month), int(day), int(hour or 0),
                             int(minute or 0)).timestamp()
    except ValueError:
        raise IncidentRefused(field, "deze datum bestaat niet") from None
    if moment > now + 60:
        raise IncidentRefused(field, "de datum ligt in de toekomst")
    if moment < now - 10 * 365 * 86400:
        raise IncidentRefused(field, "de datum ligt te ver terug")
    return moment


def check_description(text: str) -> str:
    """A short description that holds no personal data: the rule of a check's note (no
    8-9 digit numbers), and no dates or e-mail addresses either (the dates have fields)."""
    text = " ".join(text.split())
    if not text:
        raise IncidentRefused("omschrijving", "geef een korte omschrijving")
    if len(text) > DESCRIPTION_CHARS:
        raise IncidentRefused("omschrijving", f"de omschrijving mag ten hoogste "
                                              f"{DESCRIPTION_CHARS} tekens hebben")
    if mentions_identifiers(text, ()) or _DATE_LIKE.search(text) or _EMAIL.search(text):
        raise IncidentRefused("omschrijving", "de omschrijving mag geen persoonsgegevens, "
                                              "datums of e-mailadressen bevatten")
    return text


def register(store: NodeStore, *, category: str, description: str, personal_data: str,
             discovered: str, actor: str, now: float) -> int:
    """A new incident entered by the privacy officer; audited with its number."""
    if category not in CATEGORIES:
        raise IncidentRefused("categorie", "kies een categorie")
    if personal_data not in PERSONAL_DATA:
        raise IncidentRefused("persoonsgegevens", "kies ja, nee of onbekend")
    text = check_description(description)
    discovered_at = parse_moment(discovered, "ontdekt_op", now)
    incident_id = store.add_incident(
        category, text, personal_data, discovered_at=discovered_at, reported_by=actor,
        now=now, audit=AuditRecord("incident_open", actor, {
            "category": category, "personal_data": personal_data}))
    assert incident_id is not None
    return incident_id


def decide(store: NodeStore, incident_id: int, *, personal_data: str, ap_decision: str,
           ap_reported: str, ap_reason: str, manager_informed: str, close: bool,
           actor: str, now: float) -> None:
    """Record the decisions on an incident: personal data involved, notifying the AP (on
    which date, or why not), the report to the Manager, closing. Audited."""
    incident = store.incident(incident_id)
    if incident is None:
        raise IncidentRefused("incident", "dit incident bestaat niet")
    if personal_data not in PERSONAL_DATA:
        raise IncidentRefused("persoonsgegevens", "kies ja, nee of onbekend")
    if ap_decision not in AP_DECISIONS:
        raise IncidentRefused("besluit_ap", "kies een besluit over melden aan de Autoriteit "
                                            "Persoonsgegevens")
    reported_at = reason = None
    if ap_decision == "gemeld":
        if not ap_reported.strip():
            raise IncidentRefused("gemeld_ap_op", "vul in wanneer het incident is gemeld")
        reported_at = parse_moment(ap_reported, "gemeld_ap_op", now)
    elif ap_decision == "niet_melden":
        if ap_reason not in NOT_NOTIFIED_REASONS:
            raise IncidentRefused("reden_niet_melden", "kies waarom niet wordt gemeld")
        reason = ap_reason
    manager_at = (parse_moment(manager_informed, "manager_op", now)
                  if manager_informed.strip() else None)
    for field, at in (("gemeld_ap_op", reported_at), ("manager_op", manager_at)):
        if at is not None and at < incident.discovered_at - 86400:
            raise IncidentRefused(field, "de datum ligt voor de ontdekking van het incident")
    if close and ap_decision == "open":
        raise IncidentRefused("afsluiten", "besluit eerst over melden aan de Autoriteit "
                                           "Persoonsgegevens")
    store.update_incident(
        incident_id, personal_data=personal_data, ap_decision=ap_decision,
        ap_reported_at=reported_at, ap_reason=reason, manager_informed_at=manager_at,
        closed=close, now=now, audit=AuditRecord("incident_update", actor, {
            "incident": incident_id, "personal_data": personal_data,
            "ap_decision": ap_decision, "ap_reason": reason,
            "manager_informed": manager_at is not None, "closed": close}))


def _hours(seconds: float) -> int:
    return max(1, round(abs(seconds) / 3600))


def _clock(deadline: float, done_at: float | None, now: float, done_text: str) -> Clock:
    if done_at is not None:
        late = " (na de termijn)" if done_at > deadline else ""
        when = time.strftime("%d-%m-%Y %H:%M", time.localtime(done_at))
        return Clock(deadline, done_at, f"{done_text} op {when}{late}", False)
    if now < deadline:
        return Clock(deadline, None, f"nog {_hours(deadline - now)} uur", False)
    return Clock(deadline, None, f"termijn verstreken ({_hours(now - deadline)} uur geleden)",
                 True)


def ap_clock(incident: Incident, now: float) -> Clock:
    """The 72 hours from discovery to notifying the Autoriteit Persoonsgegevens."""
    deadline = incident.discovered_at + AP_HOURS * 3600
    if incident.ap_decision == "niet_melden":
        reason = NOT_NOTIFIED_REASONS.get(incident.ap_reason or "", "")
        return Clock(deadline, None, f"niet melden: {reason}", False)
    return _clock(deadline, incident.ap_reported_at if incident.ap_decision == "gemeld"
                  else None, now, "gemeld")


def manager_clock(incident: Incident, now: float) -> Clock:
    """The 36 hours from discovery to the report to the Manager (001 art. 14)."""
    return _clock(incident.discovered_at + MANAGER_HOURS * 3600,
                  incident.manager_informed_at, now, "gemeld aan de Manager")


# ------------------------------------------------------------------ automatic incidents


def _automatic(store: NodeStore, category: str, cause: str, description: str, source: str,
               now: float) -> int | None:
    incident_id = store.add_incident(
        category, description, "onbekend", discovered_at=now, reported_by=SYSTEM, now=now,
        cause=cause, audit=AuditRecord("incident_open", SYSTEM, {
            "category": category, "personal_data": "onbekend", "automatic": True,
            "source": source}))
    if incident_id is not None:
        log.warning("incident %d opened: %s (%s)", incident_id, category, source)
    return incident_id


def audit_chain_checked(store: NodeStore, broken_at: int | None, *, source: str,
                        now: float) -> int | None:
    """After a verification of the audit trail: a break opens an incident (once per
    record it breaks at, and not while one is open). The new incident's number, or None."""
    if broken_at is None:
        return None
    return _automatic(store, "auditspoor_gebroken", f"audit:{broken_at}",
                      f"Het auditspoor is onderbroken bij record {broken_at}: een record is "
                      f"gewijzigd of verwijderd.", source, now)


DIRECTORY_SOURCES = {"coordinator": "van de coördinator", "cache": "uit de eigen kopie"}


def directory_refused(store: NodeStore, signed: bytes, source: str, *, now: float
                      ) -> int | None:
    """A directory that failed verification (`source`: from the coordinator, or the
    node's cached copy) opens an incident, once per refused edition and not while one is
    open."""
    fingerprint = hashlib.sha256(signed).hexdigest()[:16]
    return _automatic(store, "ongeldige_directory", f"directory:{fingerprint}",
                      f"Een directory {DIRECTORY_SOURCES.get(source, '')} met een handtekening "
                      f"of inhoud die niet klopt is geweigerd en niet gebruikt.",
                      f"directory ({source})", now)


def key_holder_refused(store: NodeStore, holder_id: str, epoch: int, *, now: float
                       ) -> int | None:
    """A key holder answered with a partial evaluation whose proof does not verify (a wrong
    share, a bad proof, an answer to another request): it was left out and the check went
    on with others if enough remained. Once per holder and epoch while one is open; the
    holder id is an organisation's, no identifier of a person."""
    return _automatic(store, "sleutelhouder_geweigerd", f"keyholder:{holder_id}:{epoch}",
                      f"Sleutelhouder {holder_id} gaf voor sleutelperiode {epoch} een antwoord "
                      f"waarvan het bewijs niet klopt; het antwoord is niet gebruikt. Vraag de "
                      f"netwerkbeheerder en de sleutelhouder om uitleg.",
                      f"sleutelhouder {holder_id}", now)
