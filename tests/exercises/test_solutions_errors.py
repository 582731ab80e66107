"""Solutions to the code exercises of Part III's pages, run by pytest so that a wrong solution fails CI."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from jwtlab import clock, keys
from jwtlab.inspect import inspect_token
from jwtlab.verify import TokenRejected, verify_token

KEY = keys.rsa_key(0)


def sign(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, KEY.signing_key, algorithm="RS256", headers=KEY.headers())


def reason(token: str, leeway: float = 60) -> str:
    with pytest.raises(TokenRejected) as rejected:
        verify_token(
            token,
            KEY,
            issuer=clock.DEMO_ISSUER,
            audience=clock.DEMO_AUDIENCE,
            algorithms=["RS256"],
            leeway=leeway,
            now=clock.now(),
        )
    return rejected.value.reason


# --- ex-errors-catalogue-1: an issuer whose clock runs 150 s ahead ---------------------------------------


def test_iat_beyond_the_leeway_is_issued_in_future() -> None:
    ahead = sign(
        clock.claims(issued=150)
    )  # iat and nbf-free: only iat lies in the future
    assert reason(ahead) == "issued_in_future"
    # Raising the leeway to 180 s would hide the skew instead of fixing the clock.
    verify_token(
        ahead,
        KEY,
        issuer=clock.DEMO_ISSUER,
        audience=clock.DEMO_AUDIENCE,
        algorithms=["RS256"],
        leeway=180,
        now=clock.now(),
    )


# --- ex-errors-catalogue-3: expired and for another audience: which reason does the service answer? ------


def test_first_failure_is_audience_then_inspect_shows_both() -> None:
    token = sign(clock.claims(aud="billing-api", issued=-3600, lifetime=600))
    assert reason(token) == "audience"

    # --- ex-errors-diagnosing-2: every claim failure at once, not only the first
    report = inspect_token(
        token,
        KEY,
        algorithms=["RS256"],
        issuer=clock.DEMO_ISSUER,
        audience=clock.DEMO_AUDIENCE,
        now=clock.now(),
    )
    assert report.signature_status == "valid"
    assert {finding.code for finding in report.claim_failures} == {
        "audience",
        "expired",
    }
