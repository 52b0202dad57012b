"""The node's domain words: phases, strengths, registrations, hits, coverage."""

from __future__ import annotations

from dataclasses import dataclass, field

from samenloop.node.config import Procesregisseur

# Phases of an active case (covenants: aanmelding/intake, triage, casusoverleg with a plan
# van aanpak, bewaken en bijsturen, and nazorg where a region uses it). Afschaling is not a
# phase of an active case: a row with it closes the case.
PHASES = ("aanmelding", "triage", "plan_van_aanpak", "uitvoering", "nazorg")
AFSCHALING = "afschaling"
# Checks may only be run for own cases at intake or triage; at aanmelding only the own
# registry is asked, other ZVHs from triage on.
CHECK_PHASES = ("aanmelding", "triage")
LOCAL_PHASE = "aanmelding"
PHASE_LABELS = {
    "aanmelding": "aanmelding",
    "triage": "triage",
    "plan_van_aanpak": "plan van aanpak (casusoverleg)",
    "uitvoering": "uitvoering (bewaken en bijsturen)",
    "nazorg": "nazorg",
}
# Whether a holder releases its procesregisseur's contact with a hit at once, or only after
# that procesregisseur assessed the question ("beoordeling vooraf").
CONTACT_DIRECT = "direct"
CONTACT_AFTER_ASSESSMENT = "na_beoordeling"
CONTACT_RELEASES = (CONTACT_DIRECT, CONTACT_AFTER_ASSESSMENT)
# Why informing the person (AVG art. 13/14) is postponed; the covenants ask to record it.
INFORM_POSTPONED = {
    "gevaar": "gevaar voor betrokkene of anderen",
    "belemmering": "belemmering van de aanpak",
    "niet_bereikbaar": "niet bereikbaar",
}

# Same numbers as samenloop.v1.Strength, so stored and sent values agree.
STRENGTHS = {"mogelijk": 1, "waarschijnlijk": 2, "sterk": 3, "zeker": 4}
STRENGTH_NAMES = {v: k for k, v in STRENGTHS.items()}
STRENGTH_LABELS = {  # how the result page says it
    "zeker": "zekere overeenkomst",
    "sterk": "sterke overeenkomst",
    "waarschijnlijk": "waarschijnlijke overeenkomst",
    "mogelijk": "mogelijke overeenkomst",
}


@dataclass(frozen=True)
class TagRow:
    """One stored tag of a registered subject, for one key epoch."""

    tag: bytes
    epoch: int
    strength: int


@dataclass(frozen=True)
class Registration:
    """An active case as the node keeps it: reference, phase, procesregisseur, tags only."""

    case_ref: str
    phase: str
    procesregisseur_id: str
    tags: tuple[TagRow, ...]
    # The case system's date of the last new personal data (ISO date), if it exports one.
    last_changed: str = ""
    contact_release: str = CONTACT_DIRECT
    # Informing the person: (informed on, postponed reason, reassess on), ISO dates; all
    # empty when the export carries no status.
    informing: tuple[str, str, str] = ("", "", "")


@dataclass(frozen=True)
class StoredHit:
    case_ref: str
    procesregisseur: Procesregisseur
    strength: int
    contact_release: str = CONTACT_DIRECT

    @property
    def assess_first(self) -> bool:
        return self.contact_release == CONTACT_AFTER_ASSESSMENT


@dataclass(frozen=True)
class Hit:
    """What the querying procesregisseur sees: who to contact, and how sure the match is.
    With `assess_first` the holder's procesregisseur assesses the question and makes
    contact; the answer then carries no contact."""

    subject: int
    strength: str
    node_id: str
    zvh: str
    procesregisseur: Procesregisseur
    assess_first: bool = False


@dataclass(frozen=True)
class Missing:
    node_id: str
    zvh: str
    status: str  # UNREACHABLE, TIMEOUT, ERROR
    detail: str


@dataclass(frozen=True)
class Coverage:
    total: int
    answered: tuple[str, ...]
    missing: tuple[Missing, ...]
    # True for a check at aanmelding: only the own registry was asked, by design.
    own_only: bool = False

    @property
    def complete(self) -> bool:
        return not self.missing

    def dutch(self) -> str:
        if self.own_only:
            return ("gecontroleerd bij het eigen Zorg- en Veiligheidshuis; andere huizen "
                    "kunnen vanaf de triage worden bevraagd")
        text = f"gecontroleerd bij {len(self.answered)} van {self.total} Zorg- en Veiligheidshuizen"
        if self.missing:
            text += "; niet bereikbaar: " + ", ".join(m.zvh for m in self.missing)
        return text


@dataclass(frozen=True)
class CheckResult:
    query_id: str
    subjects: int
    hits: tuple[Hit, ...]
    coverage: Coverage
    truncated_at: tuple[str, ...] = field(default=())
    # From triage on: the case has no informing status yet (AVG art. 13/14), so the result
    # asks the procesregisseur to record it.
    needs_informing: bool = False

    def hits_for(self, subject: int) -> list[Hit]:
        return [h for h in self.hits if h.subject == subject]
