"""The gateway in front of DPoP-bound tokens (RFC 9449), over real HTTP on loopback.

A thief holds a copy of alice's access token. These tests are the thief's attempts — as a bearer token,
without a proof, with a proof of their own key, with a captured proof replayed or moved to another URL or
method — each refused with 401 and a `DPoP` challenge; and alice, with her key, still gets through.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jwtlab import keys
from jwtlab.clock import Clock
from jwtlab.dpop import jkt_of, make_proof
from jwtlab.stack import DemoStack, demo_stack

pytestmark = pytest.mark.network

ALICE = keys.p256_key("dpop-alice")  # demo key: alice's client holds it
THIEF = keys.p256_key("dpop-thief")  # demo key: the thief's own


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(clock=Clock(), token_cache_size=16) as s:
        yield s


def bound_token(stack: DemoStack, key: keys.DemoKey = ALICE) -> str:
    return stack.idp.issue("alice", "orders-api", "orders:read", extra={"cnf": {"jkt": jkt_of(key.public_key)}})


def call(stack: DemoStack, token: str, proofs: list[str] = (), *, path: str = "/orders/42",
         scheme: str = "DPoP", method: str = "GET") -> httpx.Response:
    headers = [("Authorization", f"{scheme} {token}"), *(("DPoP", p) for p in proofs)]
    return httpx.request(method, stack.gateway.url + path, headers=headers, timeout=10)


def proof(stack: DemoStack, token: str, key: keys.DemoKey = ALICE, *, path: str = "/orders/42",
          method: str = "GET", **kw: object) -> str:
    kw.setdefault("now", stack.clock.now())
    return make_proof(key, method, stack.gateway.url + path, access_token=token, **kw)


def refused(response: httpx.Response, reason: str, error: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 401, response.text
    assert response.json()["reason"] == reason
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP algs="ES256 EdDSA PS256 RS256"') and f'error="{error}"' in challenge


def test_the_holder_of_the_key_gets_through_and_the_service_sees_alice(stack: DemoStack) -> None:
    token = bound_token(stack)
    r = call(stack, token, [proof(stack, token)])
    assert r.status_code == 200 and r.json()["identity"]["sub"] == "alice"
    r = call(stack, token, [proof(stack, token, path="/orders/42?expand=1")], path="/orders/42?expand=1")
    assert r.status_code == 200  # the query is not part of htu


def test_a_stolen_bound_token_is_useless_without_the_key(stack: DemoStack) -> None:
    token = bound_token(stack)
    refused(call(stack, token, scheme="Bearer"), "dpop_missing", "invalid_token")  # as a bearer token
    refused(call(stack, token), "dpop_missing")  # DPoP scheme, no proof
    refused(call(stack, token, [proof(stack, token)] * 2), "dpop_missing")  # two proofs
    refused(call(stack, token, [proof(stack, token, THIEF)]), "dpop_key_mismatch", "invalid_token")
    refused(call(stack, token, ["eyJhbGciOiJub25lIn0.e30."]), "dpop_invalid")


def test_a_captured_proof_works_once_for_one_request(stack: DemoStack) -> None:
    token = bound_token(stack)
    captured = proof(stack, token)
    assert call(stack, token, [captured]).status_code == 200
    refused(call(stack, token, [captured]), "dpop_replay")
    refused(call(stack, token, [proof(stack, token)], path="/orders/43"), "dpop_wrong_request")
    refused(call(stack, token, [proof(stack, token)], method="POST"), "dpop_wrong_request")
    refused(call(stack, token, [proof(stack, token, now=stack.clock.now() - 120)]), "dpop_stale")
    other = bound_token(stack)
    refused(call(stack, token, [proof(stack, other)]), "dpop_wrong_token")


def test_a_proof_for_another_host_is_refused_whatever_the_host_header_says(stack: DemoStack) -> None:
    token = bound_token(stack)
    elsewhere = make_proof(ALICE, "GET", "https://api.other.example/orders/42", now=stack.clock.now(),
                           access_token=token)
    r = httpx.get(stack.gateway.url + "/orders/42", timeout=10,
                  headers={"Authorization": f"DPoP {token}", "DPoP": elsewhere, "Host": "api.other.example"})
    refused(r, "dpop_wrong_request")


def test_an_unbound_token_cannot_use_the_dpop_scheme_and_the_proof_is_not_forwarded(stack: DemoStack) -> None:
    plain = stack.idp.issue("alice", "orders-api", "orders:read")
    refused(call(stack, plain, [proof(stack, plain)]), "dpop_key_mismatch", "invalid_token")
    assert call(stack, plain, scheme="Bearer").status_code == 200  # bearer tokens still work unless required


def test_sender_constrained_only_and_nonces() -> None:
    clock = Clock()
    with demo_stack(clock=clock, require_sender_constrained=True, dpop_nonce_ttl=60) as s:
        plain = s.idp.issue("alice", "orders-api", "orders:read")
        refused(call(s, plain, scheme="Bearer"), "dpop_key_mismatch", "invalid_token")
        token = bound_token(s)
        first = call(s, token, [proof(s, token)])
        refused(first, "dpop_nonce", "use_dpop_nonce")
        nonce = first.headers["dpop-nonce"]
        assert call(s, token, [proof(s, token, nonce=nonce)]).status_code == 200
        clock.advance(61)  # the previous window's nonce is still accepted...
        assert call(s, token, [proof(s, token, nonce=nonce)]).status_code == 200
        clock.advance(60)  # ...but not the one before
        refused(call(s, token, [proof(s, token, nonce=nonce)]), "dpop_nonce", "use_dpop_nonce")
        denied = httpx.get(s.gateway.url + "/metrics", timeout=10).json()["denied"]
        assert denied["dpop_nonce"] == 2 and denied["dpop_key_mismatch"] == 1
