"""Lab 4 — a small API gateway: verify once at the edge, forward an identity the services can trust.

You write the decisions; the plumbing (the FastAPI app, the HTTP proxying, the JWKS client) is given.
The course's full gateway, `jwtlab.gateway`, adds what production needs on top: a raw-ASGI fast path,
several issuers, scopes per route, claim-header forwarding, a verified-token cache, metrics and
readiness. The rules here (each one is a task, in order):

* strip          — delete every identity header a client sends, before anything reads the request.
* route          — longest prefix wins at a segment boundary; no route matches → deny (404).
* bearer         — exactly one `Authorization: Bearer` token, size-capped before any decoding.
* verify         — exact issuer, the route's audience, EdDSA only, `typ: at+jwt`: a bad token is a 401.
* internal-token — a short-lived token the gateway signs for one upstream service.
* forward        — the original token never travels further; only the internal one does.
* pipeline       — the steps in that order, for every request.

Demo only: GATEWAY_KEY is a demo key published with the course.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from jwtlab.clock import DEMO_ISSUER
from jwtlab.gateway import GATEWAY_ISSUER
from jwtlab.jwks import JwksClient, JwksUnavailable, verify_with
from jwtlab.keys import ed25519_key
from jwtlab.verify import TokenRejected

ISSUER = DEMO_ISSUER  #: the only issuer whose tokens the gateway accepts
ALGORITHMS = ["EdDSA"]  #: the issuer's algorithm, and the only one
TOKEN_TYPE = "at+jwt"  #: RFC 9068 access tokens
MAX_TOKEN_CHARS = 8192  #: longer is refused before anything decodes it
IDENTITY_PREFIXES = ("x-user", "x-auth-", "x-forwarded-user", "x-jwt-", "x-gateway-")
GATEWAY_KEY = ed25519_key("lab4-gateway")  #: DEMO key: signs the internal tokens
INTERNAL_ISSUER = GATEWAY_ISSUER  #: `iss` of the internal tokens (what the services expect)
INTERNAL_TTL = 300  #: seconds an internal token lives, at most
#: Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the HTTP client recomputes: never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})

Headers = list[tuple[str, str]]  #: (lower-case name, value), in order, duplicates kept


@dataclass(frozen=True)
class Route:
    """Requests under `prefix` go to `upstream`; their token must be for `audience`,
    and the internal token the gateway makes for them is for `service`."""

    prefix: str
    upstream: str
    audience: str
    service: str


class Denied(Exception):
    """The gateway's answer instead of the upstream's: `status`, a stable `reason`,
    an RFC 6750 `error`."""

    def __init__(self, status: int, reason: str, error: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.error = status, reason, error


def strip_identity_headers(headers: Headers) -> Headers:
    """The request's headers without any whose name starts with one of IDENTITY_PREFIXES (any case)."""
    # BEGIN SOLUTION strip
    return [(name, value) for name, value in headers if not name.lower().startswith(IDENTITY_PREFIXES)]
    # END SOLUTION


def match_route(path: str, routes: list[Route]) -> Route:
    """The route for `path`: the longest prefix that matches at a segment boundary.

    Deny by default: no match is Denied(404, "route_not_found"). A path with `.`/`..` segments or a
    backslash is Denied(400, "bad_path", "invalid_request"): the upstream might normalise it into a
    route the gateway never checked.
    """
    # BEGIN SOLUTION route
    if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
        raise Denied(400, "bad_path", "invalid_request")
    for route in sorted(routes, key=lambda r: len(r.prefix), reverse=True):
        if path == route.prefix or path.startswith(route.prefix + "/"):
            return route
    raise Denied(404, "route_not_found")
    # END SOLUTION


def bearer_token(headers: Headers) -> str:
    """The one bearer token of the request.

    No Authorization header, another scheme or an empty token: Denied(401, "no_token"). Two
    Authorization headers: Denied(400, "multiple_tokens", "invalid_request"). A token longer than
    MAX_TOKEN_CHARS: Denied(401, "too_large", "invalid_token"), before anything decodes it.
    """
    # BEGIN SOLUTION bearer
    values = [value for name, value in headers if name.lower() == "authorization"]
    if len(values) > 1:
        raise Denied(400, "multiple_tokens", "invalid_request")
    scheme, _, token = (values[0] if values else "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Denied(401, "no_token")
    if len(token) > MAX_TOKEN_CHARS:
        raise Denied(401, "too_large", "invalid_token")
    return token
    # END SOLUTION


async def verify(token: str, route: Route, jwks: JwksClient, now: float) -> dict[str, Any]:
    """The token's claims, verified for `route` with the issuer's cached keys (`jwtlab.jwks.verify_with`).

    A rejected token is Denied(401, <its reason>, "invalid_token"); no usable keys (cold start, long
    outage) is Denied(503, <reason>, "temporarily_unavailable").
    """
    # BEGIN SOLUTION verify
    try:
        return await verify_with(jwks, token, issuer=ISSUER, audience=route.audience, algorithms=ALGORITHMS,
                                 typ=TOKEN_TYPE, now=now, max_size=MAX_TOKEN_CHARS)
    except TokenRejected as exc:
        raise Denied(401, exc.reason, "invalid_token") from None
    except JwksUnavailable as exc:
        raise Denied(503, exc.reason, "temporarily_unavailable") from None
    # END SOLUTION


def internal_token(claims: dict[str, Any], service: str, now: float) -> str:
    """A token for one upstream `service`, signed with GATEWAY_KEY: the gateway vouches for who called.

    Claims: iss INTERNAL_ISSUER, aud `service`, the caller's sub and scope, iat now, exp at most
    INTERNAL_TTL later and never past the original token's exp, a fresh jti. Header: kid and typ at+jwt.
    """
    # BEGIN SOLUTION internal-token
    issued = int(now)
    payload = {
        "iss": INTERNAL_ISSUER, "aud": service, "sub": claims["sub"], "scope": claims.get("scope", ""),
        "iat": issued, "exp": min(issued + INTERNAL_TTL, int(claims["exp"])), "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(payload, GATEWAY_KEY.signing_key, algorithm=GATEWAY_KEY.alg,
                      headers={"kid": GATEWAY_KEY.kid, "typ": TOKEN_TYPE})
    # END SOLUTION


def upstream_headers(headers: Headers, internal: str) -> Headers:
    """The headers sent upstream: the client's, minus Authorization and HOP_BY_HOP, plus the internal token."""
    # BEGIN SOLUTION forward
    kept = [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP | {"authorization"}]
    return [*kept, ("authorization", f"Bearer {internal}")]
    # END SOLUTION


async def authorize(headers: Headers, path: str, routes: list[Route], jwks: JwksClient,
                    now: float) -> tuple[Route, Headers]:
    """Every decision for one request, in order: the route to use and the headers to send it."""
    # BEGIN SOLUTION pipeline
    headers = strip_identity_headers(headers)
    route = match_route(path, routes)
    claims = await verify(bearer_token(headers), route, jwks, now)
    return route, upstream_headers(headers, internal_token(claims, route.service, now))
    # END SOLUTION


# --- given: the app around your decisions ------------------------------------------------------------


def denial(exc: Denied) -> JSONResponse:
    """An RFC 6750 answer: WWW-Authenticate on 401/403 (with the error once there is a token to blame)."""
    headers = {"Cache-Control": "no-store"}
    if exc.status in (401, 403):
        headers["WWW-Authenticate"] = 'Bearer realm="lab-gateway"' + (f', error="{exc.error}"' if exc.error else "")
    return JSONResponse({"error": exc.error or "denied", "reason": exc.reason}, status_code=exc.status,
                        headers=headers)


def create_gateway(jwks_url: str, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """The gateway app.

    Set `app.state.routes` (a list of Route) once the services are up."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["jwks"] = JwksClient(jwks_url, clock=clock)
        await state["jwks"].start()
        async with httpx.AsyncClient(timeout=5) as client:
            state["http"] = client
            yield
        await state["jwks"].close()

    app = FastAPI(
        title="lab-gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.routes = []

    @app.get("/.well-known/jwks.json")
    async def own_jwks() -> JSONResponse:
        """The key the services verify internal tokens with."""
        return JSONResponse(
            {"keys": [GATEWAY_KEY.public_jwk()]},
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def proxy(path: str, request: Request) -> Response:
        try:
            route, headers = await authorize(
                list(request.headers.items()),
                request.url.path,
                app.state.routes,
                state["jwks"],
                clock(),
            )
        except Denied as exc:
            return denial(exc)
        query = f"?{request.url.query}" if request.url.query else ""
        url = route.upstream + request.url.path + query
        try:
            answer = await state["http"].request(
                request.method, url, headers=headers, content=await request.body()
            )
        except httpx.HTTPError:
            return denial(Denied(502, "upstream_unavailable"))
        dropped = HOP_BY_HOP | {"date", "server", "content-encoding"}
        kept = {k: v for k, v in answer.headers.items() if k not in dropped}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    return app
