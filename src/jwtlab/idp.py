"""The course's demo identity provider: discovery, a JWKS that rotates, and a small token endpoint.

Why the course ships its own instead of Keycloak: every learner gets the same keys, users and clock, so
notebooks are deterministic; time is injected (`jwtlab.clock.Clock`), so a key rotation or an hour-long
outage takes a second; and faults can be switched on (`idp.faults.jwks_status = 500`) to prove that the
gateway survives them. It is deliberately small: the password grant for the demo users,
`client_credentials` with `client_secret_basic` or `private_key_jwt` (RFC 7523, `jwtlab.client_auth`), and
token exchange (RFC 8693) for services acting for a user — enough to mint RFC 9068 access tokens
(`typ: at+jwt`, `aud` per requested resource, `scope`, `jti`, `exp`).

Token exchange applies the rules of `jwtlab.exchange` (scope only narrows, one audience per token, `act`
records every hop) but signs with the IdP's own rotating key, so an exchanged token verifies against the
same JWKS as every other token of this issuer.

Demo only: the users' passwords and the clients' secrets are published below, and the signing keys are
demo keys. Nothing here is logged with a token in it.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .client_auth import CLIENT_ASSERTION_TYPE, ClientAssertionVerifier, ClientAuthError
from .clock import DEMO_ISSUER, Clock
from .exchange import TOKEN_EXCHANGE_GRANT, ExchangeError, SecurityTokenService, TargetService
from .keys import JWK, ed25519_key
from .rotation import KeyRotation, RotationPolicy

__all__ = [
    "DemoUser", "DemoClient", "DEMO_USERS", "DEMO_CLIENTS", "DEMO_RESOURCES", "IdpFaults", "IdentityProvider",
    "create_idp", "TOKEN_EXCHANGE_GRANT",
]

log = logging.getLogger("jwtlab.idp")
log.addHandler(logging.NullHandler())  # a library logs only where the application configures it


@dataclass(frozen=True)
class DemoUser:
    """A demo user and the scopes the IdP may grant them. DEMO password, published on purpose."""

    username: str
    password: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class DemoClient:
    """An OAuth client. With neither `secret` nor `jwk` it is public (it may only use the password grant here).

    `jwk` is the public key of a `private_key_jwt` client: the IdP stores no secret for it at all.
    """

    client_id: str
    secret: str | None
    grants: frozenset[str]
    scopes: frozenset[str]
    jwk: JWK | None = None

    @property
    def confidential(self) -> bool:
        return self.secret is not None or self.jwk is not None


DEMO_USERS: dict[str, DemoUser] = {
    u.username: u
    for u in [
        DemoUser("alice", "alice-demo-password", frozenset({"orders:read", "orders:write", "payments:read"})),
        DemoUser("bob", "bob-demo-password", frozenset({"orders:read"})),
    ]
}

DEMO_CLIENTS: dict[str, DemoClient] = {
    c.client_id: c
    for c in [
        DemoClient("course-cli", None, frozenset({"password"}),
                   frozenset({"orders:read", "orders:write", "payments:read"})),
        DemoClient("web-app", "web-app-demo-secret", frozenset({"password"}),
                   frozenset({"orders:read", "orders:write", "payments:read"})),
        DemoClient("billing-job", "billing-job-demo-secret", frozenset({"client_credentials"}),
                   frozenset({"payments:read", "payments:write", "orders:read"})),
        # private_key_jwt: the IdP knows only the public half of this DEMO key (jwtlab.keys "client/reports-job").
        DemoClient("reports-job", None, frozenset({"client_credentials"}), frozenset({"orders:read", "payments:read"}),
                   jwk=ed25519_key("client/reports-job").public_jwk()),
        # Services that exchange the token they received for one addressed to the next service (RFC 8693).
        DemoClient("orders-api", "orders-api-demo-secret", frozenset({TOKEN_EXCHANGE_GRANT}), frozenset()),
        DemoClient("payments-api", "payments-api-demo-secret", frozenset({TOKEN_EXCHANGE_GRANT}), frozenset()),
    ]
}

#: Audience (resource server name) → the scopes that mean something there.
DEMO_RESOURCES: dict[str, frozenset[str]] = {
    "orders-api": frozenset({"orders:read", "orders:write"}),
    "payments-api": frozenset({"payments:read", "payments:write"}),
}


@dataclass
class IdpFaults:
    """Switches for tests and notebooks: make the JWKS endpoint fail or hang, as real IdPs sometimes do."""

    jwks_status: int | None = None  #: answer the JWKS endpoint with this status (e.g. 500)
    jwks_delay: float = 0.0  #: wall-clock seconds to wait before answering the JWKS endpoint

    def clear(self) -> None:
        self.jwks_status, self.jwks_delay = None, 0.0


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400, reason: str | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.reason = error, description, status, reason

    def body(self) -> dict[str, str]:
        body = {"error": self.error, "error_description": self.description}
        if self.reason:  # the course's reason code (e.g. "replayed", "audience"); never a token
            body["reason"] = self.reason
        return body


@dataclass
class IdentityProvider:
    """The IdP's state: who may log in, which keys sign (from the rotation), and the fault switches."""

    clock: Callable[[], float] = field(default_factory=lambda: Clock().now)
    issuer: str = DEMO_ISSUER
    rotation: KeyRotation | None = None
    users: dict[str, DemoUser] = field(default_factory=lambda: dict(DEMO_USERS))
    clients: dict[str, DemoClient] = field(default_factory=lambda: dict(DEMO_CLIENTS))
    resources: dict[str, frozenset[str]] = field(default_factory=lambda: dict(DEMO_RESOURCES))
    token_lifetime: int = 300
    jwks_max_age: int | None = None
    faults: IdpFaults = field(default_factory=IdpFaults)
    jwks_requests: int = 0

    def __post_init__(self) -> None:
        if self.rotation is None:
            self.rotation = KeyRotation(RotationPolicy(max_token_lifetime=self.token_lifetime), clock=self.clock)
        if self.token_lifetime > self.rotation.policy.max_token_lifetime:
            raise ValueError("token_lifetime exceeds the rotation policy's max_token_lifetime: old keys would "
                             "leave the JWKS while tokens they signed are still valid")
        if self.jwks_max_age is None:
            self.jwks_max_age = int(self.rotation.policy.max_cache_ttl)
        if self.jwks_max_age > self.rotation.policy.max_cache_ttl:
            raise ValueError("jwks_max_age exceeds the rotation policy's max_cache_ttl")
        # One verifier (and so one replay cache) for every grant: an assertion is accepted once, anywhere.
        self.assertions = ClientAssertionVerifier(
            {c.client_id: c.jwk for c in self.clients.values() if c.jwk}, self.token_endpoint, now=self.clock
        )

    @property
    def token_endpoint(self) -> str:
        """The token endpoint's identifier: the `aud` a `private_key_jwt` assertion must carry.

        The issuer's name plus `/token`, not the loopback URL the server happens to listen on, so an
        assertion is addressed to this IdP wherever it runs (RFC 7523 §3 lets the server say which value).
        """
        return self.issuer.rstrip("/") + "/token"

    # -- tokens ---------------------------------------------------------------------------------

    def issue(
        self,
        sub: str,
        audience: str | list[str],
        scope: str,
        *,
        client_id: str = "course-cli",
        lifetime: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Mint an access token now (used by the token endpoint, and directly by tests and benchmarks)."""
        assert self.rotation is not None
        moment = self.clock()
        now = int(moment)
        lifetime = self.token_lifetime if lifetime is None else lifetime
        key = self.rotation.signing_key(moment)
        claims = {
            "iss": self.issuer, "sub": sub, "aud": audience, "scope": scope, "client_id": client_id,
            "iat": now, "exp": now + lifetime, "jti": secrets.token_urlsafe(12), **(extra or {}),
        }
        token = jwt.encode(claims, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})
        log.info("issued token sub=%s client=%s aud=%s kid=%s jti=%s", sub, client_id, audience, key.kid, claims["jti"])
        return token

    def revoke(self, kid: str) -> None:
        """Emergency revoke: the key leaves the JWKS now; its tokens stop verifying after caches refresh."""
        assert self.rotation is not None
        self.rotation.revoke(kid)
        log.warning("revoked signing key kid=%s", kid)

    def jwks(self) -> dict[str, Any]:
        assert self.rotation is not None
        return self.rotation.jwks()

    def exchange(self, client: DemoClient, form: dict[str, str], audiences: list[str]) -> dict[str, Any]:
        """RFC 8693 for an authenticated client: `jwtlab.exchange`'s rules, the IdP's key, issuer and JWKS.

        The subject token must come from this IdP (checked against its current JWKS, so a revoked key's
        tokens cannot be exchanged) and name `client` in its `aud`; the new token's audience is one of
        `resources`, its scope at most what the subject held and that audience accepts.
        """
        assert self.rotation is not None
        # Built per request (cheap: no client registry, no key material of its own) so that it always signs
        # with the key the rotation says is current and trusts exactly the JWKS published right now.
        sts = SecurityTokenService(
            issuer=self.issuer, clients={}, key=self.rotation.signing_key(self.clock()),
            targets={aud: TargetService(aud, scopes) for aud, scopes in self.resources.items()},
            trusted_issuers={self.issuer: self.jwks()}, clock=_ClockView(self.clock), lifetime=self.token_lifetime,
            token_endpoint=self.token_endpoint,
        )
        multi = {name: [value] for name, value in form.items() if not name.startswith("client_")}
        multi["audience"] = audiences  # the IdP names its resources; `resource=` carries the same names here
        try:
            body = sts.exchange(multi, client.client_id)
        except ExchangeError as exc:
            raise OAuthError(exc.error, exc.description, exc.status, reason=exc.reason) from None
        log.info("exchanged token for client=%s aud=%s", client.client_id, audiences[:1])
        return body

    def _client(self, request: Request, form: dict[str, str]) -> DemoClient:
        header = request.headers.get("authorization")
        if "client_assertion" in form or "client_assertion_type" in form:
            if header:
                raise OAuthError("invalid_request", "Use exactly one client authentication method.")
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
                raise OAuthError("invalid_client", "Unsupported client assertion.", 401)
            try:
                client_id = self.assertions.verify(form["client_assertion"], form.get("client_id"))
            except ClientAuthError as exc:
                raise OAuthError("invalid_client", exc.message, 401, reason=exc.reason) from None
            return self.clients[client_id]
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise OAuthError("invalid_client", "Client authentication must use HTTP Basic.", 401)
            try:
                raw_id, _, raw_secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except ValueError:
                raise OAuthError("invalid_client", "The Basic credentials are not valid base64.", 401) from None
            client_id, secret = urllib.parse.unquote_plus(raw_id), urllib.parse.unquote_plus(raw_secret)
            client = self.clients.get(client_id)
            expected = (client.secret if client else None) or ""
            if not hmac.compare_digest(secret.encode(), expected.encode()) or client is None or client.secret is None:
                raise OAuthError("invalid_client", "Unknown client or wrong secret.", 401)
            return client
        client = self.clients.get(form.get("client_id", ""))
        if client is None or client.confidential:
            raise OAuthError("invalid_client", "Unknown client, or a confidential client without Basic authentication.", 401)
        return client

    def token_response(self, request: Request, form: dict[str, str], audiences: list[str]) -> dict[str, Any]:
        client = self._client(request, form)
        grant = form.get("grant_type")
        if grant not in ("password", "client_credentials", TOKEN_EXCHANGE_GRANT):
            raise OAuthError("unsupported_grant_type",
                             "Only the password, client_credentials and token-exchange grants exist here.")
        if grant not in client.grants or (grant != "password" and not client.confidential):
            raise OAuthError("unauthorized_client", f"Client {client.client_id!r} may not use the {grant} grant.")
        if grant == TOKEN_EXCHANGE_GRANT:
            return self.exchange(client, form, audiences)
        if grant == "password":
            user = self.users.get(form.get("username", ""))
            expected = user.password if user else "\0"
            if not hmac.compare_digest(form.get("password", "").encode(), expected.encode()) or user is None:
                raise OAuthError("invalid_grant", "Wrong username or password.")
            sub, allowed = user.username, user.scopes & client.scopes
        else:
            sub, allowed = client.client_id, client.scopes
        if not audiences:
            raise OAuthError("invalid_target", "Name the API the token is for with audience=... (or resource=...).")
        unknown = [a for a in audiences if a not in self.resources]
        if unknown:
            raise OAuthError("invalid_target", f"Unknown audience {unknown[0][:64]!r}.")
        target_scopes = frozenset().union(*(self.resources[a] for a in audiences))
        requested = set(form.get("scope", "").split()) or set(allowed)
        granted = sorted(requested & allowed & target_scopes)
        if not granted:
            raise OAuthError("invalid_scope", "None of the requested scopes can be granted for this audience.")
        scope = " ".join(granted)
        aud: str | list[str] = audiences[0] if len(audiences) == 1 else audiences
        token = self.issue(sub, aud, scope, client_id=client.client_id)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime, "scope": scope}


@dataclass(frozen=True)
class _ClockView:
    """The IdP's time source in the shape `SecurityTokenService` expects (an object with `now()`)."""

    now: Callable[[], float]


def _parse_form(body: bytes) -> tuple[dict[str, str], list[str]]:
    """Parse a token request: each parameter at most once (RFC 6749 §3.2), except repeatable targets."""
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded UTF-8.") from None
    form: dict[str, str] = {}
    audiences: list[str] = []
    for name, value in pairs:
        if name in ("audience", "resource"):
            audiences.append(value)
        elif name in form:
            raise OAuthError("invalid_request", f"The parameter {name[:40]!r} appears twice.")
        else:
            form[name] = value
    return form, audiences


def create_idp(idp: IdentityProvider | None = None, **settings: Any) -> FastAPI:
    """The IdP as a FastAPI app; `app.state.idp` is the `IdentityProvider` (faults, revoke, issue)."""
    idp = idp or IdentityProvider(**settings)
    app = FastAPI(title="demo-idp", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.idp = idp

    @app.get("/.well-known/openid-configuration")
    async def discovery(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "issuer": idp.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/token",
            "grant_types_supported": ["password", "client_credentials", TOKEN_EXCHANGE_GRANT],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "scopes_supported": sorted(frozenset().union(*idp.resources.values())),
        }

    @app.get("/.well-known/jwks.json")
    async def jwks() -> Response:
        idp.jwks_requests += 1
        if idp.faults.jwks_delay:
            await asyncio.sleep(idp.faults.jwks_delay)
        if idp.faults.jwks_status is not None:
            return JSONResponse({"error": "injected_fault"}, status_code=idp.faults.jwks_status)
        return JSONResponse(idp.jwks(), headers={"Cache-Control": f"public, max-age={idp.jwks_max_age}"})

    @app.post("/token")
    async def token(request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                raise OAuthError("invalid_request", "Send the token request as application/x-www-form-urlencoded.")
            body = await request.body()
            if len(body) > 8192:
                raise OAuthError("invalid_request", "The token request is too large.")
            form, audiences = _parse_form(body)
            return JSONResponse(idp.token_response(request, form, audiences), headers=headers)
        except OAuthError as exc:
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="demo-idp"'
            log.info("token request refused: %s", exc.error)
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    return app
