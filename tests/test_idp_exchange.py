"""The demo IdP's token exchange (RFC 8693) and `private_key_jwt` client authentication, over real HTTP.

The IdP serves the exchange rules of `jwtlab.exchange` with its own issuer and rotating key, so every
exchanged token verifies against the IdP's JWKS; its `client_credentials` grant accepts a signed client
assertion instead of a secret, once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from jwtlab import clock
from jwtlab.client_auth import CLIENT_ASSERTION_TYPE, build_client_assertion
from jwtlab.exchange import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, actor_chain
from jwtlab.idp import DEMO_CLIENTS, DemoClient, DemoUser, IdentityProvider, create_idp
from jwtlab.keys import ed25519_key
from jwtlab.services import Service, start
from jwtlab.verify import TokenRejected, verify_token

pytestmark = pytest.mark.network

ISSUER = clock.DEMO_ISSUER
REPORTS_KEY = ed25519_key("client/reports-job")
CHAIN_SCOPE = "ledger:write orders:write payments:charge"
# Each service accepts its own scopes plus what it passes on downstream: exchange only narrows, hop by hop.
RESOURCES = {
    "orders-api": frozenset({"orders:read", "orders:write", "payments:charge", "ledger:write"}),
    "payments-api": frozenset({"payments:charge", "ledger:write"}),
    "ledger-api": frozenset({"ledger:write", "ledger:read"}),
}
EXCHANGE = frozenset({TOKEN_EXCHANGE_GRANT})
CLIENTS = {
    **DEMO_CLIENTS,
    "shop": DemoClient("shop", "shop-demo-secret", frozenset({"password"}), RESOURCES["orders-api"]),
    "orders-api": DemoClient("orders-api", "orders-api-demo-secret", EXCHANGE, frozenset()),
    "payments-api": DemoClient("payments-api", "payments-api-demo-secret", EXCHANGE, frozenset()),
    "ledger-api": DemoClient("ledger-api", "ledger-api-demo-secret", EXCHANGE, frozenset()),
}
USERS = {"alice": DemoUser("alice", "alice-demo-password", RESOURCES["orders-api"])}


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[IdentityProvider, Service]]:
    state = IdentityProvider(clock=clock.Clock().now, users=USERS, clients=CLIENTS, resources=RESOURCES)
    with start(create_idp(state), name="idp") as service:
        yield state, service


def token_request(service: Service, data: dict[str, str], auth: tuple[str, str] | None = None) -> httpx.Response:
    with httpx.Client(timeout=5) as http:
        return http.post(service.url + "/token", data=data, auth=auth)


def user_token(service: Service, scope: str = CHAIN_SCOPE) -> str:
    resp = token_request(service, {"grant_type": "password", "username": "alice", "password": "alice-demo-password",
                                   "audience": "orders-api", "scope": scope}, auth=("shop", "shop-demo-secret"))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def exchange(service: Service, client: str, subject: str, audience: str, scope: str | None = None) -> httpx.Response:
    data = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": audience}
    if scope is not None:
        data["scope"] = scope
    return token_request(service, data, auth=(client, CLIENTS[client].secret or ""))


def verified(service: Service, token: str, audience: str) -> dict[str, Any]:
    """Verify with nothing but what the IdP publishes: its JWKS over HTTP."""
    jwks = httpx.get(service.url + "/.well-known/jwks.json", timeout=5).json()
    return verify_token(token, jwks, issuer=ISSUER, audience=audience, algorithms=["EdDSA"], typ="at+jwt",
                        now=clock.now())


def test_discovery_announces_exchange_and_private_key_jwt(idp: tuple[IdentityProvider, Service]) -> None:
    meta = httpx.get(idp[1].url + "/.well-known/openid-configuration", timeout=5).json()
    assert TOKEN_EXCHANGE_GRANT in meta["grant_types_supported"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]


def test_exchange_at_the_idp_narrows_scope_and_audience(idp: tuple[IdentityProvider, Service]) -> None:
    _, service = idp
    subject = user_token(service)
    resp = exchange(service, "orders-api", subject, "payments-api")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and resp.headers["cache-control"] == "no-store"
    assert body["scope"] == "ledger:write payments:charge"  # orders:write dropped: payments does not accept it
    claims = verified(service, body["access_token"], "payments-api")
    assert claims["aud"] == "payments-api" and claims["sub"] == "alice" and claims["act"] == {"sub": "orders-api"}
    user = verified(service, subject, "orders-api")
    assert claims["exp"] <= user["exp"] and claims["jti"] != user["jti"]
    # Asking for more than the subject holds never widens it.
    resp = exchange(service, "orders-api", subject, "payments-api", scope="payments:charge payments:refund")
    assert resp.json()["scope"] == "payments:charge"
    resp = exchange(service, "orders-api", subject, "ledger-api", scope="ledger:read")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"


def test_act_chain_across_three_hops(idp: tuple[IdentityProvider, Service]) -> None:
    _, service = idp
    user = user_token(service)
    to_payments = exchange(service, "orders-api", user, "payments-api").json()["access_token"]
    to_ledger = exchange(service, "payments-api", to_payments, "ledger-api", scope="ledger:write").json()["access_token"]
    claims = verified(service, to_ledger, "ledger-api")
    assert claims["act"] == {"sub": "payments-api", "act": {"sub": "orders-api"}}
    assert actor_chain(claims) == ["payments-api", "orders-api"] and claims["scope"] == "ledger:write"
    assert claims["sub"] == "alice" and claims["client_id"] == "payments-api"
    with pytest.raises(TokenRejected) as info:  # the user's own token is not for the ledger
        verified(service, user, "ledger-api")
    assert info.value.reason == "audience"


def test_a_logout_reaches_exchanged_tokens_and_stops_new_exchanges(idp: tuple[IdentityProvider, Service]) -> None:
    """The exchanged token keeps the login's `sid`: once alice logs out, introspection calls every hop's
    token inactive, and neither her token nor one obtained from it can be exchanged again."""
    _, service = idp
    resp = token_request(service, {"grant_type": "password", "username": "alice", "password": "alice-demo-password",
                                   "audience": "orders-api", "scope": CHAIN_SCOPE}, auth=("shop", "shop-demo-secret"))
    login = resp.json()
    to_payments = exchange(service, "orders-api", login["access_token"], "payments-api").json()["access_token"]
    sid = verified(service, login["access_token"], "orders-api")["sid"]
    assert verified(service, to_payments, "payments-api")["sid"] == sid

    def active(token: str) -> bool:
        answer = httpx.post(service.url + "/introspect", data={"token": token}, timeout=5,
                            auth=("orders-api", "orders-api-demo-secret"))
        return bool(answer.json()["active"])

    assert active(to_payments)
    revoked = httpx.post(service.url + "/revoke", data={"token": login["refresh_token"]}, timeout=5,
                         auth=("shop", "shop-demo-secret"))
    assert revoked.status_code == 200
    assert not active(login["access_token"]) and not active(to_payments)
    for client, subject, audience in (("orders-api", login["access_token"], "payments-api"),
                                      ("payments-api", to_payments, "ledger-api")):
        resp = exchange(service, client, subject, audience, scope="ledger:write")
        assert resp.status_code == 400 and resp.json()["reason"] == "token_inactive", resp.json().get("reason")


def test_only_an_audience_of_the_subject_token_may_exchange_it(idp: tuple[IdentityProvider, Service]) -> None:
    _, service = idp
    user = user_token(service)
    resp = exchange(service, "payments-api", user, "ledger-api")  # payments never received this token
    assert resp.status_code == 400 and resp.json()["reason"] == "audience"
    resp = token_request(service, {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": user,
                                   "subject_token_type": ACCESS_TOKEN_TYPE, "audience": "payments-api"},
                         auth=("orders-api", "wrong-secret"))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    resp = token_request(service, {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": user,
                                   "subject_token_type": ACCESS_TOKEN_TYPE, "audience": "payments-api"},
                         auth=("shop", "shop-demo-secret"))  # a client without the exchange grant
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"
    forged = user[:-4] + ("AAAA" if not user.endswith("AAAA") else "BBBB")
    resp = exchange(service, "orders-api", forged, "payments-api")
    assert resp.status_code == 400 and resp.json()["reason"] == "bad_signature"


def test_a_revoked_key_stops_exchanges_of_its_tokens() -> None:
    state = IdentityProvider(clock=clock.Clock().now, users=USERS, clients=CLIENTS, resources=RESOURCES)
    with start(create_idp(state), name="idp-revoke") as service:
        user = user_token(service)
        state.revoke(state.jwks()["keys"][-1]["kid"])
        resp = exchange(service, "orders-api", user, "payments-api")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def impostor_assertion(now: float) -> str:
    """Signed by another key under the client's own kid: only the signature check can tell."""
    claims = {"iss": "reports-job", "sub": "reports-job", "aud": ISSUER + "/token", "iat": int(now), "exp": int(now) + 60,
              "jti": "impostor-1"}
    intruder = ed25519_key("intruder")
    return jwt.encode(claims, intruder.signing_key, algorithm="EdDSA", headers={"kid": REPORTS_KEY.kid})


def assertion_request(assertion: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "audience": "orders-api", "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion, **extra}


def test_private_key_jwt_client_credentials_and_replay(idp: tuple[IdentityProvider, Service]) -> None:
    state, service = idp
    assert state.token_endpoint == ISSUER + "/token"
    assertion = build_client_assertion("reports-job", state.token_endpoint, REPORTS_KEY, now=clock.now())
    resp = token_request(service, assertion_request(assertion))
    assert resp.status_code == 200, resp.text
    claims = verified(service, resp.json()["access_token"], "orders-api")
    assert claims["sub"] == claims["client_id"] == "reports-job" and claims["scope"] == "orders:read"
    replay = token_request(service, assertion_request(assertion))
    assert replay.status_code == 401 and replay.json() == {**replay.json(), "error": "invalid_client", "reason": "replayed"}
    assert "Basic" in replay.headers["www-authenticate"] and assertion not in replay.text


@pytest.mark.parametrize(("make", "reason"), [
    (lambda now: build_client_assertion("reports-job", "https://elsewhere.example/token", REPORTS_KEY, now=now),
     "audience"),
    (lambda now: build_client_assertion("reports-job", ISSUER + "/token", ed25519_key("intruder"), now=now),
     "kid_unknown"),
    (lambda now: impostor_assertion(now), "bad_signature"),
    (lambda now: build_client_assertion("reports-job", ISSUER + "/token", REPORTS_KEY, now=now - 600), "expired"),
    (lambda now: build_client_assertion("reports-job", ISSUER + "/token", REPORTS_KEY, now=now, lifetime=3600),
     "lifetime_too_long"),
    (lambda now: build_client_assertion("nobody", ISSUER + "/token", REPORTS_KEY, now=now), "unknown_client"),
    (lambda now: "not-a-jwt", "bad_assertion"),
])
def test_bad_client_assertions_are_401(idp: tuple[IdentityProvider, Service], make: Any, reason: str) -> None:
    resp = token_request(idp[1], assertion_request(make(clock.now())))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client" and resp.json()["reason"] == reason


def test_a_private_key_jwt_client_is_never_treated_as_public(idp: tuple[IdentityProvider, Service]) -> None:
    resp = token_request(idp[1], {"grant_type": "client_credentials", "audience": "orders-api", "client_id": "reports-job"})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assertion = build_client_assertion("reports-job", ISSUER + "/token", REPORTS_KEY, now=clock.now())
    resp = token_request(idp[1], assertion_request(assertion), auth=("billing-job", "billing-job-demo-secret"))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"  # two methods at once
