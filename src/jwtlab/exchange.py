"""OAuth 2.0 Token Exchange (RFC 8693): a small security token service (STS) and the caller's cache.

Why exchange instead of passing the user's token along: a token whose `aud` lists every service can be
replayed at every service, by every service that ever saw it. Exchanging gives each hop a token for the
next service only, never with more scope than the token it started from, never living longer, and
with `act` recording who acted for the user.

Three layers, so the rules can be tested without HTTP and the endpoint mounted anywhere:
- `exchange_claims(...)`: the pure rules — verified subject claims + request → the new token's claims,
  or an `ExchangeError` carrying the RFC 6749 error code.
- `SecurityTokenService`: client authentication (`client_secret_basic`, `private_key_jwt` or
  `tls_client_auth`), subject token verification with `verify_token`, signing with the STS's Ed25519
  demo key, and certificate-bound tokens (RFC 8705) for callers that come over mTLS.
- `sts_router(...)` / `create_sts_app(...)`: `POST /token`, `GET /jwks.json` and the RFC 8414 metadata,
  as a FastAPI router the identity provider can include, or a standalone app.

`ExchangedTokenCache` is the caller's side: one exchange per (subject `jti`, target, scope) until
shortly before the exchanged token expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import httpx
import jwt
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from . import keys as demo_keys
from . import pki
from .client_auth import (
    CLIENT_ASSERTION_TYPE,
    ClientAssertionVerifier,
    ClientAuthError,
    build_client_assertion,
)
from .clock import Clock
from .keys import JWK, DemoKey
from .mtls import bind_to_certificate, peer_certificate
from .verify import TokenRejected, verify_token

__all__ = [
    "TOKEN_EXCHANGE_GRANT", "ACCESS_TOKEN_TYPE", "JWT_TOKEN_TYPE", "Client", "TargetService", "ExchangeError",
    "ExchangeRequest", "issued_scope", "actor_chain", "exchange_claims", "SecurityTokenService", "sts_router", "create_sts_app",
    "ExchangedTokenCache", "http_exchanger", "parse_form", "MAX_ACT_DEPTH", "MAX_FORM_BYTES",
]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
#: The STS accepts only signed access tokens as subject tokens and issues only access tokens.
_SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)
#: Parameters RFC 8693 lets a client repeat; every other one must appear at most once (RFC 6749 §3.2).
_REPEATABLE = ("audience", "resource")
#: The longest delegation chain the STS extends (hops through services, not people: a handful at most).
MAX_ACT_DEPTH = 8
#: A token request larger than this is refused before parsing (a few tokens and names fit easily).
MAX_FORM_BYTES = 16_384


@dataclass(frozen=True)
class Client:
    """A registered confidential client: `secret` (client_secret_basic), `jwk` (private_key_jwt) or
    `spiffe_id` (tls_client_auth, RFC 8705 §2.1: the verified mTLS certificate must carry this URI SAN).

    A client with neither is public and may not exchange tokens: RFC 8693 leaves it open, the course
    closes it, because an exchange by an unauthenticated caller is a token-laundering service.
    """

    client_id: str
    secret: str | None = field(default=None, repr=False)
    jwk: JWK | None = None
    spiffe_id: str | None = None

    def __post_init__(self) -> None:
        if not self.secret and not self.jwk and not self.spiffe_id:
            raise ValueError(f"client {self.client_id!r} has no credential: only confidential clients are registered")


@dataclass(frozen=True)
class TargetService:
    """A service tokens may be exchanged for: its audience name, the scopes it accepts, its resource URI."""

    audience: str
    allowed_scopes: frozenset[str]
    resource: str | None = None


class ExchangeError(Exception):
    """An RFC 6749 §5.2 error: `error` code, `description`, HTTP status (400, or 401 for invalid_client).

    `reason` carries `verify_token`'s reason code when the subject token was the problem.
    """

    def __init__(self, error: str, description: str, *, status: int = 400, reason: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.reason = reason

    def body(self) -> dict[str, str]:
        body = {"error": self.error, "error_description": self.description}
        if self.reason:
            body["reason"] = self.reason
        return body

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"


@dataclass(frozen=True)
class ExchangeRequest:
    """The parameters of a token-exchange request that the rules look at (already authenticated)."""

    client_id: str
    audience: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    scope: str | None = None


def _scopes(value: Any) -> frozenset[str]:
    """A scope claim or parameter as a set; anything but a space-separated string means no scopes."""
    return frozenset(value.split()) if isinstance(value, str) else frozenset()


def issued_scope(requested: Collection[str] | None, subject: Collection[str], allowed: Collection[str]) -> frozenset[str]:
    """requested ∩ subject ∩ allowed (requested defaults to the subject's scopes). Never wider than any of them.

    Keycloak's default exchange can *widen* scope to whatever the target client allows; here a scope
    survives only if the user had it, the caller asked for it and the target accepts it.
    """
    wanted = frozenset(subject) if requested is None else frozenset(requested)
    return wanted & frozenset(subject) & frozenset(allowed)


def _target(request: ExchangeRequest, targets: Mapping[str, TargetService]) -> TargetService:
    by_resource = {t.resource: t for t in targets.values() if t.resource}
    named: list[TargetService] = []
    for audience in request.audience:
        if audience not in targets:
            raise ExchangeError("invalid_target", f"{audience[:80]!r} is not a registered service.")
        named.append(targets[audience])
    for resource in request.resource:
        if resource not in by_resource:
            raise ExchangeError("invalid_target", f"{resource[:80]!r} is not a registered resource.")
        named.append(by_resource[resource])
    chosen = {t.audience for t in named}
    if not chosen:
        raise ExchangeError("invalid_target", "Name the target service with `audience` or `resource`.")
    if len(chosen) > 1:
        raise ExchangeError("invalid_target", "One target per exchange: a token for several services is replayable at each.")
    return named[0]


def actor_chain(claims: Mapping[str, Any]) -> list[str]:
    """The `act` chain as a list of actor `sub`s, the current actor first (RFC 8693 §4.1).

    Only the current actor (the first) may be used for authorisation; the earlier ones are history for
    the log (RFC 8693 §4.1). Raises ExchangeError for a malformed or absurdly deep chain.
    """
    chain: list[str] = []
    act = claims.get("act")
    while act is not None:
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or not act["sub"]:
            raise ExchangeError("invalid_request", "The subject token's act claim is malformed.", reason="act")
        if len(chain) > 2 * MAX_ACT_DEPTH:
            raise ExchangeError("invalid_request", "The subject token's act chain is too deep.", reason="act")
        chain.append(act["sub"])
        act = act.get("act")
    return chain


def exchange_claims(
    subject: Mapping[str, Any],
    request: ExchangeRequest,
    *,
    targets: Mapping[str, TargetService],
    issuer: str,
    now: float,
    lifetime: int = 300,
    jti: str | None = None,
) -> dict[str, Any]:
    """The pure RFC 8693 rules: claims of the token to issue for `request`, given the verified `subject` claims.

    The caller has verified the subject token (signature, issuer, `typ`, expiry) and that the requesting
    client is in its `aud`; this function decides everything else and raises `ExchangeError`.
    """
    may_act = subject.get("may_act")
    if may_act is not None and (not isinstance(may_act, dict) or may_act.get("sub") != request.client_id):
        raise ExchangeError("invalid_request", f"The subject token's may_act does not allow {request.client_id!r} to act.",
                            reason="may_act")
    target = _target(request, targets)
    requested = None if request.scope is None else _scopes(request.scope)
    scope = issued_scope(requested, _scopes(subject.get("scope")), target.allowed_scopes)
    if not scope:
        raise ExchangeError("invalid_scope", f"No requested scope is held by the subject token and accepted by {target.audience!r}.")
    exp = min(int(subject["exp"]), int(now) + lifetime)
    if exp <= now:
        raise ExchangeError("invalid_request", "The subject token expires now; nothing can be issued from it.", reason="expired")
    act: dict[str, Any] = {"sub": request.client_id}
    if "act" in subject:
        earlier = actor_chain(subject)  # a malformed chain is refused, never silently dropped from the audit trail
        if len(earlier) >= MAX_ACT_DEPTH:
            raise ExchangeError("invalid_request", f"The delegation chain is already {len(earlier)} actors deep.",
                                reason="act")
        act["act"] = subject["act"]
    # The login travels with the user: a logout (the issuer ends `sid`) then reaches every hop's token too.
    sid = subject.get("sid")
    login = {"sid": sid} if isinstance(sid, str) and 0 < len(sid) <= 128 else {}
    return {
        **login,
        "iss": issuer,
        "sub": subject["sub"],
        "aud": target.audience,
        "client_id": request.client_id,
        "scope": " ".join(sorted(scope)),
        "iat": int(now),
        "exp": exp,
        "jti": jti or secrets.token_urlsafe(16),
        "act": act,
    }


class SecurityTokenService:
    """The STS: authenticates confidential clients, verifies subject tokens, applies the rules, signs.

    `trusted_issuers` maps other issuers (the identity provider) to their keys; the STS always trusts
    its own tokens, so a service can exchange a token it received from an earlier exchange (multi-hop).
    """

    def __init__(
        self,
        *,
        issuer: str,
        clients: Mapping[str, Client],
        targets: Mapping[str, TargetService],
        trusted_issuers: Mapping[str, Any] | None = None,
        key: DemoKey | None = None,
        clock: Clock | None = None,
        lifetime: int = 300,
        token_endpoint: str | None = None,
        algorithms: tuple[str, ...] = ("EdDSA", "ES256", "RS256", "PS256"),
        subject_active: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.issuer = issuer
        #: Asked with the verified subject claims: False refuses the exchange (revoked, or its login ended).
        self.subject_active = subject_active
        self.key = key or demo_keys.ed25519_key("sts")
        self.clients = dict(clients)
        self.targets = dict(targets)
        self.clock = clock or Clock()
        self.lifetime = lifetime
        self.token_endpoint = token_endpoint or issuer.rstrip("/") + "/token"
        self.algorithms = algorithms
        self.trusted = {issuer: self.key, **(trusted_issuers or {})}
        self.assertions = ClientAssertionVerifier(
            {c.client_id: c.jwk for c in self.clients.values() if c.jwk}, self.token_endpoint, now=self.clock.now
        )

    def jwks(self) -> dict[str, list[JWK]]:
        return demo_keys.jwks(self.key)

    # -- client authentication -------------------------------------------------------------
    def authenticate(self, authorization: str | None, form: Mapping[str, list[str]], client_cert: bytes | None = None) -> str:
        """The client_id of an authenticated confidential client, or ExchangeError(invalid_client, 401).

        `client_cert` is the DER certificate the TLS handshake verified (see `jwtlab.mtls`), if any.
        """
        assertion_type = _single(form, "client_assertion_type")
        assertion = _single(form, "client_assertion")
        if "client_secret" in form:
            raise _invalid_client("client_secret_post is not accepted; use HTTP Basic or private_key_jwt.")
        basic = authorization is not None and authorization[:6].lower() == "basic "
        if basic and (assertion or assertion_type):
            raise ExchangeError("invalid_request", "Use exactly one client authentication method.")
        if assertion or assertion_type:
            if assertion_type != CLIENT_ASSERTION_TYPE or not assertion:
                raise _invalid_client("Unsupported client assertion.")
            try:
                return self.assertions.verify(assertion, _single(form, "client_id"))
            except ClientAuthError as exc:
                raise _invalid_client(exc.message, reason=exc.reason) from None
        if not basic and client_cert is not None:
            return self._authenticate_certificate(_single(form, "client_id"), client_cert)
        if not basic:
            raise _invalid_client("Client authentication is required (confidential clients only).")
        client_id, secret = _parse_basic(authorization or "")
        client = self.clients.get(client_id)
        # Compare digests so the time taken does not depend on how much of the secret matched.
        presented = hashlib.sha256(secret.encode("utf-8")).digest()
        expected = hashlib.sha256((client.secret if client and client.secret else "").encode("utf-8")).digest()
        if client is None or not client.secret or not hmac.compare_digest(presented, expected):
            raise _invalid_client("Unknown client or wrong secret.")
        if _single(form, "client_id") not in (None, client_id):
            raise ExchangeError("invalid_request", "client_id differs from the authenticated client.")
        return client_id

    def _authenticate_certificate(self, client_id: str | None, client_cert: bytes) -> str:
        """tls_client_auth: the client names itself (client_id) and its verified certificate must say the same."""
        client = self.clients.get(client_id or "")
        if client is None or not client.spiffe_id:
            raise _invalid_client("tls_client_auth needs the client_id of a client registered with a SPIFFE ID.")
        try:
            presented = pki.spiffe_id_of(client_cert)
        except ValueError:
            raise _invalid_client("The client certificate carries no usable SPIFFE ID.") from None
        if not hmac.compare_digest(presented.encode(), client.spiffe_id.encode()):
            raise _invalid_client("The client certificate belongs to another workload.")
        return client.client_id

    # -- the exchange ----------------------------------------------------------------------
    def verify_subject(self, token: str, client_id: str) -> dict[str, Any]:
        """Verify the subject token for `client_id`: trusted issuer, `typ: at+jwt`, and client_id in `aud`."""
        try:
            unverified_iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except Exception:  # not a JWT at all
            raise ExchangeError("invalid_request", "The subject_token is not a JWT.", reason="malformed") from None
        if not isinstance(unverified_iss, str) or unverified_iss not in self.trusted:
            raise ExchangeError("invalid_request", "The subject_token comes from an untrusted issuer.", reason="issuer")
        try:
            claims = verify_token(token, self.trusted[unverified_iss], issuer=unverified_iss, audience=client_id,
                                  algorithms=self.algorithms, typ="at+jwt", now=self.clock.now())
        except TokenRejected as exc:
            if exc.reason == "audience":
                description = f"The requesting client {client_id!r} is not an audience of the subject_token."
            else:
                description = f"The subject_token is not acceptable: {exc.message}"
            raise ExchangeError("invalid_request", description, reason=exc.reason) from None
        # A token of an ended login (logout, detected reuse) or a revoked token must not buy a fresh one.
        if self.subject_active is not None and not self.subject_active(claims):
            raise ExchangeError("invalid_request", "The subject token is no longer active.", reason="token_inactive")
        return claims

    def exchange(self, form: Mapping[str, list[str]], client_id: str, client_cert: bytes | None = None) -> dict[str, Any]:
        """Handle an authenticated token-exchange request; return the RFC 8693 §2.2.1 response body.

        With a client certificate (mTLS), the issued token is bound to it (RFC 8705 §3). A subject
        token's own `cnf` is not checked against the exchanging client: the subject token was bound to the
        previous hop, which presented it to this client; the exchanging client is its audience, not its
        holder. What keeps a thief out is that only an authenticated client named in the subject
        token's `aud` may exchange it.
        """
        grant_type = _single(form, "grant_type")
        if grant_type != TOKEN_EXCHANGE_GRANT:
            raise ExchangeError("unsupported_grant_type", "Only token exchange is served here.")
        subject_token = _single(form, "subject_token")
        if not subject_token:
            raise ExchangeError("invalid_request", "subject_token is required.")
        if _single(form, "subject_token_type") not in _SUBJECT_TOKEN_TYPES:
            raise ExchangeError("invalid_request", "subject_token_type must be an access token or a JWT.")
        if "actor_token" in form or "actor_token_type" in form:
            raise ExchangeError("invalid_request", "actor_token is not supported: the authenticated client is the actor.")
        if _single(form, "requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise ExchangeError("invalid_request", "Only access tokens are issued.")
        subject = self.verify_subject(subject_token, client_id)
        scope = _single(form, "scope")
        request = ExchangeRequest(client_id, tuple(form.get("audience", ())), tuple(form.get("resource", ())), scope)
        now = self.clock.now()
        claims = exchange_claims(subject, request, targets=self.targets, issuer=self.issuer, now=now, lifetime=self.lifetime)
        if client_cert is not None:
            claims = bind_to_certificate(claims, client_cert)
        token = jwt.encode(claims, self.key.signing_key, algorithm=self.key.alg, headers=self.key.headers(typ="at+jwt"))
        body: dict[str, Any] = {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": claims["exp"] - int(now),
        }
        requested = _scopes(scope) if scope is not None else _scopes(subject.get("scope"))
        if _scopes(claims["scope"]) != requested:
            body["scope"] = claims["scope"]
        return body

    def handle(self, authorization: str | None, content_type: str | None, raw_body: bytes,
               client_cert: bytes | None = None) -> dict[str, Any]:
        """The whole token endpoint minus HTTP: parse, authenticate, exchange. Raises ExchangeError."""
        form = parse_form(content_type, raw_body)
        client_id = self.authenticate(authorization, form, client_cert)
        return self.exchange(form, client_id, client_cert)


def _invalid_client(description: str, *, reason: str | None = None) -> ExchangeError:
    return ExchangeError("invalid_client", description, status=401, reason=reason)


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _parse_basic(authorization: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: Basic base64(urlencode(client_id) ":" urlencode(secret))."""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid_client("Malformed HTTP Basic credentials.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise _invalid_client("Malformed HTTP Basic credentials.")
    return unquote_plus(client_id), unquote_plus(secret)


def parse_form(content_type: str | None, raw_body: bytes) -> dict[str, list[str]]:
    """A strict application/x-www-form-urlencoded parser (FastAPI's Form needs an extra package).

    Strict because the token endpoint is the front door: a body too large, not UTF-8, or repeating a
    parameter that must be single (RFC 6749 §3.2: "MUST NOT be included more than once") is refused.
    """
    if (content_type or "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise ExchangeError("invalid_request", "The body must be application/x-www-form-urlencoded.")
    if len(raw_body) > MAX_FORM_BYTES:
        raise ExchangeError("invalid_request", f"The request body is larger than {MAX_FORM_BYTES} bytes.")
    try:
        pairs = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=False, strict_parsing=bool(raw_body),
                          max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise ExchangeError("invalid_request", "The body is not a valid form.") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in form and name not in _REPEATABLE:
            raise ExchangeError("invalid_request", f"The parameter {name[:40]!r} appears more than once.")
        form.setdefault(name, []).append(value)
    return form


def _error_response(exc: ExchangeError) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token-exchange"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def sts_router(sts: SecurityTokenService) -> APIRouter:
    """`POST /token`, `GET /jwks.json`, `GET /.well-known/oauth-authorization-server` for `sts`.

    A router rather than an app, so the identity provider can `include_router` it and serve exchange
    next to its other grants.
    """
    router = APIRouter()

    @router.post("/token")
    async def token(request: Request) -> JSONResponse:
        try:
            body = sts.handle(request.headers.get("authorization"), request.headers.get("content-type"), await request.body(),
                              peer_certificate(request))
        except ExchangeError as exc:
            return _error_response(exc)
        except Exception:  # fail closed: hostile input gets a 400, never a 500 with a stack trace
            return _error_response(ExchangeError("invalid_request", "The request could not be processed."))
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @router.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        return sts.jwks()

    @router.get("/.well-known/oauth-authorization-server")
    async def metadata() -> dict[str, Any]:
        return {
            "issuer": sts.issuer,
            "token_endpoint": sts.token_endpoint,
            "jwks_uri": sts.issuer.rstrip("/") + "/jwks.json",
            "grant_types_supported": [TOKEN_EXCHANGE_GRANT],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "tls_client_auth"],
            "tls_client_certificate_bound_access_tokens": True,
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256"],
        }

    return router


def create_sts_app(sts: SecurityTokenService) -> FastAPI:
    """A standalone STS app (for `jwtlab.services.serve`); the same router the identity provider can mount."""
    app = FastAPI(title="sts", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(sts_router(sts))
    app.state.sts = sts
    return app


def http_exchanger(
    http: httpx.Client,
    token_url: str,
    client_id: str,
    *,
    secret: str | None = None,
    key: DemoKey | None = None,
    assertion_audience: str | None = None,
    now: Callable[[], float] | None = None,
) -> Callable[[str, str, str | None], Mapping[str, Any]]:
    """A `fetch` for `ExchangedTokenCache`: performs the exchange over HTTP as `client_id`.

    Authenticates with `secret` (client_secret_basic), or `key` (private_key_jwt: a fresh assertion per
    request, `aud` = `assertion_audience`, by default `token_url`), or neither — then the TLS client
    certificate of `http` must do (tls_client_auth). Raises `ExchangeError` with the STS's error code.
    """
    if secret is not None and key is not None:
        raise ValueError("choose one client authentication method: secret or key")
    clock_now = now or Clock(real=True).now

    def fetch(subject_token: str, target: str, scope: str | None) -> Mapping[str, Any]:
        data = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": subject_token,
                "subject_token_type": ACCESS_TOKEN_TYPE, "audience": target}
        if scope is not None:
            data["scope"] = scope
        auth: tuple[str, str] | None = None
        if secret is not None:
            auth = (client_id, secret)  # httpx sends it as HTTP Basic
        elif key is not None:
            data["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            data["client_assertion"] = build_client_assertion(client_id, assertion_audience or token_url, key,
                                                              now=clock_now())
        else:
            data["client_id"] = client_id
        resp = http.post(token_url, data=data, auth=auth)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200:
            raise ExchangeError(str(body.get("error", "server_error")), str(body.get("error_description", resp.reason_phrase)),
                                status=resp.status_code, reason=body.get("reason"))
        return body

    return fetch


@dataclass
class _Cached:
    token: str
    expires_at: float


class ExchangedTokenCache:
    """The caller's cache: one exchange per (subject jti, target, scope), reused until `margin` s before expiry.

    Without it every incoming request costs an extra round trip to the STS per downstream call. The key
    includes the subject's `jti`, so two users (or two tokens of one user) never share an exchanged token.
    `fetch(subject_token, target, scope)` performs the exchange and returns the token response body.
    """

    def __init__(
        self,
        fetch: Callable[[str, str, str | None], Mapping[str, Any]],
        *,
        now: Callable[[], float],
        margin: float = 30,
        max_entries: int = 1024,
    ) -> None:
        self._fetch = fetch
        self._now = now
        self.margin = margin
        self._max = max_entries
        self._entries: dict[tuple[str, str, str], _Cached] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def token_for(self, subject_token: str, subject_claims: Mapping[str, Any], target: str, scope: str | None = None) -> str:
        """An access token for `target`, from the cache or from a new exchange."""
        jti = subject_claims.get("jti")
        subject_key = jti if isinstance(jti, str) and jti else "sha256:" + hashlib.sha256(subject_token.encode()).hexdigest()
        key = (subject_key, target, " ".join(sorted(_scopes(scope))) if scope is not None else "*")
        now = self._now()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and now < cached.expires_at - self.margin:
                return cached.token
        response = self._fetch(subject_token, target, scope)
        self.fetches += 1
        token, expires_in = response["access_token"], response["expires_in"]
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if v.expires_at - self.margin > now}
                while len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[key] = _Cached(token, now + float(expires_in))
        return token
