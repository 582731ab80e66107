"""private_key_jwt (RFC 7523): a client assertion is accepted once, for this endpoint, briefly, with the client's key."""

from __future__ import annotations

import jwt
import pytest

from jwtlab import clock
from jwtlab.client_auth import (
    MAX_ASSERTION_LIFETIME,
    ClientAssertionVerifier,
    ClientAuthError,
    ReplayCache,
    build_client_assertion,
)
from jwtlab.keys import ed25519_key

ENDPOINT = "https://sts.course.example/token"
KEY = ed25519_key("client/reports")


def verifier(moving: clock.Clock | None = None) -> ClientAssertionVerifier:
    return ClientAssertionVerifier({"reports": KEY.public_jwk()}, ENDPOINT, now=(moving or clock.Clock()).now)


def rejected(check: ClientAssertionVerifier, assertion: str, client_id: str | None = None) -> str:
    with pytest.raises(ClientAuthError) as info:
        check.verify(assertion, client_id)
    return info.value.reason


def test_a_fresh_assertion_authenticates_its_client() -> None:
    assertion = build_client_assertion("reports", ENDPOINT, KEY, now=clock.now())
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == "reports" and claims["aud"] == ENDPOINT
    assert claims["exp"] - claims["iat"] == 60 and claims["jti"]
    assert verifier().verify(assertion) == "reports"
    assert verifier().verify(assertion, "reports") == "reports"


def test_wrong_audience() -> None:
    for aud in ("https://other.example/token", ENDPOINT + "/"):
        assertion = build_client_assertion("reports", aud, KEY, now=clock.now())
        assert rejected(verifier(), assertion) == "audience"
    listed = jwt.encode({**clock.claims("reports", iss="reports", aud=[ENDPOINT, "https://other.example"]), "jti": "j"},
                        KEY.signing_key, algorithm="EdDSA", headers=KEY.headers())
    assert rejected(verifier(), listed) == "audience"  # one audience only: this endpoint


def test_a_replayed_jti_is_refused_until_it_expires() -> None:
    moving = clock.Clock()
    check = verifier(moving)
    assertion = build_client_assertion("reports", ENDPOINT, KEY, now=moving.now(), jti="once")
    assert check.verify(assertion) == "reports"
    assert rejected(check, assertion) == "replayed"
    same_jti = build_client_assertion("reports", ENDPOINT, KEY, now=moving.now() + 1, jti="once")
    assert rejected(check, same_jti) == "replayed"


def test_expired_and_too_long_lived_assertions() -> None:
    moving = clock.Clock()
    assertion = build_client_assertion("reports", ENDPOINT, KEY, now=moving.now(), lifetime=60)
    moving.advance(60 + 31)  # past exp plus the 30 s leeway
    assert rejected(verifier(moving), assertion) == "expired"
    long = build_client_assertion("reports", ENDPOINT, KEY, now=clock.now(), lifetime=MAX_ASSERTION_LIFETIME + 1)
    assert rejected(verifier(), long) == "lifetime_too_long"


def test_wrong_key_unknown_client_and_mismatched_identity() -> None:
    attacker = ed25519_key("attacker")
    forged = jwt.encode({**clock.claims("reports", iss="reports", aud=ENDPOINT), "jti": "j"}, attacker.signing_key,
                        algorithm="EdDSA", headers={"kid": KEY.kid})
    assert rejected(verifier(), forged) == "bad_signature"
    assert rejected(verifier(), build_client_assertion("reports", ENDPOINT, attacker, now=clock.now())) == "kid_unknown"
    assert rejected(verifier(), build_client_assertion("stranger", ENDPOINT, KEY, now=clock.now())) == "unknown_client"
    assertion = build_client_assertion("reports", ENDPOINT, KEY, now=clock.now())
    assert rejected(verifier(), assertion, "orders") == "bad_assertion"
    other_sub = jwt.encode({**clock.claims("orders", iss="reports", aud=ENDPOINT), "jti": "j"}, KEY.signing_key,
                           algorithm="EdDSA", headers=KEY.headers())
    assert rejected(verifier(), other_sub) == "bad_assertion"
    for garbage in ("", "x", "a.b.c", "e30.e30."):
        assert rejected(verifier(), garbage) in ("bad_assertion", "unknown_client")


def test_a_full_replay_cache_fails_closed() -> None:
    moving = clock.Clock()
    cache = ReplayCache(moving.now, max_entries=2, leeway=0)
    assert cache.remember("c", "1", moving.now() + 10) and cache.remember("c", "2", moving.now() + 10)
    assert not cache.remember("c", "3", moving.now() + 10)  # full of live entries: refuse, never forget
    moving.advance(11)
    assert cache.remember("c", "3", moving.now() + 10) and len(cache) == 1  # expired entries purged
