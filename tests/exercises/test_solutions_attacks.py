"""Solutions to the code exercises of the attacks overview, run by pytest so that a wrong solution fails CI."""

from __future__ import annotations

import pytest

from jwtlab import attacks, clock, keys
from jwtlab.verify import TokenRejected, verify_token

# --- ex-attacks-index-2: every spelling of `none`, and a tampered token, against verify_token -----------


def reason_for(token: str) -> str:
    """The reason code verify_token gives, with the issuer's RSA key and an RS256 allowlist."""
    with pytest.raises(TokenRejected) as rejected:
        verify_token(
            token,
            keys.rsa_key(0),
            issuer=clock.DEMO_ISSUER,
            audience=clock.DEMO_AUDIENCE,
            algorithms=["RS256"],
            now=clock.now(),
        )
    return rejected.value.reason


def test_alg_none_in_every_spelling_and_tampering_are_refused() -> None:
    admin = attacks.admin_claims()
    for variant in ("none", "None", "NONE", "nOnE"):
        assert (
            reason_for(attacks.forge_alg_none(admin, variant)) == "alg_not_allowed"
        ), variant
    assert (
        reason_for(attacks.tamper(attacks.legit_token(), role="admin"))
        == "bad_signature"
    )
