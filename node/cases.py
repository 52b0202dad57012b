"""What happens to an own case and its meldingen, for the web app, the API and the CLI alike.

The covenants' process around the check: an aanmelding is registered explicitly (never by a
check with a mistyped number), "niet in behandeling genomen" destroys what was recorded,
afschaling ends the case, and only the case's procesregisseur or a named vervanger works
on it. Every action commits together with its audit record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from samenloop.crypto.identity import InvalidSubject, parse_date
from samenloop.node.model import INFORM_POSTPONED, LOCAL_PHASE
from samenloop.node.registration import CASE_REF
from samenloop.node.store import (
    ENDED_AFSCHALING,
    ENDED_NOT_ACCEPTED,
    AuditRecord,
    CaseExists,
    CaseRow,
    Informing,
    NodeStore,
    Notification,
)

# How a melding was handled: a fixed list, never free text.
HANDLING = {
    "contact_opgenomen": "Contact opgenomen",
    "al_in_contact": "Was al in contact",
    "geen_actie_nodig": "Geen actie nodig",
}
# A melding on a case "beoordeling vooraf": the holder decides whether to answer.
ASSESSMENT = {
    "contact_opgenomen": "Contact opgenomen",
    "geen_antwoord_mogelijk": "Geen antwoord mogelijk",
}
ASSESSMENT_WORKING_DAYS = 2


class CaseActionRefused(Exception):
    """`field` names what to change; `message` says it in Dutch."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CaseNotFound(CaseActionRefused):
    """No such case or melding (for this user)."""


class NotPermitted(CaseActionRefused):
    """The user does not work on this case."""


class AlreadyExists(CaseActionRefused):
    """The case number is registered already."""


def register_intake(store: NodeStore, case_ref: str, procesregisseur_id: str, *, actor: str,
                    now: float) -> CaseRow:
    """A new aanmelding: the only way a case comes to exist at the node before the case
    system's export lists it."""
    case_ref = case_ref.strip()
    if not CASE_REF.match(case_ref):
        raise CaseActionRefused("casus", "het casusnummer mag alleen letters, cijfers, '.', "
                                         "'_', '/' en '-' bevatten (ten hoogste 64 tekens)")
    if store.procesregisseur(procesregisseur_id) is None:
        raise CaseActionRefused("procesregisseur", "onbekende procesregisseur")
    try:
        store.register_intake(case_ref, procesregisseur_id, now=now, audit=AuditRecord(
            "intake", actor, {"case_ref": case_ref, "procesregisseur_id": procesregisseur_id}))
    except CaseExists:
        raise AlreadyExists("casus", "deze casus is al geregistreerd") from None
    case = store.case(case_ref)
    assert case is not None
    return case


def end_case(store: NodeStore, case_ref: str, *, not_accepted: bool, actor: str, now: float,
             acting_for: str | None = None) -> None:
    """Afschaling, or an aanmelding not accepted ("niet in behandeling genomen"): the
    registrations and meldingen go at once. `acting_for`: the procesregisseur doing it (a
    beheerder or the operator: None)."""
    case_ref = case_ref.strip()
    case = store.case(case_ref)
    if case is None:
        raise CaseNotFound("casus", "geen lopende casus met dit casusnummer")
    if acting_for is not None and case.procesregisseur_id not in store.acts_for(acting_for):
        store.append_audit("case_refused", actor, {"case_ref": case_ref, "reason":
                                                   "geen_toegang"}, now)
        raise NotPermitted("casus", "u bent niet de procesregisseur van deze casus en ook niet "
                                    "als vervanger aangewezen")
    reason = ENDED_NOT_ACCEPTED if not_accepted else ENDED_AFSCHALING
    try:
        store.end_case(case_ref, reason, now=now, audit=AuditRecord(
            "not_accepted" if not_accepted else "close", actor,
            {"case_ref": case_ref, "phase": case.phase}))
    except KeyError:
        raise CaseNotFound("casus", "geen lopende casus met dit casusnummer") from None


def change_procesregisseur(store: NodeStore, case_ref: str, procesregisseur_id: str, *,
                           actor: str, now: float) -> bool:
    """A beheerder hands a case (and its open meldingen) to another procesregisseur, e.g.
    when someone leaves; False if it already was theirs. The next import that lists the
    case sets the procesregisseur of the export again."""
    case_ref = case_ref.strip()
    case = store.case(case_ref)
    if case is None:
        raise CaseNotFound("casus", "geen lopende casus met dit casusnummer")
    if store.procesregisseur(procesregisseur_id) is None:
        raise CaseActionRefused("procesregisseur", "onbekende procesregisseur")
    try:
        return store.set_case_procesregisseur(case_ref, procesregisseur_id, now=now,
                                              audit=AuditRecord("case_procesregisseur", actor, {
                                                  "case_ref": case_ref,
                                                  "from": case.procesregisseur_id,
                                                  "to": procesregisseur_id}))
    except KeyError:
        raise CaseNotFound("casus", "geen lopende casus met dit casusnummer") from None


def set_vervanger(store: NodeStore, procesregisseur_id: str, vervanger_id: str, *,
                  named: bool, actor: str, now: float) -> bool:
    """Name a colleague (another procesregisseur) who may act for `procesregisseur_id`."""
    for field, person in (("procesregisseur", procesregisseur_id),
                          ("vervanger", vervanger_id)):
        if store.procesregisseur(person) is None:
            raise CaseActionRefused(field, "onbekende procesregisseur")
    if procesregisseur_id == vervanger_id:
        raise CaseActionRefused("vervanger", "kies een andere procesregisseur als vervanger")
    return store.set_vervanger(procesregisseur_id, vervanger_id, named, now=now,
                               audit=AuditRecord("vervanger_add" if named else
                                                 "vervanger_remove", actor,
                                                 {"procesregisseur_id": procesregisseur_id,
                                                  "vervanger_id": vervanger_id}))


def meldingen_for(store: NodeStore, procesregisseur_id: str) -> list[Notification]:
    """The meldingen of the cases this procesregisseur works on (own, or as vervanger)."""
    return store.notifications(store.acts_for(procesregisseur_id))


def handling_choices(melding: Notification) -> dict[str, str]:
    return ASSESSMENT if melding.assess else HANDLING


def handle_melding(store: NodeStore, melding_id: int, action: str, *,
                   procesregisseur_id: str, actor: str, now: float) -> None:
    melding = store.notification(melding_id) if 0 < melding_id <= 2**63 - 1 else None
    if melding is None:
        raise CaseNotFound("melding", "deze melding bestaat niet of is niet voor u")
    if melding.procesregisseur_id not in store.acts_for(procesregisseur_id):
        store.append_audit("melding_refused", actor, {"melding": melding_id,
                                                      "reason": "geen_toegang"}, now)
        raise CaseNotFound("melding", "deze melding bestaat niet of is niet voor u")
    if action not in handling_choices(melding):
        raise CaseActionRefused("actie", "kies wat er met de melding is gedaan")
    if not store.mark_notification_handled(
            melding_id, store.acts_for(procesregisseur_id), action, now,
            AuditRecord("melding_handled", actor, {"melding": melding_id, "actie": action})):
        raise CaseNotFound("melding", "deze melding is al afgehandeld")


def assessment_overdue(melding: Notification, now: float) -> bool:
    """An unassessed melding "beoordeling vooraf" is flagged after two working days."""
    if not melding.assess or melding.handled_at is not None:
        return False
    day = dt.datetime.fromtimestamp(melding.last_at or melding.at)
    left = ASSESSMENT_WORKING_DAYS
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return now > day.timestamp()


def parse_informing(informed_on: str, postponed: str, reassess_on: str, *,
                    today: dt.date) -> Informing:
    """The informing status as a user enters it, or CaseActionRefused naming the field."""
    dates = {}
    for field, text in (("geinformeerd_op", informed_on), ("herbeoordeling_op", reassess_on)):
        try:
            dates[field] = parse_date(text).isoformat() if text.strip() else ""
        except InvalidSubject:
            raise CaseActionRefused(field, "vul een geldige datum in") from None
    if bool(dates["geinformeerd_op"]) == bool(postponed):
        raise CaseActionRefused("informeren", "geef de datum waarop de persoon is "
                                              "geïnformeerd, of de reden van uitstel")
    if dates["geinformeerd_op"] > today.isoformat():
        raise CaseActionRefused("geinformeerd_op", "de datum ligt in de toekomst")
    if postponed and postponed not in INFORM_POSTPONED:
        raise CaseActionRefused("informeren_uitgesteld", "kies een reden uit de lijst")
    if postponed and not dates["herbeoordeling_op"]:
        raise CaseActionRefused("herbeoordeling_op", "geef de datum van herbeoordeling")
    return Informing(dates["geinformeerd_op"], postponed,
                     dates["herbeoordeling_op"] if postponed else "")


def set_informing(store: NodeStore, case_ref: str, informing: Informing, *, actor: str,
                  now: float, acting_for: str | None = None) -> None:
    """Record whether the person of a case was informed (AVG art. 13/14), or why not yet."""
    case = store.case(case_ref.strip())
    if case is None:
        raise CaseNotFound("casus", "geen lopende casus met dit casusnummer")
    if acting_for is not None and case.procesregisseur_id not in store.acts_for(acting_for):
        raise NotPermitted("casus", "u bent niet de procesregisseur van deze casus en ook niet "
                                    "als vervanger aangewezen")
    store.set_informing(case.case_ref, informing, now=now, audit=AuditRecord(
        "informing", actor, {"case_ref": case.case_ref, "informed": bool(informing.informed_on),
                             "postponed": informing.postponed}))


def needs_informing(case: CaseRow) -> bool:
    """From triage on a case needs an informing status (covenants: inform "zodra is
    vastgesteld dat de casus doorgaat naar fase 2", or record why not)."""
    return case.phase != LOCAL_PHASE and not case.informing_status


@dataclass(frozen=True)
class InformingReport:
    without_status: list[CaseRow]
    reassessment_due: list[CaseRow]


def informing_report(store: NodeStore, today: dt.date) -> InformingReport:
    """For the privacy role: cases in triage or later without a status, and postponements
    whose reassessment date has passed."""
    cases = store.cases()
    return InformingReport(
        [c for c in cases if needs_informing(c)],
        [c for c in cases if c.inform_postponed and c.reassess_on
         and c.reassess_on < today.isoformat()])
