"""node.toml: what a ZVH's node operator sets for the node process and its CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from samenloop.crypto import identity
from samenloop.proto.configfile import ConfigError, Section, read_key_file
from samenloop.proto.directory import (
    DirectoryError,
    validate_match_key_versions,
    validate_node_id,
)
from samenloop.proto.transport import TlsFiles

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PROCESREGISSEUR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Procesregisseur:
    id: str
    name: str
    phone: str
    email: str


# A procesregisseur's contact as it travels in queries and answers; the answer's padding
# bound (samenloop.node.lookup.CONTACT_BYTES) is computed from these limits.
CONTACT_NAME_CHARS = 100
CONTACT_PHONE_CHARS = 30
CONTACT_EMAIL_BYTES = 254  # RFC 5321 counts octets


def validate_procesregisseur(id: str, name: str, phone: str, email: str,
                             field: str = "procesregisseur") -> Procesregisseur:
    """The contact other ZVHs receive on a hit: it must be usable."""
    if not PROCESREGISSEUR_ID.match(id or ""):
        raise ConfigError(f"{field}.id", "must be 1-64 letters, digits, '.', '_' or '-'")
    if not name or len(name) > CONTACT_NAME_CHARS:
        raise ConfigError(f"{field}.name", f"must be 1-{CONTACT_NAME_CHARS} characters")
    if not phone or len(phone) > CONTACT_PHONE_CHARS or not re.fullmatch(r"[0-9+() -]+", phone):
        raise ConfigError(f"{field}.phone", "must be a phone number (digits, +, -, spaces)")
    if not EMAIL.match(email or "") or len(email.encode("utf-8")) > CONTACT_EMAIL_BYTES:
        raise ConfigError(f"{field}.email", "must be an e-mail address")
    return Procesregisseur(id, name.strip(), phone.strip(), email.strip())


def _optional_email(section: Section, key: str) -> str | None:
    if not section.has(key):
        return None
    value = section.str(key)
    if not EMAIL.match(value) or len(value.encode("utf-8")) > CONTACT_EMAIL_BYTES:
        raise ConfigError(f"{section.name}.{key}", "must be an e-mail address")
    return value


# Purpose categories a check chooses from (the covenants: "namens wie, t.b.v. welke taak,
# en met welk doel"); the holder's melding shows the category, never the optional note.
STANDARD_PURPOSES = (
    "triage: samenloop met ander ZVH",
    "aanmelding: al bekend bij eigen ZVH",
    "gezinssituatie: samenloop bij gezinsleden nagaan",
)
PURPOSE_CHARS = 80


@dataclass(frozen=True)
class SmtpConfig:
    """Where the web app sends "there is a melding" e-mails (never their content)."""

    host: str
    port: int = 25
    sender: str = "samenloop@localhost"
    starttls: bool = False
    username: str | None = None
    password_file: Path | None = None
    poll_seconds: float = 30.0


OIDC_ROLES = ("procesregisseur", "beheerder", "auditor", "privacy")  # = web.accounts.ROLES
OIDC_CLAIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class OidcConfig:
    """`[web.oidc]`: sign-in through the ZVH's own OpenID Connect provider (issue #14).

    Staff sign in where their organisation manages them (and where MFA is done); this node
    keeps an account per (issuer, sub) with the role the provider's claim gives it."""

    issuer: str
    client_id: str
    client_secret_file: Path
    display_name: str = "uw organisatie"  # the login button: "Inloggen via ..."
    scopes: tuple[str, ...] = ("openid", "profile")
    username_claim: str = "preferred_username"
    # A claim value "name@<username_domain>" gives the account name "name" (Entra ID's
    # preferred_username is the UPN); a value with another domain is refused.
    username_domain: str | None = None
    role_claim: str = "roles"
    roles: tuple[tuple[str, str], ...] = ()  # (claim value, our role)
    procesregisseur_claim: str = "procesregisseur_id"
    # MFA: the ID token's `acr` must be one of these (asked for with `acr_values`), and/or
    # its `amr` must hold one of `amr_values` (Entra ID: "mfa"). Empty: not checked here.
    acr_values: tuple[str, ...] = ()
    amr_values: tuple[str, ...] = ()
    end_session: bool = True  # RP-initiated logout when the provider offers it
    leeway_seconds: int = 60

    @property
    def client_secret(self) -> str:
        return self.client_secret_file.read_text(encoding="utf-8").strip()

    def role_for(self, value: str) -> str | None:
        return dict(self.roles).get(value)

    @classmethod
    def from_section(cls, oidc: Section) -> OidcConfig:
        # Exactly as the provider writes it in `iss` (Entra ID's v1.0 issuer ends in "/").
        issuer = oidc.str("issuer")
        host = re.match(r"^https?://([^/\s?#]+)", issuer)
        if host is None or not (issuer.startswith("https://")
                                or host.group(1).rsplit(":", 1)[0] in _LOOPBACK):
            raise ConfigError(oidc._field("issuer"), "must be an https:// URL (http:// only "
                                                     "on loopback, for tests)")
        if "?" in issuer or "#" in issuer:
            raise ConfigError(oidc._field("issuer"), "must not have a query or fragment")
        secret = oidc.secret_file("client_secret_file")
        if not secret.read_text(encoding="utf-8").strip():
            raise ConfigError(oidc._field("client_secret_file"), f"{secret} is empty")
        scopes = _texts(oidc, "scopes", ["openid", "profile"],
                        pattern=r"[\x21\x23-\x5b\x5d-\x7e]+")
        if "openid" not in scopes:
            raise ConfigError(oidc._field("scopes"), "must include \"openid\"")
        claims = {key: oidc.str(key, default) for key, default in (
            ("username_claim", "preferred_username"), ("role_claim", "roles"),
            ("procesregisseur_claim", "procesregisseur_id"))}
        for key, claim in claims.items():
            if not OIDC_CLAIM.match(claim):
                raise ConfigError(oidc._field(key), "must be a claim name")
        table = oidc.value("roles")
        if not isinstance(table, dict) or not table:
            raise ConfigError(oidc._field("roles"), "must be a table of \"claim value\" = "
                                                    "role, with at least one entry")
        roles = []
        for value, role in table.items():
            if role not in OIDC_ROLES:
                raise ConfigError(oidc._field(f"roles.{value}"),
                                  f"must be one of {', '.join(OIDC_ROLES)}")
            roles.append((str(value), role))
        return cls(
            issuer=issuer, client_id=oidc.str("client_id"), client_secret_file=secret,
            display_name=oidc.str("display_name", "uw organisatie")[:60],
            scopes=scopes, roles=tuple(roles), **claims,
            username_domain=_domain(oidc) if oidc.has("username_domain") else None,
            acr_values=_texts(oidc, "acr_values", []),
            amr_values=_texts(oidc, "amr_values", []),
            end_session=oidc.bool("end_session", True),
            leeway_seconds=oidc.int("leeway_seconds", 60, minimum=0, maximum=300))


def _domain(oidc: Section) -> str:
    domain = oidc.str("username_domain").lower().lstrip("@")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+",
                        domain):
        raise ConfigError(oidc._field("username_domain"), "must be a domain name")
    return domain


def _texts(section: Section, key: str, default: list[str],
           pattern: str = r"[\x21-\x7e]+") -> tuple[str, ...]:
    """A list of short printable ASCII texts (scopes, acr and amr values)."""
    values = section.value(key, default)
    if (not isinstance(values, list)
            or not all(isinstance(v, str) and 0 < len(v) <= 200 and re.fullmatch(pattern, v)
                       for v in values)):
        raise ConfigError(section._field(key), "must be a list of texts without spaces")
    return tuple(values)


@dataclass(frozen=True)
class WebConfig:
    """The `[web]` section: the procesregisseurs' web app and HTTP API of this node."""

    listen: str = "127.0.0.1:8100"
    public_url: str = "http://127.0.0.1:8100"
    session_idle_minutes: int = 30
    session_max_hours: int = 10
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    audit_monthly_threshold: int = 200
    smtp: SmtpConfig | None = None
    # Request bodies above these are refused (413) before they are read.
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024  # the import routes
    oidc: OidcConfig | None = None  # sign-in through the organisation's provider
    # A second factor (TOTP) for local accounts: always for beheerder, auditor and privacy;
    # for procesregisseurs unless this is false (the demo, to stay quick to try).
    totp_for_procesregisseur: bool = True
    # The beheer's address in the API document's contact (NL API Design Rules: name, URL and
    # e-mail); without it the contact has the name and the web app's URL only.
    api_contact_email: str | None = None

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies whenever users reach the app over https (e.g. behind a proxy)."""
        return self.public_url.startswith("https://")

    @classmethod
    def from_section(cls, web: Section) -> WebConfig:
        public_url = web.str("public_url") if web.has("public_url") else ""
        listen = web.endpoint("listen", "127.0.0.1:8100")
        if not public_url and web.has("oidc"):
            # The provider sends browsers back to this address; http://<listen> is
            # seldom one they can reach, and the mismatch would show only at sign-in.
            raise ConfigError(web._field("public_url"), "is required with [web.oidc]: "
                              "register <public_url>/inloggen/oidc/terug at the provider")
        if not public_url:
            public_url = f"http://{listen}"
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", public_url):
            raise ConfigError(web._field("public_url"), "must be an http:// or https:// URL")
        smtp = None
        if web.has("smtp"):
            mail = web.section("smtp")
            smtp = SmtpConfig(
                host=mail.str("host"), port=mail.int("port", 25, minimum=1),
                sender=mail.str("from", "samenloop@localhost"),
                starttls=mail.bool("starttls", False),
                username=mail.str("username") if mail.has("username") else None,
                password_file=mail.secret_file("password_file")
                if mail.has("password_file") else None,
                poll_seconds=mail.float("poll_seconds", 30.0))
        oidc = OidcConfig.from_section(web.section("oidc")) if web.has("oidc") else None
        return cls(
            listen=listen, public_url=public_url.rstrip("/"),
            session_idle_minutes=web.int("session_idle_minutes", 30, minimum=1),
            session_max_hours=web.int("session_max_hours", 10, minimum=1),
            login_max_failures=web.int("login_max_failures", 5, minimum=1),
            login_lockout_minutes=web.int("login_lockout_minutes", 15, minimum=1),
            audit_monthly_threshold=web.int("audit_monthly_threshold", 200, minimum=1),
            smtp=smtp,
            max_body_bytes=web.int("max_body_bytes", 64 * 1024, minimum=4096,
                                   maximum=64 * 1024 * 1024),
            max_upload_bytes=web.int("max_upload_bytes", 20 * 1024 * 1024, minimum=64 * 1024,
                                     maximum=1024 * 1024 * 1024),
            oidc=oidc,
            totp_for_procesregisseur=web.bool("totp_for_procesregisseur", True),
            api_contact_email=_optional_email(web, "api_contact_email"))


# A check holds the persons of one case ("gestandaardiseerde verrijking is niet
# toegestaan"): at most this many anywhere in the network; a node's own limit is
# `limits.max_subjects_per_check`, 10 by default.
MAX_SUBJECTS = 20


def _purposes(policy: Section) -> tuple[str, ...]:
    purposes = policy.value("purposes", list(STANDARD_PURPOSES))
    if (not isinstance(purposes, list) or not purposes
            or not all(isinstance(p, str) and 5 <= len(p.strip()) <= PURPOSE_CHARS
                       for p in purposes)):
        raise ConfigError(policy._field("purposes"),
                          f"must be a list of 5-{PURPOSE_CHARS} character texts")
    return tuple(p.strip() for p in purposes)


def _phase_names(section: Section) -> dict[str, str]:
    """The case system's own phase names onto ours (or "afschaling", which closes)."""
    from samenloop.node.model import AFSCHALING, PHASES

    table = section.value("phases", {})
    if not isinstance(table, dict):
        raise ConfigError(section._field("phases"), "must be a table of name = phase")
    names: dict[str, str] = {}
    for name, phase in table.items():
        if not isinstance(phase, str) or phase not in (*PHASES, AFSCHALING):
            raise ConfigError(section._field(f"phases.{name}"),
                              f"unknown phase; use one of {', '.join((*PHASES, AFSCHALING))}")
        names[str(name).strip().lower()] = phase
    return names


MAX_COORDINATOR_ADDRESSES = 16


def _coordinator_addresses(root: Section) -> tuple[str, ...]:
    """`coordinator`: one host:port (a Service or a name that resolves to every replica),
    or a list of the replicas' host:port, taken in turn."""
    value = root.value("coordinator")
    if not isinstance(value, list):
        return (root.endpoint("coordinator"),)
    if not 1 <= len(value) <= MAX_COORDINATOR_ADDRESSES:
        raise ConfigError("coordinator", f"a list must name 1 to {MAX_COORDINATOR_ADDRESSES} "
                                         f"replicas")
    addresses = []
    for item in value:
        if not isinstance(item, str):
            raise ConfigError("coordinator", "a list must hold host:port strings")
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("coordinator", f"{item!r} must be host:port")
        addresses.append(item.strip())
    if len(set(addresses)) != len(addresses):
        raise ConfigError("coordinator", "lists a replica twice")
    return tuple(addresses)


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    listen: str
    coordinator: str  # the first coordinator replica (or the one Service in front of them)
    data_dir: Path
    directory_verify_key: bytes
    tls: TlsFiles
    box_secret_key: bytes
    procesregisseurs: tuple[Procesregisseur, ...] = ()
    max_inactive_days: int = 183
    melding_retention_days: int = 90
    audit_retention_days: int = 1461  # four years
    # The region's covenant term within which the case file must be destroyed after the
    # case ended (Noord-Limburg: one year, Fryslân: three); reported, not enforced here.
    destroy_after_end_days: int = 365
    replay_window_seconds: int = 120
    coordinator_timeout_seconds: float = 10.0
    sweep_interval_seconds: int = 3600
    check_registration_grace_days: int = 14
    checks_per_user_per_hour: int = 30
    checks_per_user_per_day: int = 100
    max_subjects_per_check: int = 10
    # Whether a hit on an own case releases its procesregisseur's contact at once, or only
    # after assessment ("na_beoordeling"); a case may ask for assessment on its own.
    contact_release: str = "direct"
    purposes: tuple[str, ...] = STANDARD_PURPOSES
    phase_names: dict[str, str] = field(default_factory=dict)
    # The ZVH's contact point for the person's rights (privacy officer): other ZVHs' rights
    # requests that find the person here are answered with it.
    privacy_contact: Procesregisseur | None = None
    metrics_listen: str | None = None
    web: WebConfig | None = None  # None: this node serves no web app
    # Match-key input versions this node may use; it uses those the directory also lists.
    match_key_versions: tuple[int, ...] = identity.SUPPORTED_INPUT_VERSIONS
    # The other coordinator replicas, when node.toml lists several.
    more_coordinators: tuple[str, ...] = ()

    @property
    def coordinator_addresses(self) -> tuple[str, ...]:
        """Every coordinator address this node uses, in the order listed."""
        return (self.coordinator, *self.more_coordinators)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "registry.sqlite"

    @property
    def audit_key(self) -> bytes:
        """Signs the audit trail's checkpoint after pruning; derived from the box key, so
        there is no second key file to manage."""
        from samenloop.crypto.signature import derive_signing_key

        return derive_signing_key(self.box_secret_key, b"samenloop/v1/node-audit")

    @property
    def account_secrets_key(self) -> bytes:
        """Encrypts the web accounts' TOTP secrets in the store; derived from the box key
        like `audit_key`, so a copy of the database alone does not give them away."""
        from samenloop.crypto.at_rest import derive_key

        return derive_key(self.box_secret_key, b"samenloop/v1/node-account-secrets")

    @property
    def directory_cache(self) -> Path:
        return self.data_dir / "directory.pb"

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        root = Section.load(path)
        node_id = root.str("node_id")
        try:
            validate_node_id(node_id)
        except DirectoryError as exc:
            raise ConfigError("node_id", str(exc)) from None
        keys = root.section("keys")
        regisseurs = []
        for entry in root.sections("procesregisseurs"):
            regisseurs.append(validate_procesregisseur(
                entry.str("id"), entry.str("name"), entry.str("phone"), entry.str("email"),
                field=entry.name))
        retention = root.section("retention", required=False)
        limits = root.section("limits", required=False)
        policy = root.section("policy", required=False)
        importing = root.section("import", required=False)
        from samenloop.node.model import CONTACT_RELEASES

        privacy = root.section("privacy", required=False)
        privacy_contact = (validate_procesregisseur(
            "privacy", privacy.str("name"), privacy.str("phone"), privacy.str("email"),
            field="privacy") if root.has("privacy") else None)
        contact_release = policy.str("contact_release", "direct")
        if contact_release not in CONTACT_RELEASES:
            raise ConfigError("policy.contact_release",
                              f"must be one of {', '.join(CONTACT_RELEASES)}")
        coordinators = _coordinator_addresses(root)
        config = cls(
            node_id=node_id,
            listen=root.endpoint("listen"),
            coordinator=coordinators[0],
            more_coordinators=coordinators[1:],
            data_dir=root.path("data_dir", must_exist=False, default="data"),
            directory_verify_key=root.hex_bytes("directory_public_key", 32),
            tls=root.tls(),
            box_secret_key=read_key_file(keys.secret_file("box_secret_key"), 32,
                                         "keys.box_secret_key"),
            procesregisseurs=tuple(regisseurs),
            max_inactive_days=retention.int("max_inactive_days", 183, minimum=1),
            melding_retention_days=retention.int("melding_retention_days", 90, minimum=1),
            audit_retention_days=retention.int("audit_retention_days", 1461, minimum=1),
            destroy_after_end_days=retention.int("destroy_after_end_days", 365, minimum=1),
            replay_window_seconds=root.int("replay_window_seconds", 120, minimum=5),
            coordinator_timeout_seconds=root.float("coordinator_timeout_seconds", 10.0),
            sweep_interval_seconds=retention.int("sweep_interval_seconds", 3600, minimum=1),
            check_registration_grace_days=retention.int("check_registration_grace_days", 14,
                                                        minimum=0),
            checks_per_user_per_hour=limits.int("checks_per_user_per_hour", 30, minimum=1),
            checks_per_user_per_day=limits.int("checks_per_user_per_day", 100, minimum=1),
            max_subjects_per_check=limits.int("max_subjects_per_check", 10, minimum=1,
                                              maximum=MAX_SUBJECTS),
            contact_release=contact_release,
            purposes=_purposes(policy),
            phase_names=_phase_names(importing),
            privacy_contact=privacy_contact,
            metrics_listen=root.endpoint("metrics_listen") if root.has("metrics_listen") else None,
            web=WebConfig.from_section(root.section("web")) if root.has("web") else None,
            match_key_versions=_match_key_versions(root),
        )
        root.refuse_unknown()
        return config


def _match_key_versions(root: Section) -> tuple[int, ...]:
    """Defaults to every version this code can derive; a pinned list must be a subset."""
    if not root.has("match_key_versions"):
        return identity.SUPPORTED_INPUT_VERSIONS
    value = root.value("match_key_versions")
    try:
        versions = validate_match_key_versions(value if isinstance(value, list) else [value])
    except DirectoryError as exc:
        raise ConfigError("match_key_versions", str(exc)) from None
    unknown = [v for v in versions if v not in identity.SUPPORTED_INPUT_VERSIONS]
    if unknown:
        raise ConfigError("match_key_versions", f"version {unknown[0]} is not supported by "
                          f"this software (supported: "
                          f"{', '.join(map(str, identity.SUPPORTED_INPUT_VERSIONS))})")
    return versions
