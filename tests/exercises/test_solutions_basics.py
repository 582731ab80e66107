"""Solutions to the code exercises of Part I's pages, run by pytest so that a wrong solution fails CI."""

from __future__ import annotations

import jwt
import pytest

from jwtlab import attacks, clock, keys
from jwtlab.verify import TokenRejected, verify_token

# --- ex-basics-index-2: a tampered token decodes fine and does not verify ------------------------------


def test_tampered_token_decodes_but_does_not_verify() -> None:
    key = keys.rsa_key(0)
    token = jwt.encode(
        clock.claims("alice", role="user"),
        key.signing_key,
        algorithm="RS256",
        headers=key.headers(),
    )
    forged = attacks.tamper(token, role="admin")  # new claims, the old signature

    # Decoding without a key shows whatever the attacker wrote.
    assert jwt.decode(forged, options={"verify_signature": False})["role"] == "admin"
    # Verifying with the issuer's public key refuses it.
    with pytest.raises(TokenRejected) as rejected:
        verify_token(
            forged,
            key,
            issuer=clock.DEMO_ISSUER,
            audience=clock.DEMO_AUDIENCE,
            algorithms=["RS256"],
            now=clock.now(),
        )
    assert rejected.value.reason == "bad_signature"


# --- ex-basics-storing-tokens-3: check a Set-Cookie header for the attributes the chapter asks for -------


def cookie_problems(set_cookie: str) -> list[str]:
    """What a token cookie is missing.

    HttpOnly, Secure, SameSite=Strict/Lax, the __Host- rules, Max-Age.
    """
    name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
    name = name_value.split("=", 1)[0]
    flags = {
        a.split("=", 1)[0].lower(): (a.split("=", 1)[1] if "=" in a else "")
        for a in attributes
    }
    problems = []
    if "httponly" not in flags:
        problems.append("HttpOnly missing: any script on the page can read the token")
    if "secure" not in flags:
        problems.append("Secure missing: the token can travel over plain HTTP")
    if flags.get("samesite", "").lower() not in {"strict", "lax"}:
        problems.append(
            "SameSite=Strict or Lax missing: other sites can make the browser send it"
        )
    if not name.startswith("__Host-") or flags.get("path") != "/" or "domain" in flags:
        problems.append(
            "not a __Host- cookie with Path=/ and no Domain:"
            " a sibling subdomain can override it"

        )
    if "max-age" not in flags:
        problems.append("Max-Age missing: the cookie outlives the token")
    return problems


def test_cookie_problems() -> None:
    good = (
        "__Host-access=eyJ...; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=300"
    )
    assert cookie_problems(good) == []
    bad = cookie_problems("access=eyJ...; Domain=example.com; SameSite=None")
    assert [p.split(" ", 1)[0] for p in bad] == [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "not",
        "Max-Age",
    ]
