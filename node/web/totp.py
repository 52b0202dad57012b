"""A second factor for local accounts: TOTP (RFC 6238, `pyotp`) and recovery codes.

BIO2 (5.17.01) asks for MFA for administrators and for accounts reachable from the
internet: beheerder, auditor and privacy accounts always need it, procesregisseurs unless
`[web] totp_for_procesregisseur = false`. After the password, the login page's session
(still without a user) carries only "password accepted for NAME" in memory; the user's
session starts after the code, so no page can be reached with the password alone.

The TOTP secret is sealed in the store with a key derived from the node's box key (never
plain); a code is accepted once (its time step is remembered), one step of clock skew
either way. Recovery codes are shown once and kept only as argon2 hashes; each works once.
Wrong codes count towards a lock-out like wrong passwords. Nothing here is logged or
audited with a code or secret.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp
import segno

from samenloop.crypto.at_rest import AtRestError, seal, unseal
from samenloop.node.config import WebConfig
from samenloop.node.store import AuditRecord, NodeStore, User
from samenloop.node.web.accounts import AccountError, _hash, _verify

ALWAYS_REQUIRED = ("beheerder", "auditor", "privacy")
PENDING = "tweede-stap"   # PendingStore kind: the login waiting for its second step
ISSUER = "Samenloop"
SKEW_STEPS = 1            # codes of the previous and the next 30-second step count too
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
RECOVERY_LENGTH = 12      # about 59 bits each
MAX_ANSWER = 64           # longer answers are refused before any work
_CODE = re.compile(r"^[0-9]{6}$")


class SecondStepRefused(Exception):
    """A wrong, replayed or malformed code, or a lock-out; one Dutch message for the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret for manual entry and its QR code."""

    secret: str
    uri: str
    qr_svg: str


def required(web: WebConfig, user: User) -> bool:
    return user.role in ALWAYS_REQUIRED or (user.role == "procesregisseur"
                                            and web.totp_for_procesregisseur)


def next_step(store: NodeStore, web: WebConfig, user: User) -> str | None:
    """After the password: "code" (enrolled), "instellen" (required, not yet) or None."""
    if store.second_factor(user.username) is not None:
        return "code"  # once set up, always asked for, whatever the role requires
    return "instellen" if required(web, user) else None


def new_secret() -> str:
    return pyotp.random_base32()


def enrolment(secret: str, username: str, zvh: str) -> Enrolment:
    """The otpauth URI as a QR code drawn here (inline SVG: no external service, no data:
    image the CSP would refuse), and the secret in groups of four for typing."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=f"{ISSUER} {zvh}")
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff",
        title="QR-code om in uw authenticator-app te scannen")
    svg = svg.replace("<svg ", '<svg role="img" ', 1)
    return Enrolment(" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), uri, svg)


def enrol(store: NodeStore, web: WebConfig, key: bytes, username: str, secret: str,
          code: str, *, now: float) -> list[str]:
    """Confirm the new secret with one code; store it sealed with fresh recovery codes
    (hashed) and return those codes, to be shown once."""
    _refuse_if_locked(store, web, username, now)
    step = _matching_step(secret, _normalised(code), now)
    if step is None:
        _failed(store, web, username, now, "enrol")
        raise SecondStepRefused("De code klopt niet. Controleer of de tijd op uw telefoon "
                                "goed staat en typ de code die de app nu toont.")
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    sealed = seal(key, secret.encode("ascii"), username.encode("utf-8"))
    if not store.enrol_second_factor(
            username, sealed, step, [_hash(_compact(c)) for c in codes], now=now,
            audit=AuditRecord("second_factor_enrol", username,
                              {"method": "totp", "recovery_codes": RECOVERY_CODES})):
        raise SecondStepRefused("Voor dit account is al een tweede factor ingesteld. Log "
                                "opnieuw in en gebruik die.")
    store.clear_login_failures(_failure_key(username))
    return codes


def verify(store: NodeStore, web: WebConfig, key: bytes, username: str, answer: str, *,
           now: float) -> str:
    """Accept a current TOTP code (once) or an unused recovery code (used up); which one
    was used ("totp" or "herstelcode"), or SecondStepRefused. Audited with the login."""
    _refuse_if_locked(store, web, username, now)
    factor = store.second_factor(username)
    if factor is None:
        raise SecondStepRefused("Voor dit account is geen tweede factor ingesteld. Log "
                                "opnieuw in.")
    answer = _normalised(answer)
    if _CODE.match(answer):
        try:
            secret = unseal(key, factor.sealed_secret, username.encode("utf-8")).decode()
        except AtRestError:
            raise SecondStepRefused("De tweede factor van dit account kan niet worden "
                                    "gelezen. Vraag de beheerder om hem opnieuw in te "
                                    "stellen.") from None
        step = _matching_step(secret, answer, now)
        if step is not None and step <= factor.last_step:
            _failed(store, web, username, now, "replay")
            raise SecondStepRefused("Deze code is al gebruikt. Wacht tot de app een nieuwe "
                                    "code toont en typ die.")
        if step is not None and store.use_totp_step(
                username, step, now=now,
                audit=AuditRecord("login_second_factor", username, {"method": "totp"})):
            store.clear_login_failures(_failure_key(username))
            return "totp"
    elif len(_compact(answer)) == RECOVERY_LENGTH:
        used = _use_recovery_code(store, username, _compact(answer), now)
        if used:
            return "herstelcode"
    _failed(store, web, username, now, "wrong")
    raise SecondStepRefused("De code klopt niet. Typ de 6 cijfers die uw authenticator-app "
                            "nu toont, of een herstelcode.")


def reset(store: NodeStore, username: str, *, by: str, now: float) -> None:
    """Remove an account's second factor (a lost phone): the next login sets it up anew
    where it is required. Ends the account's sessions; audited."""
    if not store.reset_second_factor(username, now=now, audit=AuditRecord(
            "second_factor_reset", by, {"user": username})):
        raise AccountError("gebruikersnaam", "onbekende gebruiker")


def _use_recovery_code(store: NodeStore, username: str, code: str, now: float) -> bool:
    codes = store.recovery_codes(username)
    for code_id, code_hash in codes:
        if _verify(code_hash, code):
            return store.use_recovery_code(code_id, now=now, audit=AuditRecord(
                "login_second_factor", username,
                {"method": "herstelcode", "recovery_codes_left": len(codes) - 1}))
    return False


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code `code` is, within the allowed skew; None if none is."""
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    at = int(now)
    current = totp.timecode(dt.datetime.fromtimestamp(at, dt.UTC))
    for offset in range(-SKEW_STEPS, SKEW_STEPS + 1):
        if hmac.compare_digest(totp.at(at, counter_offset=offset), code):
            return current + offset
    return None


def _normalised(answer: str) -> str:
    return "" if len(answer) > MAX_ANSWER else "".join(answer.split()).lower()


def _compact(code: str) -> str:
    return code.replace("-", "").lower()


def _new_recovery_code() -> str:
    code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(code[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def _failure_key(username: str) -> str:
    """Wrong codes are counted apart from wrong passwords: a correct password clears the
    latter, and must not give a code-guesser a fresh set of tries."""
    return "2fa:" + username


def _refuse_if_locked(store: NodeStore, web: WebConfig, username: str, now: float) -> None:
    window = web.login_lockout_minutes * 60
    if store.login_failures(_failure_key(username), now - window) >= web.login_max_failures:
        store.append_audit("login_locked", username, {"step": "second_factor"}, now)
        raise SecondStepRefused(f"Te veel onjuiste codes. Het account is "
                                f"{web.login_lockout_minutes} minuten geblokkeerd; probeer "
                                f"het daarna opnieuw of vraag de beheerder om hulp.")


def _failed(store: NodeStore, web: WebConfig, username: str, now: float, why: str) -> None:
    window = web.login_lockout_minutes * 60
    failures = store.add_login_failure(_failure_key(username), now, now - window)
    store.append_audit("login_second_factor_failed", username, {"reason": why}, now)
    if failures >= web.login_max_failures:
        store.append_audit("lockout", username, {"failures": failures,
                                                 "step": "second_factor"}, now)
