"""A service's own token: cached until exp − 60 s, refreshed once for many concurrent callers, both auth methods."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from jwtlab.clock import Clock
from jwtlab.idp import IdentityProvider, create_idp
from jwtlab.keys import ed25519_key
from jwtlab.service_tokens import ClientCredentials, TokenRequestError
from jwtlab.services import Service, start

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[Clock, IdentityProvider, Service]]:
    clock = Clock()
    state = IdentityProvider(clock=clock.now)
    with start(create_idp(state), name="idp") as service:
        yield clock, state, service


def test_the_token_is_reused_until_a_minute_before_it_expires(idp: tuple[Clock, IdentityProvider, Service]) -> None:
    clock, state, service = idp
    with httpx.Client(timeout=5) as http:
        client = ClientCredentials(http, service.url + "/token", "billing-job", secret="billing-job-demo-secret",
                                   audience="payments-api", scope="payments:read", now=clock.now)
        first = client.token()
        assert [client.token() for _ in range(20)] == [first] * 20 and client.fetches == 1
        clock.advance(state.token_lifetime - 61)
        assert client.token() == first and client.fetches == 1
        clock.advance(2)  # now less than 60 s left
        assert client.token() != first and client.fetches == 2


def test_concurrent_callers_share_one_refresh(idp: tuple[Clock, IdentityProvider, Service]) -> None:
    clock, state, service = idp
    with httpx.Client(timeout=5) as http:
        client = ClientCredentials(http, service.url + "/token", "reports-job", key=ed25519_key("client/reports-job"),
                                   assertion_audience=state.token_endpoint, audience="orders-api", now=clock.now)
        tokens: list[str] = []
        barrier = threading.Barrier(16)

        def worker() -> None:
            barrier.wait()
            tokens.append(client.token())

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(tokens) == 16 and len(set(tokens)) == 1 and client.fetches == 1


def test_refusals_raise_with_the_error_and_reason(idp: tuple[Clock, IdentityProvider, Service]) -> None:
    clock, state, service = idp
    with httpx.Client(timeout=5) as http:
        wrong = ClientCredentials(http, service.url + "/token", "billing-job", secret="guessed", audience="payments-api",
                                  now=clock.now)
        with pytest.raises(TokenRequestError) as info:
            wrong.token()
        assert (info.value.error, info.value.status) == ("invalid_client", 401)
        elsewhere = ClientCredentials(http, service.url + "/token", "reports-job", key=ed25519_key("client/reports-job"),
                                      audience="orders-api", now=clock.now)  # aud = the loopback URL, not the IdP's
        with pytest.raises(TokenRequestError) as info:
            elsewhere.token()
        assert (info.value.error, info.value.reason) == ("invalid_client", "audience")
    with httpx.Client() as http, pytest.raises(ValueError, match="one client authentication"):
        ClientCredentials(http, "u", "c", audience="a", now=clock.now)
