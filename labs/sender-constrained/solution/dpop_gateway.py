"""Lab 8 — Sender-constrained tokens: the DPoP proof check (RFC 9449) of a gateway.

A bearer token works for whoever holds it: copied from a log, a proxy or a browser
extension, it is as good as the original. A DPoP-bound token carries `cnf.jkt`, the
thumbprint of the client's public key, and every request carries a fresh *proof*: a
small JWT signed by that key, naming this request and this token.

    client ──Authorization: DPoP <token>──▶ gateway ──▶ /orders
           ──DPoP: <proof>───────────────▶

You write the proof check, one task at a time, in the order the gateway runs it:

* scheme  — the DPoP scheme and exactly one proof header (no Bearer).
* proof   — typ dpop+jwt, an asymmetric alg, a public jwk in the header, its signature.
* request — htm and htu name this request; iat within the window.
* binding — ath is the hash of this token; cnf.jkt the thumbprint of the proof's key.
* replay  — each jti once, in a cache bounded in size and in time.

Given: the access token's own verification (`jwtlab.verify_token`: signature, issuer,
audience, expiry — lab 1's lesson), the app, the answers. The course's full version is
`jwtlab.dpop`; do not call it here, the point is to write each check and know why.

Demo only: TOKEN_KEY is a demo key published with the course.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from jwtlab.clock import DEMO_ISSUER
from jwtlab.keys import p256_key, thumbprint
from jwtlab.verify import TokenRejected, verify_token

ISSUER = DEMO_ISSUER  #: who issues the access tokens
AUDIENCE = "orders-api"  #: the gateway's audience
TOKEN_KEY = p256_key("lab8-idp")  #: DEMO key: the issuer signs access tokens (ES256)
TOKEN_JWKS = {"keys": [TOKEN_KEY.public_jwk()]}  #: what the gateway trusts for tokens
PROOF_TYPE = "dpop+jwt"  #: the `typ` of a proof (RFC 9449 §4.2)
#: Asymmetric only: a proof is signed with the client's *private* key.
PROOF_ALGORITHMS = ("ES256", "EdDSA")
#: Members only a private JWK has: a proof that carries them has leaked its key.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MAX_PROOF_CHARS = 4096  #: a proof is a few hundred characters
MAX_AGE = 60  #: seconds a proof may be old
LEEWAY = 5  #: seconds a client's clock may run ahead
#: How long a jti must be remembered: as long as its proof could pass the iat check.
REPLAY_WINDOW = MAX_AGE + LEEWAY
MAX_JTIS = 10_000  #: jtis the replay cache holds at most


class Refused(Exception):
    """A request the gateway refuses: 401, `reason` (a code for the log and the body)
    and `error`, the RFC 9449 code of the challenge (`invalid_dpop_proof` for the
    proof, `invalid_token` for the token, None when no credentials came at all)."""

    def __init__(self, reason: str, message: str,
                 error: str | None = "invalid_dpop_proof") -> None:
        super().__init__(message)
        self.reason, self.message, self.error = reason, message, error


# === Task scheme ======================================================================


def access_token(authorization: list[str]) -> str:
    """The token of the request's one `Authorization: DPoP <token>` header."""
    # BEGIN SOLUTION scheme
    if not authorization:
        raise Refused("no_token", "No access token.", error=None)
    if len(authorization) > 1:
        raise Refused("multiple_tokens", "Two Authorization headers.", "invalid_token")
    scheme, _, token = authorization[0].strip().partition(" ")
    if scheme.lower() != "dpop" or not token.strip():
        raise Refused("not_dpop", "This token needs the DPoP scheme and a proof.",
                      "invalid_token")
    return token.strip()
    # END SOLUTION


def proof_header(values: list[str]) -> str:
    """The request's one `DPoP` header: the proof (RFC 9449 §4.3, check 1)."""
    # BEGIN SOLUTION scheme
    if len(values) != 1:
        raise Refused("dpop_missing", f"Expected one DPoP header, got {len(values)}.")
    if len(values[0]) > MAX_PROOF_CHARS:
        raise Refused("dpop_invalid", "The DPoP header is too long to be a proof.")
    return values[0]
    # END SOLUTION


# === Given: the access token itself ===================================================


def token_claims(token: str, now: float) -> dict[str, Any]:
    """The access token's claims: by the issuer, for this audience, not expired."""
    try:
        return verify_token(token, TOKEN_JWKS, issuer=ISSUER, audience=AUDIENCE,
                            algorithms=["ES256"], typ="at+jwt", now=now)
    except TokenRejected as exc:
        raise Refused(exc.reason, "The access token is not valid.",
                      "invalid_token") from None


# === Task proof =======================================================================


def verify_proof(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(claims, public jwk) of a proof whose signature verifies with its own header's
    jwk (RFC 9449 §4.3, checks 2-7). Nothing about the request yet."""
    # BEGIN SOLUTION proof
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise Refused("dpop_invalid", "The proof is not a JWT.") from None
    if header.get("typ") != PROOF_TYPE:
        raise Refused("dpop_invalid", f"The proof's typ must be {PROOF_TYPE}.")
    alg = header.get("alg")
    if alg not in PROOF_ALGORITHMS:
        raise Refused("dpop_invalid", f"The proof's alg must be in {PROOF_ALGORITHMS}.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or any(m in jwk for m in PRIVATE_MEMBERS):
        raise Refused("dpop_invalid", "The proof must carry a public jwk, only that.")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
        claims = jwt.decode(proof, key, algorithms=[alg],
                            options={"verify_iat": False,
                                     "require": ["jti", "htm", "htu", "iat"]})
    except jwt.PyJWTError:
        raise Refused("dpop_invalid", "The proof fails with its own jwk.") from None
    return claims, jwk
    # END SOLUTION


# === Task request =====================================================================


def check_request(claims: dict[str, Any], method: str, url: str, now: float) -> None:
    """The proof names this request (`htm`, `htu` without query and fragment) and was
    made in [now - MAX_AGE, now + LEEWAY] (checks 8, 9 and 11)."""
    # BEGIN SOLUTION request
    if claims["htm"] != method:
        raise Refused("dpop_wrong_request", "The proof is for another method.")
    htu, target = urllib.parse.urlsplit(claims["htu"]), urllib.parse.urlsplit(url)
    if htu[:3] != target[:3]:  # scheme, host and port, path: not query, fragment
        raise Refused("dpop_wrong_request", "The proof is for another URL.")
    iat = claims["iat"]
    if type(iat) is not int or not now - MAX_AGE <= iat <= now + LEEWAY:
        raise Refused("dpop_stale", "The proof's iat is outside the window.")
    # END SOLUTION


# === Task binding =====================================================================


def check_binding(claims: dict[str, Any], jwk: dict[str, Any], token: str,
                  bound: dict[str, Any]) -> None:
    """The proof is for this token (`ath`), and the token for this proof's key
    (`cnf.jkt`, the RFC 7638 thumbprint: `jwtlab.keys.thumbprint`)."""
    # BEGIN SOLUTION binding
    ath = hashlib.sha256(token.encode("ascii")).digest()
    expected = jwt.utils.base64url_encode(ath).decode("ascii")
    sent = claims.get("ath")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(),
                                                            expected.encode()):
        raise Refused("dpop_wrong_token", "The proof is for another access token.")
    cnf = bound.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not hmac.compare_digest(jkt.encode(),
                                                           thumbprint(jwk).encode()):
        raise Refused("dpop_key_mismatch", "The token is bound to another key.",
                      "invalid_token")
    # END SOLUTION


# === Task replay ======================================================================


class JtiCache:
    """The jtis of accepted proofs, each kept `window` seconds after its iat, at most
    `max_entries` of them. When full, the oldest is forgotten and `floor` rises to its
    iat: from then on a proof made at or before the floor is refused, since its jti
    might be one of the forgotten."""

    def __init__(self, window: float = REPLAY_WINDOW,
                 max_entries: int = MAX_JTIS) -> None:
        self.window, self.max_entries = window, max_entries
        self.seen: dict[str, int] = {}  #: jti → iat
        self.floor = float("-inf")

    def __len__(self) -> int:
        return len(self.seen)

    def remember(self, jti: str, iat: int, now: float) -> None:
        """Record the jti of a proof that passed every other check; Refused if it was
        seen before (or might have been)."""
        # BEGIN SOLUTION replay
        for old in [j for j, t in self.seen.items() if t + self.window <= now]:
            del self.seen[old]
        if jti in self.seen:
            raise Refused("dpop_replay", "This proof was used before.")
        if iat > self.floor and len(self.seen) >= self.max_entries:
            oldest = min(self.seen, key=self.seen.__getitem__)
            self.floor = max(self.floor, self.seen.pop(oldest))
        if iat <= self.floor:
            raise Refused("dpop_stale", "Older than the cache can vouch for.")
        self.seen[jti] = iat
        # END SOLUTION


# === Given: the pipeline and the app ==================================================


def authenticate(headers: Headers, method: str, url: str, cache: JtiCache,
                 now: float) -> dict[str, Any]:
    """The claims of a DPoP-bound token whose proof names this request: every check, in
    order; the jti is recorded last, so that junk never fills the cache."""
    token = access_token(headers.getlist("authorization"))
    proof = proof_header(headers.getlist("dpop"))
    bound = token_claims(token, now)
    claims, jwk = verify_proof(proof)
    check_request(claims, method, url, now)
    check_binding(claims, jwk, token, bound)
    cache.remember(claims["jti"], claims["iat"], now)
    return bound


def refuse(exc: Refused) -> JSONResponse:
    """401 with the DPoP challenge (RFC 9449 §7.1); the reason, never the token."""
    challenge = f'DPoP algs="{" ".join(PROOF_ALGORITHMS)}"'
    if exc.error:
        challenge += f', error="{exc.error}", error_description="{exc.message}"'
    return JSONResponse({"error": exc.error, "reason": exc.reason}, status_code=401,
                        headers={"WWW-Authenticate": challenge})


def create_app(*, clock: Callable[[], float] = time.time) -> FastAPI:
    """The gateway and the one route behind it. Set `app.state.public_url` to the URL
    clients use: `htu` is compared with it, never with the Host header a client sends.
    `app.state.replay_cache` is the JtiCache."""
    app = FastAPI(title="dpop-gateway", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.public_url = "http://127.0.0.1"
    app.state.replay_cache = JtiCache()

    @app.api_route("/orders", methods=["GET", "POST"])
    async def orders(request: Request) -> JSONResponse:
        url = app.state.public_url + request.url.path
        try:
            claims = authenticate(request.headers, request.method, url,
                                  app.state.replay_cache, clock())
        except Refused as exc:
            return refuse(exc)
        except NotImplementedError as exc:  # a task still to write: say which
            return JSONResponse({"error": "not_implemented", "todo": str(exc)},
                                status_code=501)
        except Exception as exc:  # fail closed: a surprise is a refusal, never a 500
            return refuse(Refused("malformed", f"Unexpected {type(exc).__name__}."))
        return JSONResponse({"by": "orders", "sub": claims["sub"],
                             "method": request.method})

    return app
