"""The caching JWKS client's rules, against a real local JWKS server and a clock that moves on demand."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from jwtlab.clock import Clock
from jwtlab.jwks import JwksClient, JwksUnavailable, parse_max_age
from jwtlab.keys import ed25519_key, jwks, rsa_key
from jwtlab.services import Service, start

pytestmark = pytest.mark.network

K0, K1 = ed25519_key("idp-0"), ed25519_key("idp-1")


class Server:
    """A JWKS endpoint whose answer the test sets: status, body, Cache-Control, delay; it counts requests."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps(jwks(K0)).encode()
        self.cache_control: str | None = "max-age=300"
        self.delay = 0.0
        self.requests = 0
        app = FastAPI()

        @app.get("/jwks")
        async def serve_jwks() -> Response:
            self.requests += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
            return Response(self.body, status_code=self.status, headers=headers, media_type="application/json")

        self.service: Service = start(app, name="jwks")
        self.url = self.service.url + "/jwks"

    def keys(self, *keys: Any) -> None:
        self.body = json.dumps(jwks(*keys)).encode()


@pytest.fixture(scope="module")
def server_module() -> Iterator[Server]:
    server = Server()
    yield server
    server.service.stop()


@pytest.fixture
def server(server_module: Server) -> Server:
    s = server_module
    s.status, s.cache_control, s.delay, s.requests = 200, "max-age=300", 0.0, 0
    s.keys(K0)
    return s


def client(server: Server, clock: Clock, **options: Any) -> JwksClient:
    return JwksClient(server.url, clock=clock.now, rng=random.Random(7), timeout=options.pop("timeout", 2), **options)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_parse_max_age() -> None:
    assert parse_max_age("public, max-age=600") == 600
    assert parse_max_age("no-store") == 0
    assert parse_max_age("max-age=abc") is None
    assert parse_max_age(None) is None


@pytest.mark.parametrize(("cache_control", "ttl"), [("max-age=5", 30), ("max-age=999999", 3600), (None, 300),
                                                    ("public, max-age=120", 120), ("no-cache", 30)])
def test_ttl_honours_max_age_clamped(server: Server, cache_control: str | None, ttl: int) -> None:
    server.cache_control = cache_control

    async def go() -> float:
        async with client(server, Clock()) as c:
            return c.ttl

    assert run(go()) == ttl


def test_refresh_at_80_percent_of_ttl(server: Server) -> None:
    clock = Clock()

    async def go() -> None:
        c = client(server, clock)
        await c.start(background=False)
        clock.advance(239)
        await c.refresh_if_due()
        assert c.counters.fetches == 1
        clock.advance(1)
        await c.refresh_if_due()
        assert c.counters.fetches == 2
        await c.close()

    run(go())


def test_single_flight(server: Server) -> None:
    server.delay = 0.2

    async def go() -> None:
        c = client(server, Clock())
        await c.start(background=False)
        await asyncio.gather(*(c.refresh() for _ in range(25)))
        assert c.counters.fetches == 2 and server.requests == 2
        await c.close()

    run(go())


def test_stale_if_error_for_a_bounded_window_then_fail_closed(server: Server) -> None:
    clock = Clock()

    async def go() -> None:
        c = client(server, clock, stale_window=3600)
        await c.start(background=False)
        good = c.keys()
        server.status = 500
        for _ in range(12):  # one hour in 5-minute steps, refreshing as the client would
            clock.advance(300)
            await c.refresh_if_due()
            assert c.keys() is good
        assert c.counters.stale_serves >= 11 and c.counters.failures >= 1
        clock.advance(301)
        with pytest.raises(JwksUnavailable) as info:
            c.keys()
        assert info.value.reason == "jwks_stale" and not c.ready
        server.status = 200
        clock.advance(600)
        await c.refresh()
        assert c.ready and c.keys().candidates(K0.kid)
        await c.close()

    run(go())


@pytest.mark.parametrize("body", [b'{"keys": []}', b"not json", b'{"keys": [{"kty": "OKP", "crv": "Ed25519"}]}',
                                  json.dumps({"keys": [{**K1.public_jwk(), "use": "enc"}]}).encode()])
def test_never_replaces_a_good_set_with_an_empty_or_invalid_one(server: Server, body: bytes) -> None:
    async def go() -> None:
        c = client(server, Clock())
        await c.start(background=False)
        server.body = body
        assert await c.refresh() is False
        assert c.kids == {K0.kid} and c.counters.failures == 1
        await c.close()

    run(go())


def test_backoff_grows_exponentially_with_jitter(server: Server) -> None:
    server.status = 503
    clock = Clock()

    async def go() -> list[float]:
        c = client(server, clock, backoff_base=10, backoff_max=60)
        delays = []
        await c.start(background=False)
        for _ in range(5):
            delays.append(c._next_attempt_at - clock.now())
            await c.refresh_if_due()  # not due yet: no fetch
            clock.advance(c._next_attempt_at - clock.now())
            await c.refresh_if_due()
        assert c.counters.fetches == 6
        await c.close()
        return delays

    delays = run(go())
    for delay, base in zip(delays, [10, 20, 40, 60, 60], strict=True):
        assert base / 2 <= delay <= base


def test_cold_start_fails_closed_with_a_reason(server: Server) -> None:
    server.status = 500

    async def go() -> None:
        c = client(server, Clock())
        assert await c.start(background=False) is False
        assert not c.ready
        with pytest.raises(JwksUnavailable) as info:
            c.keys()
        assert info.value.reason == "jwks_not_loaded" and info.value.retry_after >= 1
        await c.close()

    run(go())


def test_unknown_kid_forces_one_shared_refetch_per_30_s(server: Server) -> None:
    clock = Clock()
    server.delay = 0.05

    async def go() -> None:
        c = client(server, clock)
        await c.start(background=False)
        kids = [f"random-{i}" for i in range(200)]
        await asyncio.gather(*(c.keys_for_kid(k) for k in kids))
        assert server.requests == 2  # the start, then one forced refetch shared by all 200 misses
        assert c.counters.forced_refetches == 1
        await asyncio.gather(*(c.keys_for_kid(k) for k in kids))
        assert server.requests == 2 and c.counters.unknown_kid_cached == 200  # the negative cache answers
        clock.advance(31)
        await c.keys_for_kid("yet-another")
        assert server.requests == 3
        await c.keys_for_kid(None)  # a token without kid never forces a fetch
        await c.keys_for_kid("and-another")  # within 30 s of the last forced fetch
        assert server.requests == 3 and c.counters.refetches_rate_limited == 1
        await c.close()

    run(go())


def test_a_new_kid_before_the_cache_expires_is_found_by_the_refetch(server: Server) -> None:
    async def go() -> None:
        c = client(server, Clock())
        await c.start(background=False)
        server.keys(K0, K1)  # the issuer rotated early; the cache is still fresh
        key_set = await c.keys_for_kid(K1.kid)
        assert key_set.candidates(K1.kid) and c.counters.forced_refetches == 1
        await c.close()

    run(go())


def test_negative_cache_is_bounded(server: Server) -> None:
    async def go() -> None:
        c = client(server, Clock(), unknown_kid_max=50)
        await c.start(background=False)
        for i in range(500):
            await c.keys_for_kid(f"k{i}")
        assert len(c._unknown) == 50
        await c.close()

    run(go())


def test_a_junk_kid_does_not_lock_out_a_key_published_seconds_later(server: Server) -> None:
    """A junk kid spends the 30 s refetch budget; the issuer's new key must still be found when it renews."""
    clock = Clock()
    server.cache_control = "max-age=3600"  # no regular refresh will come to the rescue

    async def go() -> None:
        c = client(server, clock)
        await c.start(background=False)
        await c.keys_for_kid("junk")  # t=0: forced refetch, junk stays unknown
        clock.advance(5)
        server.keys(K0, K1)  # t=5: the issuer publishes K1 and signs with it at once
        clock.advance(5)
        assert not (await c.keys_for_kid(K1.kid)).candidates(K1.kid)  # t=10: rate-limited, not found yet
        clock.advance(21)  # t=31: the refetch budget is back, and K1 was not remembered as unknown
        assert (await c.keys_for_kid(K1.kid)).candidates(K1.kid)
        assert c.counters.forced_refetches == 2 and server.requests == 3
        assert await c.keys_for_kid("junk") and server.requests == 3  # a kid a fresh fetch lacked stays cached
        await c.close()

    run(go())


@pytest.mark.parametrize("unusable", [
    {"keys": [{**jwks(K1)["keys"][0], "use": "enc"}]},
    {"keys": [{**jwks(K1)["keys"][0], "key_ops": ["encrypt"]}]},
    {"keys": [{**jwks(K1)["keys"][0], "key_ops": "verify"}]},
    {"keys": [rsa_key(0).public_jwk()]},  # a sound RSA key, but this issuer signs with EdDSA only
], ids=["use-enc", "key-ops-encrypt", "key-ops-not-a-list", "wrong-family"])
def test_a_set_with_no_key_usable_by_this_issuer_never_replaces_a_good_one(server: Server,
                                                                            unusable: dict[str, Any]) -> None:
    async def go() -> None:
        c = client(server, Clock(), algorithms=("EdDSA",))
        await c.start(background=False)
        server.body = json.dumps(unusable).encode()
        assert await c.refresh() is False
        assert c.kids == {K0.kid} and c.counters.failures == 1
        await c.close()

    run(go())


def test_keys_an_allowed_algorithm_can_use_are_kept_and_the_rest_dropped(server: Server) -> None:
    async def go() -> None:
        c = client(server, Clock(), algorithms=("EdDSA",))
        await c.start(background=False)
        rsa = rsa_key(0).public_jwk()
        server.body = json.dumps({"keys": [rsa, {**jwks(K1)["keys"][0], "key_ops": ["verify"]}]}).encode()
        assert await c.refresh() is True and c.kids == {K1.kid}
        await c.close()

    run(go())
