"""Checks of lab 3 — JWKS and key rotation. Each test belongs to one task of labs/labs.toml.

The checks serve the course's demo identity provider (`jwtlab.idp`) with uvicorn on 127.0.0.1 and point
your cache at its real JWKS endpoint. Time is a movable `jwtlab.clock.Clock` shared by the IdP and your
cache, so an hour-long outage or three key rotations take milliseconds; the IdP's fault switches make its
JWKS endpoint answer 500, hang, or serve an empty set. `idp.jwks_requests` counts what your cache asked.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from jwtlab import keys
from jwtlab.clock import DEMO_AUDIENCE, DEMO_ISSUER, Clock
from jwtlab.idp import IdentityProvider, create_idp
from jwtlab.labs.target import lab_module
from jwtlab.rotation import KeyRotation, RotationPolicy
from jwtlab.services import Service, start
from jwtlab.verify import TokenRejected

LAB = Path(__file__).resolve().parents[1]
jwks_cache = lab_module("jwks_cache", LAB)
schedule = lab_module("schedule", LAB)

STRANGER = keys.ed25519_key("lab3-stranger")  # a key the IdP never publishes


class Switch:
    """One server for the whole run, a fresh IdP per test: starting uvicorn once saves seconds."""

    def __init__(self) -> None:
        self.app: Any = create_idp(IdentityProvider())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def server() -> Iterator[tuple[Service, Switch]]:
    switch = Switch()
    service = start(switch, name="idp")
    try:
        yield service, switch
    finally:
        service.stop()


@dataclass
class World:
    clock: Clock
    idp: IdentityProvider
    cache: Any

    def token(self, sub: str = "alice", audience: str = DEMO_AUDIENCE) -> str:
        return self.idp.issue(sub, audience, "orders:read")

    def verify(self, token: str) -> dict[str, Any]:
        return jwks_cache.verify(self.cache, token, issuer=DEMO_ISSUER, audience=DEMO_AUDIENCE)

    @property
    def fetches(self) -> int:
        return self.idp.jwks_requests


@pytest.fixture
def make(server: tuple[Service, Switch]) -> Iterator[Callable[..., World]]:
    service, switch = server
    caches: list[Any] = []

    def build(*, rotation: Any = None, policy: RotationPolicy | None = None, timeout: float = 2.0,
              max_age: int | None = None, clock: Clock | None = None) -> World:
        clock = clock or Clock()
        if rotation is None:
            rotation = KeyRotation(policy or RotationPolicy(period=86400), clock=clock.now)
        idp = IdentityProvider(clock=clock.now, rotation=rotation, jwks_max_age=max_age)
        switch.app = create_idp(idp)
        cache = jwks_cache.JwksCache(f"{service.url}/.well-known/jwks.json", clock=clock.now, timeout=timeout)
        caches.append(cache)
        return World(clock, idp, cache)

    yield build
    for cache in caches:
        cache.close()


def random_kid_token(world: World, kid: str | None = None) -> str:
    claims = {"iss": DEMO_ISSUER, "sub": "alice", "aud": DEMO_AUDIENCE, "iat": int(world.clock.now()),
              "exp": int(world.clock.now()) + 300}
    return jwt.encode(claims, STRANGER.signing_key, algorithm="EdDSA",
                      headers={"kid": kid or secrets.token_hex(8), "typ": "at+jwt"})


def refused(world: World, token: str) -> str:
    """The name of the exception verify raised (it must raise)."""
    try:
        world.verify(token)
    except (jwks_cache.UnknownKey, jwks_cache.JwksUnavailable, TokenRejected) as exc:
        return type(exc).__name__
    raise AssertionError("the token was accepted; it should have been refused")


# --- ttl ------------------------------------------------------------------------------------------


@pytest.mark.task("ttl")
@pytest.mark.parametrize(("header", "ttl"), [
    (None, 300), ("", 300), ("public", 300), ("max-age=120", 120), ("public, max-age=600", 600),
    ('MAX-AGE="90"', 90), ("max-age=5", 30), ("max-age=0", 30), ("max-age=86400", 3600),
    ("no-store", 30), ("no-cache, max-age=600", 30), ("max-age=abc", 300), ("max-age=-5", 300),
])
def test_ttl_from_cache_control(header: str | None, ttl: float) -> None:
    got = jwks_cache.ttl_from_cache_control(header)
    assert got == ttl, f"Cache-Control {header!r} should give a TTL of {ttl} s, not {got}"


# --- fetch ----------------------------------------------------------------------------------------


@pytest.mark.task("fetch")
def test_parse_keeps_only_usable_signing_keys() -> None:
    good = keys.ed25519_key("lab3-good").public_jwk()
    document = {"keys": [
        good, 42, {**good, "kid": None},
        {**keys.ed25519_key("lab3-enc").public_jwk(), "use": "enc"},
        {**keys.ed25519_key("lab3-private").public_jwk(), "d": "AAAA"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "shared-secret"},
        {"kty": "OKP", "crv": "Ed25519", "x": "!!not-base64!!", "kid": "broken"},
    ]}
    parsed = jwks_cache.parse_jwks(json.dumps(document).encode())
    assert set(parsed) == {good["kid"]}, (
        f"parse_jwks kept {sorted(parsed)}; only the usable public signing key {good['kid']!r} may remain "
        "(skip entries without a kid, use=enc, private keys with 'd', kty=oct and keys that do not parse)"
    )


@pytest.mark.task("fetch")
@pytest.mark.parametrize("body", [b'{"keys": []}', b"not json", b"\xff\xfe", b"[]", b'{"keys": {}}',
                                  b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}'])
def test_parse_refuses_a_set_without_usable_keys(body: bytes) -> None:
    with pytest.raises(ValueError):
        jwks_cache.parse_jwks(body)
        raise AssertionError(f"parse_jwks({body!r}) must raise ValueError: no usable key, nothing to cache")


@pytest.mark.task("fetch")
def test_fetch_from_the_idp(make: Callable[..., World]) -> None:
    world = make(max_age=120)
    assert world.cache.fetch() is True, "fetch() must return True after loading the IdP's JWKS"
    assert set(world.cache.keys) == {k["kid"] for k in world.idp.jwks()["keys"]}, "the cache must hold the IdP's keys by kid"
    assert world.cache.expires_at == world.clock.now() + 120, "the set expires max-age (120 s here) after the fetch"
    good = dict(world.cache.keys)
    for fault in (500, 404):
        world.idp.faults.jwks_status = fault
        assert world.cache.fetch() is False, f"fetch() must return False when the IdP answers {fault}"
        assert world.cache.keys == good, f"an HTTP {fault} must leave the cached keys untouched"
        assert world.cache.last_error and str(fault) in world.cache.last_error, "last_error must say what went wrong"
    world.idp.faults.clear()
    world.idp.jwks = lambda: {"keys": []}  # type: ignore[method-assign]
    assert world.cache.fetch() is False and world.cache.keys == good, "an empty set must never replace a good one"


# --- cache ----------------------------------------------------------------------------------------


@pytest.mark.task("cache")
def test_a_fresh_set_answers_without_fetching(make: Callable[..., World]) -> None:
    world = make()
    for _ in range(150):
        world.verify(world.token())
        world.clock.advance(1.99)
    assert world.fetches == 1, f"{world.fetches} JWKS requests for 150 tokens within the TTL; a fresh cache needs 1"
    world.clock.advance(2)  # 300.5 s after the first fetch: the set has expired
    world.verify(world.token())
    assert world.fetches == 2, "once the TTL has passed, the next lookup must refetch the set"
    assert world.cache.expires_at == world.clock.now() + 300, "a refetch restarts the TTL"


# --- unknown kid ----------------------------------------------------------------------------------


@pytest.mark.task("unknown-kid")
def test_a_new_kid_before_the_cache_expires_is_recovered(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    world.clock.advance(100)
    world.idp.revoke(world.idp.rotation.signing_key().kid)  # emergency: the next key signs at once
    claims = world.verify(world.token("bob"))
    assert claims["sub"] == "bob", "a token by the new key must verify"
    assert world.fetches == 2, f"a new kid must cost exactly one forced refetch, not {world.fetches - 1}"


@pytest.mark.task("unknown-kid")
def test_a_new_kid_inside_the_refetch_window_recovers_when_it_ends(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    assert refused(world, random_kid_token(world)) == "UnknownKey", "a kid the IdP never had must be UnknownKey"
    assert world.fetches == 2, "the first unknown kid forces one refetch"
    world.clock.advance(5)
    world.idp.revoke(world.idp.rotation.signing_key().kid)
    assert refused(world, world.token()) == "UnknownKey", (
        "5 s after a forced refetch, another unknown kid must not fetch again (at most one per 30 s)"
    )
    assert world.fetches == 2, "no second forced refetch within 30 s"
    world.clock.advance(25)
    world.verify(world.token())
    assert world.fetches == 3, "30 s after the last forced refetch, an unknown kid may fetch again"


@pytest.mark.task("unknown-kid")
def test_a_flood_of_random_kids_costs_at_most_one_fetch_per_30_seconds(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    history = [(world.clock.now(), world.fetches)]
    for _ in range(600):  # 600 tokens with random kids over 120 s
        refused(world, random_kid_token(world))
        world.clock.advance(0.2)
        history.append((world.clock.now(), world.fetches))
    forced = world.fetches - 1
    assert forced <= math.ceil(120 / 30), f"a 120 s flood of random kids caused {forced} fetches; at most 4 are allowed"
    for t, count in history:
        later = [c for u, c in history if t <= u < t + 30]
        assert later[-1] - count <= 1, "more than one fetch within 30 s during the flood"
    world.verify(world.token())  # legitimate tokens still pass


@pytest.mark.task("unknown-kid")
def test_concurrent_misses_share_one_refetch(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    world.clock.advance(60)
    world.idp.revoke(world.idp.rotation.signing_key().kid)
    tokens = [world.token(f"user{i}") for i in range(12)]
    barrier = threading.Barrier(len(tokens))
    outcomes: list[str] = []

    def call(token: str) -> None:
        barrier.wait(5)
        try:
            outcomes.append(world.verify(token)["sub"])
        except Exception as exc:  # noqa: BLE001 - reported below
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=call, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == sorted(f"user{i}" for i in range(12)), (
        f"12 concurrent tokens by a new key must all verify, got {sorted(outcomes)}"
    )
    assert world.fetches == 2, f"12 concurrent misses made {world.fetches - 1} refetches; they must share one"


@pytest.mark.task("unknown-kid")
def test_a_token_without_kid_never_forces_a_fetch(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    world.clock.advance(31)
    real = world.idp.rotation.signing_key()
    claims = {"iss": DEMO_ISSUER, "sub": "alice", "aud": DEMO_AUDIENCE, "iat": int(world.clock.now()),
              "exp": int(world.clock.now()) + 300}
    no_kid = jwt.encode(claims, real.signing_key, algorithm="EdDSA", headers={"typ": "at+jwt"})
    for _ in range(20):
        assert refused(world, no_kid) == "UnknownKey", "a token without a kid must be refused (UnknownKey)"
    assert world.fetches == 1, "a token without a kid must never cause a fetch"


# --- stale ----------------------------------------------------------------------------------------


@pytest.mark.task("stale")
def test_an_idp_answering_500_does_not_stop_valid_tokens(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    world.idp.faults.jwks_status = 500
    world.clock.advance(301)
    for _ in range(120):  # two minutes of traffic during the outage, one request a second
        world.verify(world.token())
        world.clock.advance(1)
    attempts = world.fetches - 1
    assert 1 <= attempts <= 13, f"{attempts} fetch attempts in 2 min of outage: retry, but at most once per 10 s"
    world.idp.faults.clear()
    world.clock.advance(10)
    world.verify(world.token())
    assert world.cache.expires_at > world.clock.now(), "after the outage the cache must refresh the set"


@pytest.mark.task("stale")
def test_an_idp_that_times_out_does_not_stop_valid_tokens(make: Callable[..., World]) -> None:
    world = make(timeout=0.5)  # long enough for a healthy loopback fetch on a busy machine
    world.verify(world.token())
    world.idp.faults.jwks_delay = 1.0
    world.clock.advance(301)
    for _ in range(3):
        assert world.verify(world.token())["sub"] == "alice", "valid tokens must pass while the JWKS endpoint hangs"
    assert world.fetches == 2, "a timed-out fetch must not be retried on every request"
    world.idp.faults.clear()


@pytest.mark.task("stale")
@pytest.mark.parametrize("served", [{"keys": []}, [1, 2], {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}])
def test_an_empty_or_invalid_set_never_replaces_a_good_one(make: Callable[..., World], served: Any) -> None:
    world = make()
    world.verify(world.token())
    good = dict(world.cache.keys)
    world.idp.jwks = lambda: served  # type: ignore[method-assign]
    world.clock.advance(301)
    assert world.verify(world.token())["sub"] == "alice", f"after the IdP served {served!r}, valid tokens must still pass"
    assert world.cache.keys == good, "the last good set must stay in the cache"


@pytest.mark.task("stale")
def test_the_stale_window_is_bounded(make: Callable[..., World]) -> None:
    world = make()
    world.verify(world.token())
    world.idp.faults.jwks_status = 500
    world.clock.advance(300 + 3600 - 1)
    world.verify(world.token())
    assert world.cache.ready, "inside the stale window the cache is still ready"
    world.clock.advance(2)
    with pytest.raises(jwks_cache.JwksUnavailable) as caught:
        world.verify(world.token())
        raise AssertionError("an hour past the TTL with the IdP down, the cache must fail closed (JwksUnavailable)")
    assert caught.value.reason == "jwks_stale", "the reason after the stale window is 'jwks_stale'"
    assert not world.cache.ready, "past the stale window the cache is not ready"


# --- cold start -----------------------------------------------------------------------------------


@pytest.mark.task("cold-start")
def test_cold_start_with_the_idp_down_fails_closed(make: Callable[..., World]) -> None:
    world = make()
    world.idp.faults.jwks_status = 500
    assert world.cache.ready is False, "before any fetch the cache is not ready"
    for _ in range(5):
        with pytest.raises(jwks_cache.JwksUnavailable) as caught:
            world.verify(world.token())
            raise AssertionError("with no keys loaded, every token must be refused (JwksUnavailable)")
        assert caught.value.reason == "jwks_not_loaded", "the reason at a cold start is 'jwks_not_loaded'"
    assert world.fetches == 1, "a cold start must not retry on every request (wait RETRY_DELAY)"
    assert "500" in (world.cache.last_error or ""), "last_error must say why the first fetch failed"
    assert world.cache.ready is False, "still not ready"
    world.idp.faults.clear()
    world.clock.advance(10)
    assert world.verify(world.token())["sub"] == "alice", "once the IdP is back, the next attempt loads the keys"
    assert world.cache.ready is True, "ready once a good set is loaded"


# --- schedule -------------------------------------------------------------------------------------

POLICIES = [
    dict(period=3600, max_cache_ttl=300, max_token_lifetime=300, clock_skew=60, margin=60),
    dict(period=900, max_cache_ttl=120, max_token_lifetime=600, clock_skew=30, margin=0),
    dict(period=86400, max_cache_ttl=3600, max_token_lifetime=3600, clock_skew=0, margin=600),
]


@pytest.mark.task("schedule")
@pytest.mark.parametrize("numbers", POLICIES)
def test_schedule_matches_the_course_rotation(numbers: dict[str, float]) -> None:
    policy = schedule.Policy(**numbers)
    reference = RotationPolicy(**numbers)
    assert schedule.publish_lead(policy) == reference.publish_lead, "publish_lead: one max cache TTL plus the margin"
    assert schedule.retire_after(policy) == reference.retire_after, (
        "retire_after: the last token's lifetime, plus the clock skew, plus one cache TTL"
    )
    start = 1_767_225_600.0
    rotation = KeyRotation(reference, clock=lambda: start)
    for generation in range(5):
        mine, theirs = schedule.key_times(generation, policy, start), rotation.record(generation)
        got = (mine.published, mine.activates, mine.deactivates, mine.removed)
        want = (theirs.published_at, theirs.activates_at, theirs.deactivates_at, theirs.removed_at)
        assert got == want, f"key {generation}: (published, activates, deactivates, removed) = {got}, expected {want}"


# --- rotation, end to end --------------------------------------------------------------------------


class LabRotation:
    """An IdP key schedule driven by your `key_times` (the IdP asks it which key signs and what to publish)."""

    def __init__(self, policy: RotationPolicy, clock: Clock, times: Callable[[int], Any]) -> None:
        self.policy, self.clock, self.times, self.start = policy, clock, times, clock.now()

    def key(self, generation: int) -> keys.DemoKey:
        return keys.ed25519_key(f"lab3-rotation-{generation}")

    def signing_key(self, t: float | None = None) -> keys.DemoKey:
        t = self.clock.now() if t is None else t
        return self.key(int((t - self.start) // self.policy.period))

    def jwks(self) -> dict[str, Any]:
        t = self.clock.now()
        current = int((t - self.start) // self.policy.period)
        published = [g for g in range(max(0, current - 5), current + 3)
                     if self.times(g).published <= t < self.times(g).removed]
        return {"keys": [self.key(g).public_jwk() for g in published]}


def run_rotations(make: Callable[..., World], times: Callable[[Clock], Callable[[int], Any]]) -> tuple[int, list[str]]:
    """Three rotations (period 900 s, cache TTL 300 s, tokens 300 s): a new token every 15 s, each
    verified when issued and again 285 s later. Returns the failures and the kids that signed unseen."""
    policy = RotationPolicy(period=900, max_cache_ttl=300, max_token_lifetime=300, clock_skew=60, margin=60)
    clock = Clock()
    world = make(rotation=LabRotation(policy, clock, times(clock)), clock=clock)
    failures, unseen = 0, []
    pending: list[tuple[float, str]] = []
    for _ in range(int(3 * 900 / 15)):
        token = world.token()
        kid = jwt.get_unverified_header(token)["kid"]
        if world.cache.keys and kid not in world.cache.keys and kid not in unseen:
            unseen.append(kid)
        pending.append((clock.now(), token))
        for _issued, old in [(clock.now(), token)] + [p for p in pending if clock.now() - p[0] >= 285]:
            try:
                world.verify(old)
            except Exception:  # noqa: BLE001 - counted
                failures += 1
        pending = [p for p in pending if clock.now() - p[0] < 285]
        clock.advance(15)
    return failures, unseen


@pytest.mark.task("rotation")
def test_rotation_with_overlap_has_zero_failures(make: Callable[..., World]) -> None:
    numbers = dict(period=900, max_cache_ttl=300, max_token_lifetime=300, clock_skew=60, margin=60)

    def yours(clock: Clock) -> Callable[[int], Any]:
        start = clock.now()
        return lambda g: schedule.key_times(g, schedule.Policy(**numbers), start)

    failures, unseen = run_rotations(make, yours)
    assert failures == 0, f"{failures} valid tokens were refused during three rotations with your schedule and cache"
    assert not unseen, f"keys {unseen} signed before the cache had seen them: publish a key one cache TTL + margin early"

    @dataclass
    class NoOverlap:
        published: float
        removed: float

    def swap(clock: Clock) -> Callable[[int], Any]:  # control: keys appear and vanish at the swap
        start = clock.now()
        return lambda g: NoOverlap(start + g * 900 if g else start, start + (g + 1) * 900)

    failures, unseen = run_rotations(make, swap)
    assert failures > 0 and unseen, "control: a rotation without overlap must fail here (the check is live)"
