"""The course's demo identity provider: discovery, a JWKS that rotates, and a small token endpoint.

Why the course ships its own instead of Keycloak: every learner gets the same keys, users and clock, so
notebooks are deterministic; time is injected (`jwtlab.clock.Clock`), so a key rotation or an hour-long
outage takes a second; and faults can be switched on (`idp.faults.jwks_status = 500`) to prove that the
gateway survives them. It is deliberately small: the password grant for the demo users,
`client_credentials` with `client_secret_basic` or `private_key_jwt` (RFC 7523, `jwtlab.client_auth`), and
token exchange (RFC 8693) for services acting for a user — enough to mint RFC 9068 access tokens
(`typ: at+jwt`, `aud` per requested resource, `scope`, `jti`, `exp`).

A token's life after the login: the password grant also returns an opaque refresh token, the first of a
*family* (`jwtlab.refresh.RefreshTokens`); the `refresh_token` grant rotates it (each one works once,
and a retired one coming back revokes the whole family, RFC 9700 §4.14.2) and may narrow the scope,
never widen it. Access tokens of a login carry its family id as `sid`. `POST /revoke` (RFC 7009) ends a
family or denies one access token's `jti`; `POST /introspect` (RFC 7662) tells an authenticated client
whether a token is still active — which is how revocation reaches a service that asks, since a JWT
alone stays valid until its `exp` wherever it is only verified.

Options for Part V: `opaque_access_tokens=True` issues random handles instead of JWTs (their claims only
through `/introspect`, for the phantom-token gateway); a token request with a `DPoP` proof gets access
tokens bound to the proof's key (`cnf.jkt`, `token_type: DPoP`, RFC 9449 §5); and every revoked login
(logout, detected reuse) is announced to `logout_receivers` with an OpenID Connect back-channel logout
token (`jwtlab.logout`), before the request that revoked it is answered.

Token exchange applies the rules of `jwtlab.exchange` (scope only narrows, one audience per token, `act`
records every hop) but signs with the IdP's own rotating key, so an exchanged token verifies against the
same JWKS as every other token of this issuer.

Demo only: the users' passwords and the clients' secrets are published below, and the signing keys are
demo keys. Nothing here is logged with a token in it.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import hmac
import logging
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .client_auth import CLIENT_ASSERTION_TYPE, ClientAssertionVerifier, ClientAuthError
from .clock import DEMO_ISSUER, Clock
from .dpop import DpopRejected, DpopVerifier
from .exchange import TOKEN_EXCHANGE_GRANT, ExchangeError, SecurityTokenService, TargetService
from .keys import JWK, ed25519_key
from .logout import logout_token
from .refresh import RefreshError, RefreshGrant, RefreshTokens
from .rotation import KeyRotation, RotationPolicy
from .verify import TokenRejected, verify_token

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
        # The gateway as a client of its own: it introspects opaque tokens and receives logout tokens.
        DemoClient("gateway", "gateway-demo-secret", frozenset(), frozenset()),
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
    refresh_tokens: RefreshTokens | None = None  #: default: on the IdP's clock, 8 h logins, 30 min idle
    max_denied: int = 100_000  #: revoked access tokens remembered at once (each only until its `exp`)
    opaque_access_tokens: bool = False  #: random handles instead of JWTs (claims via /introspect only)
    #: client_id -> URL of its back-channel logout endpoint; each revoked login is announced there.
    logout_receivers: dict[str, str] = field(default_factory=dict)
    #: (client_id, HTTP status or error name) of every logout token sent, for tests and notebooks.
    logout_deliveries: list[tuple[str, str]] = field(default_factory=list)

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
        if self.refresh_tokens is None:
            self.refresh_tokens = RefreshTokens(self.clock)
        if self.refresh_tokens.idle_lifetime < self.token_lifetime:
            raise ValueError("the refresh tokens' idle_lifetime is shorter than token_lifetime: a client "
                             "that refreshes when its access token expires would find its refresh token gone")
        self._denied: dict[str, float] = {}  # jti of a revoked access token -> its exp
        self._opaque: dict[str, dict[str, Any]] = {}  # SHA-256 of an opaque access token -> its claims
        self._ended_logins: list[tuple[str, str]] = []  # (sid, sub) to announce to logout_receivers
        self.refresh_tokens.on_revoke = lambda sid, sub: self._ended_logins.append((sid, sub))
        self.dpop = DpopVerifier(clock=self.clock)  # proofs at the token endpoint: its own replay cache
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
        jkt = _DPOP_JKT.get()
        if jkt is not None:  # the token request carried a valid DPoP proof: bind the token to its key
            claims["cnf"] = {"jkt": jkt}
        if self.opaque_access_tokens:
            return self._opaque_handle(claims)
        token = jwt.encode(claims, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})
        log.info("issued token sub=%s client=%s aud=%s kid=%s jti=%s", sub, client_id, audience, key.kid, claims["jti"])
        return token

    def _opaque_handle(self, claims: dict[str, Any]) -> str:
        """Store the claims under a random handle's hash; the handle is the token (RFC 6749 §1.4)."""
        now = self.clock()
        if len(self._opaque) >= self.max_denied:
            self._opaque = {h: c for h, c in self._opaque.items() if c["exp"] > now}
        while len(self._opaque) >= self.max_denied:  # full of live tokens: the oldest stops working
            del self._opaque[next(iter(self._opaque))]
        handle = secrets.token_urlsafe(32)
        self._opaque[hashlib.sha256(handle.encode()).hexdigest()] = claims
        log.info("issued opaque token sub=%s client=%s jti=%s", claims["sub"], claims["client_id"], claims["jti"])
        return handle

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
        tokens cannot be exchanged), still be active (not revoked, its login not ended) and name `client` in
        its `aud`; the new token's audience is one of `resources`, its scope at most what the subject held and
        that audience accepts, and it keeps the subject's `sid`, so that ending the login ends it too.
        """
        assert self.rotation is not None
        # Built per request (cheap: no client registry, no key material of its own) so that it always signs
        # with the key the rotation says is current and trusts exactly the JWKS published right now.
        sts = SecurityTokenService(
            issuer=self.issuer, clients={}, key=self.rotation.signing_key(self.clock()),
            targets={aud: TargetService(aud, scopes) for aud, scopes in self.resources.items()},
            trusted_issuers={self.issuer: self.jwks()}, clock=_ClockView(self.clock), lifetime=self.token_lifetime,
            token_endpoint=self.token_endpoint, subject_active=self.access_token_active,
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

    def dpop_token_response(self, request: Request, form: dict[str, str], audiences: list[str]) -> dict[str, Any]:
        """`token_response`, with the request's DPoP proof (if any) checked first (RFC 9449 §5).

        The proof must name this endpoint as the client reached it (the socket's address, never the
        Host header) and POST; its key's thumbprint is then bound into every access token issued for
        the request. A bad proof is 400 `invalid_dpop_proof`, before the client is even authenticated.
        """
        proofs = request.headers.getlist("dpop")
        if not proofs:
            return self.token_response(request, form, audiences)
        host, port = request.scope.get("server") or ("127.0.0.1", 80)
        url = f"{request.url.scheme}://{host}:{port}{request.url.path}"
        try:
            if len(proofs) != 1:
                raise DpopRejected("dpop_missing", "Send exactly one DPoP header.")
            proof = self.dpop.verify(proofs[0], method="POST", url=url)
        except DpopRejected as exc:
            raise OAuthError("invalid_dpop_proof", exc.message, reason=exc.reason) from None
        bound = _DPOP_JKT.set(proof.jkt)
        try:
            return self.token_response(request, form, audiences)
        finally:
            _DPOP_JKT.reset(bound)

    def token_response(self, request: Request, form: dict[str, str], audiences: list[str]) -> dict[str, Any]:
        client = self._client(request, form)
        grant = form.get("grant_type")
        if grant not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type",
                             f"The grants here are {', '.join(GRANT_TYPES[:-1])} and token exchange.")
        if grant == "refresh_token":
            # No grant check of its own: only the password grant issues refresh tokens, and each one is
            # bound to the client it was issued to (`RefreshTokens.rotate` refuses any other).
            return self.refresh(client, form, audiences)
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
        if grant != "password":  # RFC 6749 §4.4.3: a client that can log in again needs no refresh token
            return self._token_body(self.issue(sub, aud, scope, client_id=client.client_id), scope)
        # A login starts a refresh-token family; its id is the access tokens' `sid`, so that revoking the
        # family (logout, detected reuse) also makes introspection call its access tokens inactive.
        assert self.refresh_tokens is not None
        # A public client's refresh token is bound to its DPoP key, if it proved one (RFC 9449 §5); a
        # confidential client's is already bound to the client's own authentication.
        jkt = None if client.confidential else _DPOP_JKT.get()
        refresh = self.refresh_tokens.issue(client.client_id, sub, scope, audience=tuple(audiences), jkt=jkt)
        family = self.refresh_tokens.grant_of(refresh)
        assert family is not None
        token = self.issue(sub, aud, scope, client_id=client.client_id, extra={"sid": family.family_id})
        return self._token_body(token, scope, refresh)

    def _token_body(self, access_token: str, scope: str, refresh_token: str | None = None) -> dict[str, Any]:
        """A successful token response (RFC 6749 §5.1)."""
        token_type = "DPoP" if _DPOP_JKT.get() is not None else "Bearer"
        body = {"access_token": access_token, "token_type": token_type, "expires_in": self.token_lifetime,
                "scope": scope}
        return body if refresh_token is None else {**body, "refresh_token": refresh_token}

    # -- refresh, revocation, introspection ---------------------------------------------------------

    def refresh(self, client: DemoClient, form: dict[str, str], audiences: list[str]) -> dict[str, Any]:
        """The `refresh_token` grant (RFC 6749 §6) with rotation: a new access token *and* refresh token.

        `scope=` may narrow what the login was granted, never widen it (`invalid_scope`); `audience=` may
        name some of the login's audiences (default: all of them), never another one (`invalid_target`).
        The request is checked before the refresh token is spent, so a refused request does not cost the
        client its token. A reused, revoked, expired, unknown or foreign token is `invalid_grant` with the
        store's reason code (`jwtlab.refresh.REFRESH_REASONS`).
        """
        assert self.refresh_tokens is not None
        token = form.get("refresh_token", "")
        if not token:
            raise OAuthError("invalid_request", "Send the refresh token as refresh_token=...")
        current = self.refresh_tokens.grant_of(token)
        if current is not None and current.client_id == client.client_id:
            self._refresh_target(current, form, audiences)
        try:
            new_refresh, grant = self.refresh_tokens.rotate(token, client.client_id, jkt=_DPOP_JKT.get())
        except RefreshError as exc:
            raise OAuthError(exc.error, exc.description, reason=exc.reason) from None
        aud, scope = self._refresh_target(grant, form, audiences)  # same family, same (passing) answer
        access = self.issue(grant.subject, aud, scope, client_id=client.client_id,
                            extra={"sid": grant.family_id})
        return self._token_body(access, scope, new_refresh)

    def _refresh_target(
        self, grant: RefreshGrant, form: dict[str, str], audiences: list[str]
    ) -> tuple[str | list[str], str]:
        """The audience and scope a refresh request may get from `grant`, or the OAuth error refusing it."""
        wanted = audiences or list(grant.audience)
        if not wanted:
            raise OAuthError("invalid_target", "Name the API the token is for with audience=...")
        if not set(wanted) <= set(grant.audience):
            raise OAuthError("invalid_target", "A refresh cannot add an audience the login was not for.")
        held = set(grant.scope.split())
        requested = set(form.get("scope", "").split()) or held
        if not requested <= held:
            raise OAuthError("invalid_scope", "A refresh may narrow the scope of the login, never widen it.")
        target_scopes = frozenset().union(*(self.resources.get(a, frozenset()) for a in wanted))
        granted = sorted(requested & target_scopes)
        if not granted:
            raise OAuthError("invalid_scope", "None of these scopes can be granted for this audience.")
        return (wanted[0] if len(wanted) == 1 else wanted), " ".join(granted)

    def verified_access_token(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token this IdP signed and that has not expired, else None (never raises).

        Checked against the IdP's own current JWKS with no leeway (the issuer knows its own clock) and no
        audience (the issuer vouches for its tokens whatever API they are for). Revocation is not looked at
        here: see `access_token_active`.
        """
        assert self.rotation is not None
        if self.opaque_access_tokens and isinstance(token, str) and "." not in token:
            claims = self._opaque.get(hashlib.sha256(token.encode("utf-8", "replace")).hexdigest())
            return claims if claims is not None and claims["exp"] > self.clock() else None
        jwks = self.jwks()
        algorithms = sorted({str(k["alg"]) for k in jwks["keys"] if k.get("alg")})
        if not algorithms:  # every key revoked: nothing this IdP signed verifies any more
            return None
        try:
            return verify_token(token, jwks, issuer=self.issuer, audience=None, algorithms=algorithms,
                                leeway=0, typ="at+jwt", required=("exp", "iat", "iss", "sub", "jti"),
                                now=self.clock(), max_lifetime=self.rotation.policy.max_token_lifetime)
        except (TokenRejected, ValueError):
            return None

    def access_token_active(self, claims: dict[str, Any]) -> bool:
        """Whether verified access-token claims are still good: `jti` and login (`sid`) not revoked."""
        assert self.refresh_tokens is not None
        if self._denied.get(str(claims.get("jti")), 0) > self.clock():
            return False
        return "sid" not in claims or self.refresh_tokens.family_active(claims["sid"])

    def revoke_token(self, client: DemoClient, form: dict[str, str]) -> None:
        """RFC 7009 for an authenticated client (public clients by client_id, as at the token endpoint).

        A refresh token revokes its whole family (the login); an access token's `jti` is denied until its
        `exp`. Anything unknown, invalid or expired is quietly ignored (200: there is nothing to revoke,
        §2.2). A valid token of *another* client is refused with `invalid_grant` (§2.1), and not revoked.
        The optional `token_type_hint` is not needed: the two kinds cannot be mistaken for each other (an
        access token is a signed JWT, a refresh token an opaque string without dots).
        """
        assert self.refresh_tokens is not None
        token = _token_parameter(form)
        owner = self.refresh_tokens.owner_of(token)
        claims = None if owner is not None else self.verified_access_token(token)
        if claims is not None:
            owner = str(claims.get("client_id"))
        if owner is None:
            return
        if owner != client.client_id:
            raise OAuthError("invalid_grant", "The token was issued to another client.",
                             reason="wrong_client")
        if claims is None:
            self.refresh_tokens.revoke(token, client_id=client.client_id)
            return
        now = self.clock()
        if len(self._denied) >= self.max_denied:
            self._denied = {jti: exp for jti, exp in self._denied.items() if exp > now}
        if len(self._denied) >= self.max_denied:  # cannot remember it: say so, never pretend it is revoked
            raise OAuthError("temporarily_unavailable", "Too many revoked tokens; try again later.", 503)
        self._denied[str(claims["jti"])] = float(claims["exp"])
        log.info("revoked access token client=%s jti=%s", client.client_id, claims["jti"])

    def introspect(self, client: DemoClient, form: dict[str, str]) -> dict[str, Any]:
        """RFC 7662 for an authenticated, confidential client: `{"active": false}` or the token's claims.

        Inactive covers everything a caller must not use: unknown, garbage, expired, revoked, of a revoked
        login, signed by a key that left the JWKS — with no hint which, so the answer is no oracle. An
        access token is described to any confidential client (a resource server, a gateway); a refresh
        token only to the client it was issued to, since nobody else should ever hold one.
        """
        assert self.refresh_tokens is not None
        token = _token_parameter(form)
        grant = self.refresh_tokens.grant_of(token)
        if grant is not None:
            if grant.client_id != client.client_id:
                return {"active": False}
            body: dict[str, Any] = {
                "active": True, "token_type": "refresh_token", "iss": self.issuer, "sub": grant.subject,
                "client_id": grant.client_id, "scope": grant.scope, "iat": int(grant.issued_at),
                "exp": int(grant.expires_at), "sid": grant.family_id,
            }
            if grant.audience:
                body["aud"] = grant.audience[0] if len(grant.audience) == 1 else list(grant.audience)
            return body
        claims = self.verified_access_token(token)
        if claims is None or not self.access_token_active(claims):
            return {"active": False}
        return {"active": True, "token_type": "Bearer",
                **{name: claims[name] for name in INTROSPECTED_CLAIMS if name in claims}}


    async def announce_logouts(self) -> None:
        """Send a back-channel logout token for every login revoked since the last call, to every
        receiver, and wait for the answers: the request that ended the login is answered only after the
        services were told. A receiver that fails is recorded, never retried here."""
        ended, self._ended_logins = self._ended_logins, []
        if not ended or not self.logout_receivers:
            return
        assert self.rotation is not None
        key = self.rotation.signing_key(self.clock())
        async with httpx.AsyncClient(timeout=5) as http:
            for sid, sub in ended:
                for client_id, url in self.logout_receivers.items():
                    token = logout_token(key, issuer=self.issuer, audience=client_id, now=self.clock(),
                                         sid=sid, sub=sub)
                    try:
                        resp = await http.post(url, data={"logout_token": token})
                        outcome = str(resp.status_code)
                    except httpx.HTTPError as exc:
                        outcome = type(exc).__name__
                    self.logout_deliveries.append((client_id, outcome))
                    log.info("back-channel logout sid=%s to=%s: %s", sid, client_id, outcome)


#: The DPoP key thumbprint of the token request being answered (None: a bearer-token request).
_DPOP_JKT: contextvars.ContextVar[str | None] = contextvars.ContextVar("jwtlab_idp_dpop_jkt", default=None)

#: The grant types of the token endpoint, as advertised in the discovery document.
GRANT_TYPES = ("password", "refresh_token", "client_credentials", TOKEN_EXCHANGE_GRANT)

#: Access-token claims an introspection answer repeats (RFC 7662 §2.2), plus the login (`sid`) and the
#: delegation chain (`act`), which a gateway needs as much as the subject.
INTROSPECTED_CLAIMS = ("iss", "sub", "aud", "scope", "client_id", "iat", "exp", "jti", "sid", "act")


def _token_parameter(form: dict[str, str]) -> str:
    """The `token` of a revocation or introspection request (RFC 7009 §2.1, RFC 7662 §2.1)."""
    token = form.get("token", "")
    if not token:
        raise OAuthError("invalid_request", "Send the token as token=...")
    return token


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
            "revocation_endpoint": f"{base}/revoke",
            "dpop_signing_alg_values_supported": list(idp.dpop.algorithms),
            "introspection_endpoint": f"{base}/introspect",
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
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
        response = await _form_endpoint(request, "token", lambda f, a: idp.dpop_token_response(request, f, a))
        await idp.announce_logouts()  # a detected refresh-token reuse ends a login
        return response

    @app.post("/revoke")
    async def revoke(request: Request) -> Response:
        def handle(form: dict[str, str], _: list[str]) -> dict[str, Any]:
            idp.revoke_token(idp._client(request, form), form)
            return {}  # RFC 7009 §2.2: 200, revoked or not (the body is ignored)

        response = await _form_endpoint(request, "revocation", handle)
        await idp.announce_logouts()  # revoking a refresh token ends its login
        return response

    @app.post("/introspect")
    async def introspect(request: Request) -> Response:
        def handle(form: dict[str, str], _: list[str]) -> dict[str, Any]:
            client = idp._client(request, form)
            if not client.confidential:  # a bare client_id proves nothing: claims go to authenticated callers
                raise OAuthError("invalid_client", "Introspection needs client authentication.", 401)
            return idp.introspect(client, form)

        return await _form_endpoint(request, "introspection", handle)

    return app


MAX_FORM_BYTES = 8192  #: the largest request body the IdP's form endpoints read


async def _form_endpoint(
    request: Request, name: str, handle: Callable[[dict[str, str], list[str]], dict[str, Any]]
) -> Response:
    """Shared by /token, /revoke and /introspect: a form body of bounded size in, JSON out, never cached.

    Every refusal is an `OAuthError` body (400, or 401 with a Basic challenge for client authentication);
    the log line names the endpoint, the error and the reason code, never a token or a secret.
    """
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request",
                             f"Send the {name} request as application/x-www-form-urlencoded.")
        body = b""
        async for chunk in request.stream():  # stop reading at the limit instead of buffering any size
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise OAuthError("invalid_request", f"The {name} request is too large.")
        form, audiences = _parse_form(body)
        return JSONResponse(handle(form, audiences), headers=headers)
    except OAuthError as exc:
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="demo-idp"'
        log.info("%s request refused: error=%s reason=%s", name, exc.error, exc.reason or "-")
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
