"""The embedded network: a coordinator, three ZVH nodes and three key holders on loopback.

`build_network` writes everything a real deployment has (CA and certificates, the
administrator key and signed directory, the OPRF key's shares of the key holders, box keys,
TOML configs, case exports); `run_demo` starts it as separate processes, exactly as
operators would run them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samenloop.coordinator.keyholder.config import config_text as holder_config_text
from samenloop.coordinator.keyholder.shares import (
    EpochShare,
    public_shares_text,
    write_share_file,
)
from samenloop.crypto import pki, seal, signature, threshold, voprf
from samenloop.proto import directory as directory_mod
from samenloop.proto.configfile import write_secret

DEMO_NODES: tuple[tuple[str, str], ...] = (
    ("zvh-fryslan", "Zorg- en Veiligheidshuis Fryslân"),
    ("zvh-noord-limburg", "Zorg- en Veiligheidshuis Noord-Limburg"),
    ("zvh-rotterdam-rijnmond", "Zorg- en Veiligheidshuis Rotterdam-Rijnmond"),
)

# Who holds the shares of the OPRF key (#13): three independent organisations, any two of
# which evaluate together; the coordinator holds none.
DEMO_KEY_HOLDERS: tuple[tuple[str, str], ...] = (
    ("kh-netwerkbeheer", "Netwerkbeheerder Samenloop"),
    ("kh-tweede-overheid", "Tweede publieke organisatie"),
    ("kh-onafhankelijk", "Onafhankelijke partij"),
)
DEMO_THRESHOLD = 2

# Synthetic persons: nobody real. The first case of every node is at triage, so a demo
# check can be run for it.
_DEMO_PEOPLE = {
    "zvh-fryslan": [
        ("F-2026-001", "triage", "pr-1", "Hoekstra", "", "Sietske", "14-02-1988", "Leeuwarden"),
        ("F-2026-002", "uitvoering", "pr-2", "Dijkstra", "", "Tjeerd Jan", "1979-07-30",
         "Sneek"),
    ],
    "zvh-noord-limburg": [
        ("NL-2026-014", "triage", "pr-1", "Berg", "van den", "Pieter Johannes", "1985-03-12",
         "Venlo"),
        ("NL-2026-015", "uitvoering", "pr-2", "Yılmaz", "", "Ayşe", "1992-11-05", "Venlo"),
    ],
    "zvh-rotterdam-rijnmond": [
        ("R-2026-100", "aanmelding", "pr-1", "Bakker", "de", "Johanna", "2001-01-09",
         "Rotterdam"),
        ("R-2026-101", "triage", "pr-2", "El Amrani", "", "Mohammed", "1990-06-21",
         "'s-Gravenhage"),
    ],
}
# Each demo ZVH has procesregisseurs of its own (pr-1, pr-2), so a hit's contact plainly
# shows which house answered.
_PEOPLE_NAMES = {
    "zvh-fryslan": [("Sjoukje Bosma", "123 451"), ("Wiebe Postma", "123 452")],
    "zvh-noord-limburg": [("Anne de Vries", "123 451"), ("Joris Meijer", "123 452")],
    "zvh-rotterdam-rijnmond": [("Fatima Ouali", "123 451"), ("Daan de Graaf", "123 452")],
}
_OTHER_PEOPLE = [("Lotte Jansen", "123 451"), ("Bram de Wit", "123 452")]
# Each demo ZVH's procesregisseurs have their own number, in the region's area code.
_AREA_CODES = {"zvh-fryslan": "058", "zvh-noord-limburg": "077", "zvh-rotterdam-rijnmond": "010"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class NetworkLayout:
    root: Path
    coordinator_config: Path
    coordinator_endpoint: str
    node_configs: dict[str, Path]
    node_endpoints: dict[str, str]
    display_names: dict[str, str]
    admin_key: Path
    directory_spec: Path
    directory_file: Path
    verify_key: bytes
    case_files: dict[str, Path] = field(default_factory=dict)
    # Empty for a network whose key is one coordinator key (before the split).
    holder_configs: dict[str, Path] = field(default_factory=dict)
    holder_endpoints: dict[str, str] = field(default_factory=dict)
    threshold: int = 0


def _privacy_section(node_id: str, number: int) -> list[str]:
    """The demo ZVH's contact point for the person's rights."""
    short = node_id.removeprefix("zvh-")
    area = _AREA_CODES.get(node_id, "030")
    return ["[privacy]", 'name = "Functionaris gegevensbescherming"',
            f'phone = "{area} 123 49{number}0"', f'email = "privacy@{short}.zvh.example"', ""]


def build_network(root: Path, nodes: tuple[tuple[str, str], ...] = DEMO_NODES, *,
                  host: str = "127.0.0.1", coordinator_port: int | None = None,
                  node_ports: dict[str, int] | None = None,
                  listen_ports: dict[str, int] | None = None, deadline_seconds: float = 2.0,
                  rate_limits: dict[str, int] | None = None,
                  node_settings: str = "",
                  web_ports: dict[str, int] | None = None,
                  match_key_versions: tuple[int, ...] = (1,),
                  privacy_contacts: bool = False,
                  key_holders: tuple[tuple[str, str], ...] = DEMO_KEY_HOLDERS,
                  threshold_of: int = DEMO_THRESHOLD,
                  holder_ports: dict[str, int] | None = None,
                  holder_rate_limits: dict[str, int] | None = None) -> NetworkLayout:
    """With `key_holders` (the default) the epoch's key is split `threshold_of` of n over
    them and nobody keeps it whole; `key_holders=()` builds a network as before the split,
    the key held by the coordinator (for migration tests)."""
    now = dt.datetime.now(dt.UTC)
    pki_dir, keys_dir = root / "pki", root / "keys"
    ca_key, ca_cert = pki.new_ca("demo", now=now)
    write_secret(pki_dir / "ca.key", ca_key)
    (pki_dir / "ca.crt").write_bytes(ca_cert)
    holder_ids = [h for h, _ in key_holders]
    for identity in (pki.COORDINATOR, *(n for n, _ in nodes), *holder_ids):
        key, cert = pki.issue(ca_key, ca_cert, identity, now=now)
        write_secret(pki_dir / f"{identity}.key", key)
        (pki_dir / f"{identity}.crt").write_bytes(cert)

    admin_seed, verify_key = signature.generate_signing_key()
    admin_key = keys_dir / "directory-admin.key"
    write_secret(admin_key, admin_seed.hex() + "\n")
    oprf_sk, oprf_pk = voprf.generate_key_pair(voprf.Mode.VOPRF)
    coordinator_endpoint = f"{host}:{coordinator_port or free_port(host)}"
    ports = node_ports or {}
    endpoints = {n: f"{host}:{ports.get(n) or free_port(host)}" for n, _ in nodes}
    holder_endpoints = {h: f"{host}:{(holder_ports or {}).get(h) or free_port(host)}"
                        for h in holder_ids}
    split: directory_mod.KeySplit | None = None
    if key_holders:
        # The trusted dealer's split, as `samenloop keyholder split` does for a running
        # network; the whole key lives only in this function's memory.
        shares = threshold.split_key(oprf_sk, threshold_of, len(key_holders))
        split = directory_mod.KeySplit(threshold_of, tuple(
            directory_mod.PublicShare(h, s.index, threshold.public_share(s.secret))
            for h, s in zip(holder_ids, shares, strict=True)))
        for holder_id, share in zip(holder_ids, shares, strict=True):
            (keys_dir / "holders").mkdir(parents=True, exist_ok=True)
            write_share_file(keys_dir / "holders" / f"{holder_id}.shares.toml", holder_id,
                             [EpochShare(1, share.index, share.secret)])
        del shares
    else:
        write_secret(keys_dir / "oprf-epoch-1.key", oprf_sk.hex() + "\n")
    del oprf_sk
    box_public: dict[str, bytes] = {}
    for node_id, _ in nodes:
        secret, public = seal.generate_box_key_pair()
        write_secret(keys_dir / f"{node_id}.box", secret.hex() + "\n")
        box_public[node_id] = public

    spec = root / "directory.toml"
    lines = ['network = "demo"', "serial = 1", "current_epoch = 1",
             f"match_key_versions = {list(match_key_versions)}", ""]
    if split is None:
        lines += ["[[oprf_keys]]", "epoch = 1", f'public_key = "{oprf_pk.hex()}"', ""]
    else:
        lines += [public_shares_text(1, oprf_pk, split.threshold, {
            s.holder_id: (s.index, s.public_share) for s in split.shares}), ""]
    for holder_id, name in key_holders:
        lines += ["[[key_holders]]", f'holder_id = "{holder_id}"', f'display_name = "{name}"',
                  f'endpoint = "{holder_endpoints[holder_id]}"', ""]
    for node_id, name in nodes:
        lines += ["[[nodes]]", f'node_id = "{node_id}"', f'display_name = "{name}"',
                  f'endpoint = "{endpoints[node_id]}"',
                  f'box_public_key = "{box_public[node_id].hex()}"', ""]
    spec.write_text("\n".join(lines), encoding="utf-8")
    directory_file = root / "directory.pb"
    signed = directory_mod.build(
        network="demo", serial=1, issued_at=int(now.timestamp()),
        nodes=[directory_mod.DirectoryNode(n, name, endpoints[n], box_public[n])
               for n, name in nodes],
        oprf_keys={1: oprf_pk}, current_epoch=1, signing_key=admin_seed,
        match_key_versions=match_key_versions,
        key_holders=[directory_mod.KeyHolder(h, name, holder_endpoints[h])
                     for h, name in key_holders],
        key_splits={1: split} if split is not None else None)
    directory_file.write_bytes(signed.SerializeToString())
    holder_configs = write_holder_configs(root, holder_ids, holder_endpoints, verify_key,
                                           holder_rate_limits or {})

    limits = rate_limits or {}
    coordinator_config = root / "coordinator.toml"
    coordinator_config.write_text("\n".join([
        f'listen = "{coordinator_endpoint}"',
        'data_dir = "data/coordinator"',
        'directory = "directory.pb"',
        f'directory_public_key = "{verify_key.hex()}"',
        f"deadline_seconds = {deadline_seconds}",
        "",
        "[tls]", 'ca = "pki/ca.crt"', 'cert = "pki/coordinator.crt"',
        'key = "pki/coordinator.key"', "",
        *([] if split is not None else
          ["[[oprf_keys]]", "epoch = 1", 'key = "keys/oprf-epoch-1.key"', ""]),
        "[rate_limits]", *(f"{k} = {v}" for k, v in limits.items()), "",
    ]), encoding="utf-8")

    node_configs: dict[str, Path] = {}
    case_files: dict[str, Path] = {}
    for number, (node_id, _) in enumerate(nodes):
        folder = root / "nodes" / node_id
        folder.mkdir(parents=True, exist_ok=True)
        regisseurs = []
        for index, (person, phone) in enumerate(_PEOPLE_NAMES.get(node_id, _OTHER_PEOPLE),
                                                start=1):
            short = node_id.removeprefix("zvh-")
            area = _AREA_CODES.get(node_id, "030")
            regisseurs += ["[[procesregisseurs]]", f'id = "pr-{index}"',
                           f'name = "{person}"', f'phone = "{area} {phone}{number}"',
                           f'email = "{person.split()[0].lower()}@{short}.zvh.example"', ""]
        config = folder / "node.toml"
        listen = {n: f"{host}:{(listen_ports or {})[n]}" if n in (listen_ports or {})
                  else endpoints[n] for n in endpoints}
        web = ([] if not web_ports or node_id not in web_ports else
               ["[web]", f'listen = "{host}:{web_ports[node_id]}"',
                f'public_url = "http://{host}:{web_ports[node_id]}"',
                "# The demo's procesregisseurs log in with a password only (quick to try);",
                "# beheerder, auditor and privacy accounts set up TOTP at their first login.",
                "totp_for_procesregisseur = false", ""])
        config.write_text("\n".join([
            f'node_id = "{node_id}"',
            f'listen = "{listen[node_id]}"',
            f'coordinator = "{coordinator_endpoint}"',
            'data_dir = "data"',
            f'directory_public_key = "{verify_key.hex()}"',
            node_settings,
            "",
            "[tls]", 'ca = "../../pki/ca.crt"', f'cert = "../../pki/{node_id}.crt"',
            f'key = "../../pki/{node_id}.key"', "",
            "[keys]", f'box_secret_key = "../../keys/{node_id}.box"', "",
            *(_privacy_section(node_id, number) if privacy_contacts else []),
            *web,
            *regisseurs,
        ]), encoding="utf-8")
        node_configs[node_id] = config
        people = _DEMO_PEOPLE.get(node_id)
        if people:
            cases = folder / "cases.csv"
            cases.write_text(
                "casusnummer;fase;procesregisseur;achternaam;tussenvoegsel;voornamen;"
                "geboortedatum;geboorteplaats\n"
                + "".join(";".join(p) + "\n" for p in people), encoding="utf-8")
            case_files[node_id] = cases
    return NetworkLayout(root, coordinator_config, coordinator_endpoint, node_configs,
                         endpoints, dict(nodes), admin_key, spec, directory_file, verify_key,
                         case_files, holder_configs, holder_endpoints,
                         split.threshold if split is not None else 0)


def write_holder_configs(root: Path, holder_ids: list[str], endpoints: dict[str, str],
                          verify_key: bytes, rate_limits: dict[str, int]) -> dict[str, Path]:
    """One keyholder.toml per holder, in a folder of its own as another organisation
    would keep it, naming its certificate, its share file and the signed directory."""
    configs: dict[str, Path] = {}
    for holder_id in holder_ids:
        folder = root / "holders" / holder_id
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "keyholder.toml"
        config.write_text(holder_config_text(
            holder_id, endpoints[holder_id], ca="../../pki/ca.crt",
            cert=f"../../pki/{holder_id}.crt", key=f"../../pki/{holder_id}.key",
            shares=f"../../keys/holders/{holder_id}.shares.toml",
            directory="../../directory.pb", directory_public_key=verify_key,
            audit_db="data/keyholder-audit.sqlite", rate_limits=rate_limits), encoding="utf-8")
        configs[holder_id] = config
    return configs


def stop_processes(processes: list[subprocess.Popen[Any]]) -> list[int]:
    """SIGTERM to all at once, then wait; whoever does not stop in 10 s is killed.
    Returns the exit codes."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=10))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    return codes


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "samenloop.node", *args]


def wait_for_port(endpoint: str, seconds: float = 15.0) -> None:
    """Until something accepts TCP connections on host:port; processes start slowly."""
    host, _, port = endpoint.rpartition(":")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {endpoint} after {seconds} s")


@dataclass(frozen=True)
class DemoPorts:
    """The loopback ports of one demo network: coordinator, Lookup services, web apps and
    key holders."""

    coordinator: int
    nodes: dict[str, int]
    web: dict[str, int]
    holders: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_base(cls, base: int) -> DemoPorts:
        """7000 gives coordinator 7000, nodes 7101-7103, key holders 7201-7203, web apps
        8101-8103; 0 gives free ports chosen by the system (several demos, tests)."""
        if base == 0:
            chosen: set[int] = set()
            while len(chosen) < 1 + 2 * len(DEMO_NODES) + len(DEMO_KEY_HOLDERS):
                chosen.add(free_port())
            free = iter(sorted(chosen))
            return cls(next(free), {n: next(free) for n, _ in DEMO_NODES},
                       {n: next(free) for n, _ in DEMO_NODES},
                       {h: next(free) for h, _ in DEMO_KEY_HOLDERS})
        if not 1024 <= base <= 65535 - 1101 - len(DEMO_NODES):
            raise DemoError(f"--base-port must be 0 or 1024-{65535 - 1101 - len(DEMO_NODES)}")
        return cls(base, {n: base + 101 + i for i, (n, _) in enumerate(DEMO_NODES)},
                   {n: base + 1101 + i for i, (n, _) in enumerate(DEMO_NODES)},
                   {h: base + 201 + i for i, (h, _) in enumerate(DEMO_KEY_HOLDERS)})

    @classmethod
    def of_network(cls, root: Path) -> DemoPorts:
        """The ports an existing demo network (`--no-fresh`) was built with."""
        import tomllib

        def port(endpoint: str) -> int:
            return int(endpoint.rpartition(":")[2])

        coordinator = tomllib.loads((root / "coordinator.toml").read_text("utf-8"))
        nodes = {n: tomllib.loads((root / "nodes" / n / "node.toml").read_text("utf-8"))
                 for n, _ in DEMO_NODES}
        holders = {h: tomllib.loads(path.read_text("utf-8"))
                   for h, _ in DEMO_KEY_HOLDERS
                   if (path := root / "holders" / h / "keyholder.toml").exists()}
        return cls(port(coordinator["listen"]), {n: port(c["listen"]) for n, c in nodes.items()},
                   {n: port(c["web"]["listen"]) for n, c in nodes.items()},
                   {h: port(c["listen"]) for h, c in holders.items()})

    def all(self) -> list[int]:
        return [self.coordinator, *self.nodes.values(), *self.holders.values(),
                *self.web.values()]


class DemoError(Exception):
    """The demo cannot start; the message tells the operator what to do."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Something listens on the port (on this address or any), or it cannot be bound.
    Servers would otherwise share it (gRPC sets SO_REUSEPORT) or the demo would talk to
    whatever holds it and fail later with a TLS error."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        pass
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no use
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def refuse_ports_in_use(ports: DemoPorts) -> None:
    """Every port the demo needs that something else holds, named, before anything starts."""
    busy = [port for port in ports.all() if port_in_use(port)]
    if busy:
        named = (f"port {busy[0]} is" if len(busy) == 1
                 else f"ports {', '.join(map(str, busy))} are")
        raise DemoError(
            f"{named} in use (another demo, or on macOS the AirPlay receiver on 7000); stop "
            "it, or start the demo on other ports with --base-port N (0: any free ports)")


# Demo accounts of every node: username -> (role, procesregisseur id).
DEMO_ACCOUNTS = {"regisseur": ("procesregisseur", "pr-1"), "beheerder": ("beheerder", None),
                 "auditor": ("auditor", None), "privacy": ("privacy", None)}


def _add_demo_accounts(configs: dict[str, Path], password: str) -> None:
    """The same accounts at every node, through the operator's own command."""
    for config in configs.values():
        for username, (role, regisseur) in DEMO_ACCOUNTS.items():
            args = ["node", "user", "add", username, "--role", role, "--config", str(config),
                    "--password-stdin", "--own-password"]
            if regisseur:
                args += ["--procesregisseur", regisseur]
            out = subprocess.run(_command(*args), input=password + "\n",  # noqa: S603
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0 and "bestaat al" not in out.stderr:
                raise RuntimeError(f"demo account {username}: {out.stderr.strip()}")


def run_demo(root: Path, *, fresh: bool = True, base_port: int = 7000) -> None:
    """Start the embedded network, import the synthetic cases, print what to try. Refuses
    (DemoError) before writing anything when one of its ports is taken."""
    root = root.resolve()
    reuse = not fresh and (root / "coordinator.toml").exists()
    ports = DemoPorts.of_network(root) if reuse else DemoPorts.from_base(base_port)
    refuse_ports_in_use(ports)
    if fresh and root.exists():
        shutil.rmtree(root)
    if not reuse:
        build_network(root, coordinator_port=ports.coordinator, node_ports=ports.nodes,
                      web_ports=ports.web, holder_ports=ports.holders, privacy_contacts=True)
    layout_nodes = {n: root / "nodes" / n / "node.toml" for n, _ in DEMO_NODES}
    password_file = root / "demo-password.txt"
    if not password_file.exists():
        write_secret(password_file, "demo-" + secrets.token_urlsafe(9) + "\n")
    password = password_file.read_text(encoding="utf-8").strip()
    _add_demo_accounts(layout_nodes, password)
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    names: dict[int, str] = {}

    def start(name: str, *args: str) -> None:
        log = (logs / f"{name}.log").open("ab")
        processes.append(subprocess.Popen(_command(*args), stdout=log, stderr=log,  # noqa: S603
                                          cwd=root, start_new_session=True))
        names[processes[-1].pid] = name

    try:
        # The key holders first: nodes pseudonymise through them from their first import.
        for holder_id in ports.holders:
            start(holder_id, "keyholder", "serve", "--config",
                  str(root / "holders" / holder_id / "keyholder.toml"))
        for port in ports.holders.values():
            wait_for_port(f"127.0.0.1:{port}")
        start("coordinator", "coordinator", "serve", "--config", str(root / "coordinator.toml"))
        wait_for_port(f"127.0.0.1:{ports.coordinator}")
        for node_id, config in layout_nodes.items():
            start(node_id, "node", "serve", "--config", str(config))
        for port in (*ports.nodes.values(), *ports.web.values()):
            wait_for_port(f"127.0.0.1:{port}")
        for node_id, config in layout_nodes.items():
            cases = config.parent / "cases.csv"
            out = subprocess.run(_command("node", "import", str(cases), "--sync", "--config",  # noqa: S603
                                          str(config)), capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"demo import at {node_id} failed: {out.stderr.strip()}")
        _print_instructions(root, layout_nodes, password, ports,
                            {name: pid for pid, name in names.items()})
        done = {"stop": False}
        signal.signal(signal.SIGINT, lambda *_: done.update(stop=True))
        signal.signal(signal.SIGTERM, lambda *_: done.update(stop=True))
        holders = set(ports.holders)
        stopped: set[str] = set()
        while not done["stop"]:
            gone = [names[p.pid] for p in processes
                    if p.poll() is not None and names[p.pid] not in stopped]
            stopped.update(gone)
            if any(name not in holders for name in gone):
                print("a demo process stopped unexpectedly; see", logs, file=sys.stderr)
                break
            for holder_id in gone:  # t of n: the network goes on without it (#13)
                print(_holder_stopped(holder_id, len(holders - stopped), len(holders)),
                      file=sys.stderr, flush=True)
            time.sleep(0.5)
    finally:
        print("\nstopping the demo network ...")
        stop_processes(processes)
        print("stopped.")


def _holder_stopped(holder_id: str, running: int, holders: int) -> str:
    """What the demo says when a key holder's process ends: the network does not stop, since
    any DEMO_THRESHOLD of the holders evaluate together."""
    if running >= DEMO_THRESHOLD:
        return (f"key holder {holder_id} stopped; {running} of {holders} still run, so checks "
                f"go on (any {DEMO_THRESHOLD} evaluate together)")
    return (f"key holder {holder_id} stopped; {running} of {holders} still run, fewer than "
            f"{DEMO_THRESHOLD}: checks are refused (\"te weinig sleutelhouders bereikbaar\"), "
            f"never answered \"geen samenloop\"")


def _print_instructions(root: Path, configs: dict[str, Path], password: str,
                        ports: DemoPorts, pids: dict[str, int]) -> None:
    samenloop = Path(sys.executable).parent / "samenloop"
    exe = str(samenloop) if samenloop.exists() else "samenloop"
    python = shlex.quote(sys.executable)
    fryslan = configs["zvh-fryslan"]
    rel = os.path.relpath(fryslan, Path.cwd())
    nodes = "\n".join(f"  {n:22}  127.0.0.1:{p}" for n, p in ports.nodes.items())
    holders = "\n".join(f"  {h:22}  127.0.0.1:{p}  (pid {pids[h]}; kill it to stop this holder)"
                        for h, p in ports.holders.items())
    web = "\n".join(f"  {n:22}  http://127.0.0.1:{p}/" for n, p in ports.web.items())
    print(f"""
Samenloop demo network is running (files in {root}):
  coordinator             127.0.0.1:{ports.coordinator}
{nodes}
Key holders (any {DEMO_THRESHOLD} of {len(ports.holders)} evaluate together; nobody holds the key):
{holders}

Web app (Dutch), one per ZVH:
{web}
Accounts at every node, all with password {password}
  regisseur   procesregisseur (pr-1): samenloopcheck and samenloopmeldingen
  beheerder   import, status, cases, users
  auditor     audit pages and exports
  privacy     rights requests (inzage, bezwaar), incidents, privacy documents
beheerder, auditor and privacy set up a second factor (TOTP, an authenticator app) at
their first login; regisseur logs in with the password only (totp_for_procesregisseur).
No authenticator app at hand? Put the key the page shows (Lukt scannen niet?) in place of
SLEUTEL for the current code:
  {python} -c "import pyotp, sys; print(pyotp.TOTP(''.join(sys.argv[1:])).now())" SLEUTEL
Each `samenloop demo` starts afresh (new password, accounts to set up again; --no-fresh
keeps them). Lost the key? After this, the account sets TOTP up again at its next login:
  {exe} node user reset-totp beheerder --config {rel}
In the web app of Fryslân, log in as regisseur, run a check for case F-2026-001 (triage)
for Pieter van den Berg, 12-03-1985, Venlo; then log in as regisseur at Noord-Limburg
({ports.web["zvh-noord-limburg"]}) to see the samenloopmelding.

Or try, in another terminal, a check from Fryslân for its triage case F-2026-001.

A person with an active case in Noord-Limburg (typed the way another ZVH would):
  {exe} check --node-config {rel} --case F-2026-001 \\
      --purpose "triage: samenloop met ander ZVH" \\
      --surname "Van den Berg" --given-names Pieter --date-of-birth 12-3-1985 \\
      --place-of-birth Venlo

A person nobody has registered:
  {exe} check --node-config {rel} --case F-2026-001 \\
      --purpose "triage: samenloop met ander ZVH" \\
      --surname Visser --given-names Karin --date-of-birth 1975-05-05

Then see the melding that arrived at Noord-Limburg:
  {exe} node meldingen --config {os.path.relpath(configs["zvh-noord-limburg"], Path.cwd())}

Logs are in {root / "logs"}. Press Ctrl-C to stop everything.
""", flush=True)
