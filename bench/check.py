"""Check latency and import (the batch work) on a 25-node network, beside their floors.

Starts the real coordinator and 25 real node servers on 127.0.0.1 with mutual TLS (separate
processes by default, `--servers inprocess` for threads in this process), fills every node's
registry with 5,000 subjects, and measures against floors timed in the same run:

1. one-subject check latency (p50/p99) beside a bare 25-way gRPC fan-out with the same
   topology, mTLS, channel options and message sizes, but no crypto and no registry
   (client -> relay -> 25 echo servers);
2. checks of the most persons a check may hold (`MAX_SUBJECTS`, 20: the persons of one
   case; the covenants allow no bulk check), end to end;
3. the batch figure: an import of 100,000 subjects through `import_cases` (CSV ->
   validation -> match keys -> batched Evaluate at the running coordinator -> tags ->
   SQLite), in a subprocess of its own: wall time beside the libsodium floor of the
   verifiable mode for the same number of evaluations, CPU, and peak RSS (VmHWM, i.e.
   `ru_maxrss` without the parent's peak that Linux carries into a child across fork +
   exec).

Process mode also sums the CPU each role (querying node, coordinator, nodes; relay and echo
servers for the floor) spends per call, from /proc, which shows where a 2-core machine's
time goes.

    .venv/bin/python bench/check.py [--quick] [--nodes N] [--subjects-per-node N]
        [--checks N] [--group-checks N] [--import-subjects N] [--servers process|inprocess]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pysodium

from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.server import CoordinatorServer
from samenloop.crypto import voprf
from samenloop.crypto.identity import Subject, match_keys, parse_subject
from samenloop.crypto.pki import COORDINATOR
from samenloop.crypto.tags import node_tag
from samenloop.node.check import CheckRequest, run_check
from samenloop.node.config import MAX_SUBJECTS, STANDARD_PURPOSES, NodeConfig
from samenloop.node.demo import NetworkLayout, build_network, free_port, wait_for_port
from samenloop.node.model import (
    LOCAL_PHASE,
    PHASES,
    STRENGTHS,
    CheckResult,
    Registration,
    TagRow,
)
from samenloop.node.network import Network, match_key_versions
from samenloop.node.registration import import_cases
from samenloop.node.server import NodeServer
from samenloop.node.store import NodeStore
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.transport import (
    SERVER_OPTIONS,
    TlsFiles,
    secure_channel,
    server_credentials,
)

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results-check.md"
# Above anything a run asks, so the figures are the code's cost, not the coordinator's
# budgets (an import paces itself in its own budget: 100,000 evaluations a minute by default).
RATE_LIMITS = {"checks_per_minute": 100_000, "checks_per_day": 1_000_000,
               "evaluations_per_minute": 10_000_000, "evaluations_per_day": 100_000_000,
               "import_evaluations_per_minute": 100_000_000,
               "import_evaluations_per_day": 1_000_000_000}
DEADLINE_SECONDS = 5.0
TARGET_LATENCY_RATIO = 2.0
# The import's floor is timed on at most this many evaluations and scaled (libsodium's cost
# per evaluation does not depend on the count), so a full run does not spend minutes on it.
FLOOR_SAMPLE = 50_000
HIT_SHARE = 0.1  # share of latency checks for a registered person (a hit at one node)
# The per-user limits of the querying node (node.toml [limits]) would stop the run after 30
# checks; the count query still runs on every check. A check may hold the persons of one
# case, at most MAX_SUBJECTS (20); the bench's group checks use that ceiling.
NODE_SETTINGS = ("[limits]\nchecks_per_user_per_hour = 10000000\n"
                 "checks_per_user_per_day = 10000000\n"
                 f"max_subjects_per_check = {MAX_SUBJECTS}\n")
PURPOSE = STANDARD_PURPOSES[0]  # a category from the network's list
OWN_CASE = "Q-TRIAGE"

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


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


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


# --------------------------------------------------------------------------- floor servers
# Raw bytes over the same mTLS credentials and channel options as the real services.

ECHO_METHOD = "/bench.Echo/Echo"
RELAY_METHOD = "/bench.Relay/Fanout"


def _bytes_server(listen: str, tls: TlsFiles, service: str, method: str,
                  handler: Callable[[bytes, grpc.ServicerContext], bytes],
                  workers: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        service, {method.rsplit("/", 1)[1]: grpc.unary_unary_rpc_method_handler(handler)}),))
    if not server.add_secure_port(listen, server_credentials(tls)):
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server


def start_echo(listen: str, tls: TlsFiles, response_bytes: int) -> grpc.Server:
    """A trivial node: returns fixed bytes of the size of a real LookupResponse."""
    answer = os.urandom(response_bytes)
    return _bytes_server(listen, tls, "bench.Echo", ECHO_METHOD, lambda _req, _ctx: answer,
                         workers=16)  # as NodeServer


def start_relay(listen: str, tls: TlsFiles, peers: Sequence[tuple[str, str]],
                lookup_bytes: int, response_bytes: int, deadline: float) -> grpc.Server:
    """A trivial coordinator: fans fixed-size bytes out to every peer at once, waits for all."""
    calls = [secure_channel(endpoint, tls, expected_peer=peer).unary_unary(ECHO_METHOD)
             for endpoint, peer in peers]
    payload = os.urandom(lookup_bytes)
    answer = os.urandom(response_bytes)

    def fanout(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        pending = [call.future(payload, timeout=deadline) for call in calls]
        for done in pending:
            done.result()
        return answer

    return _bytes_server(listen, tls, "bench.Relay", RELAY_METHOD, fanout,
                         workers=32)  # as CoordinatorServer


@dataclass(frozen=True)
class Sizes:
    """Serialized message sizes of a real one-subject check, for the floor to copy."""

    check_request: int
    lookup_request: int
    lookup_response: int
    check_response: int


def _tls(root: Path, identity: str) -> TlsFiles:
    pki = root / "pki"
    return TlsFiles(pki / "ca.crt", pki / f"{identity}.crt", pki / f"{identity}.key")


def serve_floor(spec_path: Path) -> None:
    """Subprocess entry: run one floor server (echo or relay) until SIGTERM."""
    spec = json.loads(spec_path.read_text())
    tls = TlsFiles(*(Path(p) for p in spec["tls"]))
    if spec["role"] == "echo":
        server = start_echo(spec["listen"], tls, spec["response_bytes"])
    else:
        server = start_relay(spec["listen"], tls, [tuple(p) for p in spec["peers"]],
                             spec["lookup_bytes"], spec["response_bytes"], spec["deadline"])
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    while not stop[0]:
        time.sleep(0.2)
    server.stop(0).wait()


# --------------------------------------------------------------------------- running servers


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc), 0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> float:
    """CPU seconds all processes on this machine have used since boot (/proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: after[role] - before.get(role, 0.0) for role in after}


def add_into(total: dict[str, float], part: dict[str, float]) -> None:
    for role, seconds in part.items():
        total[role] = total.get(role, 0.0) + seconds




class Servers:
    """The processes or in-process servers this benchmark started; stops only those."""

    def __init__(self, mode: str, logs: Path) -> None:
        self.mode = mode
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.roles: list[str] = []
        self.stoppers: list[Callable[[], None]] = []
        self.last_start = time.time()  # when the last process that loads project code began

    def spawn(self, name: str, args: Sequence[str], cwd: Path) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.last_start = time.time()
        self.processes.append(subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=log, cwd=cwd, start_new_session=True))
        self.roles.append("coordinator" if name == "coordinator" else "relay"
                          if name == "floor-relay" else "echo servers"
                          if name.startswith("floor-") else "nodes")
        log.close()

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by role: this process ("client"; with in-process servers
        everything) and the sums over the coordinator, nodes, relay and echo processes."""
        used = {"client": time.process_time()}
        for role, process in zip(self.roles, self.processes, strict=True):
            used[role] = used.get(role, 0.0) + process_cpu(process.pid)
        return used

    def coordinator(self, layout: NetworkLayout) -> None:
        if self.mode == "process":
            self.spawn("coordinator", ["-m", "samenloop.node", "coordinator", "serve",
                                       "--config", str(layout.coordinator_config)], layout.root)
        else:
            server = CoordinatorServer(CoordinatorConfig.load(layout.coordinator_config))
            server.start()
            self.stoppers.append(lambda: server.stop(0))
        wait_for_port(layout.coordinator_endpoint, seconds=30.0)

    def nodes(self, layout: NetworkLayout) -> None:
        for node_id, config in layout.node_configs.items():
            if self.mode == "process":
                self.spawn(node_id, ["-m", "samenloop.node", "node", "serve", "--config",
                                     str(config)], config.parent)
            else:
                server = NodeServer(NodeConfig.load(config))
                server.start()
                self.stoppers.append(lambda s=server: s.stop(0))  # type: ignore[misc]
        for endpoint in layout.node_endpoints.values():
            wait_for_port(endpoint, seconds=30.0)

    def floor(self, layout: NetworkLayout, sizes: Sizes) -> str:
        """Start 25 echo servers and the relay; returns the relay's endpoint."""
        peers = [(f"127.0.0.1:{free_port()}", node_id) for node_id in layout.node_configs]
        relay = f"127.0.0.1:{free_port()}"
        specs: list[tuple[str, dict[str, Any]]] = [
            (f"floor-{peer}", {"role": "echo", "listen": endpoint,
                               "tls": [str(p) for p in asdict(_tls(layout.root, peer)).values()],
                               "response_bytes": sizes.lookup_response})
            for endpoint, peer in peers]
        specs.append(("floor-relay", {
            "role": "relay", "listen": relay,
            "tls": [str(p) for p in asdict(_tls(layout.root, COORDINATOR)).values()],
            "peers": peers, "lookup_bytes": sizes.lookup_request,
            "response_bytes": sizes.check_response, "deadline": DEADLINE_SECONDS}))
        for name, spec in specs:
            if self.mode == "process":
                path = self.logs / f"{name}.json"
                path.write_text(json.dumps(spec))
                self.spawn(name, [str(Path(__file__).resolve()), "--serve-floor", str(path)],
                           layout.root)
            else:
                tls = TlsFiles(*(Path(p) for p in spec["tls"]))
                if spec["role"] == "echo":
                    server = start_echo(spec["listen"], tls, spec["response_bytes"])
                else:
                    server = start_relay(spec["listen"], tls, peers, spec["lookup_bytes"],
                                         spec["response_bytes"], spec["deadline"])
                self.stoppers.append(lambda s=server: s.stop(0).wait())  # type: ignore[misc]
        for endpoint, _ in peers:
            wait_for_port(endpoint, seconds=30.0)
        wait_for_port(relay, seconds=30.0)
        return relay

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stop()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------- the querying node


class Querier:
    """Node 1 as its web app runs checks: its config, registry and coordinator channel."""

    def __init__(self, layout: NetworkLayout) -> None:
        self.node_id = next(iter(layout.node_configs))
        self.config = NodeConfig.load(layout.node_configs[self.node_id])
        self.store = NodeStore(self.config.store_path)
        self.network = Network(self.config)

    def check(self, *subjects: Subject) -> CheckResult:
        return run_check(self.config, self.store, self.network,
                         CheckRequest(OWN_CASE, PURPOSE, subjects, actor="bench"))

    def sizes(self, subject: Subject) -> Sizes:
        """Run one check and record its real message sizes."""
        inner = self.network.stub.Check
        seen: dict[str, Any] = {}

        def recording(request: pb.CheckRequest, **kwargs: Any) -> pb.CheckResponse:
            response = inner(request, **kwargs)
            seen.update(request=request, response=response)
            return response

        self.network.stub.Check = recording
        try:
            self.check(subject)
        finally:
            self.network.stub.Check = inner
        request, response = seen["request"], seen["response"]
        lookup = pb.LookupRequest(query_id=request.query_id, from_node=self.node_id,
                                  sealed=request.queries[0].sealed)
        answer = pb.LookupResponse(sealed_answer=response.results[0].sealed_answer)
        return Sizes(request.ByteSize(), lookup.ByteSize(), answer.ByteSize(),
                     response.ByteSize())

    def close(self) -> None:
        self.network.close()
        self.store.close()


def voprf_floor(count: int) -> float:
    """Seconds for the libsodium calls RFC 9497's verifiable mode needs for `count`
    evaluations in one batch, in one thread: hash-to-group, blind, evaluate and unblind
    (three scalar multiplications), the prover's composite (one more and an addition) and
    the verifier's two composites (two more and two additions)."""
    uniform = [os.urandom(64) for _ in range(count)]
    blinds = [pysodium.crypto_core_ristretto255_scalar_random() for _ in range(count)]
    inverses = [pysodium.crypto_core_ristretto255_scalar_invert(b) for b in blinds]
    weights = [pysodium.crypto_core_ristretto255_scalar_random() for _ in range(count)]
    key = pysodium.crypto_core_ristretto255_scalar_random()
    from_hash = pysodium.crypto_core_ristretto255_from_hash
    mul = pysodium.crypto_scalarmult_ristretto255
    add = pysodium.crypto_core_ristretto255_add
    started = time.perf_counter()
    prover = verifier_m = verifier_z = from_hash(uniform[0])
    for u, r, r_inv, d in zip(uniform, blinds, inverses, weights, strict=True):
        blinded = mul(r, from_hash(u))
        evaluated = mul(key, blinded)
        prover = add(prover, mul(d, blinded))
        verifier_m = add(verifier_m, mul(d, blinded))
        verifier_z = add(verifier_z, mul(d, evaluated))
        mul(r_inv, evaluated)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- import worker


def peak_rss_kb() -> int:
    """Peak RSS of this process's address space in KiB: VmHWM from /proc/self/status.

    This is the counter `ru_maxrss` reports, except that Linux carries a parent's
    `ru_maxrss` over fork + exec into the child, so a child's `ru_maxrss` is never below its
    parent's peak at fork time; VmHWM starts afresh with the new program."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def import_worker(config_path: Path, export: Path) -> None:
    """Subprocess entry: one real `import_cases` (sync); prints its figures as JSON."""
    config = NodeConfig.load(config_path)
    store = NodeStore(config.store_path)
    network = Network(config)
    network.directory(refresh=True)
    before_kb = peak_rss_kb()
    cpu = own_cpu()
    started = time.perf_counter()
    summary = import_cases(config, store, network, export, sync=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "cpu_seconds": own_cpu() - cpu,
                      "rss_before_kb": before_kb, "peak_rss_kb": peak_rss_kb(),
                      "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "summary": asdict(summary)}))
    network.close()
    store.close()


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Results:
    """Every figure the report prints."""

    setup: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    group: dict[str, Any] = field(default_factory=dict)
    imported: dict[str, Any] = field(default_factory=dict)


def measure_latency(querier: Querier, servers: Servers, relay: str, layout: NetworkLayout,
                    sizes: Sizes, population: Population, checks: int,
                    seed: int) -> dict[str, Any]:
    """Blocks of real one-subject checks interleaved with blocks of floor fan-outs."""
    rng = random.Random(f"{seed}/latency")
    nodes = list(population.rows)
    plan: list[tuple[Subject, str | None]] = []
    for _ in range(checks):
        if rng.random() < HIT_SHARE:
            node_id = rng.choice(nodes)
            row = rng.choice(population.findable[node_id])
            plan.append((parse(population.rows[node_id][row]), node_id))
        else:
            plan.append((parse(person(rng)), None))
    channel = secure_channel(relay, _tls(layout.root, querier.node_id),
                             expected_peer=COORDINATOR)
    fanout = channel.unary_unary(RELAY_METHOD)
    request = os.urandom(sizes.check_request)
    for _ in range(10):
        fanout(request, timeout=30)
    real: list[float] = []
    floor: list[float] = []
    real_cpu: dict[str, float] = {}
    floor_cpu: dict[str, float] = {}
    hits_expected = hits_found = incomplete = 0
    block = 10
    for start in range(0, checks, block):
        def real_block(first: int = start) -> None:
            nonlocal hits_expected, hits_found, incomplete
            for subject, holder in plan[first:first + block]:
                began = time.perf_counter()
                result = querier.check(subject)
                real.append(time.perf_counter() - began)
                incomplete += not result.coverage.complete
                if holder:
                    hits_expected += 1
                    hits_found += any(h.node_id == holder for h in result.hits)

        def floor_block(first: int = start) -> None:
            for _ in plan[first:first + block]:
                began = time.perf_counter()
                fanout(request, timeout=30)
                floor.append(time.perf_counter() - began)

        order = ((real_block, real_cpu), (floor_block, floor_cpu))
        for run, cpu in order if (start // block) % 2 == 0 else reversed(order):
            before = servers.cpu()
            run()
            add_into(cpu, cpu_delta(before, servers.cpu()))
    channel.close()
    if hits_found != hits_expected or incomplete:
        raise RuntimeError(f"latency checks wrong: {hits_found}/{hits_expected} hits found, "
                           f"{incomplete} incomplete")
    return {"checks": checks, "hit_checks": hits_expected,
            "p50": percentile(real, 50), "p90": percentile(real, 90),
            "p99": percentile(real, 99), "mean": statistics.fmean(real),
            "floor_p50": percentile(floor, 50), "floor_p90": percentile(floor, 90),
            "floor_p99": percentile(floor, 99), "floor_mean": statistics.fmean(floor),
            "ratio_p50": percentile(real, 50) / percentile(floor, 50),
            "ratio_p99": percentile(real, 99) / percentile(floor, 99),
            "cpu_per_check": {k: v / len(real) for k, v in real_cpu.items()},
            "floor_cpu_per_call": {k: v / len(floor) for k, v in floor_cpu.items()},
            "sizes": asdict(sizes)}


def measure_group_checks(querier: Querier, servers: Servers, population: Population,
                         checks: int, seed: int) -> dict[str, Any]:
    """Checks of MAX_SUBJECTS persons each (the persons of one case, at most), end to end;
    one person of each is registered at some node and must be found."""
    rng = random.Random(f"{seed}/group")
    nodes = list(population.rows)
    seconds: list[float] = []
    cpu: dict[str, float] = {}
    evaluations = 0
    for _ in range(checks):
        holder = rng.choice(nodes)
        group = [parse(population.rows[holder][rng.choice(population.findable[holder])])]
        group += [parse(person(rng)) for _ in range(MAX_SUBJECTS - 1)]
        evaluations += sum(len(match_keys(s)) for s in group)
        before = servers.cpu()
        began = time.perf_counter()
        result = querier.check(*group)
        seconds.append(time.perf_counter() - began)
        add_into(cpu, cpu_delta(before, servers.cpu()))
        if not result.coverage.complete or not any(h.node_id == holder for h in result.hits):
            raise RuntimeError("a group check was incomplete or missed its registered person")
    return {"checks": checks, "subjects": MAX_SUBJECTS, "evaluations": evaluations / checks,
            "p50": percentile(seconds, 50), "max": max(seconds),
            "mean": statistics.fmean(seconds),
            "cpu": {k: v / checks for k, v in cpu.items()}}


def measure_import(servers: Servers, layout: NetworkLayout, node_id: str, subjects: int,
                   versions: Sequence[int], seed: int, work: Path) -> dict[str, Any]:
    """Write a case-system export and import it in a subprocess of its own; beside it the
    libsodium floor of the verifiable mode for the evaluations the import asks (every
    person's match keys in every match-key version the node uses, one key epoch)."""
    rng = random.Random(f"{seed}/import")
    export = work / "import-export.csv"
    rows = [person(rng) for _ in range(subjects)]
    write_export(export, rows, rng, "IMP")
    evaluations = sum(len(match_keys(parse(row), version=v)) for row in rows for v in versions)
    del rows
    sample = min(evaluations, FLOOR_SAMPLE)
    cpu = time.process_time()
    floor = voprf_floor(sample) * evaluations / sample
    floor_cpu = (time.process_time() - cpu) * evaluations / sample
    before = servers.cpu()
    servers.last_start = time.time()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--import-worker",
         str(layout.node_configs[node_id]), str(export)],
        capture_output=True, text=True, check=False, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"import worker failed: {out.stderr.strip()[-2000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["coordinator_cpu_seconds"] = cpu_delta(before, servers.cpu()).get("coordinator",
                                                                             math.nan)
    figures.update(subjects=subjects, node=node_id, export_bytes=export.stat().st_size,
                   rate=subjects / figures["seconds"], evaluations=evaluations,
                   floor_sample=sample, floor_seconds=floor, floor_cpu_seconds=floor_cpu,
                   floor_ratio=figures["seconds"] / floor)
    return figures


def machine() -> dict[str, Any]:
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": _cpu_model(),
            "python": platform.python_version(), "grpcio": grpc.__version__,
            "libsodium": _libsodium_version(), "platform": platform.platform()}


def code_changed_since(moment: float) -> float | None:
    """The newest modification time of project code after `moment`, if any."""
    newest = max((f.stat().st_mtime for folder in ("coordinator", "crypto", "node", "proto")
                  for f in (BENCH.parent / folder).rglob("*.py")), default=0.0)
    return newest if newest > moment else None


def revision() -> str:
    """The commit measured, and whether files outside bench/ differ from it."""
    repo = BENCH.parent
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                 "--untracked-files=no", "--", ".", ":!bench"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = len(status.splitlines())
    return f"{head} + {changed} uncommitted file(s) outside bench/" if changed else head


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _libsodium_version() -> str:
    with contextlib.suppress(Exception):
        version = pysodium.sodium.sodium_version_string
        version.restype = __import__("ctypes").c_char_p
        return str(version().decode())
    return "unknown"


def _cpu_row(label: str, cpu: dict[str, float], server: str, fanned: str, cores: int,
             wall: float) -> str:
    """One row of the CPU table, in ms per call."""
    client, coordinator, nodes = (cpu.get(k, 0.0) for k in ("client", server, fanned))
    total = sum(cpu.values())
    return (f"| {label} | {client * 1000:.1f} | {coordinator * 1000:.1f} | {nodes * 1000:.1f} "
            f"| {total * 1000:.1f} | {total / cores * 1000:.1f} | {wall * 1000:.1f} |")


def report(results: Results) -> str:
    """The markdown section for bench/README.md."""
    s, lat, grp, imp = results.setup, results.latency, results.group, results.imported
    m = s["machine"]
    processes = s["servers"] == "process"
    verdict = {True: "**met**", False: "**missed**"}
    lines = [
        "## Check latency and import, the batch figure (`bench/check.py`)",
        "",
        f"{s['nodes']} nodes with {s['subjects_per_node']:,} registered subjects each "
        f"({s['tags_per_node']:,.0f} tags per node); the real `CoordinatorServer` and "
        f"`NodeServer`s as {'separate processes' if processes else 'threads of one process'} "
        f"on 127.0.0.1, mutual TLS on every connection; the querying node's side of a check "
        f"(`run_check`) runs in the benchmark process. Machine: {m['nproc']} cores "
        f"({m['cpu']}), Python {m['python']}, grpcio {m['grpcio']}, libsodium {m['libsodium']}; "
        f"revision {s['revision']}. `{s['command']}` took {s['wall_seconds']:.0f} s; other "
        f"processes on the machine used {s['foreign_cpu_seconds']:.0f} CPU-seconds meanwhile "
        f"(noise in these figures when well above 0).",
        "",
        "| measure | result | floor (same run) | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    if lat:
        lines += [
            f"| one-subject check, p50 ({lat['checks']} checks, {lat['hit_checks']} with a hit) "
            f"| {ms(lat['p50'])} | {ms(lat['floor_p50'])} | {lat['ratio_p50']:.2f}x "
            f"| <= {TARGET_LATENCY_RATIO:.0f}x "
            f"| {verdict[lat['ratio_p50'] <= TARGET_LATENCY_RATIO]} |",
            f"| one-subject check, p99 | {ms(lat['p99'])} | {ms(lat['floor_p99'])} "
            f"| {lat['ratio_p99']:.2f}x | - | |",
        ]
    if grp:
        lines += [
            f"| one check of {grp['subjects']} persons, the most a check may hold, p50 "
            f"({grp['checks']} checks, each with one registered person) | {ms(grp['p50'])} "
            f"(max {ms(grp['max'])}) | - | - | - | |",
        ]
    if imp:
        summary = imp["summary"]
        lines += [
            f"| import of {imp['subjects']:,} subjects ({summary['cases']:,} cases, "
            f"{summary['tags']:,} tags; {imp['evaluations']:,} evaluations) with "
            f"`import_cases(sync=True)`: the batch figure "
            f"| {imp['seconds']:.1f} s ({imp['rate']:,.0f} subjects/s) "
            f"| {imp['floor_seconds']:.1f} s | {imp['floor_ratio']:.2f}x | not yet set | |",
            f"| peak memory of that import, its own process (VmHWM = `ru_maxrss` of the new "
            f"program) | {imp['peak_rss_kb'] / 1024:,.0f} MiB "
            f"| {imp['rss_before_kb'] / 1024:,.0f} MiB before `import_cases` | - | - | |",
        ]
    lines.append("")
    cores = m["nproc"]
    if lat and processes:
        lines += [
            f"CPU per call in ms, summed over the processes of each role, against the wall "
            f"time: a fan-out to {s['nodes']} processes on {cores} cores cannot be faster than "
            f"its total CPU divided by the cores. The total includes the idle servers of the "
            f"other set (real services during floor calls and vice versa, 1-2 ms).",
            "",
            "| per call | querying node | coordinator / relay | nodes / echo servers | total "
            "| total / cores | wall (mean) |",
            "|---|---|---|---|---|---|---|",
            _cpu_row("one-subject check", lat["cpu_per_check"], "coordinator", "nodes",
                     cores, lat["mean"]),
            _cpu_row("floor fan-out", lat["floor_cpu_per_call"], "relay", "echo servers",
                     cores, lat["floor_mean"]),
        ]
        if grp:
            lines.append(_cpu_row(f"one check of {grp['subjects']} persons", grp["cpu"],
                                  "coordinator", "nodes", cores, grp["mean"]))
        lines.append("")
    if lat:
        sz = lat["sizes"]
        lines += [
            f"Latency floor: a client calls a relay that fans out to {s['nodes']} echo servers "
            f"at once and waits for all: the same topology, certificates, `CHANNEL_OPTIONS`, "
            f"thread pools and {'processes' if processes else 'process'} as the real services, "
            f"and messages of the real sizes ({sz['check_request']:,} B request, "
            f"{sz['lookup_request']:,} B to and {sz['lookup_response']:,} B from each node, "
            f"{sz['check_response']:,} B response), but no crypto, no registry, and one round "
            f"trip where a check makes three (GetDirectory, Evaluate, Check). Checks and floor "
            f"calls alternate in blocks of 10; {HIT_SHARE:.0%} of the checks are for a "
            f"registered person (one node answers with a hit and files a melding). A node's "
            f"Lookup answer leaves on a time grid (at 2 ms, then in steps of 25%: hit and "
            f"no-hit look alike), which the echo servers do not have: it is part of the "
            f"check's cost.",
            "",
        ]
    if grp:
        lines += [
            f"Checks of {grp['subjects']} persons: the persons of one case, the most a check "
            f"may hold (`max_subjects_per_check` cannot exceed {MAX_SUBJECTS}; the covenants "
            f"allow no bulk check). About {grp['evaluations']:.0f} evaluations each; one "
            f"person is registered at some node past aanmelding and must be found.",
            "",
        ]
    if imp:
        per_eval = imp["seconds"] / max(1, imp["summary"]["tags"])
        import_cpu = imp["cpu_seconds"] + imp["coordinator_cpu_seconds"]
        lines += [
            f"Import: a `;`-separated case-system export ({imp['export_bytes'] / 1e6:.1f} MB, "
            f"households of 1-3 persons per case) imported into node `{imp['node']}` by a "
            f"subprocess against the running coordinator, replacing that node's filled "
            f"registry (sync). The import used {imp['cpu_seconds']:.1f} CPU-seconds, the "
            f"coordinator {imp['coordinator_cpu_seconds']:.1f}: together "
            f"{import_cpu / imp['floor_cpu_seconds']:.2f}x "
            f"the floor's {imp['floor_cpu_seconds']:.1f} (CPU time, less sensitive than wall "
            f"time to other load on the machine); about "
            f"{per_eval * 1e6:.0f} µs of wall time per stored tag.",
            "",
            f"Import floor: the libsodium calls RFC 9497's verifiable mode needs for the "
            f"import's {imp['evaluations']:,} evaluations (every person's match keys, one key "
            f"epoch) through pysodium in one thread: hash-to-group from 64 bytes, blind, "
            f"evaluate and unblind (three ristretto255 scalar multiplications), and the proof's "
            f"composites at prover and verifier (three more and three additions; libsodium has "
            f"no multi-scalar multiplication); no CSV, no transport, no SQLite. Timed on "
            f"{imp['floor_sample']:,} evaluations"
            f"{' and scaled linearly' if imp['floor_sample'] < imp['evaluations'] else ''}, "
            f"before the import. The floor runs on one core; the importing node and the "
            f"coordinator overlap on two, so the import can come in under 1x.",
            "",
        ]
    lines += [
        f"Registries: every node's {s['subjects_per_node']:,} persons are synthetic, one case "
        f"each, stored with `NodeStore.apply_import` and their real tags "
        f"(`node_tag(voprf.evaluate(skS, input), node)` over `match_keys`, which equals what an "
        f"import through the coordinator stores: the run checks one registered person per "
        f"node and requires the hit); the querying node's own triage case comes from a real "
        f"`import_cases`. Filling took {s['fill_seconds']:.0f} s and is not measured.",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> Results:
    """Build, fill and start the network, measure, stop."""
    started = time.perf_counter()
    busy, spent = machine_busy(), own_cpu()
    measured, began = revision(), time.time()
    results = Results()
    with tempfile.TemporaryDirectory(prefix="samenloop-bench-") as tmp:
        root = Path(tmp)
        nodes = tuple((f"zvh-bench-{i:02d}", f"Zorg- en Veiligheidshuis Bench {i:02d}")
                      for i in range(1, args.nodes + 1))
        layout = build_network(root / "net", nodes=nodes, deadline_seconds=DEADLINE_SECONDS,
                               rate_limits=RATE_LIMITS, node_settings=NODE_SETTINGS)
        log(f"network of {args.nodes} nodes in {layout.root}")
        population = fill_registries(layout, args.subjects_per_node, args.seed,
                                     workers=len(os.sched_getaffinity(0)))
        log(f"filled {args.nodes} x {args.subjects_per_node} subjects "
            f"({population.tags:,} tags) in {population.seconds:.1f} s")
        servers = Servers(args.servers, root / "logs")
        querier: Querier | None = None
        try:
            servers.coordinator(layout)
            servers.nodes(layout)
            querier = Querier(layout)
            own = root / "own-cases.csv"
            rng = random.Random(f"{args.seed}/own")
            write_export(own, [person(rng) for _ in range(3)], rng, "Q", OWN_CASE)
            import_cases(querier.config, querier.store, querier.network, own, sync=False)
            log(f"servers up ({args.servers}); own case imported")
            # Warm-up, and proof that the filled tags are what the real path derives.
            probe = random.Random(f"{args.seed}/probe")
            for node_id, rows in population.rows.items():
                if not population.findable[node_id]:
                    raise RuntimeError(f"every case at {node_id} is at aanmelding: too few "
                                       f"subjects per node")
                result = querier.check(parse(rows[probe.choice(population.findable[node_id])]))
                if not any(h.node_id == node_id for h in result.hits):
                    raise RuntimeError(f"no hit at {node_id} for a person registered there")
            sizes = querier.sizes(parse(person(probe)))
            relay = servers.floor(layout, sizes)
            log(f"floor servers up; sizes {sizes}")
            if args.checks:
                results.latency = measure_latency(querier, servers, relay, layout, sizes,
                                                  population, args.checks, args.seed)
                log(f"latency p50 {ms(results.latency['p50'])} floor "
                    f"{ms(results.latency['floor_p50'])} ratio {results.latency['ratio_p50']:.2f}")
            if args.group_checks:
                results.group = measure_group_checks(querier, servers, population,
                                                     args.group_checks, args.seed)
                log(f"checks of {MAX_SUBJECTS} persons: p50 {ms(results.group['p50'])}")
            if args.import_subjects:
                versions = match_key_versions(querier.config, querier.network.directory())
                results.imported = measure_import(servers, layout, list(layout.node_configs)[-1],
                                                  args.import_subjects, versions, args.seed,
                                                  root)
                log(f"import {results.imported['seconds']:.1f} s "
                    f"({results.imported['floor_ratio']:.2f}x its floor), peak "
                    f"{results.imported['peak_rss_kb'] / 1024:.0f} MiB")
        finally:
            if querier:
                querier.close()
            servers.close()
    results.setup = {
        "nodes": args.nodes, "subjects_per_node": args.subjects_per_node,
        "tags_per_node": population.tags / args.nodes, "servers": args.servers,
        "fill_seconds": population.seconds, "machine": machine(),
        "command": "bench/check.py " + " ".join(sys.argv[1:]),
        "wall_seconds": time.perf_counter() - started,
        "revision": _revision_note(measured, began, servers.last_start),
        # CPU that processes other than this benchmark's used while it ran (noise).
        "foreign_cpu_seconds": max(0.0, machine_busy() - busy - (own_cpu() - spent)),
    }
    return results


def _revision_note(measured: str, began: float, last_start: float) -> str:
    """The revision measured, and whether code changed while the run loaded it."""
    changed = code_changed_since(began)
    if changed is None:
        return measured
    if changed > last_start:
        return (f"{measured} (project code changed during the run, after every process had "
                f"loaded it; now {revision()})")
    return f"{measured} (project code changed while processes were starting: figures may mix)"


def log(message: str) -> None:
    print(f"[bench/check] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=25)
    parser.add_argument("--subjects-per-node", type=int, default=5000)
    parser.add_argument("--checks", type=int, default=300,
                        help="one-subject checks for the latency figures (0: skip)")
    parser.add_argument("--group-checks", type=int, default=20,
                        help=f"checks of {MAX_SUBJECTS} persons, the most a check may hold "
                             f"(0: skip)")
    parser.add_argument("--import-subjects", type=int, default=100_000, help="0: skip")
    parser.add_argument("--servers", choices=("process", "inprocess"), default="process")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true",
                        help="small run (about a minute on 2 quiet cores): 5 nodes of 500, "
                             "small counts")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"markdown output (default {RESULTS.relative_to(BENCH.parent)})")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    parser.add_argument("--serve-floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--import-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {"nodes": 25, "subjects_per_node": 5000, "checks": 300,
                    "group_checks": 20, "import_subjects": 100_000}
        quick = {"nodes": 5, "subjects_per_node": 500, "checks": 60, "group_checks": 5,
                 "import_subjects": 5000}
        for name, value in quick.items():
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    if args.nodes < 1 or args.subjects_per_node < 2:
        parser.error("need at least one node and two subjects per node")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return 0
    if args.import_worker:
        import_worker(*args.import_worker)
        return 0
    results = run(args)
    text = report(results)
    print(text)
    args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
