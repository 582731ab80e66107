"""The demo keys are deterministic, correctly thumbprinted, and usable with PyJWT."""

from __future__ import annotations

import jwt
import pytest

from jwtlab import b64, clock, keys

ASYMMETRIC = [keys.rsa_key(0), keys.rsa_key(1, "PS256"), keys.ed25519_key(), keys.p256_key()]


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 §3.1: the example RSA key's thumbprint.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert keys.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("key", ASYMMETRIC, ids=lambda k: k.name)
def test_kid_is_the_thumbprint_of_the_public_jwk(key: keys.DemoKey) -> None:
    jwk = key.public_jwk()
    assert jwk["kid"] == keys.thumbprint(jwk) == key.kid
    assert "d" not in jwk


def test_derived_keys_are_the_same_every_time() -> None:
    keys.ed25519_key.cache_clear()
    keys.p256_key.cache_clear()
    first = (keys.ed25519_key().kid, keys.p256_key().kid)
    keys.ed25519_key.cache_clear()
    keys.p256_key.cache_clear()
    assert (keys.ed25519_key().kid, keys.p256_key().kid) == first
    assert keys.ed25519_key("a").kid != keys.ed25519_key("b").kid


def test_ed25519_and_rsa_tokens_are_deterministic() -> None:
    for key in (keys.ed25519_key(), keys.rsa_key(0)):
        one = jwt.encode(clock.claims(), key.signing_key, algorithm=key.alg, headers=key.headers())
        two = jwt.encode(clock.claims(), key.signing_key, algorithm=key.alg, headers=key.headers())
        assert one == two


@pytest.mark.parametrize("key", ASYMMETRIC, ids=lambda k: k.name)
def test_pyjwt_verifies_with_the_published_jwk(key: keys.DemoKey) -> None:
    token = jwt.encode(clock.claims(), key.signing_key, algorithm=key.alg, headers=key.headers())
    public = jwt.PyJWK(key.public_jwk()).key
    claims = jwt.decode(token, public, algorithms=[key.alg], audience=clock.DEMO_AUDIENCE,
                        options={"verify_exp": False})
    assert claims["sub"] == "alice"


def test_hmac_secret_is_256_bits_and_never_published() -> None:
    secret = keys.hmac_secret()
    assert len(secret.secret) == 32
    with pytest.raises(TypeError):
        keys.jwks(secret)  # type: ignore[arg-type]


def test_pem_round_trip() -> None:
    key = keys.rsa_key(2)
    assert key.private_pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key.public_pem().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_b64_is_strict() -> None:
    assert b64.decode(b64.encode(b"\xff\x00")) == b"\xff\x00"
    for bad in ("AA==", "A+/B", "AB", "A", "a b"):
        if bad == "AB":
            # "AB" has non-zero unused bits (canonical is "AA")
            with pytest.raises(ValueError, match="canonical"):
                b64.decode(bad)
            continue
        with pytest.raises(ValueError):
            b64.decode(bad)
