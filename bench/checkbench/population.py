"""Synthetic persons, the filled registries and case-system exports."""

from __future__ import annotations

import csv
import datetime as dt
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from samenloop.crypto import voprf
from samenloop.crypto.identity import Subject, match_keys, parse_subject
from samenloop.crypto.tags import node_tag
from samenloop.node.config import NodeConfig
from samenloop.node.demo import NetworkLayout
from samenloop.node.model import (
    LOCAL_PHASE,
    PHASES,
    STRENGTHS,
    Registration,
    TagRow,
)
from samenloop.node.store import NodeStore

# --------------------------------------------------------------------------- synthetic people
# Vocabulary shaped like shared/data/matching-dev (about 4.9 match keys per person); nobody real.

SURNAMES = (
    "Brink", "Pol", "Vos", "Bosch", "Timmermans", "Kaya", "Graaf", "Benali", "Ramdin", "Jacobs",
    "Groot", "Visser", "Ait Taleb", "El Idrissi", "El Amrani", "Brouwer", "Bijl", "Ven", "Wijk",
    "Leeuw", "Wolters", "Schäfer", "Schuurman", "Bakker", "Heuvel", "Boukhari", "Nowak", "Wal",
    "Şahin", "Kuijpers", "Veen", "Groen", "Janssen", "Jansen", "Schouten", "Kowalski", "Vliet",
    "Jagesar", "Vermeulen", "IJzendoorn", "Hofman", "Dekker", "Dijk", "Kartosen", "Blom", "Smit",
    "Rijnders", "Jong", "Maas", "Doğan", "Lange", "Hendriks", "Çelik", "Huijbregts", "Beek",
    "Meijer", "Hermans", "Smits", "Tuin", "Ruiter", "Postma", "IJzerman", "Müller", "Sewnath",
    "Koning", "Sluis", "Driessen", "Abdi", "Vries", "Berg", "Willems", "Demir", "Hooft", "Doorn",
    "Prins", "Bouzid", "Molenaar", "Bruijn", "Huisman", "Meulen",
)
DOUBLE_SURNAMES = ("Jansen-de Boer", "Bakker-Visser", "Smit-El Amrani", "Vos-Kaya")
GIVEN = (
    "Fenna", "Levi", "Bram", "Julia", "Elisabeth", "Johanna", "Jesse", "Daan", "Emma",
    "Wilhelmina", "Ruben", "Petrus", "Femke", "Maria", "Catharina", "Tess", "Theodorus", "Iris",
    "Ilse", "Sophie", "Marloes", "Eva", "Adrianus", "Mirjam", "Wilhelmus", "Johannes",
    "Cornelis", "Gerardus", "Hendrik", "Lucas", "Sem", "Lotte", "Sanne", "Lisa", "Khadija",
    "Cornelia", "Mohamed", "Noah", "Jacobus", "Finn", "Zeynep", "Soufiane", "Karim", "Sven",
    "Ayşe", "Thijs", "Said", "Emre", "Mustafa", "Fatima", "Nadia", "Mehmet", "Özge", "Ahmed",
    "Youssef", "Elif", "Anouar",
)
PLACES = (
    "", "", "Horst aan de Maas", "Maastricht", "Sneek", "Groningen", "Utrecht", "Nador",
    "Roermond", "Al Hoceima", "'s-Hertogenbosch", "Casablanca", "Tilburg", "Almere", "Zwolle",
    "Heerenveen", "Rotterdam", "Breda", "Eindhoven", "Ankara", "Venlo", "Paramaribo", "İstanbul",
    "Amsterdam", "Leeuwarden", "'s-Gravenhage", "Willemstad", "Enschede", "Nijmegen", "Drachten",
)
PREFIXES = ("",) * 13 + ("de", "de", "van", "van", "van der", "van den", "van de", "ter")
# Case phases of the synthetic registries, weighted towards the long uitvoering phase. A case
# at aanmelding is never a hit for another ZVH's check, so hits are drawn from the others.
CASE_PHASES = (*PHASES, "uitvoering", "uitvoering")
FIRST_DAY = dt.date(1935, 1, 1).toordinal()
LAST_DAY = dt.date(2015, 12, 31).toordinal()
CSV_HEADER = ("casusnummer", "fase", "procesregisseur", "achternaam", "tussenvoegsel",
              "voornamen", "geboortedatum", "geboorteplaats")


def person(rng: random.Random) -> dict[str, str]:
    """One synthetic person as a case system would export it (dates in mixed formats)."""
    day = dt.date.fromordinal(rng.randint(FIRST_DAY, LAST_DAY))
    style = rng.randrange(3)
    dob = (day.isoformat() if style == 0 else f"{day.day}-{day.month}-{day.year}" if style == 1
           else day.strftime("%d-%m-%Y"))
    double = rng.random() < 0.04
    return {
        "surname": rng.choice(DOUBLE_SURNAMES) if double else rng.choice(SURNAMES),
        "prefix": "" if double else rng.choice(PREFIXES),
        "given_names": " ".join(rng.sample(GIVEN, rng.choice((1, 1, 2, 3)))),
        "date_of_birth": dob,
        "place_of_birth": rng.choice(PLACES),
    }


def parse(row: dict[str, str]) -> Subject:
    """The subject as the web app would parse the typed fields."""
    return parse_subject(**row)

# --------------------------------------------------------------------------- registry fill

_WORKER_KEY: bytes = b""


def _init_evaluator(key: bytes) -> None:
    global _WORKER_KEY
    _WORKER_KEY = key


def _evaluate_chunk(inputs: list[bytes]) -> list[bytes]:
    """Ψ(x) = voprf.evaluate(skS, x): what a client's Finalize yields, without the round trip."""
    return [voprf.evaluate(_WORKER_KEY, x, voprf.Mode.VOPRF) for x in inputs]


@dataclass
class Population:
    """The persons registered at each node (rows as exported), by node id."""

    rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    # Per node, the rows of cases past aanmelding: the ones another ZVH's check finds.
    findable: dict[str, list[int]] = field(default_factory=dict)
    tags: int = 0
    seconds: float = 0.0


def fill_registries(layout: NetworkLayout, subjects_per_node: int, seed: int,
                    workers: int) -> Population:
    """Give every node `subjects_per_node` cases of one person each, with the real tags.

    Tags are node_tag(voprf.evaluate(skS, input)) over the real match keys, i.e. exactly what
    an import through the coordinator stores (the warm-up checks assert hits on them); they are
    written with `NodeStore.apply_import`, like an import's last step.
    """
    started = time.perf_counter()
    key = bytes.fromhex((layout.root / "keys" / "oprf-epoch-1.key").read_text().strip())
    population = Population()
    per_node: list[tuple[str, list[tuple[str, str, str, list[tuple[bytes, str]]]]]] = []
    inputs: list[bytes] = []
    for node_id in layout.node_configs:
        rng = random.Random(f"{seed}/fill/{node_id}")
        rows = [person(rng) for _ in range(subjects_per_node)]
        population.rows[node_id] = rows
        cases = []
        population.findable[node_id] = []
        for index, row in enumerate(rows):
            keys = match_keys(parse(row))
            inputs.extend(k.oprf_input for k in keys)
            phase = rng.choice(CASE_PHASES)
            if phase != LOCAL_PHASE and index:
                population.findable[node_id].append(index)
            cases.append((f"B-{index:06d}", phase, f"pr-{1 + index % 2}",
                          [(k.oprf_input, k.strength) for k in keys]))
        per_node.append((node_id, cases))
    chunks = [inputs[i:i + 4000] for i in range(0, len(inputs), 4000)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_evaluator, initargs=(key,)) as pool:
        pseudonyms = [p for chunk in pool.map(_evaluate_chunk, chunks) for p in chunk]
    psi = dict(zip(inputs, pseudonyms, strict=True))
    for node_id, cases in per_node:
        registrations = []
        for case_ref, phase, regisseur, keys in cases:
            tags: dict[bytes, int] = {}
            for oprf_input, strength in keys:
                tag = node_tag(psi[oprf_input], node_id)
                tags[tag] = max(tags.get(tag, 0), STRENGTHS[strength])
            registrations.append(Registration(case_ref, phase, regisseur,
                                              tuple(TagRow(t, 1, s) for t, s in tags.items())))
            population.tags += len(tags)
        config = NodeConfig.load(layout.node_configs[node_id])
        store = NodeStore(config.store_path)
        try:
            store.upsert_procesregisseurs(config.procesregisseurs)
            store.apply_import(registrations, now=time.time(), sync=False, keep_checked_since=0)
        finally:
            store.close()
    population.seconds = time.perf_counter() - started
    return population


def write_export(path: Path, rows: Sequence[dict[str, str]], rng: random.Random,
                 prefix: str, first_case: str | None = None) -> None:
    """A case-system export: households of 1-3 persons per case, `;`-separated like the demo;
    `first_case` names the first case and puts it at triage."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(CSV_HEADER)
        index = case = 0
        while index < len(rows):
            size = rng.choice((1, 1, 1, 2, 3))
            phase = rng.choice(CASE_PHASES)
            ref = f"{prefix}-{case:06d}"
            if case == 0 and first_case:
                phase, ref = "triage", first_case
            regisseur = f"pr-{1 + case % 2}"
            for row in rows[index:index + size]:
                writer.writerow((ref, phase, regisseur, row["surname"],
                                 row["prefix"], row["given_names"], row["date_of_birth"],
                                 row["place_of_birth"]))
            index += size
            case += 1


