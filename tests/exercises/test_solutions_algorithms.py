"""Solutions to the code exercises of Part II's pages, run by pytest so that a wrong solution fails CI."""

from __future__ import annotations

import jwt

from jwtlab import clock, keys

# --- ex-algorithms-index-2: which algorithms sign the same claims the same way twice? -------------------


def test_eddsa_is_deterministic_and_es256_is_not() -> None:
    claims = clock.claims("alice")
    ed, p256 = keys.ed25519_key(), keys.p256_key()
    eddsa = {
        jwt.encode(claims, ed.signing_key, algorithm="EdDSA", headers=ed.headers())
        for _ in range(2)
    }
    es256 = {
        jwt.encode(claims, p256.signing_key, algorithm="ES256", headers=p256.headers())
        for _ in range(2)
    }
    assert len(eddsa) == 1, "Ed25519 signatures are deterministic: the same token twice"
    assert len(es256) == 2, (
        "ECDSA draws a fresh random nonce per signature: two different tokens"
    )
    # Both still verify: test by verifying, never by comparing tokens.
    for token in es256:
        jwt.decode(
            token,
            p256.public_key,
            algorithms=["ES256"],
            audience=clock.DEMO_AUDIENCE,
            options={"verify_exp": False, "verify_iat": False},
        )


# --- ex-algorithms-choosing-3: what an RSA-2048 signature costs on every request ------------------------


def test_rs256_token_is_256_characters_longer_than_es256() -> None:
    claims = clock.claims("alice", scope="orders:read")
    rsa, p256 = keys.rsa_key(0), keys.p256_key()
    rs256 = jwt.encode(
        claims, rsa.signing_key, algorithm="RS256", headers=rsa.headers(typ="JWT")
    )
    es256 = jwt.encode(
        claims, p256.signing_key, algorithm="ES256", headers=p256.headers(typ="JWT")
    )
    # 256 signature bytes are 342 base64url characters, 64 bytes are 86;
    # the header and claims are the same size.

    assert len(rs256) - len(es256) == 342 - 86 == 256
