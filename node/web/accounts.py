"""Web accounts: argon2 passwords, server-side sessions, API tokens, lock-out.

Tokens handed to a browser or API client are random; the store keeps only their SHA-256,
so a copy of the SQLite file does not let anyone log in. Every change is audited, never
with a password, token or identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from samenloop.node.config import WebConfig
from samenloop.node.store import AuditRecord, NodeStore, Session, User

# privacy: the functionaris/privacy-adviseur (rights requests, incidents); the auditor
# stays read-only oversight.
ROLES = ("procesregisseur", "beheerder", "auditor", "privacy")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12

_hasher = PasswordHasher()
# Verifying against this for unknown usernames makes their refusal take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# Failed logins for names without an account are counted under a keyed hash, so whatever
# was typed as a username is not stored; the key lives only in this process.
_UNKNOWN_KEY = secrets.token_bytes(32)
# At most this many argon2 computations at once: a burst of logins queues here instead of
# taking every worker thread and core (each takes ~50 ms and 64 MiB).
_HASHING = threading.BoundedSemaphore(2)


def _hash(password: str) -> str:
    with _HASHING:
        return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    with _HASHING:
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class AccountError(ValueError):
    """A refused account change; `field` and a Dutch message for the beheerder."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LoginRefused(Exception):
    """Wrong name or password, a disabled account, or a lock-out; one Dutch message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class NewSession:
    token: str   # for the cookie only; the store keeps its hash
    session: Session


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_password() -> str:
    """A temporary password a beheerder passes on; the user is told to keep it secret."""
    return secrets.token_urlsafe(12)


def add_user(store: NodeStore, username: str, role: str, procesregisseur_id: str | None,
             password: str, *, by: str, now: float, must_change: bool | None = None) -> User:
    """A new account. A password someone else set (a beheerder, or the operator) must be
    changed at the first login, unless `must_change=False` says the password is the
    user's own already (the demo's accounts, whose password it prints)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("gebruikersnaam", "gebruik 2-64 kleine letters, cijfers, '.', '_' "
                                              "of '-'")
    if role not in ROLES:
        raise AccountError("rol", "kies procesregisseur, beheerder, auditor of privacy")
    procesregisseur_id = (procesregisseur_id or "").strip() or None
    if role == "procesregisseur":
        if procesregisseur_id is None or store.procesregisseur(procesregisseur_id) is None:
            raise AccountError("procesregisseur", "kies een bekende procesregisseur")
    else:
        procesregisseur_id = None
    if len(password) < MIN_PASSWORD:
        raise AccountError("wachtwoord", f"het wachtwoord moet ten minste {MIN_PASSWORD} "
                                         f"tekens hebben")
    if must_change is None:
        must_change = by != username
    if not store.add_user(username, role, procesregisseur_id, _hash(password), now,
                          must_change_password=must_change):
        raise AccountError("gebruikersnaam", "deze gebruikersnaam bestaat al")
    store.append_audit("user_add", by, {"user": username, "role": role,
                                        "procesregisseur_id": procesregisseur_id,
                                        "must_change_password": must_change}, now)
    user = store.user(username)
    assert user is not None
    return user


def set_disabled(store: NodeStore, username: str, disabled: bool, *, by: str,
                 now: float) -> None:
    if not store.set_user_disabled(username, disabled):
        raise AccountError("gebruikersnaam", "onbekende gebruiker")
    store.append_audit("user_disable" if disabled else "user_enable", by,
                       {"user": username}, now)


def reset_password(store: NodeStore, username: str, password: str, *, by: str,
                   now: float) -> None:
    if store.is_oidc_account(username):
        raise AccountError("gebruikersnaam", "dit account logt in via de identity provider "
                                             "van de organisatie en heeft hier geen wachtwoord")
    if len(password) < MIN_PASSWORD:
        raise AccountError("wachtwoord", f"het wachtwoord moet ten minste {MIN_PASSWORD} "
                                         f"tekens hebben")
    if not store.set_password_hash(username, _hash(password),
                                   must_change_password=by != username):
        raise AccountError("gebruikersnaam", "onbekende gebruiker")
    store.append_audit("user_reset", by, {"user": username}, now)


def change_password(store: NodeStore, web: WebConfig, user: User, current: str, new: str,
                    repeated: str, *, keep_session: str, now: float) -> None:
    """The logged-in user's own new password; every problem at once as AccountErrors.

    The current password is asked for, so a session left open cannot take the account
    over; the user's other sessions end, the one that changed it stays, and so do the
    user's API tokens (made by the user, revoked on "Mijn API-tokens"). A wrong current
    password counts as a failed login: a session cannot be used to guess it."""
    if store.is_oidc_account(user.username):
        raise PasswordRefused([AccountError(
            "huidig", "u logt in via uw organisatie; uw wachtwoord wijzigt u daar")])
    problems: list[AccountError] = []
    window = web.login_lockout_minutes * 60
    if store.login_failures(user.username, now - window) >= web.login_max_failures:
        store.append_audit("login_locked", user.username, {}, now)
        raise PasswordRefused([AccountError(
            "huidig", f"te veel mislukte pogingen; probeer het over "
                      f"{web.login_lockout_minutes} minuten opnieuw")])
    if not _verify(user.password_hash, current):
        problems.append(AccountError("huidig", "het huidige wachtwoord klopt niet"))
        store.add_login_failure(user.username, now, now - window)
    if len(new) < MIN_PASSWORD:
        problems.append(AccountError("nieuw", f"het nieuwe wachtwoord moet ten minste "
                                              f"{MIN_PASSWORD} tekens hebben"))
    elif new == current:
        problems.append(AccountError("nieuw", "kies een ander wachtwoord dan het huidige"))
    if new != repeated:
        problems.append(AccountError("herhaald", "de twee nieuwe wachtwoorden zijn niet "
                                                 "gelijk"))
    if problems:
        store.append_audit("password_change_refused", user.username,
                           {"fields": [p.field for p in problems]}, now)
        raise PasswordRefused(problems)
    store.change_own_password(user.username, _hash(new), keep_session, now=now,
                              audit=AuditRecord("password_change", user.username, {}))
    store.clear_login_failures(user.username)


class PasswordRefused(Exception):
    """An own password change refused; every problem, each with its field."""

    def __init__(self, problems: list[AccountError]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def create_api_token(store: NodeStore, username: str, *, by: str, now: float) -> str:
    """A bearer token for the HTTP API, shown once; only its hash is kept.

    Made only by its owner (the web page "Mijn API-tokens" makes one for the logged-in
    user) or by the node operator (`samenloop node user token`, audited as "operator"):
    a beheerder cannot make one for someone else and act as them."""
    user = store.user(username)
    if user is None or user.disabled:
        raise AccountError("gebruikersnaam", "onbekende of uitgeschakelde gebruiker")
    token = "sl_" + secrets.token_urlsafe(32)
    store.add_api_token(token_hash(token), username, now)
    store.append_audit("token_add", by, {"user": username}, now)
    return token


def revoke_api_tokens(store: NodeStore, username: str, *, by: str, now: float) -> int:
    """Revoke every API token of `username` (its owner, or a beheerder); audited."""
    if store.user(username) is None:
        raise AccountError("gebruikersnaam", "onbekende gebruiker")
    revoked = store.revoke_api_tokens(username)
    store.append_audit("token_revoke", by, {"user": username, "tokens": revoked}, now)
    return revoked


def api_user(store: NodeStore, token: str) -> User | None:
    user = store.api_token_user(token_hash(token))
    return user if user is not None and not user.disabled else None


def _failure_key(username: str, known: User | None) -> str:
    if known is not None:
        return known.username
    return "?" + hmac.new(_UNKNOWN_KEY, username.encode("utf-8"), "sha256").hexdigest()[:32]


def login(store: NodeStore, web: WebConfig, username: str, password: str, *,
          now: float) -> User:
    """The user, or LoginRefused; failures and lock-outs are counted and audited.

    A name without an account gets the same answer in the same time as one with an
    account: its failures are counted and lock it out alike, and every attempt, locked or
    not, verifies a password hash (the account's or a dummy) before it is answered."""
    username = username.strip().lower()
    window = web.login_lockout_minutes * 60
    known = store.user(username) if USERNAME.match(username) else None
    actor = known.username if known else "-"
    key = _failure_key(username, known)
    locked = store.login_failures(key, now - window) >= web.login_max_failures
    ok = _verify(known.password_hash if known else _DUMMY_HASH, password)
    if locked:
        store.append_audit("login_locked", actor, {}, now)
        raise LoginRefused(f"Te veel mislukte pogingen. Het account is {web.login_lockout_minutes}"
                           f" minuten geblokkeerd; probeer het daarna opnieuw of vraag de "
                           f"beheerder om hulp.")
    if not ok or known is None or known.disabled:
        failures = store.add_login_failure(key, now, now - window)
        store.append_audit("login_failed", actor, {"known_user": known is not None}, now)
        if failures >= web.login_max_failures:
            store.append_audit("lockout", actor, {"failures": failures}, now)
        raise LoginRefused("Gebruikersnaam of wachtwoord klopt niet, of het account is "
                           "uitgeschakeld.")
    store.clear_login_failures(username)
    store.append_audit("login", known.username, {}, now)
    return known


def start_session(store: NodeStore, web: WebConfig, username: str | None, *,
                  now: float) -> NewSession:
    token = secrets.token_urlsafe(32)
    hashed = token_hash(token)
    store.add_session(hashed, username, secrets.token_urlsafe(32), now,
                      forget_seen_before=now - web.session_idle_minutes * 60)
    session = store.session(hashed)
    assert session is not None
    return NewSession(token, session)


def current_session(store: NodeStore, web: WebConfig, token: str | None, *,
                    now: float) -> Session | None:
    """The live session for a cookie, or None when unknown, idle too long or too old."""
    if not token:
        return None
    hashed = token_hash(token)
    session = store.session(hashed)
    if session is None:
        return None
    if (now - session.seen_at > web.session_idle_minutes * 60
            or now - session.created_at > web.session_max_hours * 3600):
        store.end_session(hashed)
        return None
    store.touch_session(hashed, now)
    return session


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return bool(session and submitted
                and hmac.compare_digest(session.csrf_token.encode(), submitted.encode()))
