"""Workload tokens follow the JWT-SVID rules: one audience, at most five minutes, a SPIFFE subject, no secrets."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from jwtlab import TokenRejected, clock, keys
from jwtlab.workload import MAX_LIFETIME, mint_workload_token, verify_workload_token

KEY = keys.ed25519_key("workload-issuer")
ISSUER = "https://workload.course.example"
NOW = clock.now()


def verify(token: str, **settings: Any) -> dict[str, Any]:
    return verify_workload_token(token, keys.jwks(KEY), **{"issuer": ISSUER, "audience": "payments", "now": NOW,
                                                          **settings})


def signed(**claims: Any) -> str:
    base = {"iss": ISSUER, "sub": "spiffe://course.example/svc/orders", "aud": "payments", "iat": NOW,
            "exp": NOW + 60}
    return jwt.encode({**base, **claims}, KEY.signing_key, algorithm="EdDSA", headers={"kid": KEY.kid})


def reason_of(token: str, **settings: Any) -> str:
    with pytest.raises(TokenRejected) as caught:
        verify(token, **settings)
    return caught.value.reason


def test_a_minted_workload_token_verifies_for_its_one_audience() -> None:
    token = mint_workload_token("orders", "payments", KEY, issuer=ISSUER, now=NOW, jti="w-1")
    claims = verify(token)
    assert claims["sub"] == "spiffe://course.example/svc/orders"
    assert claims["exp"] - claims["iat"] == MAX_LIFETIME
    assert reason_of(token, audience="ledger") == "audience"


@pytest.mark.parametrize(("claims", "reason"), [
    ({"aud": ["payments", "ledger"]}, "audience"),          # two audiences: replayable at the second one
    ({"exp": NOW + 600}, "lifetime_too_long"),               # ten minutes
    ({"sub": "orders"}, "bad_claim_type"),                   # not a SPIFFE ID
    ({"sub": "spiffe://attacker.example/svc/orders"}, "bad_claim_type"),  # another trust domain
    ({"sub": "spiffe://course.example/"}, "bad_claim_type"),
    ({"exp": NOW - 120, "iat": NOW - 180}, "expired"),
], ids=repr)
def test_jwt_svid_rules(claims: dict[str, Any], reason: str) -> None:
    assert reason_of(signed(**claims)) == reason


def test_missing_exp_is_refused() -> None:
    claims = {"iss": ISSUER, "sub": "spiffe://course.example/svc/orders", "aud": "payments", "iat": NOW}
    token = jwt.encode(claims, KEY.signing_key, algorithm="EdDSA", headers={"kid": KEY.kid})
    assert reason_of(token) == "missing_claim"


def test_shared_secrets_are_never_allowed() -> None:
    assert reason_of(signed(), algorithms=["HS256", "EdDSA"]) == "misconfigured"
    with pytest.raises(ValueError, match="at most"):
        mint_workload_token("orders", "payments", KEY, issuer=ISSUER, now=NOW, lifetime=3600)
