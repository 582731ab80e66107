"""Lab 2, Part B — the admin service, hardened: every forgery of Part A must now get a 401.

The starter's `check_header` and `decode` trust the token exactly as the vulnerable service did. Fix
both; `verify` runs them in order and `hardened_app()` serves the same routes as vulnerable.py with
your verifier. The service has exactly one key, KEY (RS256): it never takes a key, a key location,
an algorithm or a file name from the token.
"""

from __future__ import annotations

from typing import Any

import jwt
from fastapi import FastAPI
from vulnerable import AUDIENCE, ISSUER, SIGNING_KEY, make_app

from jwtlab import b64
from jwtlab.verify import parse_json_object

KEY = SIGNING_KEY
ALGORITHMS = ["RS256"]
LEEWAY = 30
MAX_TOKEN_CHARS = 8192
KEY_CARRYING_HEADERS = ("jwk", "jku", "x5u", "x5c")
MAX_LIFETIME = 3600  # seconds from iat to exp; /login issues 10-minute tokens


def strict_json(token: str, index: int, what: str) -> dict[str, Any]:
    """Given: segment `index` of the token (0 header, 1 claims) as strict JSON,
    else `jwt.InvalidTokenError`.

    `jwt.get_unverified_header` and `jwt.decode` parse JSON leniently: a name
    given twice (`{"sub": "wiener", "sub": "administrator"}`) keeps the last,
    and UTF-16, UTF-32 or a byte-order mark pass. `jwtlab.verify.parse_json_object`
    refuses those and NaN (its TokenRejected is an InvalidTokenError).
    """
    try:
        raw = b64.decode(token.split(".")[index])
    except (IndexError, ValueError):  # too few segments, or not canonical base64url
        message = f"the {what} segment is missing or not base64url"
        raise jwt.DecodeError(message) from None
    return parse_json_object(raw, what)


def check_header(token: str) -> dict[str, Any]:
    """The header, if it is one this service could have issued; else `jwt.InvalidTokenError`.

    Read it with the given `strict_json(token, 0, "header")`, not `jwt.get_unverified_header`, and only
    after the size check: nothing is decoded before the token is known to be small."""
    # BEGIN SOLUTION harden-header
    if len(token) > MAX_TOKEN_CHARS:
        raise jwt.InvalidTokenError("token too large")
    header = strict_json(token, 0, "header")
    if header.get("alg") not in ALGORITHMS:
        raise jwt.InvalidAlgorithmError("algorithm not allowed")
    if any(name in header for name in KEY_CARRYING_HEADERS):
        raise jwt.InvalidTokenError("the token may not carry or point to a key")
    if header.get("kid") != KEY.kid:
        raise jwt.InvalidTokenError("unknown kid")
    return header
    # STARTER: return jwt.get_unverified_header(token)
    # END SOLUTION


def decode(token: str) -> dict[str, Any]:
    """The verified claims: strict JSON, signature by KEY, exact issuer and audience, required claims, small
    leeway, and what jwt.decode leaves open: whole-number exp and iat, a lifetime of at most MAX_LIFETIME, a
    non-empty sub."""
    # BEGIN SOLUTION harden-decode
    strict_json(token, 1, "claims")
    claims = jwt.decode(
        token,
        KEY.public_key,
        algorithms=ALGORITHMS,
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway=LEEWAY,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    if type(claims["exp"]) is not int or type(claims["iat"]) is not int:  # jwt.decode takes "exp": "1799999999"
        raise jwt.InvalidTokenError("exp and iat must be numbers")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise jwt.InvalidTokenError("the token lives too long")
    if not claims["sub"]:
        raise jwt.InvalidTokenError("empty sub")
    return claims
    # STARTER: return jwt.decode(token, options={"verify_signature": False})
    # END SOLUTION


def verify(token: str) -> dict[str, Any]:
    check_header(token)
    return decode(token)


def hardened_app() -> FastAPI:
    return make_app("hardened", verify)
