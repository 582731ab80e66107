"""Token propagation through the orders → payments → ledger chain, and the contract + attack corpus at every hop.

Real uvicorn servers on loopback: the demo stack (IdP, gateway, services) and the exchange chain. These
are the facts notebooks 42 and 44 show; here they fail CI the day a hop stops checking something.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from jwtlab import contracts, propagation, services
from jwtlab.clock import DEMO_ISSUER, Clock
from jwtlab.contracts import HopContract
from jwtlab.gateway import GATEWAY_ISSUER
from jwtlab.keys import ed25519_key
from jwtlab.propagation import ChainStack
from jwtlab.stack import DemoStack, demo_stack
from jwtlab.verify import TokenRejected, verify_token

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def chain() -> Iterator[ChainStack]:
    with propagation.chain_stack("exchange", clock=Clock()) as stack:
        yield stack


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(clock=Clock()) as s:
        yield s


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def call(http: httpx.Client, service: services.Service, token: str) -> httpx.Response:
    return http.post(service.url + "/work", headers={"Authorization": f"Bearer {token}"})


def flatten(answer: dict[str, Any]) -> list[tuple[str, Any, str]]:
    out = []
    node: dict[str, Any] | None = answer
    while node:
        out.append((node["service"], node["aud"], node["scope"]))
        node = node.get("downstream")
    return out


def test_pass_through_lets_the_users_token_in_everywhere_it_names(http: httpx.Client) -> None:
    with propagation.chain_stack("pass_through", clock=Clock()) as passing:
        token = propagation.login(passing.idp_service.url, list(propagation.CHAIN))
        resp = call(http, passing.hops["orders-api"], token)
        replay = call(http, passing.hops["ledger-api"], token)
    assert resp.status_code == 200
    assert [aud for _, aud, _ in flatten(resp.json())] == [list(propagation.CHAIN)] * 3  # one token, every hop
    assert replay.status_code == 200  # the blast radius the exchange removes
    assert passing.exchanges("orders-api") == 0


def test_exchange_gives_each_hop_its_own_audience_and_narrower_scope(chain: ChainStack, http: httpx.Client) -> None:
    token = propagation.login(chain.idp_service.url, "orders-api")
    resp = call(http, chain.hops["orders-api"], token)
    assert resp.status_code == 200
    assert flatten(resp.json()) == [
        ("orders-api", "orders-api", "ledger:write orders:write payments:charge"),
        ("payments-api", "payments-api", "ledger:write payments:charge"),
        ("ledger-api", "ledger-api", "ledger:write"),
    ]
    ledger = resp.json()["downstream"]["downstream"]
    assert ledger["act"] == {"sub": "payments-api", "act": {"sub": "orders-api"}} and ledger["sub"] == "alice"
    replay = call(http, chain.hops["ledger-api"], token)
    assert replay.status_code == 401 and replay.json()["reason"] == "audience"
    assert token not in replay.text


def test_exchanged_tokens_are_cached_per_subject_token(chain: ChainStack, http: httpx.Client) -> None:
    token = propagation.login(chain.idp_service.url, "orders-api")
    before = chain.exchanges("orders-api"), chain.exchanges("payments-api")
    for _ in range(5):
        assert call(http, chain.hops["orders-api"], token).status_code == 200
    assert (chain.exchanges("orders-api"), chain.exchanges("payments-api")) == (before[0] + 1, before[1] + 1)


def test_a_refused_exchange_is_a_502_with_its_reason_not_a_500(chain: ChainStack, http: httpx.Client) -> None:
    token = propagation.login(chain.idp_service.url, "orders-api", scope="orders:write payments:charge")
    resp = call(http, chain.hops["orders-api"], token)  # payments cannot get a ledger token: no ledger scope
    assert resp.status_code == 502
    payments = resp.json()["downstream"]
    assert payments["status"] == 502 and payments["error"] == "exchange_failed" and payments["reason"] == "invalid_scope"


def actor_claims(name: str) -> tuple[tuple[str, Any], ...]:
    act = propagation.expected_act(name)
    return (("act", act),) if act else ()


def test_hops_authorise_the_current_actor(chain: ChainStack, http: httpx.Client) -> None:
    user = propagation.login(chain.idp_service.url, "orders-api")
    # Orders may obtain a ledger token (the user holds ledger:write), but the ledger serves payments only.
    skip = http.post(chain.idp_service.url + "/token", auth=("orders-api", "orders-api-demo-secret"), data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": user,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "audience": "ledger-api"})
    assert skip.status_code == 200
    resp = call(http, chain.hops["ledger-api"], skip.json()["access_token"])
    assert resp.status_code == 403 and resp.json()["reason"] == "actor"
    direct = HopContract("ledger", chain.hops["ledger-api"].url + "/work", "POST", chain.idp.rotation.signing_key(),
                         DEMO_ISSUER, "ledger-api", "ledger:write")
    assert contracts.send(http, direct, direct.token()) == (403, "actor")  # no act at all: not through payments
    with_act = HopContract("ledger", direct.url, "POST", direct.key, DEMO_ISSUER, "ledger-api", "ledger:write",
                           extra=actor_claims("ledger-api"))
    assert contracts.send(http, with_act, with_act.token()) == (200, None)


def hops_of(stack: DemoStack, chain: ChainStack) -> list[HopContract]:
    idp_key, chain_key, gateway_key = stack.idp.rotation.signing_key(), chain.idp.rotation.signing_key(), ed25519_key("gateway")
    scopes = {"orders-api": propagation.USER_SCOPE, "payments-api": "ledger:write payments:charge", "ledger-api": "ledger:write"}
    return [
        HopContract("gateway /orders", stack.gateway.url + "/orders/1", "GET", idp_key, DEMO_ISSUER, "orders-api", "orders:read"),
        HopContract("gateway /payments", stack.gateway.url + "/payments/1", "GET", idp_key, DEMO_ISSUER, "payments-api",
                    "payments:read", required_scope="payments:read"),
        HopContract("orders", stack.services["orders"].url + "/o", "GET", gateway_key, GATEWAY_ISSUER, "orders"),
        HopContract("payments", stack.services["payments"].url + "/p", "GET", gateway_key, GATEWAY_ISSUER, "payments"),
        *[HopContract(name, chain.hops[name].url + "/work", "POST", chain_key, DEMO_ISSUER, name, scopes[name],
                      required_scope=propagation.REQUIRED_SCOPE[name], extra=actor_claims(name)) for name in propagation.CHAIN],
    ]


def test_every_hop_keeps_its_contract(stack: DemoStack, chain: ChainStack, http: httpx.Client) -> None:
    outcomes = contracts.run_contract(http, hops_of(stack, chain))
    assert [o for o in outcomes if not o.ok] == []
    assert len(outcomes) == 7 * 7 + 4


def test_the_contract_catches_a_hop_without_an_audience_check(chain: ChainStack, http: httpx.Client) -> None:
    lax = FastAPI()
    jwks = http.get(chain.idp_service.url + "/.well-known/jwks.json").json()

    @lax.post("/work")
    async def work(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return JSONResponse({"reason": "no_token"}, status_code=401)
        try:
            claims = verify_token(token, jwks, issuer=DEMO_ISSUER, audience=None, algorithms=["EdDSA"], typ="at+jwt",
                                  now=chain.clock.now())
        except TokenRejected as exc:
            return JSONResponse({"reason": exc.reason}, status_code=401)
        if "ledger:write" not in str(claims.get("scope", "")).split():
            return JSONResponse({"reason": "insufficient_scope"}, status_code=403)
        return JSONResponse({})

    with services.start(lax, name="lax") as service:
        hop = HopContract("lax", service.url + "/work", "POST", chain.idp.rotation.signing_key(), DEMO_ISSUER,
                          "ledger-api", "ledger:write", required_scope="ledger:write")
        failed = [o for o in contracts.run_contract(http, [hop]) if not o.ok]
    assert [(o.case, o.status) for o in failed] == [("for another service", 200)]


def test_every_hop_refuses_the_attack_corpus_with_a_reason(stack: DemoStack, chain: ChainStack, http: httpx.Client) -> None:
    for hop in hops_of(stack, chain):
        corpus = contracts.attack_corpus(hop)
        assert len(corpus) >= 20
        for name, token in corpus.items():
            status, reason = contracts.send(http, hop, token)
            assert status == 401 and reason, (hop.name, name, status, reason)
