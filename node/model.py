"""The node's domain words: phases, strengths, registrations, hits, coverage."""

from __future__ import annotations

from dataclasses import dataclass, field

from samenloop.node.config import Procesregisseur

# Phases of an active case. Checks may only be run for own cases at intake or triage.
PHASES = ("aanmelding", "triage", "uitvoering", "nazorg")
CHECK_PHASES = ("aanmelding", "triage")

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


@dataclass(frozen=True)
class StoredHit:
    case_ref: str
    procesregisseur: Procesregisseur
    strength: int


@dataclass(frozen=True)
class Hit:
    """What the querying procesregisseur sees: who to contact, and how sure the match is."""

    subject: int
    strength: str
    node_id: str
    zvh: str
    procesregisseur: Procesregisseur


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

    @property
    def complete(self) -> bool:
        return not self.missing

    def dutch(self) -> str:
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

    def hits_for(self, subject: int) -> list[Hit]:
        return [h for h in self.hits if h.subject == subject]
