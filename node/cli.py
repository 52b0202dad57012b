"""The `samenloop` command: one entry point for node operators, the network operator and demos.

Operators read this output, so it is English; refusals meant for a procesregisseur (a
check) keep their Dutch message. Identifiers are never printed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from samenloop.coordinator.cli import (
    coordinator_app,
    directory_app,
    fail,
    pki_app,
    serve_until_signalled,
)
from samenloop.coordinator.keyholder.cli import keyholder_app
from samenloop.proto.configfile import ConfigError, write_secret

if TYPE_CHECKING:
    from samenloop.node.config import NodeConfig
    from samenloop.node.store import NodeStore
    from samenloop.proto.directory import NodeDirectory

app = typer.Typer(
    name="samenloop",
    help="Samenloop: federated hit/no-hit checks between Zorg- en Veiligheidshuizen.",
    no_args_is_help=True,
    add_completion=False,
)
node_app = typer.Typer(help="Run a ZVH node and manage its registry.", no_args_is_help=True)
procesregisseur_app = typer.Typer(help="Procesregisseurs whose contact other ZVHs receive.",
                                  no_args_is_help=True)
audit_app = typer.Typer(help="The node's hash-chained audit trail.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts of the node's web app and API (procesregisseur, "
                            "beheerder, auditor).", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(coordinator_app, name="coordinator")
app.add_typer(pki_app, name="pki")
app.add_typer(directory_app, name="directory")
app.add_typer(keyholder_app, name="keyholder")
node_app.add_typer(procesregisseur_app, name="procesregisseur")
node_app.add_typer(audit_app, name="audit")
node_app.add_typer(user_app, name="user")
vervanger_app = typer.Typer(help="Colleagues who may act for a procesregisseur.",
                            no_args_is_help=True)
node_app.add_typer(vervanger_app, name="vervanger")

ConfigOption = Annotated[Path, typer.Option("--config", help="node.toml")]


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _load(config: Path) -> tuple[NodeConfig, NodeStore]:
    from samenloop.node.config import NodeConfig
    from samenloop.node.store import NodeStore

    try:
        cfg = NodeConfig.load(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    store = NodeStore(cfg.store_path)
    store.upsert_procesregisseurs(cfg.procesregisseurs)
    return cfg, store


def _incident_on_refusal(store: NodeStore) -> Callable[[bytes, str], None]:
    """A directory refused during a CLI import or check opens an incident too."""
    from samenloop.node import incidents

    def opened(signed: bytes, source: str) -> None:
        incidents.directory_refused(store, signed, source, now=time.time())

    return opened


def _incident_on_holder(store: NodeStore) -> Callable[[str, int, str], None]:
    """A key holder's answer refused during a CLI import or check opens an incident too."""
    from samenloop.node import incidents

    def opened(holder_id: str, epoch: int, _why: str) -> None:
        incidents.key_holder_refused(store, holder_id, epoch, now=time.time())

    return opened


@contextmanager
def _opened(config: Path) -> Iterator[tuple[NodeConfig, NodeStore]]:
    """The node's config and store for one command; the store is closed however it ends."""
    cfg, store = _load(config)
    try:
        yield cfg, store
    finally:
        store.close()


# ---------------------------------------------------------------- node


@node_app.command("keygen")
def node_keygen(out: Annotated[Path, typer.Option(help="box secret key file (mode 0600)")]
                ) -> None:
    """Create the node's crypto_box key; prints the public key for the directory."""
    from samenloop.crypto.seal import generate_box_key_pair

    if out.exists():
        raise fail(f"{out} exists; refusing to overwrite a key")
    secret, public = generate_box_key_pair()
    write_secret(out, secret.hex() + "\n")
    typer.echo(public.hex())


@node_app.command("csr")
def node_csr(
    node_id: Annotated[str, typer.Option(help="this node's id, as in the directory")],
    key_out: Annotated[Path, typer.Option(help="TLS private key to create (mode 0600)")],
    csr_out: Annotated[Path, typer.Option(help="certificate signing request to send")],
) -> None:
    """Create the node's TLS key and a certificate signing request for the network
    operator (`samenloop pki sign`); the key never leaves this machine."""
    from samenloop.crypto import pki
    from samenloop.proto.directory import DirectoryError, validate_node_id

    try:
        validate_node_id(node_id)
    except DirectoryError as exc:
        raise fail(str(exc)) from None
    if key_out.exists():
        raise fail(f"{key_out} exists; refusing to overwrite a key")
    key, request = pki.node_key_and_csr(node_id)
    write_secret(key_out, key)
    csr_out.write_bytes(request)
    typer.echo(f"created {key_out} (keep it here) and {csr_out}: send {csr_out} to the "
               "network operator, who signs it with `samenloop pki sign`")


@node_app.command("serve")
def node_serve(config: ConfigOption) -> None:
    """Run the node's Lookup service and retention sweeper until SIGINT or SIGTERM; with a
    [web] section also the web app and HTTP API, in the same process and store."""
    from samenloop.node.config import NodeConfig
    from samenloop.node.server import NodeServer
    from samenloop.proto.observability import configure_logging

    try:
        configure_logging()
    except ValueError as exc:  # a bad SAMENLOOP_LOG_LEVEL
        raise fail(str(exc)) from None
    try:
        server = NodeServer(NodeConfig.load(config))
    except (ConfigError, OSError) as exc:
        raise fail(str(exc)) from None
    server.start()
    web = None
    if server.config.web is not None:
        from samenloop.node.web.actions import NodeContext
        from samenloop.node.web.app import WebServer

        web = WebServer(NodeContext(server.config, server.config.web, server.store,
                                    server.network, metrics=server.metrics))
        try:
            web.start()
        except OSError as exc:
            server.stop()
            raise fail(str(exc)) from None

    def stop() -> None:
        if web is not None:
            web.stop()
        server.stop()

    serve_until_signalled(stop, server.reload)


@node_app.command("import")
def node_import(
    file: Annotated[Path, typer.Argument(help="case-system export, CSV or JSON")],
    config: ConfigOption,
    sync: Annotated[bool, typer.Option("--sync", help="remove active cases absent from FILE")
                    ] = False,
) -> None:
    """Register the active cases of an export; all rows or nothing."""
    from samenloop.node.network import Network, NetworkError
    from samenloop.node.registration import ImportRefused, import_cases

    setup_logging(logging.WARNING)
    cfg, store = _load(config)
    network = Network(cfg, on_refused=_incident_on_refusal(store),
                      on_holder_refused=_incident_on_holder(store))
    try:
        summary = import_cases(cfg, store, network, file, sync=sync)
    except ImportRefused as exc:
        for error in exc.errors[:200]:
            typer.echo(f"  {error}", err=True)
        if exc.total > 200:
            typer.echo(f"  ... and {exc.total - 200} more", err=True)
        raise fail(str(exc)) from None
    except NetworkError as exc:
        raise fail(f"import not applied, nothing changed: {exc}") from None
    finally:
        network.close()
        store.close()
    typer.echo(f"imported {summary.cases} case(s): {summary.added} added, {summary.updated} "
               f"refreshed, {summary.removed} removed, {summary.tags} tags")


@node_app.command("intake")
def node_intake(case_ref: Annotated[str, typer.Argument(help="case reference")],
                config: ConfigOption,
                procesregisseur: Annotated[str, typer.Option(
                    help="id of the case's procesregisseur")]) -> None:
    """Register a new aanmelding: checks need an existing case, and at aanmelding only the
    own ZVH is asked."""
    from samenloop.node import cases

    with _opened(config) as (_, store):
        try:
            cases.register_intake(store, case_ref, procesregisseur, actor="operator",
                                  now=time.time())
        except cases.CaseActionRefused as exc:
            reason = ("already registered" if isinstance(exc, cases.AlreadyExists)
                      else INTAKE_REFUSALS.get(exc.field, exc.field))
            raise fail(f"intake refused: {reason}") from None
    typer.echo(f"registered case {case_ref.strip()} (phase aanmelding)")


# Operators read English; the use cases refuse in Dutch for procesregisseurs.
INTAKE_REFUSALS = {
    "casus": "the case reference must be 1-64 letters, digits, '.', '_', '/' or '-'",
    "procesregisseur": "unknown procesregisseur (add it first: node procesregisseur add)",
}


def _end(config: Path, case_ref: str, *, not_accepted: bool) -> None:
    from samenloop.node import cases

    with _opened(config) as (_, store):
        try:
            cases.end_case(store, case_ref, not_accepted=not_accepted, actor="operator",
                           now=time.time())
        except cases.CaseNotFound:
            raise fail(f"no active case {case_ref}") from None


@node_app.command("close")
def node_close(case_ref: Annotated[str, typer.Argument(help="case reference")],
               config: ConfigOption) -> None:
    """Afschaling: the case stops matching at once; its meldingen go with it."""
    _end(config, case_ref, not_accepted=False)
    typer.echo(f"closed {case_ref}")


@node_app.command("not-accepted")
def node_not_accepted(case_ref: Annotated[str, typer.Argument(help="case reference")],
                      config: ConfigOption) -> None:
    """An aanmelding not taken on ("niet in behandeling genomen"): its registrations and
    meldingen are destroyed at once."""
    _end(config, case_ref, not_accepted=True)
    typer.echo(f"not accepted: {case_ref} (registrations and meldingen deleted)")


@node_app.command("sweep")
def node_sweep(config: ConfigOption) -> None:
    """Apply retention now: expired cases, handled meldingen, old audit records."""
    from samenloop.node.server import sweep

    with _opened(config) as (cfg, store):
        removed = sweep(cfg, store, time.time())
    typer.echo(f"removed {removed} expired case(s)")


@node_app.command("status")
def node_status(config: ConfigOption) -> None:
    """Active cases per phase, stored tags, and the cases that expire within 30 days."""
    with _opened(config) as (cfg, store):
        counts = store.counts_by_phase()
        typer.echo(f"active cases: {sum(counts.values())}  tags: {store.tag_count()}")
        for phase, count in sorted(counts.items()):
            typer.echo(f"  {phase:16} {count}")
        now = time.time()
        term = cfg.max_inactive_days * 86400
        expiring = store.expiring_cases(now - term + 30 * 86400)
        typer.echo(f"expiring within 30 days (no new data for {cfg.max_inactive_days} days): "
                   f"{len(expiring)}")
        for case in expiring:
            last = time.strftime("%Y-%m-%d", time.localtime(case.refreshed_at))
            ends = time.strftime("%Y-%m-%d", time.localtime(case.refreshed_at + term))
            typer.echo(f"  {case.case_ref:20} {case.phase:16} last new data {last}, "
                       f"expires {ends}")


@node_app.command("meldingen")
def node_meldingen(config: ConfigOption) -> None:
    """Incoming samenloopmeldingen: another ZVH checked a person of one of our cases."""
    from samenloop.node.model import STRENGTH_NAMES

    with _opened(config) as (_, store):
        notifications = store.notifications()
        if not notifications:
            typer.echo("no meldingen")
            return
        typer.echo(f"{'LAST':16}  {'CASE':20}  {'STRENGTH':14}  {'TIMES':>5}  {'STATUS':32}  "
                   f"FROM (ZVH: procesregisseur, phone, email)")
        for n in notifications:
            at = time.strftime("%Y-%m-%d %H:%M", time.localtime(n.last_at or n.at))
            status = (f"handled ({n.handled_action})" if n.handled_at else
                      "open, to assess" if n.assess else "open")
            typer.echo(f"{at:16}  {n.case_ref:20}  {STRENGTH_NAMES.get(n.strength, '?'):14}  "
                       f"{n.times:>5}  {status:32}  {n.from_zvh}: {n.requester.name}, "
                       f"{n.requester.phone}, {n.requester.email}")


@procesregisseur_app.command("add")
def procesregisseur_add(
    id: Annotated[str, typer.Argument()], config: ConfigOption,
    name: Annotated[str, typer.Option()], phone: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
) -> None:
    """Add or update a procesregisseur."""
    from samenloop.node.config import validate_procesregisseur

    with _opened(config) as (_, store):
        try:
            person = validate_procesregisseur(id, name, phone, email)
            store.upsert_procesregisseurs([person])
        except ConfigError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"saved procesregisseur {id}")


@vervanger_app.command("add")
def vervanger_add(procesregisseur: Annotated[str, typer.Argument(help="procesregisseur id")],
                  vervanger: Annotated[str, typer.Argument(help="the colleague's id")],
                  config: ConfigOption) -> None:
    """Let a colleague check for and read the meldingen of a procesregisseur's cases."""
    _vervanger(config, procesregisseur, vervanger, named=True)
    typer.echo(f"{vervanger} may act for {procesregisseur}")


@vervanger_app.command("remove")
def vervanger_remove(procesregisseur: Annotated[str, typer.Argument(help="procesregisseur id")],
                     vervanger: Annotated[str, typer.Argument(help="the colleague's id")],
                     config: ConfigOption) -> None:
    """End a vervanger's access to a procesregisseur's cases."""
    _vervanger(config, procesregisseur, vervanger, named=False)
    typer.echo(f"{vervanger} no longer acts for {procesregisseur}")


@vervanger_app.command("list")
def vervanger_list(config: ConfigOption) -> None:
    """Who may act for whom."""
    with _opened(config) as (_, store):
        for regisseur, vervanger in store.vervangers():
            typer.echo(f"{regisseur:24} <- {vervanger}")


def _vervanger(config: Path, regisseur: str, vervanger: str, *, named: bool) -> None:
    from samenloop.node import cases

    with _opened(config) as (_, store):
        try:
            cases.set_vervanger(store, regisseur, vervanger, named=named, actor="operator",
                                now=time.time())
        except cases.CaseActionRefused as exc:
            raise fail(f"{exc.field}: unknown procesregisseur, or the same person twice"
                       ) from None


@audit_app.command("verify")
def audit_verify(config: ConfigOption) -> None:
    """Check the hash chain of the audit trail; exit 1 if a record was altered or removed
    (which opens an incident for the privacy role, once per break)."""
    from samenloop.node import incidents

    with _opened(config) as (cfg, store):
        broken = store.verify_audit(cfg.audit_key)
        count = store.audit_count()
        incident = incidents.audit_chain_checked(store, broken, source="audit verify",
                                                 now=time.time())
    if broken is not None:
        typer.echo(f"audit trail BROKEN at record {broken}", err=True)
        if incident is not None:
            typer.echo(f"incident {incident} opened in the privacy role's register", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit trail intact: {count} records")


@node_app.command("privacy-docs")
def node_privacy_docs(
    config: ConfigOption,
    out: Annotated[Path, typer.Option(help="folder for the three Markdown documents")],
    force: Annotated[bool, typer.Option("--force", help="overwrite existing documents")
                     ] = False,
) -> None:
    """Write the privacy documents (Dutch) from node.toml and the signed directory: the
    AVG art. 30 register entry, the information text for the person, the DPIA input."""
    from samenloop.node.config import NodeConfig
    from samenloop.node.privacy_docs import PrivacyDocsError, render

    try:
        cfg = NodeConfig.load(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    directory = _verified_directory(cfg)
    try:
        documents = render(cfg, directory).files()
    except PrivacyDocsError as exc:
        raise fail(str(exc)) from None
    targets = {out / name: text for name, text in documents.items()}
    existing = [str(path) for path in targets if path.exists()]
    if existing and not force:
        raise fail(f"{', '.join(existing)} exist(s); refusing to overwrite (use --force)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text in targets.items():
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write the documents in {out}: {exc.strerror}") from None
    for path in targets:
        typer.echo(f"wrote {path}")
    typer.echo(f"from directory serial {directory.serial} ({len(directory.nodes)} ZVHs)")


def _verified_directory(cfg: NodeConfig) -> NodeDirectory:
    """The node's cached directory, verified with the pinned key; without a usable cached
    copy, a fresh one from the coordinator (which the node then caches)."""
    from samenloop.node.network import Network, NetworkError, _read_cached

    cached = _read_cached(cfg.directory_cache, cfg.directory_verify_key)
    if cached is not None:
        return cached
    network = Network(cfg)
    try:
        return network.directory(refresh=True,
                                 timeout=min(cfg.coordinator_timeout_seconds, 10.0))
    except NetworkError as exc:
        raise fail(f"no verified directory for the documents: {exc} (cache: "
                   f"{cfg.directory_cache}); start the node once so it fetches the directory, "
                   f"or check the coordinator") from None
    finally:
        network.close()


# ---------------------------------------------------------------- web accounts


def _password(from_stdin: bool) -> str:
    """From stdin (scripts) or a hidden prompt typed twice; never an argument, which would
    end up in the process list and shell history."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


def _account_refusal(exc: Exception) -> str:
    """The accounts module refuses in Dutch (for the beheerder's page); operators read
    English, naming the field."""
    from samenloop.node.web.accounts import MIN_PASSWORD, AccountError

    assert isinstance(exc, AccountError)
    if exc.field == "gebruikersnaam":
        return ("username: already exists" if "bestaat al" in exc.message else
                "username: signs in through the organisation's OpenID provider and has no "
                "password here" if "identity provider" in exc.message else
                "username: use 2-64 lowercase letters, digits, '.', '_' or '-'"
                if exc.message.startswith("gebruik") else "username: unknown or disabled user")
    return {"rol": "role: choose procesregisseur, beheerder, auditor or privacy",
            "procesregisseur": "procesregisseur: unknown id (add it first: node "
                               "procesregisseur add)",
            "wachtwoord": f"password: at least {MIN_PASSWORD} characters",
            }.get(exc.field, f"{exc.field}: refused")


PasswordStdin = Annotated[bool, typer.Option("--password-stdin",
                                             help="read the password from standard input")]


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument()], config: ConfigOption,
    role: Annotated[str, typer.Option(help="procesregisseur, beheerder, auditor or privacy")],
    procesregisseur: Annotated[str | None, typer.Option(
        help="procesregisseur id this account acts as (role procesregisseur)")] = None,
    password_stdin: PasswordStdin = False,
    own_password: Annotated[bool, typer.Option(
        "--own-password", help="the password is the user's own (the demo's accounts): not "
                               "changed at the first login")] = False,
) -> None:
    """Add a web/API account; the password is asked for (or read from stdin). The user
    changes it at the first web login, unless --own-password."""
    from samenloop.node.web import accounts

    with _opened(config) as (_, store):
        try:
            accounts.add_user(store, username, role, procesregisseur, _password(password_stdin),
                              by="operator", now=time.time(),
                              must_change=False if own_password else None)
        except accounts.AccountError as exc:
            raise fail(_account_refusal(exc)) from None
    typer.echo(f"added {role} {username.strip().lower()}")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument()], config: ConfigOption) -> None:
    """Disable an account: its sessions end and its API tokens are revoked."""
    _user_change(config, username, "disable")


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument()], config: ConfigOption) -> None:
    """Enable a disabled account again (API tokens must be created anew)."""
    _user_change(config, username, "enable")


@user_app.command("reset")
def user_reset(username: Annotated[str, typer.Argument()], config: ConfigOption,
               password_stdin: PasswordStdin = False) -> None:
    """Set a new password; the account's sessions end, its API tokens are revoked and its
    lock-out is lifted."""
    _user_change(config, username, "reset", _password(password_stdin))


@user_app.command("reset-totp")
def user_reset_totp(username: Annotated[str, typer.Argument()], config: ConfigOption) -> None:
    """Remove an account's second factor (a lost phone): its TOTP secret and recovery
    codes go and its sessions end; the next login sets TOTP up again. Audited."""
    _user_change(config, username, "reset-totp")


@user_app.command("token")
def user_token(username: Annotated[str, typer.Argument()], config: ConfigOption) -> None:
    """Create an API bearer token; printed once, only its hash is kept."""
    _user_change(config, username, "token")


def _user_change(config: Path, username: str, change: str, password: str = "") -> None:
    from samenloop.node.web import accounts

    with _opened(config) as (_, store):
        try:
            if change == "token":
                typer.echo(accounts.create_api_token(store, username, by="operator",
                                                     now=time.time()))
                return
            if change == "reset":
                accounts.reset_password(store, username, password, by="operator", now=time.time())
            elif change == "reset-totp":
                from samenloop.node.web import totp

                totp.reset(store, username, by="operator", now=time.time())
            else:
                accounts.set_disabled(store, username, change == "disable", by="operator",
                                      now=time.time())
        except accounts.AccountError as exc:
            raise fail(_account_refusal(exc)) from None
    typer.echo(f"{change}: {username}")


@user_app.command("list")
def user_list(config: ConfigOption) -> None:
    """Accounts with role, procesregisseur, status and whether TOTP is set up."""
    with _opened(config) as (_, store):
        with_totp = store.second_factor_users()
        for user in store.users():
            typer.echo(f"{user.username:24} {user.role:16} {user.procesregisseur_id or '-':12} "
                       f"{'disabled' if user.disabled else 'active':9}"
                       f"{'totp' if user.username in with_totp else '-'}")


# ---------------------------------------------------------------- check


@app.command("check")
def check(
    node_config: Annotated[Path, typer.Option(help="the querying node's node.toml")],
    case: Annotated[str, typer.Option(help="own case reference (aanmelding or triage); "
                                           "register a new one with `node intake`")],
    purpose: Annotated[str, typer.Option(help="a purpose category of node.toml [policy] "
                                              "purposes")],
    note: Annotated[str, typer.Option(help="optional note, without personal data")] = "",
    surname: Annotated[str | None, typer.Option(help="achternaam")] = None,
    prefix: Annotated[str, typer.Option(help="tussenvoegsel")] = "",
    given_names: Annotated[str | None, typer.Option(help="voornamen")] = None,
    date_of_birth: Annotated[str | None, typer.Option(help="geboortedatum")] = None,
    place_of_birth: Annotated[str, typer.Option(help="geboorteplaats")] = "",
    bsn: Annotated[str | None, typer.Option(help="BSN (only where the network enables it)")
                   ] = None,
    subjects_json: Annotated[Path | None, typer.Option(
        "--subjects-json",
        help="JSON list of persons (household); '-' reads stdin, which keeps identifiers out "
             "of the process list and shell history")] = None,
    procesregisseur: Annotated[str | None, typer.Option(
        help="requesting procesregisseur id: the case's (default) or a named vervanger")
    ] = None,
    actor: Annotated[str, typer.Option(help="who asks, for the audit trail")] = "cli",
) -> None:
    """Run a samenloop check for persons of an own case and print hits and coverage."""
    from samenloop.crypto.identity import InvalidSubject, parse_subject
    from samenloop.node.check import CheckRefused, CheckRequest, run_check
    from samenloop.node.network import Network

    setup_logging(logging.WARNING)
    raw: list[dict[str, str]] = []
    if surname is not None or given_names is not None or date_of_birth is not None:
        raw.append({"achternaam": surname or "", "tussenvoegsel": prefix,
                    "voornamen": given_names or "", "geboortedatum": date_of_birth or "",
                    "geboorteplaats": place_of_birth, "bsn": bsn or ""})
    if subjects_json is not None:
        try:
            text = sys.stdin.read() if str(subjects_json) == "-" else subjects_json.read_text()
            items = json.loads(text)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ValueError
        except (OSError, ValueError):
            raise fail("--subjects-json: must be a JSON list of objects") from None
        raw.extend(items)
    subjects = []
    for number, item in enumerate(raw, start=1):
        try:
            subjects.append(parse_subject(
                surname=str(item.get("achternaam", item.get("surname", ""))),
                prefix=str(item.get("tussenvoegsel", item.get("prefix", ""))),
                given_names=str(item.get("voornamen", item.get("given_names", ""))),
                date_of_birth=str(item.get("geboortedatum", item.get("date_of_birth", ""))),
                place_of_birth=str(item.get("geboorteplaats", item.get("place_of_birth", ""))),
                bsn=str(item.get("bsn") or "") or None))
        except InvalidSubject as exc:
            raise fail(f"persoon {number}: {exc}") from None
    cfg, store = _load(node_config)
    network = Network(cfg, on_refused=_incident_on_refusal(store),
                      on_holder_refused=_incident_on_holder(store))
    try:
        result = run_check(cfg, store, network, CheckRequest(
            case_ref=case, purpose=purpose, subjects=tuple(subjects), actor=actor,
            procesregisseur_id=procesregisseur, note=note))
    except CheckRefused as exc:
        raise fail(f"check geweigerd: {exc}") from None
    finally:
        network.close()
        store.close()
    from samenloop.node.model import STRENGTH_LABELS

    for index in range(result.subjects):
        hits = result.hits_for(index)
        label = f"persoon {index + 1}"
        if not hits:
            typer.echo(f"{label}: geen samenloop gevonden"
                       + ("" if result.coverage.complete else " bij de bereikte ZVH's"))
        for hit in hits:
            p = hit.procesregisseur
            contact = ("bekend; de procesregisseur daar beoordeelt uw vraag en neemt contact "
                       "met u op" if hit.assess_first else
                       f"procesregisseur {p.name}, {p.phone}, {p.email}" if p.name else
                       f"geen contactgegevens meegestuurd, neem contact op met {hit.zvh}")
            typer.echo(f"{label}: SAMENLOOP ({STRENGTH_LABELS[hit.strength]}) bij {hit.zvh}: "
                       f"{contact}")
    typer.echo(result.coverage.dutch())
    if not result.coverage.complete:
        typer.echo("LET OP: niet alle Zorg- en Veiligheidshuizen zijn bereikt; de uitkomst is "
                   "onvolledig. Herhaal de check later.")
        raise typer.Exit(3)


# ---------------------------------------------------------------- tools


@app.command("eval-matching")
def eval_matching(
    registry: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="registry JSONL")],
    queries: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="queries JSONL")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="one line of hits per query")],
) -> None:
    """Run the real match path (parse, match keys, VOPRF, tags) offline on a test set."""
    from samenloop.node.matching import run_eval_matching

    report = run_eval_matching(registry, queries, out)
    typer.echo(report.summary())


@app.command("demo")
def demo(
    dir: Annotated[Path, typer.Option(help="folder for the demo network's files")
                   ] = Path("demo-data"),
    fresh: Annotated[bool, typer.Option(help="start from a new network")] = True,
    base_port: Annotated[int, typer.Option(
        envvar="SAMENLOOP_DEMO_BASE_PORT",
        help="coordinator port; nodes use +101.., web apps +1101..; 0: any free ports")
    ] = 7000,
) -> None:
    """Start a coordinator and three nodes on loopback with synthetic cases."""
    from samenloop.node.demo import DemoError, run_demo

    try:
        run_demo(dir, fresh=fresh, base_port=base_port)
    except DemoError as exc:
        raise fail(str(exc)) from None


def main() -> None:
    app()
