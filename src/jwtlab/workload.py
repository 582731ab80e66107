"""Workload tokens: short-lived JWTs that name one service calling one other service (JWT-SVID rules).

A user's access token says "alice may do this"; a workload token says "the orders service, right now,
to the payments service". SPIFFE's JWT-SVID profile makes such tokens hard to misuse, and the course
follows its rules on top of `verify_token`:

- exactly one audience, so a token can never be replayed at a second service;
- `exp` required and a lifetime of at most five minutes, so a stolen token is worth little;
- `sub` is the caller's SPIFFE ID inside the trust domain, e.g. `spiffe://course.example/svc/orders`;
- asymmetric algorithms only: a shared secret would let every verifier mint tokens for every caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import jwt

from .pki import TRUST_DOMAIN, spiffe_id
from .verify import TokenRejected, verify_token

__all__ = ["MAX_LIFETIME", "WORKLOAD_ALGORITHMS", "mint_workload_token", "verify_workload_token"]

#: The longest a workload token may live (seconds).
MAX_LIFETIME = 300
#: JWT-SVIDs are signed with asymmetric keys only.
WORKLOAD_ALGORITHMS = ("EdDSA", "ES256", "ES384", "RS256", "PS256")


def mint_workload_token(
    service: str,
    audience: str,
    key: Any,
    *,
    issuer: str,
    now: float,
    lifetime: int = MAX_LIFETIME,
    trust_domain: str = TRUST_DOMAIN,
    jti: str | None = None,
) -> str:
    """A workload token for `service` calling `audience`, signed with `key` (a demo key: `.signing_key`, `.alg`)."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a workload token lives at most {MAX_LIFETIME} s")
    claims = {
        "iss": issuer,
        "sub": spiffe_id(service, trust_domain),
        "aud": audience,
        "iat": int(now),
        "exp": int(now) + lifetime,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"})


def verify_workload_token(
    token: str | bytes,
    keys: Any,
    *,
    issuer: str,
    audience: str,
    now: float | None = None,
    trust_domain: str = TRUST_DOMAIN,
    algorithms: Collection[str] = WORKLOAD_ALGORITHMS,
    leeway: float = 30,
) -> dict[str, Any]:
    """Verify a workload token for this service (`audience`).

    Returns its claims or raises `TokenRejected`.
    """
    symmetric = [alg for alg in algorithms if alg.startswith("HS")]
    if symmetric:
        raise TokenRejected(
            "misconfigured",
            f"workload tokens are never verified with shared secrets ({symmetric})",
        )
    claims = verify_token(
        token,
        keys,
        issuer=issuer,
        audience=audience,
        algorithms=algorithms,
        leeway=leeway,
        required=("exp", "iat", "iss", "aud", "sub"),
        max_lifetime=MAX_LIFETIME,
        now=now,
    )
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) != 1:
        raise TokenRejected(
            "audience",
            f"A workload token names exactly one audience; this one names {len(aud)}.",
            claims=claims,
        )
    prefix = f"spiffe://{trust_domain}/"
    if not claims["sub"].startswith(prefix) or len(claims["sub"]) == len(prefix):
        raise TokenRejected(
            "bad_claim_type",
            f"The 'sub' of a workload token must be a SPIFFE ID under {prefix}.",
            claims=claims,
        )

    return claims
