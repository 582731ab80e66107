"""Lab 7 — Secure the estate: a gateway, orders and payments, five flaws across hops.

The estate (the demo IdP is `jwtlab.idp`, given and sound):

    client ──IdP token──▶ gateway ──internal token, aud = service──▶ orders
                             │                                  └──▶ payments
                             └── KeyCache ──▶ IdP /.well-known/jwks.json

The gateway verifies the IdP's access token for the route's audience, then signs a
short internal token for the one service behind the route. Orders and payments verify
that internal token with the gateway's public key and check one scope per request (GET
needs `<service>:read`, anything else `<service>:write`). Each service is also
reachable directly — a debug port, a sidecar, a misrouted request — so each hop must
hold on its own.

You start with the estate as it was found: every decision marked `TODO` below works for
honest callers and lets something through for a hostile one. One task per flaw:

* gateway  · verify-every-route — the read routes skip verification.
* gateway  · key-cache          — every unknown `kid` refetches the IdP's JWKS.
* gateway  · narrow-scope       — the internal token widens the caller's scope.
* orders   · no-header-trust    — orders believes an `X-User` header.
* payments · own-audience       — payments accepts a token made for another service.

Everything else (the apps, the proxying, the verifier, the key parsing) is given. The
course's full versions are `jwtlab.gateway`, `jwtlab.jwks` and `jwtlab.upstream`.

Demo only: GATEWAY_KEY is a demo key published with the course.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from jwtlab.clock import DEMO_ISSUER
from jwtlab.gateway import GATEWAY_ISSUER
from jwtlab.jwks import JwksClient
from jwtlab.keys import ed25519_key
from jwtlab.verify import KeySet, TokenRejected, verify_token

ISSUER = DEMO_ISSUER  #: the IdP whose access tokens the gateway accepts
ALGORITHMS = ["EdDSA"]  #: the only algorithm of the IdP and of the gateway
TOKEN_TYPE = "at+jwt"  #: RFC 9068 access tokens, outside and inside
GATEWAY_KEY = ed25519_key("lab7-gateway")  #: DEMO key: signs the internal tokens
#: What the services hold: the public half of the gateway's key, nothing else.
GATEWAY_JWKS = {"keys": [GATEWAY_KEY.public_jwk()]}
INTERNAL_ISSUER = GATEWAY_ISSUER  #: `iss` of the internal tokens
INTERNAL_TTL = 300  #: seconds an internal token lives, at most
#: Seconds between two refetches of the IdP's key set that unknown kids may force.
REFETCH_INTERVAL = 30
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
SERVICES = ("orders", "payments")

Headers = Mapping[str, str]  #: a request's headers (Starlette's are case-insensitive)


@dataclass(frozen=True)
class Route:
    """Requests under `prefix` need an IdP token for `audience`; they go to `service`,
    whose internal token may carry at most `scopes`."""

    prefix: str
    service: str
    audience: str
    scopes: frozenset[str]


ROUTES = [
    Route("/orders", "orders", "orders-api",
          frozenset({"orders:read", "orders:write"})),
    Route("/payments", "payments", "payments-api",
          frozenset({"payments:read", "payments:write"})),
]


def bearer(headers: Headers) -> str:
    """The request's bearer token, or "" (which every verifier refuses as malformed)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def refuse(status: int, reason: str, by: str) -> JSONResponse:
    """An RFC 6750 refusal saying which hop refused (`by`) and why; never the token."""
    error = "invalid_token" if status == 401 else "insufficient_scope"
    challenge = f'Bearer realm="{by}", error="{error}"'
    return JSONResponse({"error": error, "reason": reason, "by": by},
                        status_code=status, headers={"WWW-Authenticate": challenge})


# === Hop 1: the gateway ===============================================================


class KeyCache:
    """The gateway's copy of the IdP's key set: fetched at start, refetched when a
    token names a new kid. A small cousin of `jwtlab.jwks.JwksClient` (lab 3): no TTL,
    no outage handling, one rule.
    """

    def __init__(self, url: str, http: httpx.AsyncClient,
                 clock: Callable[[], float]) -> None:
        self.url, self.http, self.clock = url, http, clock
        self.keys: KeySet | None = None
        self.kids: frozenset[str] = frozenset()
        #: When an unknown kid last made the cache refetch.
        self.last_forced = float("-inf")

    async def fetch(self) -> None:
        """Download and parse the IdP's JWKS (keeping keys ALGORITHMS can use)."""
        resp = await self.http.get(self.url)
        self.keys, self.kids = JwksClient.parse(resp.content, tuple(ALGORITHMS))

    async def keys_for(self, kid: str) -> KeySet | None:
        """The key set for a token whose `kid` is not in it — refetched if allowed now.

        A new kid may mean the IdP has just rotated; it may as well be an attacker's
        random string.
        """
        # BEGIN SOLUTION key-cache
        if kid not in self.kids and self.clock() - self.last_forced >= REFETCH_INTERVAL:
            self.last_forced = self.clock()
            await self.fetch()
        return self.keys
        # STARTER: if kid not in self.kids:  # a new key? the IdP has rotated: ask it
        # STARTER:     await self.fetch()
        # STARTER: return self.keys
        # END SOLUTION


async def verify_user(token: str, route: Route, cache: KeyCache,
                      now: float) -> dict[str, Any]:
    """The IdP token's claims, verified for the route's audience; an unknown kid asks
    the cache once."""
    options: dict[str, Any] = {"issuer": ISSUER, "audience": route.audience,
                               "algorithms": ALGORITHMS, "typ": TOKEN_TYPE, "now": now}
    try:
        return verify_token(token, cache.keys, **options)
    except TokenRejected as exc:
        if exc.reason != "kid_unknown":
            raise
        keys = await cache.keys_for(str((exc.unverified_header or {}).get("kid")))
    return verify_token(token, keys, **options)


async def admit(method: str, token: str, route: Route, cache: KeyCache,
                now: float) -> dict[str, Any]:
    """The caller's claims, or `jwt.InvalidTokenError` (a 401 from the gateway)."""
    # BEGIN SOLUTION verify-every-route
    return await verify_user(token, route, cache, now)
    # STARTER: if method in SAFE_METHODS:  # reads change nothing: save the check
    # STARTER:     return jwt.decode(token, options={"verify_signature": False})
    # STARTER: return await verify_user(token, route, cache, now)
    # END SOLUTION


def internal_scope(claims: dict[str, Any], route: Route) -> str:
    """The scope of the internal token for `route.service`."""
    # BEGIN SOLUTION narrow-scope
    held = claims.get("scope")
    held_scopes = set(held.split()) if isinstance(held, str) else set()
    return " ".join(sorted(held_scopes & route.scopes))
    # STARTER: return " ".join(sorted(route.scopes))  # the service checks anyway
    # END SOLUTION


def internal_token(claims: dict[str, Any], route: Route, now: float) -> str:
    """The gateway vouches for the caller, to one service, for a few minutes (lab 4)."""
    issued = int(now)
    payload = {
        "iss": INTERNAL_ISSUER, "aud": route.service, "sub": claims["sub"],
        "scope": internal_scope(claims, route), "iat": issued,
        "exp": min(issued + INTERNAL_TTL, int(claims["exp"])),
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(payload, GATEWAY_KEY.signing_key, algorithm=GATEWAY_KEY.alg,
                      headers={"kid": GATEWAY_KEY.kid, "typ": TOKEN_TYPE})


def route_for(path: str) -> Route | None:
    """The route whose prefix the path is under, at a segment boundary (lab 4 adds
    the longest-prefix rule)."""
    return next((r for r in ROUTES
                 if path == r.prefix or path.startswith(r.prefix + "/")), None)


def create_gateway(jwks_url: str, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """The gateway. Set `app.state.upstreams` ({service: base URL}) once the
    services are up."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5) as http:
            state["http"], state["cache"] = http, KeyCache(jwks_url, http, clock)
            await state["cache"].fetch()
            yield

    app = FastAPI(title="gateway", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.upstreams = {}

    @app.api_route("/{path:path}", methods=METHODS)
    async def proxy(path: str, request: Request) -> Response:
        route = route_for(request.url.path)
        if route is None:
            return JSONResponse({"error": "not_found", "by": "gateway"},
                                status_code=404)
        try:
            claims = await admit(request.method, bearer(request.headers), route,
                                 state["cache"], clock())
        except jwt.InvalidTokenError as exc:
            return refuse(401, getattr(exc, "reason", "malformed"), "gateway")
        # Only the internal token travels on: no client header (X-User, the IdP
        # token) ever reaches a service.
        internal = internal_token(claims, route, clock())
        url = app.state.upstreams[route.service] + request.url.path
        answer = await state["http"].request(
            request.method, url, headers={"authorization": f"Bearer {internal}"},
            content=await request.body())
        return Response(answer.content, status_code=answer.status_code,
                        media_type="application/json")

    return app


# === Hops 2 and 3: the services =======================================================


def verify_internal(token: str, audience: str | None, now: float) -> dict[str, Any]:
    """An internal token's claims: signed by the gateway, for `audience` (None: any
    audience), short-lived."""
    return verify_token(token, GATEWAY_JWKS, issuer=INTERNAL_ISSUER, audience=audience,
                        algorithms=ALGORITHMS, typ=TOKEN_TYPE,
                        max_lifetime=INTERNAL_TTL, now=now)


def orders_caller(headers: Headers, now: float) -> dict[str, Any]:
    """Who calls orders: the claims of the internal token the request carries."""
    # BEGIN SOLUTION no-header-trust
    return verify_internal(bearer(headers), "orders", now)
    # STARTER: if "x-user" in headers:  # the gateway has already checked who this is
    # STARTER:     return {"sub": headers["x-user"], "aud": "orders",
    # STARTER:             "scope": headers.get("x-scope", "")}
    # STARTER: return verify_internal(bearer(headers), "orders", now)
    # END SOLUTION


def payments_caller(headers: Headers, now: float) -> dict[str, Any]:
    """Who calls payments: the claims of the internal token the request carries."""
    # BEGIN SOLUTION own-audience
    return verify_internal(bearer(headers), "payments", now)
    # STARTER: claims = verify_internal(bearer(headers), None, now)
    # STARTER: if claims["aud"] not in SERVICES:  # made by our gateway for one of ours
    # STARTER:     raise TokenRejected("audience", "Not for one of our services.")
    # STARTER: return claims
    # END SOLUTION


def create_service(name: str, caller: Callable[[Headers, float], dict[str, Any]], *,
                   clock: Callable[[], float] = time.time) -> FastAPI:
    """A service that answers with who called it, once `caller` has said who and the
    scope allows it."""
    app = FastAPI(title=name, docs_url=None, redoc_url=None, openapi_url=None)

    @app.api_route("/{path:path}", methods=METHODS)
    async def handle(path: str, request: Request) -> JSONResponse:
        try:
            claims = caller(request.headers, clock())
        except TokenRejected as exc:
            return refuse(401, exc.reason, name)
        needed = f"{name}:{'read' if request.method in SAFE_METHODS else 'write'}"
        if needed not in str(claims.get("scope", "")).split():
            return refuse(403, f"needs {needed}", name)
        return JSONResponse({"by": name, "sub": claims["sub"], "scope": claims["scope"],
                             "aud": claims["aud"]})

    return app
