"""Sign-in through the ZVH's own OpenID Connect provider (issue #14), `[web.oidc]`.

Authorization code flow with PKCE. Of the NL GOV Assurance profile for OAuth 2.0 / OpenID
Connect 1.0 we follow: confidential client, code flow only (no implicit or hybrid); PKCE
with S256 for every request; `state` and `nonce` random, one-time, bound to the browser
(a cookie of the flow) and expiring after ten minutes; `acr_values` asked for and the ID
token's `acr` checked against the configured values (the profile's way to require an
assurance level, here MFA); ID tokens signed with an asymmetric algorithm only (RS256,
PS256, ES256; never `none` or a shared-secret HMAC) and checked against the provider's
JWKS; `iss`, `aud` (and `azp` when there are several audiences), `exp`, `iat`, `nonce`
validated with a small clock leeway; discovery from `<issuer>/.well-known/openid-configuration`
whose `issuer` must equal the configured one; TLS to the provider (http only on loopback
for tests); RP-initiated logout with `id_token_hint` and `post_logout_redirect_uri`. Not
followed: the profile's `private_key_jwt` client authentication (we use the client secret
from a 0600 file, `client_secret_basic`, which every provider offers) and encrypted ID
tokens; no UserInfo call (the ID token's claims suffice).

The JOSE work is joserfc's (Authlib's successor for JOSE, by the same maintainer; Authlib
1.9 deprecates its own `authlib.jose` in favour of it), the OAuth 2 parameters Authlib's.
The provider's answers are bounded in size before they are parsed, and nothing of a token
reaches a log, the audit trail or the user: only the account name the node stores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from samenloop.node.config import OidcConfig
from samenloop.node.store import AuditRecord, NodeStore, User
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.security import SESSION_COOKIE, Viewer, context

log = logging.getLogger("samenloop.web.oidc")

router = APIRouter(include_in_schema=False)

START_PATH = "/inloggen/oidc"
CALLBACK_PATH = "/inloggen/oidc/terug"
# The flow's cookie is SameSite=Lax: the provider's redirect back is a cross-site
# navigation, on which the session cookie (Strict) is not sent.
FLOW_COOKIE = "samenloop_oidc"
FLOW_SECONDS = 600
MAX_FLOWS = 10_000
MAX_RESPONSE_BYTES = 256 * 1024  # discovery, JWKS and token responses
METADATA_SECONDS = 3600
ALGORITHMS = ("RS256", "PS256", "ES256")
HTTP_TIMEOUT = 10.0


class OidcRefused(Exception):
    """A refused sign-in: `reason` is audited (a fixed word), `message` shown in Dutch."""

    def __init__(self, reason: str, message: str, actor: str = "-") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.actor = actor


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    code_verifier: str
    expires: float


@dataclass(frozen=True)
class Provider:
    """The provider's discovery document, validated."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    fetched_at: float


@dataclass(frozen=True)
class Identity:
    """What a valid ID token says about the person signing in (never stored as such)."""

    subject: str
    username: str
    role: str
    procesregisseur_id: str | None
    id_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class OidcClient:
    """One per web app: the provider's metadata and keys (cached), the flows under way and
    the ID tokens of live sessions (for logout), all in memory."""

    def __init__(self, config: OidcConfig, public_url: str) -> None:
        self.config = config
        self.redirect_uri = public_url + CALLBACK_PATH
        self.post_logout_redirect_uri = public_url + "/inloggen"
        self._lock = threading.Lock()
        self._provider: Provider | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._flows: dict[str, Flow] = {}
        self._id_tokens: dict[str, tuple[float, str]] = {}

    # ------------------------------------------------------------ the provider

    def _get_json(self, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        method = "POST" if "data" in kwargs else "GET"
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http, \
                    http.stream(method, url, headers={"Accept": "application/json"},
                                **kwargs) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise OidcRefused("provider", self._unreachable())
                status = response.status_code
        except httpx.HTTPError as exc:
            log.warning("oidc: %s from the provider failed: %s", what, type(exc).__name__)
            raise OidcRefused("provider", self._unreachable()) from None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("oidc: %s from the provider is not a JSON object (HTTP %d)", what,
                        status)
            raise OidcRefused("provider", self._unreachable())
        if status != 200:
            # The token endpoint's error code is the protocol's word, never token content.
            error = data.get("error")
            error = error if isinstance(error, str) else "?"
            log.warning("oidc: %s refused by the provider: HTTP %d %s", what, status,
                        re.sub(r"[^a-z_]", "", error)[:40])
            raise OidcRefused("provider", f"{self.config.display_name} weigerde de inlogpoging."
                                          f" Probeer het opnieuw.")
        return data

    def _unreachable(self) -> str:
        return (f"{self.config.display_name} is nu niet bereikbaar. Probeer het later opnieuw "
                f"of log in met uw gebruikersnaam en wachtwoord.")

    def provider(self, now: float) -> Provider:
        """The discovery document, fetched at most once an hour (OIDC Discovery 1.0 §4)."""
        cached = self._provider
        if cached is not None and now - cached.fetched_at < METADATA_SECONDS:
            return cached
        data = self._get_json(self.config.issuer.rstrip("/")
                              + "/.well-known/openid-configuration", "discovery")
        if data.get("issuer") != self.config.issuer:
            log.warning("oidc: discovery names another issuer than [web.oidc] issuer")
            raise OidcRefused("provider", self._unreachable())
        urls: dict[str, str | None] = {}
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri",
                    "end_session_endpoint"):
            value = data.get(key)
            if value is None and key == "end_session_endpoint":
                urls[key] = None
                continue
            if not isinstance(value, str) or not self._acceptable_url(value):
                log.warning("oidc: discovery's %s is missing or not an https URL", key)
                raise OidcRefused("provider", self._unreachable())
            urls[key] = value
        methods = data.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            log.warning("oidc: the provider does not offer PKCE with S256")
            raise OidcRefused("provider", self._unreachable())
        provider = Provider(
            authorization_endpoint=str(urls["authorization_endpoint"]),
            token_endpoint=str(urls["token_endpoint"]), jwks_uri=str(urls["jwks_uri"]),
            end_session_endpoint=urls["end_session_endpoint"], fetched_at=now)
        self._provider = provider
        return provider

    def _acceptable_url(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return True
        return (parts.scheme == "http" and self.config.issuer.startswith("http://")
                and parts.hostname in ("127.0.0.1", "localhost", "::1"))

    def keys(self, now: float, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys; fetched again for a key id not seen yet (key
        rollover), at most once a minute."""
        cached = self._keys
        if cached is not None and (not refresh or now - cached[0] < 60) \
                and now - cached[0] < METADATA_SECONDS:
            return cached[1]
        data = self._get_json(self.provider(now).jwks_uri, "jwks")
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            log.warning("oidc: the provider's JWKS cannot be read")
            raise OidcRefused("provider", self._unreachable()) from None
        self._keys = (now, keys)
        return keys

    # ------------------------------------------------------------ the flow

    def begin(self, now: float) -> tuple[str, str]:
        """A new flow: the cookie's value and the provider's authorization URL."""
        provider = self.provider(now)
        flow = Flow(state=generate_token(43), nonce=generate_token(43),
                    code_verifier=generate_token(64), expires=now + FLOW_SECONDS)
        cookie = secrets.token_urlsafe(32)
        with self._lock:
            for key in [k for k, f in self._flows.items() if f.expires < now]:
                del self._flows[key]
            if len(self._flows) >= MAX_FLOWS:  # a flood of unfinished flows: oldest go
                for key in list(self._flows)[:len(self._flows) - MAX_FLOWS + 1]:
                    del self._flows[key]
            self._flows[_hash(cookie)] = flow
        extra: dict[str, str] = {"nonce": flow.nonce, "code_challenge_method": "S256",
                                 "code_challenge": create_s256_code_challenge(
                                     flow.code_verifier)}
        if self.config.acr_values:
            extra["acr_values"] = " ".join(self.config.acr_values)
        url = prepare_grant_uri(provider.authorization_endpoint, self.config.client_id,
                                "code", redirect_uri=self.redirect_uri,
                                scope=" ".join(self.config.scopes), state=flow.state, **extra)
        return cookie, url

    def take_flow(self, cookie: str | None, state: str | None, now: float) -> Flow:
        """The flow of this browser, once: a replayed or foreign `state` finds none."""
        refused = OidcRefused("state", "De inlogpoging is verlopen of al gebruikt. Probeer "
                                       "opnieuw in te loggen.")
        if not cookie or not state or len(cookie) > 100 or len(state) > 200:
            raise refused
        with self._lock:
            flow = self._flows.pop(_hash(cookie), None)
        if flow is None or flow.expires < now or not hmac.compare_digest(
                flow.state.encode(), state.encode()):
            raise refused
        return flow

    def finish(self, flow: Flow, code: str, now: float) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier) and validate the ID token: its
        claims, or OidcRefused naming what was wrong."""
        provider = self.provider(now)
        secret = self.config.client_secret
        # RFC 6749 §2.3.1: id and secret are form-encoded before Basic authentication.
        auth = (quote(self.config.client_id, safe=""), quote(secret, safe=""))
        data = self._get_json(provider.token_endpoint, "token", auth=auth, data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self.redirect_uri, "code_verifier": flow.code_verifier})
        id_token = data.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > 16 * 1024:
            raise self._invalid("token", "er kwam geen inlogbewijs mee")
        claims = self.validate(id_token, flow.nonce, now)
        claims["_id_token"] = id_token
        return claims

    def _invalid(self, reason: str, what: str) -> OidcRefused:
        return OidcRefused(reason, f"Het inlogbewijs van {self.config.display_name} is "
                                   f"geweigerd: {what}. Probeer opnieuw in te loggen; blijft "
                                   f"dit gebeuren, meld het dan aan de beheerder.")

    def validate(self, id_token: str, nonce: str, now: float) -> dict[str, Any]:
        """OIDC Core §3.1.3.7 on a compact JWS, and the assurance (MFA) this node asks."""
        try:
            try:
                token = jwt.decode(id_token, self.keys(now), algorithms=list(ALGORITHMS))
            except InvalidKeyIdError:
                # An unknown key id: the provider may have rolled its keys over.
                token = jwt.decode(id_token, self.keys(now, refresh=True),
                                   algorithms=list(ALGORITHMS))
        except BadSignatureError:
            raise self._invalid("signature", "de handtekening klopt niet") from None
        except (JoseError, ValueError, TypeError):
            raise self._invalid("signature", "het is geen geldig ondertekend token") from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            now=int(now), leeway=self.config.leeway_seconds,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise self._invalid("expired", "het is verlopen") from None
        except (MissingClaimError, InvalidClaimError) as exc:
            claim = getattr(exc, "claim", "")
            raise self._invalid(*{
                "iss": ("issuer", "het komt niet van de ingestelde uitgever"),
                "aud": ("audience", "het is niet voor deze applicatie bestemd"),
                "nonce": ("nonce", "het hoort niet bij deze inlogpoging"),
                "iat": ("expired", "het tijdstip van uitgifte klopt niet"),
            }.get(claim, ("claims", "het mist een verplicht gegeven"))) from None
        except JoseError:
            raise self._invalid("claims", "het mist een verplicht gegeven") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise self._invalid("audience", "het is niet voor deze applicatie bestemd")
        if not isinstance(claims.get("iat"), int | float) \
                or claims["iat"] < now - FLOW_SECONDS - self.config.leeway_seconds:
            raise self._invalid("expired", "het is te oud")
        self._check_assurance(claims)
        return claims

    def _check_assurance(self, claims: dict[str, Any]) -> None:
        """MFA: `acr` one of acr_values (NL GOV), and/or one of amr_values in `amr`."""
        refused = OidcRefused("mfa", f"{self.config.display_name} heeft niet bevestigd dat u "
                                     f"met een tweede factor (MFA) bent ingelogd. Log daar in "
                                     f"met uw tweede factor en probeer het opnieuw.")
        if self.config.acr_values and claims.get("acr") not in self.config.acr_values:
            raise refused
        if self.config.amr_values:
            amr = claims.get("amr")
            if not isinstance(amr, list) or not set(self.config.amr_values) & {
                    a for a in amr if isinstance(a, str)}:
                raise refused

    # ------------------------------------------------------------ sessions and logout

    def remember(self, session_hash: str, id_token: str, until: float, now: float) -> None:
        with self._lock:
            for key in [k for k, (u, _) in self._id_tokens.items() if u < now]:
                del self._id_tokens[key]
            if len(self._id_tokens) < MAX_FLOWS:
                self._id_tokens[session_hash] = (until, id_token)

    def logout_url(self, session_hash: str, now: float) -> str | None:
        """The provider's end-session URL for this session (OIDC RP-Initiated Logout 1.0),
        or None when the provider or the configuration offers none."""
        with self._lock:
            kept = self._id_tokens.pop(session_hash, None)
        if not self.config.end_session:
            return None
        try:
            endpoint = self.provider(now).end_session_endpoint
        except OidcRefused:
            return None
        if endpoint is None:
            return None
        params = {"client_id": self.config.client_id,
                  "post_logout_redirect_uri": self.post_logout_redirect_uri}
        if kept is not None and kept[0] >= now:
            params["id_token_hint"] = kept[1]
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


# ------------------------------------------------------------------ accounts


def identity(config: OidcConfig, store: NodeStore, claims: dict[str, Any]) -> Identity:
    """Who signs in and with which role, from the claims; OidcRefused when they do not
    give this node an account name and exactly one role."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise OidcRefused("claims", f"Het inlogbewijs van {config.display_name} mist een "
                                    f"gebruikers-id.")
    name = claims.get(config.username_claim)
    username = name.strip().lower() if isinstance(name, str) else ""
    if config.username_domain is not None:
        local, at, domain = username.rpartition("@")
        username = local if at and domain == config.username_domain else ""
    if not accounts.USERNAME.match(username):
        raise OidcRefused("username", f"{config.display_name} gaf geen bruikbare "
                                      f"gebruikersnaam mee (claim {config.username_claim}). "
                                      f"Vraag de beheerder om hulp.")
    values = claims.get(config.role_claim)
    values = [values] if isinstance(values, str) else values if isinstance(values, list) else []
    roles = {config.role_for(v) for v in values if isinstance(v, str)} - {None}
    if len(roles) != 1:
        raise OidcRefused("role", (f"Uw account bij {config.display_name} heeft geen rol voor "
                                   f"Samenloop. Vraag uw beheerder om u een rol te geven."
                                   if not roles else
                                   f"Uw account bij {config.display_name} heeft meer dan één "
                                   f"rol voor Samenloop; vraag uw beheerder om er één te "
                                   f"kiezen."), actor=username)
    role = str(roles.pop())
    regisseur = None
    if role == "procesregisseur":
        value = claims.get(config.procesregisseur_claim)
        regisseur = value.strip() if isinstance(value, str) else None
        if not regisseur or len(regisseur) > 64 or store.procesregisseur(regisseur) is None:
            raise OidcRefused("procesregisseur",
                              f"Uw account bij {config.display_name} hoort niet bij een "
                              f"procesregisseur van dit Zorg- en Veiligheidshuis. Vraag de "
                              f"beheerder om hulp.", actor=username)
    return Identity(subject, username, role, regisseur, str(claims.get("_id_token", "")))


def sign_in(config: OidcConfig, store: NodeStore, who: Identity, *, now: float) -> User:
    """The account of (issuer, sub), provisioned at the first sign-in, with the role the
    claim gives today; a locally disabled account stays out. Audited like a local login."""
    username = store.oidc_account(config.issuer, who.subject)
    if username is None:
        if not store.add_oidc_user(who.username, who.role, who.procesregisseur_id,
                                   config.issuer, who.subject, now=now, audit=AuditRecord(
                                       "user_add", "oidc", {
                                           "user": who.username, "role": who.role,
                                           "procesregisseur_id": who.procesregisseur_id,
                                           "via": "oidc"})):
            raise OidcRefused("name_taken", f"De gebruikersnaam {who.username} bestaat in "
                                            f"Samenloop al als ander account. Vraag de "
                                            f"beheerder om hulp.", actor=who.username)
        username = who.username
    user = store.user(username)
    if user is None or user.disabled:
        raise OidcRefused("disabled", "Uw account is in Samenloop uitgeschakeld. Vraag de "
                                      "beheerder om hulp.", actor=username)
    if (user.role, user.procesregisseur_id) != (who.role, who.procesregisseur_id):
        store.set_user_role(username, who.role, who.procesregisseur_id, now=now,
                            audit=AuditRecord("user_role", "oidc", {
                                "user": username, "role": who.role,
                                "procesregisseur_id": who.procesregisseur_id}))
    store.append_audit("login", username, {"via": "oidc"}, now)
    signed_in = store.user(username)
    assert signed_in is not None
    return signed_in


# ------------------------------------------------------------------ routes


_clients_lock = threading.Lock()


def client_of(request: Request) -> OidcClient | None:
    """The app's OIDC client, made at first use; None when `[web.oidc]` is not set."""
    ctx = context(request)
    if ctx.web.oidc is None:
        return None
    with _clients_lock:
        client: OidcClient | None = getattr(request.app.state, "oidc", None)
        if client is None or client.config is not ctx.web.oidc:
            client = OidcClient(ctx.web.oidc, ctx.web.public_url)
            request.app.state.oidc = client
    return client


def _refused_page(request: Request, ctx: NodeContext, exc: OidcRefused,
                  status: int) -> Response:
    """The login page with the Dutch reason, in a fresh anonymous session (the session
    cookie does not come along on the provider's cross-site redirect)."""
    from samenloop.node.web import pages

    # Only a name the node already stores as an account; anything else stays "-".
    actor = exc.actor if exc.actor != "-" and ctx.store.user(exc.actor) else "-"
    ctx.store.append_audit("login_failed", actor, {"via": "oidc", "reason": exc.reason},
                           ctx.clock())
    new = accounts.start_session(ctx.store, ctx.web, None, now=ctx.clock())
    response = pages.templates.TemplateResponse(request, "login.html", {
        "viewer": None, "csrf": new.session.csrf_token, "zvh": pages._zvh_name(ctx),
        "error": exc.message}, status_code=status)
    pages._set_session_cookie(response, ctx, new.token)
    response.delete_cookie(FLOW_COOKIE, path=START_PATH)
    return response


@router.get(START_PATH)
def start(request: Request) -> Response:
    """"Inloggen via <organisatie>": to the provider's authorization endpoint."""
    ctx = context(request)
    client = client_of(request)
    if client is None:
        raise HTTPException(404)
    try:
        cookie, url = client.begin(ctx.clock())
    except OidcRefused as exc:
        return _refused_page(request, ctx, exc, 503)
    response = RedirectResponse(url, 303)
    response.set_cookie(FLOW_COOKIE, cookie, max_age=FLOW_SECONDS, path=START_PATH,
                        httponly=True, samesite="lax", secure=ctx.web.secure_cookies)
    return response


@router.get(CALLBACK_PATH)
def callback(request: Request, state: str | None = None, code: str | None = None,
             error: str | None = None) -> Response:
    """The provider's redirect back: the flow of this browser, once; the code for tokens;
    the ID token checked; the account found or provisioned; a new session."""
    ctx = context(request)
    client = client_of(request)
    if client is None:
        raise HTTPException(404)
    now = ctx.clock()
    try:
        flow = client.take_flow(request.cookies.get(FLOW_COOKIE), state, now)
        if error is not None or not code or len(code) > 2048:
            raise OidcRefused("provider_error", f"Inloggen via {client.config.display_name} "
                                                f"is niet gelukt of afgebroken. Probeer het "
                                                f"opnieuw.")
        claims = client.finish(flow, code, now)
        who = identity(client.config, ctx.store, claims)
        user = sign_in(client.config, ctx.store, who, now=now)
    except OidcRefused as exc:
        return _refused_page(request, ctx, exc, 401)
    earlier = request.cookies.get(SESSION_COOKIE)  # only on a same-site return
    if earlier:  # a new session at sign-in, as at the local login: no session fixation
        ctx.store.end_session(accounts.token_hash(earlier))
        ctx.pending.drop(accounts.token_hash(earlier))
    new = accounts.start_session(ctx.store, ctx.web, user.username, now=now)
    client.remember(new.session.token_hash, who.id_token,
                    now + ctx.web.session_max_hours * 3600, now)
    return _signed_in_page(request, ctx, user, new.token)


def _signed_in_page(request: Request, ctx: NodeContext, user: User, token: str) -> Response:
    """A page that sends the browser on to the role's home. Not a redirect: after the
    provider's cross-site redirect the browser would not send the new (SameSite=Strict)
    session cookie along a redirect chain; a navigation from our own page does."""
    from samenloop.node.web import pages

    response = pages.templates.TemplateResponse(request, "oidc_doorsturen.html", {
        "target": pages.HOME[user.role], "zvh": pages._zvh_name(ctx),
        "title": "U bent ingelogd"})
    pages._set_session_cookie(response, ctx, token)
    response.delete_cookie(FLOW_COOKIE, path=START_PATH)
    return response


def logout_page(request: Request, viewer: Viewer) -> Response | None:
    """After the local session ended: for an account of the provider, a page that sends
    the browser to the provider's end-session endpoint (the logout form's CSP allows a
    form to go to 'self' only, so a redirect there would be blocked); otherwise None."""
    client = client_of(request)
    if client is None or not context(request).store.is_oidc_account(viewer.username):
        return None
    url = client.logout_url(viewer.session.token_hash, context(request).clock())
    if url is None:
        return None
    from samenloop.node.web import pages

    response: HTMLResponse = pages.templates.TemplateResponse(
        request, "oidc_doorsturen.html", {
            "target": url, "zvh": pages._zvh_name(context(request)),
            "title": f"Uitloggen bij {client.config.display_name}"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
