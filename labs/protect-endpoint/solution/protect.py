"""Lab 1 — Protect an endpoint: the orders API and the dependency that verifies its access tokens.

The service has a public route (`/health`), a route for any signed-in user (`/me`) and a route that
needs the `orders:read` scope (`/orders`). Everything between the `Authorization` header and "this is
Alice, she may read orders" is yours to write, one small function per task, with PyJWT:

    bearer_token -> read_header -> decode_claims -> load_user -> require_scope
                      (authenticate ties them together; rfc6750_response answers every refusal)

The issuer's key is a demo key published with the course: never reuse it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from jwtlab import b64, clock, keys
from jwtlab.verify import TokenRejected, parse_json_object

log = logging.getLogger("orders")

REALM = "orders"
ISSUER = clock.DEMO_ISSUER  # "https://idp.course.example"
AUDIENCE = clock.DEMO_AUDIENCE  # "orders-api"
ALGORITHMS = ["RS256"]
TOKEN_TYPE = "at+jwt"  # RFC 9068 access tokens; an ID token ("JWT") is not an access token
LEEWAY = 30  # seconds of clock skew tolerated on exp/nbf/iat (at most 60)
MAX_TOKEN_CHARS = 8192
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
MAX_LIFETIME = 3600  # seconds from iat to exp: the issuer's access tokens live 5 minutes; an hour is the most we take
KEY_CARRYING_HEADERS = ("jwk", "jku", "x5u", "x5c")
#: The identity provider's public key (demo key rsa-0). The service holds no private key.
PUBLIC_KEY = keys.rsa_key(0).public_key


@dataclass(frozen=True)
class User:
    sub: str
    name: str
    disabled: bool = False


USERS = {
    "alice": User("alice", "Alice"),
    "bob": User("bob", "Bob"),
    "mallory": User("mallory", "Mallory", disabled=True),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling and what the token allows: what route handlers receive."""

    user: User
    scopes: frozenset[str]
    claims: dict[str, Any]


class AuthError(Exception):
    """Base of the three refusals RFC 6750 defines; `rfc6750_response` turns each into a response."""


class NoToken(AuthError):
    """The request carries no bearer token: 401 without an error code (RFC 6750 §3.1)."""

    reason = "no_token"


class InvalidToken(AuthError):
    """The token is bad for any reason: 401 `invalid_token`.

    `reason` is a short code for the log and body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidRequest(AuthError):
    """The request is malformed, e.g. two Authorization headers: 400 `invalid_request` (RFC 6750 §3.1)."""

    reason = "invalid_request"


class InsufficientScope(AuthError):
    """The token is fine but lacks `scope`: 403 `insufficient_scope`."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope
        self.reason = "insufficient_scope"


def bearer_token(authorization: list[str]) -> str:
    """The token from the request's `Authorization: Bearer <token>` header values (RFC 6750 §2.1).

    `authorization` holds every Authorization header of the request. None, another scheme or an empty
    token → `NoToken`; two or more headers → `InvalidRequest` (which one would the gateway have
    checked?); a token longer than MAX_TOKEN_CHARS → `InvalidToken("too_large")`, before any decoding.
    """
    # BEGIN SOLUTION bearer
    if len(authorization) > 1:
        raise InvalidRequest()
    if not authorization:
        raise NoToken()
    scheme, _, token = authorization[0].partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NoToken()
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("too_large")
    return token
    # END SOLUTION


def strict_json(token: str, index: int, what: str) -> dict[str, Any]:
    """Given: segment `index` of the token (0 header, 1 claims) as strict JSON,
    else `InvalidToken`.

    PyJWT's own parser takes bytes that the security checklist forbids: a name
    given twice (`{"sub": "alice", "sub": "administrator"}` — which one does the
    gateway see?), UTF-16, UTF-32 and a byte-order mark.
    `jwtlab.verify.parse_json_object` refuses them, and NaN, with a reason code.
    `read_header` and `decode_claims` start with this, so your code only ever
    sees strict JSON.
    """
    try:
        return parse_json_object(b64.decode(token.split(".")[index]), what)
    except TokenRejected as exc:
        raise InvalidToken(exc.reason) from None
    except (IndexError, ValueError):  # too few segments, or not canonical base64url
        raise InvalidToken("malformed") from None


def read_header(token: str) -> dict[str, Any]:
    """The token's header, accepted only if the verifier would pick this algorithm and this token type.

    The header is unverified at this point: it may only be used to *refuse*, never to choose a key.
    """
    header = strict_json(token, 0, "header")
    # BEGIN SOLUTION header
    if header.get("alg") not in ALGORITHMS:
        raise InvalidToken("alg_not_allowed")
    if header.get("typ") != TOKEN_TYPE:
        raise InvalidToken("wrong_type")
    if any(name in header for name in KEY_CARRYING_HEADERS):
        raise InvalidToken("forbidden_header")
    return header
    # END SOLUTION


def decode_claims(token: str) -> dict[str, Any]:
    """Verify the signature with PUBLIC_KEY and the claims (issuer, audience, required claims, leeway),
    then what PyJWT leaves open: exp and iat are whole numbers, and the token lives at most MAX_LIFETIME."""
    strict_json(token, 1, "claims")
    # BEGIN SOLUTION claims
    try:
        claims = jwt.decode(
            token,
            PUBLIC_KEY,
            algorithms=ALGORITHMS,
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway=LEEWAY,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if type(claims["exp"]) is not int or type(claims["iat"]) is not int:  # PyJWT takes "exp": "1799999999"
        raise InvalidToken("bad_claim_type")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise InvalidToken("lifetime_too_long")
    return claims
    # END SOLUTION


def load_user(claims: dict[str, Any]) -> User:
    """The user the token speaks for: `sub` must name a known, enabled user."""
    # BEGIN SOLUTION user
    user = USERS.get(claims.get("sub"))  # type: ignore[arg-type]
    if user is None:
        raise InvalidToken("unknown_user")
    if user.disabled:
        raise InvalidToken("disabled_user")
    return user
    # END SOLUTION


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse with `InsufficientScope(scope)` unless the token granted `scope`."""
    # BEGIN SOLUTION scope
    if scope not in principal.scopes:
        raise InsufficientScope(scope)
    # END SOLUTION


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """The space-separated `scope` claim (RFC 9068 §2.2.3) as a set; anything else grants nothing."""
    scope = claims.get("scope")
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def rfc6750_response(request: Request, exc: Exception) -> JSONResponse:
    """The RFC 6750 §3 answer to a refusal: status code, `WWW-Authenticate` challenge and a small JSON body."""
    # BEGIN SOLUTION responses
    if isinstance(exc, InsufficientScope):
        challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{exc.scope}"'
        return JSONResponse({"detail": "insufficient scope", "scope": exc.scope}, 403, {"WWW-Authenticate": challenge})
    if isinstance(exc, InvalidToken):
        challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="the access token is not valid"'
        return JSONResponse({"detail": "invalid token", "reason": exc.reason}, 401, {"WWW-Authenticate": challenge})
    if isinstance(exc, InvalidRequest):
        challenge = f'Bearer realm="{REALM}", error="invalid_request"'
        return JSONResponse({"detail": "invalid request"}, 400, {"WWW-Authenticate": challenge})
    return JSONResponse({"detail": "not authenticated"}, 401, {"WWW-Authenticate": f'Bearer realm="{REALM}"'})
    # END SOLUTION


def authenticate(request: Request) -> Principal:
    """The FastAPI dependency: every step above, failing closed, logging the reason but never the token."""
    # BEGIN SOLUTION fail-closed
    try:
        token = bearer_token(request.headers.getlist("authorization"))
        read_header(token)
        claims = decode_claims(token)
        user = load_user(claims)
    except AuthError as exc:
        log.info("request refused: reason=%s", exc.reason)
        raise
    except Exception as exc:  # anything unforeseen is a refusal too, never a 500
        log.warning("request refused: reason=unexpected_%s", type(exc).__name__)
        raise InvalidToken("malformed") from None
    log.info("request accepted: sub=%s", user.sub)
    return Principal(user, scopes_of(claims), claims)
    # END SOLUTION


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def create_app() -> FastAPI:
    app = FastAPI(title="orders")
    app.add_exception_handler(AuthError, rfc6750_response)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.user.sub, "name": principal.user.name}

    @app.get("/orders")
    def orders(principal: CurrentPrincipal) -> dict[str, Any]:
        require_scope(principal, "orders:read")
        items = [{"id": 1, "item": "coffee beans"}]
        return {"owner": principal.user.sub, "orders": items}

    return app


app = create_app()
