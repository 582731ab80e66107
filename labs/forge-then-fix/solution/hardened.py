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

KEY = SIGNING_KEY
ALGORITHMS = ["RS256"]
LEEWAY = 30
MAX_TOKEN_CHARS = 8192
KEY_CARRYING_HEADERS = ("jwk", "jku", "x5u", "x5c")


def check_header(token: str) -> dict[str, Any]:
    """The header, if it is one this service could have issued; else `jwt.InvalidTokenError`."""
    # BEGIN SOLUTION harden-header
    if len(token) > MAX_TOKEN_CHARS:
        raise jwt.InvalidTokenError("token too large")
    header = jwt.get_unverified_header(token)
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
    """The verified claims: signature by KEY, exact issuer and audience, required claims, small leeway."""
    # BEGIN SOLUTION harden-decode
    return jwt.decode(
        token,
        KEY.public_key,
        algorithms=ALGORITHMS,
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway=LEEWAY,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    # STARTER: return jwt.decode(token, options={"verify_signature": False})
    # END SOLUTION


def verify(token: str) -> dict[str, Any]:
    check_header(token)
    return decode(token)


def hardened_app() -> FastAPI:
    return make_app("hardened", verify)
