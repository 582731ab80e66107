"""The demo IdP's Part V options over real HTTP, end to end with the gateway: DPoP-bound tokens from the
token endpoint, opaque access tokens for the phantom-token gateway, and back-channel logout that ends a
session at the gateway before the revocation request is even answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from jwtlab import keys
from jwtlab.clock import Clock
from jwtlab.dpop import jkt_of, make_proof
from jwtlab.idp import IdentityProvider
from jwtlab.stack import DemoStack, demo_stack

pytestmark = pytest.mark.network

WEB_APP = ("web-app", "web-app-demo-secret")  # DEMO client secret
ALICE = {"grant_type": "password", "username": "alice", "password": "alice-demo-password",
         "audience": "orders-api", "scope": "orders:read"}
CLIENT_KEY = keys.p256_key("idp-edge-client")  # demo key: the client's DPoP key


def token_request(stack: DemoStack, data: dict[str, str], proof: str | None = None) -> httpx.Response:
    headers = {"DPoP": proof} if proof else {}
    return httpx.post(stack.idp_service.url + "/token", data=data, auth=WEB_APP, headers=headers, timeout=10)


def token_proof(stack: DemoStack, key: keys.DemoKey = CLIENT_KEY, **kw: Any) -> str:
    kw.setdefault("now", stack.clock.now())
    return make_proof(key, "POST", stack.idp_service.url + "/token", **kw)


def orders(stack: DemoStack, token: str, scheme: str = "Bearer", proof: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}", **({"DPoP": proof} if proof else {})}
    return httpx.get(stack.gateway.url + "/orders/1", headers=headers, timeout=10)


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(clock=Clock(), logout=True, token_cache_size=16) as s:
        yield s


def test_a_token_request_with_a_proof_gets_a_token_bound_to_its_key(stack: DemoStack) -> None:
    r = token_request(stack, ALICE, token_proof(stack))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    token = r.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": jkt_of(CLIENT_KEY.public_key)}
    proof = make_proof(CLIENT_KEY, "GET", stack.gateway.url + "/orders/1", now=stack.clock.now(), access_token=token)
    assert orders(stack, token, "DPoP", proof).status_code == 200
    assert orders(stack, token).json()["reason"] == "dpop_missing"  # stolen and sent as a bearer token
    # The refresh grant with a proof keeps the binding.
    refreshed = token_request(stack, {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]},
                              token_proof(stack))
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert refreshed.json()["token_type"] == "DPoP" and claims["cnf"]["jkt"] == jkt_of(CLIENT_KEY.public_key)
    assert "dpop_signing_alg_values_supported" in httpx.get(
        stack.idp_service.url + "/.well-known/openid-configuration", timeout=10).json()


def test_a_public_clients_refresh_token_is_bound_to_its_dpop_key(stack: DemoStack) -> None:
    """RFC 9449 §5: the refresh token of a public client (course-cli, no secret) works only with a proof
    by the key it was issued for. A thief's copy is refused as `wrong_key` with no proof or another key's,
    even once spent, and cannot trigger reuse detection to end alice's login."""

    def public(data: dict[str, str], proof: str | None) -> httpx.Response:
        headers = {"DPoP": proof} if proof else {}
        return httpx.post(stack.idp_service.url + "/token", data={**data, "client_id": "course-cli"},
                          headers=headers, timeout=10)

    thief_key = keys.p256_key("idp-edge-thief")  # demo key
    login = public(ALICE, token_proof(stack))
    assert login.status_code == 200, login.text
    first = login.json()["refresh_token"]
    refresh = {"grant_type": "refresh_token", "refresh_token": first}
    assert public(refresh, None).json()["reason"] == "wrong_key"
    assert public(refresh, token_proof(stack, thief_key)).json()["reason"] == "wrong_key"
    renewed = public(refresh, token_proof(stack))
    assert renewed.status_code == 200, renewed.text
    claims = jwt.decode(renewed.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"]["jkt"] == jkt_of(CLIENT_KEY.public_key)
    # The spent first token, replayed by the thief without the key: refused, and the login lives on.
    assert public(refresh, token_proof(stack, thief_key)).json()["reason"] == "wrong_key"
    again = public({"grant_type": "refresh_token", "refresh_token": renewed.json()["refresh_token"]},
                   token_proof(stack))
    assert again.status_code == 200, again.json().get("reason")
    # Without a proof at login, the public client's refresh token is not bound (nothing to bind it to).
    plain = public(ALICE, None).json()["refresh_token"]
    assert public({"grant_type": "refresh_token", "refresh_token": plain}, None).status_code == 200


def test_bad_proofs_at_the_token_endpoint_are_400_invalid_dpop_proof(stack: DemoStack) -> None:
    captured = token_proof(stack)
    assert token_request(stack, ALICE, captured).status_code == 200
    cases = {
        "replayed": captured,
        "for another URL": make_proof(CLIENT_KEY, "POST", "https://idp.other.example/token", now=stack.clock.now()),
        "for GET": make_proof(CLIENT_KEY, "GET", stack.idp_service.url + "/token", now=stack.clock.now()),
        "stale": token_proof(stack, now=stack.clock.now() - 300),
        "junk": "not-a-proof",
    }
    for name, proof in cases.items():
        r = token_request(stack, ALICE, proof)
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", (name, r.text)


def test_revoking_a_login_ends_it_at_the_gateway_before_the_answer(stack: DemoStack) -> None:
    login = token_request(stack, ALICE).json()
    assert orders(stack, login["access_token"]).status_code == 200
    before = len(stack.idp.logout_deliveries)
    r = httpx.post(stack.idp_service.url + "/revoke", data={"token": login["refresh_token"]}, auth=WEB_APP,
                   timeout=10)
    assert r.status_code == 200
    assert stack.idp.logout_deliveries[before:] == [("gateway", "200")]
    refused = orders(stack, login["access_token"])  # the access token itself is still signed and unexpired
    assert refused.status_code == 401 and refused.json()["reason"] == "session_ended"
    other = token_request(stack, ALICE).json()  # alice's other login is not affected
    assert orders(stack, other["access_token"]).status_code == 200


def test_a_detected_refresh_token_reuse_is_announced_too(stack: DemoStack) -> None:
    login = token_request(stack, ALICE).json()
    stolen = login["refresh_token"]
    first = token_request(stack, {"grant_type": "refresh_token", "refresh_token": stolen})  # the thief
    assert first.status_code == 200
    before = len(stack.idp.logout_deliveries)
    again = token_request(stack, {"grant_type": "refresh_token", "refresh_token": stolen})  # the real client
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert stack.idp.logout_deliveries[before:] == [("gateway", "200")]
    r = orders(stack, first.json()["access_token"])  # the thief's fresh access token dies with the login
    assert r.status_code == 401 and r.json()["reason"] == "session_ended"


@pytest.fixture(scope="module")
def phantom() -> Iterator[DemoStack]:
    clock = Clock()
    idp = IdentityProvider(clock=clock.now, opaque_access_tokens=True)
    with demo_stack(clock=clock, idp=idp, token_cache_size=0, introspect=True) as s:
        yield s


def test_opaque_access_tokens_through_the_phantom_gateway(phantom: DemoStack) -> None:
    login = token_request(phantom, ALICE).json()
    token = login["access_token"]
    assert token.count(".") == 0  # opaque: the client learns nothing from it
    r = orders(phantom, token)
    assert r.status_code == 200 and r.json()["identity"]["sub"] == "alice"
    revoked = httpx.post(phantom.idp_service.url + "/revoke", data={"token": token}, auth=WEB_APP, timeout=10)
    assert revoked.status_code == 200
    assert orders(phantom, token).status_code == 200  # the gateway's cached answer, within its bound
    phantom.clock.advance(31)
    r = orders(phantom, token)
    assert r.status_code == 401 and r.json()["reason"] == "token_inactive"


def test_introspection_without_a_cache_refuses_a_revoked_token_at_once() -> None:
    clock = Clock()
    idp = IdentityProvider(clock=clock.now, opaque_access_tokens=True)
    with demo_stack(clock=clock, idp=idp, introspect=True, introspect_cache_seconds=0) as s:
        token = token_request(s, ALICE).json()["access_token"]
        assert orders(s, token).status_code == 200
        assert orders(s, token).status_code == 200
        assert httpx.post(s.idp_service.url + "/revoke", data={"token": token}, auth=WEB_APP,
                          timeout=10).status_code == 200
        r = orders(s, token)  # no cached answer to serve: the very next request is refused
        assert r.status_code == 401 and r.json()["reason"] == "token_inactive"
        assert httpx.get(s.gateway.url + "/metrics", timeout=10).json()["introspection"] == {
            "calls": 3, "cache_hits": 0}
