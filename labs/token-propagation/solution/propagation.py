"""Lab 5 — Token propagation: the exchange rules of a security token service, and a service that uses them.

The user's token reaches `orders` (aud "orders"). Orders must call `payments`, which calls `ledger`.
Forwarding the user's token would let every service replay it at every other one; instead each hop
exchanges the token it received for one meant for the next service only (OAuth 2.0 Token Exchange,
RFC 8693):

    user --(aud orders)--> orders --(aud payments, act: orders)--> payments --(aud ledger, act: payments, orders)--> ledger

You write the rules of the exchange (one small function per task) and the exchange-and-call step of a
service. The HTTP parts — the STS's `/token` endpoint and the three services — are given. The course
toolkit's full version is `jwtlab.exchange` (client authentication, multi-issuer trust, certificate
binding); read it after the lab.

The signing key and the client secrets are DEMO values published with the course: never reuse them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from typing import Annotated, Any

import httpx
import jwt
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from jwtlab import keys
from jwtlab.exchange import ACCESS_TOKEN_TYPE, MAX_ACT_DEPTH, TOKEN_EXCHANGE_GRANT, ExchangeError, parse_form
from jwtlab.verify import TokenRejected, verify_token

ISSUER = "https://idp.course.example"  # the identity provider, which also runs the STS
KEY = keys.ed25519_key("lab/token-propagation")  # DEMO signing key (EdDSA) of the IdP/STS
ALGORITHMS = ["EdDSA"]
LIFETIME = 120  # seconds an exchanged token lives at most
LEEWAY = 60  # clock skew tolerated when verifying

#: The services tokens may be exchanged for, and the scopes each accepts.
TARGETS: dict[str, frozenset[str]] = {
    "orders": frozenset({"orders:read", "orders:write"}),
    "payments": frozenset({"payments:charge", "payments:read"}),
    "ledger": frozenset({"payments:charge"}),  # the ledger records charges
}
#: Confidential clients of the STS (client_secret_basic). DEMO secrets.
CLIENTS: dict[str, str] = {"orders": "orders-demo-secret", "payments": "payments-demo-secret"}

# --- the exchange rules (yours) -------------------------------------------------------------------


def target_scopes(audience: str | None) -> frozenset[str]:
    """The scopes the requested target accepts; an unknown target is `invalid_target` (RFC 8693 §2.2.2)."""
    # BEGIN SOLUTION target
    if audience not in TARGETS:
        raise ExchangeError("invalid_target", f"{str(audience)[:80]!r} is not a registered service.")
    return TARGETS[audience]
    # END SOLUTION


def issued_scope(requested: str | None, subject_scope: Any, allowed: frozenset[str]) -> str:
    """requested ∩ subject ∩ allowed, as a space-separated string; empty is `invalid_scope`.

    `requested` None means "what the subject token has". A scope claim that is not a string holds no scopes.
    """
    # BEGIN SOLUTION narrow
    held = set(subject_scope.split()) if isinstance(subject_scope, str) else set()
    wanted = held if requested is None else set(requested.split())
    scope = wanted & held & allowed
    if not scope:
        raise ExchangeError("invalid_scope", "No requested scope is held by the subject token and accepted by the target.")
    return " ".join(sorted(scope))
    # END SOLUTION


def check_requester(subject: dict[str, Any], client_id: str) -> None:
    """The requesting client must be an audience of the subject token: a token is exchanged by whom it was for.

    If the subject token has `may_act` (RFC 8693 §4.4), it names the one party allowed to act for the user:
    it must be an object whose `sub` is the requesting client.
    """
    # BEGIN SOLUTION requester
    aud = subject.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise ExchangeError("invalid_request", f"The requesting client {client_id!r} is not an audience of the subject_token.")
    if "may_act" in subject:
        may_act = subject["may_act"]
        if not isinstance(may_act, dict) or may_act.get("sub") != client_id:
            raise ExchangeError("invalid_request", f"The subject token's may_act does not allow {client_id!r} to act.")
    # END SOLUTION


def expiry(subject: dict[str, Any], now: int) -> int:
    """exp of the new token: at most LIFETIME from now and never after the subject token's exp."""
    # BEGIN SOLUTION lifetime
    exp = min(int(subject["exp"]), now + LIFETIME)
    if exp <= now:
        raise ExchangeError("invalid_request", "The subject token expires now; nothing can be issued from it.")
    return exp
    # END SOLUTION


def actor(subject: dict[str, Any], client_id: str) -> dict[str, Any]:
    """The new `act` claim: the requesting client, wrapping the subject token's `act` if it has one (RFC 8693 §4.1).

    The whole earlier chain is checked, not just its first link: every actor is an object with a non-empty
    string `sub`, and the new chain is at most MAX_ACT_DEPTH actors long.
    """
    # BEGIN SOLUTION act
    act: dict[str, Any] = {"sub": client_id}
    if "act" in subject:
        link = subject["act"]
        for _ in range(MAX_ACT_DEPTH - 1):  # the earlier chain leaves room for the new actor
            if not isinstance(link, dict) or not isinstance(link.get("sub"), str) or not link["sub"]:
                raise ExchangeError("invalid_request", "The subject token's act claim is malformed.")
            if "act" not in link:
                break
            link = link["act"]
        else:
            raise ExchangeError("invalid_request", f"The delegation chain would be longer than {MAX_ACT_DEPTH} actors.")
        act["act"] = subject["act"]
    return act
    # END SOLUTION


def exchanged_claims(subject: dict[str, Any], client_id: str, audience: str | None, scope: str | None, now: int) -> dict[str, Any]:
    """The claims of the token to issue: same user, one audience, narrowed scope, bounded exp, new jti, act."""
    # BEGIN SOLUTION issue
    check_requester(subject, client_id)
    allowed = target_scopes(audience)
    return {
        "iss": ISSUER,
        "sub": subject["sub"],
        "aud": audience,
        "client_id": client_id,
        "scope": issued_scope(scope, subject.get("scope"), allowed),
        "iat": now,
        "exp": expiry(subject, now),
        "jti": secrets.token_urlsafe(16),
        "act": actor(subject, client_id),
    }
    # END SOLUTION


def sign(claims: dict[str, Any]) -> str:
    """Sign `claims` with KEY as an RFC 9068 access token (header typ at+jwt, the key's kid)."""
    # BEGIN SOLUTION issue
    return jwt.encode(claims, KEY.signing_key, algorithm=KEY.alg, headers=KEY.headers(typ="at+jwt"))
    # END SOLUTION


# --- the exchange-and-call step of a service (yours) -------------------------------------------------


def call_downstream(http: httpx.Client, sts_url: str, me: str, subject_token: str, target: str, scope: str,
                    url: str) -> httpx.Response:
    """Exchange `subject_token` at the STS as client `me` for a `target` token with `scope`, then POST `url` with it.

    A failed exchange raises ExchangeError with the STS's error code: never fall back to forwarding the
    token you received.
    """
    # BEGIN SOLUTION propagate
    resp = http.post(sts_url + "/token", auth=(me, CLIENTS[me]), data={
        "grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": target, "scope": scope,
    })
    try:
        answer = resp.json()
    except ValueError:  # not JSON: a proxy's error page, an empty body
        answer = None
    if not isinstance(answer, dict):
        raise ExchangeError("server_error", "The STS did not answer with a JSON object.", status=resp.status_code)
    if resp.status_code != 200 or not isinstance(answer.get("access_token"), str):
        raise ExchangeError(str(answer.get("error", "server_error")), "The token exchange failed.", status=resp.status_code)
    return http.post(url, headers={"Authorization": f"Bearer {answer['access_token']}"})
    # END SOLUTION


# --- given: the STS endpoint ------------------------------------------------------------------------


def not_written(exc: NotImplementedError) -> JSONResponse:
    """The answer of the STS and the services while one of your functions is still a TODO: 501 with the
    task's name and hint command (the starter's NotImplementedError says both), not a bare 500."""
    return JSONResponse({"error": "not_implemented", "error_description": f"not written yet: {exc}"}, status_code=501)


def authenticate(authorization: str | None) -> str:
    """client_secret_basic: the client_id of a registered client with the right secret, else invalid_client (401)."""
    scheme, _, value = (authorization or "").partition(" ")
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, secret = "", ""
    expected = CLIENTS.get(client_id, "")
    if scheme.lower() != "basic" or not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise ExchangeError("invalid_client", "Unknown client or wrong secret.", status=401)
    return client_id


def verify_subject(token: str | None) -> dict[str, Any]:
    """Verify the subject token's signature, issuer, typ and times. Its audience is `check_requester`'s job."""
    try:
        return verify_token(token or "", KEY, issuer=ISSUER, audience=None, algorithms=ALGORITHMS, typ="at+jwt",
                            leeway=LEEWAY)
    except TokenRejected as exc:
        raise ExchangeError("invalid_request", "The subject_token is not acceptable.", reason=exc.reason) from None


def create_sts() -> FastAPI:
    """The STS: `POST /token` with grant_type token-exchange,
    authenticated clients only."""
    app = FastAPI(title="sts", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        try:
            client_id = authenticate(request.headers.get("authorization"))
            form = parse_form(request.headers.get("content-type"), await request.body())
            if form.get("grant_type") != [TOKEN_EXCHANGE_GRANT]:
                raise ExchangeError(
                    "unsupported_grant_type", "Only token exchange is served here."
                )
            if len(form.get("audience", [])) > 1:
                raise ExchangeError("invalid_target", "One target per exchange.")
            subject = verify_subject(form.get("subject_token", [None])[0])
            now = int(time.time())
            audience = form.get("audience", [None])[0]
            scope = form.get("scope", [None])[0]
            claims = exchanged_claims(subject, client_id, audience, scope, now)
            access_token = sign(claims)
        except ExchangeError as exc:
            return JSONResponse(
                exc.body(),
                status_code=exc.status,
                headers={"Cache-Control": "no-store"},
            )
        except NotImplementedError as exc:
            return not_written(exc)
        answer = {
            "access_token": access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": claims["exp"] - now,
            "scope": claims["scope"],
        }
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return app


# --- given: the three services ----------------------------------------------------------------------

#: Per service: its route, the scope the route needs, and the service it calls next (None: the last hop).
ROUTES: dict[str, tuple[str, str, str | None]] = {
    "orders": ("/checkout", "orders:write", "payments"),
    "payments": ("/charge", "payments:charge", "ledger"),
    "ledger": ("/record", "payments:charge", None),
}
DOWNSTREAM_SCOPE = "payments:charge"


def create_service(name: str, urls: dict[str, str]) -> FastAPI:
    """Service `name`: verifies tokens for its own audience, then calls the next hop
    via `call_downstream`.

    `urls` maps "sts" and the service names to base URLs (filled in once every
    server has a port). The answer shows what the service saw — sub, aud, scope,
    act, jti — and the next hop's answer.
    """
    path, needed, downstream = ROUTES[name]
    app = FastAPI(title=name, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(path)
    def handle(authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        header = authorization or ""
        token = header[7:] if header[:7].lower() == "bearer " else ""
        try:
            claims = verify_token(
                token,
                KEY,
                issuer=ISSUER,
                audience=name,
                algorithms=ALGORITHMS,
                typ="at+jwt",
            )
        except TokenRejected as exc:
            challenge = f'Bearer realm="{name}", error="invalid_token"'
            return JSONResponse(
                {"error": "invalid_token", "reason": exc.reason},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        if needed not in str(claims.get("scope", "")).split():
            return JSONResponse(
                {"error": "insufficient_scope", "scope": needed}, status_code=403
            )
        shown = ("sub", "aud", "scope", "act", "jti", "exp")
        seen: dict[str, Any] = {k: claims.get(k) for k in shown}
        if downstream is not None:
            with httpx.Client(timeout=10) as http:
                try:
                    resp = call_downstream(
                        http,
                        urls["sts"],
                        name,
                        token,
                        downstream,
                        DOWNSTREAM_SCOPE,
                        urls[downstream] + ROUTES[downstream][0],
                    )
                except ExchangeError as exc:
                    failure = {
                        "error": "exchange_failed",
                        "exchange_error": exc.error,
                        "error_description": exc.description,
                    }
                    return JSONResponse(failure, status_code=502)
                except NotImplementedError as exc:
                    return not_written(exc)
            seen["downstream"] = {"status": resp.status_code, "body": resp.json()}
        return JSONResponse(seen)

    return app
