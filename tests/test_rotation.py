"""Key rotation arithmetic: the schedule follows from cache TTL, token lifetime and skew."""

from __future__ import annotations

import pytest

from jwtlab.clock import COURSE_NOW, Clock
from jwtlab.keys import ed25519_key
from jwtlab.rotation import KeyRotation, RotationPolicy

POLICY = RotationPolicy(max_cache_ttl=300, max_token_lifetime=600, clock_skew=60, margin=60, period=3600)


def states(rotation: KeyRotation, t: float) -> list[tuple[int, str]]:
    return [(r.generation, r.state(t)) for r in rotation.records_at(t)]


def test_lead_and_retirement_follow_from_the_policy() -> None:
    assert POLICY.publish_lead == 300 + 60
    assert POLICY.retire_after == 600 + 60 + 300


def test_period_must_exceed_the_publish_lead() -> None:
    with pytest.raises(ValueError, match="publish lead"):
        RotationPolicy(max_cache_ttl=3600, margin=60, period=3600)


def test_states_over_one_rotation() -> None:
    r = KeyRotation(POLICY, clock=Clock().now)
    t0 = COURSE_NOW
    assert states(r, t0) == [(0, "active")]
    assert states(r, t0 + 3600 - 361) == [(0, "active")]
    assert states(r, t0 + 3600 - 360) == [(0, "active"), (1, "next")]  # published one cache TTL + margin early
    assert states(r, t0 + 3600) == [(0, "retiring"), (1, "active")]
    assert states(r, t0 + 3600 + 960 - 1) == [(0, "retiring"), (1, "active")]
    assert states(r, t0 + 3600 + 960) == [(1, "active")]  # gone after lifetime + skew + cache TTL


def test_keys_are_deterministic_demo_keys_with_thumbprint_kids() -> None:
    r = KeyRotation(POLICY, clock=Clock().now)
    assert r.signing_key().kid == ed25519_key("idp-0").kid
    assert r.signing_key(COURSE_NOW + 3600).name == "idp-1"
    assert r.jwks(COURSE_NOW + 3300)["keys"][1]["kid"] == ed25519_key("idp-1").kid


def test_every_token_stays_verifiable_until_it_expires() -> None:
    """Property: a token signed at any moment finds its key in every JWKS a verifier may hold until exp."""
    r = KeyRotation(POLICY, clock=Clock().now)
    for signed_at in range(COURSE_NOW, COURSE_NOW + 4 * 3600, 97):
        kid = r.signing_key(signed_at).kid
        # The verifier's cached copy may be up to one cache TTL old, the token valid until exp + skew.
        for seen_at in range(signed_at, signed_at + 600 + 60 + 1, 50):
            for fetched_at in (max(COURSE_NOW, seen_at - 300), seen_at):
                if fetched_at < signed_at - 300:
                    continue
                published = {k.kid for k in r.published_keys(fetched_at)}
                assert kid in published, (signed_at, seen_at, fetched_at)


def test_emergency_revoke_of_the_active_key() -> None:
    clock = Clock()
    r = KeyRotation(POLICY, clock=clock.now)
    clock.advance(100)
    old = r.signing_key()
    r.revoke(old.kid)
    assert r.state_of(old.kid) == "revoked"
    assert old.kid not in {k.kid for k in r.published_keys()}
    assert r.signing_key().name == "idp-1"  # the next key signs at once
    clock.advance(3600)
    assert r.signing_key().name == "idp-2"  # the schedule continues from the revoke


def test_revoking_the_next_key_skips_it() -> None:
    clock = Clock(COURSE_NOW + 3400)
    r = KeyRotation(POLICY, clock=clock.now, start=COURSE_NOW)
    nxt = ed25519_key("idp-1")
    assert r.state_of(nxt.kid) == "next"
    r.revoke(nxt.kid)
    assert r.signing_key(COURSE_NOW + 3600).name == "idp-2"
    assert nxt.kid not in {k.kid for k in r.published_keys(COURSE_NOW + 3600)}


def test_timeline_lists_every_key_in_the_window() -> None:
    r = KeyRotation(POLICY, clock=Clock().now)
    names = [rec.key.name for rec in r.timeline(COURSE_NOW + 3 * 3600)]
    assert names == ["idp-0", "idp-1", "idp-2", "idp-3"]
