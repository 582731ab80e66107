"""The phantom-token gateway: opaque tokens outside, internal JWTs inside, over real HTTP on loopback.

The issuer here is a small RFC 7662 endpoint the test controls, so it can revoke a token, keep saying
"active" after `exp` (a broken issuer), or fail; the gateway must never serve a cached answer past the
token's `exp` or past its cache bound, and must fail closed when it cannot ask.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from jwtlab.clock import DEMO_ISSUER, Clock
from jwtlab.phantom import PhantomSettings
from jwtlab.services import start
from jwtlab.stack import DemoStack, demo_stack

pytestmark = pytest.mark.network

GATEWAY_CLIENT = ("gateway", "demo-gateway-secret")  # DEMO credentials of the gateway at the issuer


class FakeIssuer:
    """The issuer's side: opaque token → claims, with a switch per token and a call counter."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.tokens, self.calls, self.status = clock, {}, 0, 200
        self.app = FastAPI()
        self.app.post("/introspect")(self.introspect)

    def add(self, token: str, lifetime: int = 300, **claims: Any) -> str:
        now = int(self.clock.now())
        self.tokens[token] = {"active": True, "iss": DEMO_ISSUER, "sub": "alice", "aud": "orders-api",
                              "scope": "orders:read", "iat": now, "exp": now + lifetime, **claims}
        return token

    async def introspect(self, request: Request) -> JSONResponse:
        self.calls += 1
        expected = "Basic " + base64.b64encode(":".join(GATEWAY_CLIENT).encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if self.status != 200:
            return JSONResponse({"error": "server_error"}, status_code=self.status)
        form = urllib.parse.parse_qs((await request.body()).decode())
        token = form.get("token", [""])[0]
        return JSONResponse(self.tokens.get(token, {"active": False}))


@pytest.fixture
def phantom() -> Iterator[tuple[DemoStack, FakeIssuer]]:
    clock = Clock()
    issuer = FakeIssuer(clock)
    with start(issuer.app, name="introspection") as service:
        settings = PhantomSettings(service.url + "/introspect", *GATEWAY_CLIENT, max_cache_seconds=30)
        with demo_stack(clock=clock, phantom=settings, token_cache_size=0) as stack:
            yield stack, issuer


def get(stack: DemoStack, token: str, path: str = "/orders/42") -> httpx.Response:
    return httpx.get(stack.gateway.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_an_opaque_token_reaches_the_service_as_an_internal_jwt(phantom: tuple[DemoStack, FakeIssuer]) -> None:
    stack, issuer = phantom
    r = get(stack, issuer.add("op-alice-1"))
    assert r.status_code == 200 and r.json()["identity"]["sub"] == "alice"
    assert get(stack, "op-alice-1").status_code == 200
    assert issuer.calls == 1  # the second request was answered from the cache
    jwt_token = stack.idp.issue("alice", "orders-api", "orders:read")  # JWTs still take the JWT path
    assert get(stack, jwt_token).status_code == 200 and issuer.calls == 1


def test_revocation_takes_effect_within_the_cache_bound(phantom: tuple[DemoStack, FakeIssuer]) -> None:
    stack, issuer = phantom
    assert get(stack, issuer.add("op-alice-2")).status_code == 200
    issuer.tokens["op-alice-2"]["active"] = False  # revoked at the issuer
    stack.clock.advance(29)
    assert get(stack, "op-alice-2").status_code == 200  # still cached: this is the price of the cache
    stack.clock.advance(2)
    r = get(stack, "op-alice-2")
    assert r.status_code == 401 and r.json()["reason"] == "token_inactive"


def test_a_cached_answer_is_never_served_past_exp(phantom: tuple[DemoStack, FakeIssuer]) -> None:
    stack, issuer = phantom
    assert get(stack, issuer.add("op-short", lifetime=10)).status_code == 200
    stack.clock.advance(11)  # the broken issuer still says active; exp has passed
    r = get(stack, "op-short")
    assert r.status_code == 401 and r.json()["reason"] == "token_inactive"
    assert get(stack, issuer.add("op-no-exp", exp=None)).json()["reason"] == "token_inactive"


def test_the_route_checks_still_apply(phantom: tuple[DemoStack, FakeIssuer]) -> None:
    stack, issuer = phantom
    assert get(stack, issuer.add("op-pay", aud="payments-api")).json()["reason"] == "audience"
    assert get(stack, issuer.add("op-iss", iss="https://evil.example")).json()["reason"] == "issuer"
    assert get(stack, issuer.add("op-nosub", sub="")).json()["reason"] == "missing_claim"
    r = get(stack, issuer.add("op-read"), "/payments/1")
    assert r.status_code == 401 and r.json()["reason"] == "audience"
    for hostile in ("unknown-opaque", "x" * 9000, "a.b", "%00"):
        r = get(stack, hostile)
        assert r.status_code == 401 and r.json()["reason"] in ("token_inactive", "too_large", "malformed")


def test_introspection_down_fails_closed(phantom: tuple[DemoStack, FakeIssuer]) -> None:
    stack, issuer = phantom
    issuer.add("op-down")
    issuer.status = 500
    r = get(stack, "op-down")
    assert r.status_code == 503 and r.json()["reason"] == "introspection_unavailable"
    assert r.headers["retry-after"] == "5"
