"""The gateway's HTTP contract (RFC 6750 shapes, deny by default, one token) and the demo IdP's token endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from jwtlab.clock import Clock
from jwtlab.gateway import GATEWAY_ISSUER
from jwtlab.idp import IdentityProvider
from jwtlab.keys import ed25519_key
from jwtlab.stack import DemoStack, demo_stack

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(clock=Clock(), token_cache_size=0) as s:
        yield s


def get(stack: DemoStack, path: str, token: str | None = None, **kw: object) -> httpx.Response:
    headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(stack.gateway.url + path, headers=headers, **kw)  # type: ignore[arg-type]


def test_valid_token_reaches_the_service_as_an_internal_token(stack: DemoStack) -> None:
    token = stack.idp.issue("alice", "orders-api", "orders:read")
    r = get(stack, "/orders/42", token)
    assert r.status_code == 200
    assert r.json()["identity"] == {"sub": "alice", "scope": "orders:read", "iss": GATEWAY_ISSUER,
                                    "client_id": "course-cli"}


def test_no_token_is_401_with_a_bare_challenge(stack: DemoStack) -> None:
    r = get(stack, "/orders/1")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="jwt-course"'
    assert r.json()["reason"] == "no_token"


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "bad_signature"),
    (lambda t: "x" * 9000, "too_large"),
    (lambda t: "not-a-jwt", "malformed"),
])
def test_bad_tokens_are_401_invalid_token(stack: DemoStack, mutate: object, reason: str) -> None:
    token = mutate(stack.idp.issue("alice", "orders-api", "orders:read"))  # type: ignore[operator]
    r = get(stack, "/orders/1", token)
    assert r.status_code == 401
    assert r.json()["reason"] == reason and r.json()["error"] == "invalid_token"
    assert r.headers["www-authenticate"].startswith('Bearer realm="jwt-course", error="invalid_token", error_description="')


def test_audience_is_per_route_and_scope_is_403(stack: DemoStack) -> None:
    orders_token = stack.idp.issue("alice", "orders-api", "orders:read")
    assert get(stack, "/payments/1", orders_token).json()["reason"] == "audience"
    no_scope = stack.idp.issue("bob", "payments-api", "payments:write")
    r = get(stack, "/payments/1", no_scope)
    assert r.status_code == 403 and r.json()["reason"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert 'scope="payments:read"' in r.headers["www-authenticate"]


def test_an_id_token_or_foreign_issuer_is_refused(stack: DemoStack) -> None:
    key = stack.idp.rotation.signing_key()  # type: ignore[union-attr]
    now = int(stack.clock.now())
    base = {"iss": stack.idp.issuer, "sub": "alice", "aud": "orders-api", "iat": now, "exp": now + 60}
    id_token = jwt.encode(base, key.signing_key, "EdDSA", headers={"kid": key.kid, "typ": "JWT"})
    assert get(stack, "/orders/1", id_token).json()["reason"] == "typ"
    foreign = jwt.encode({**base, "iss": "https://evil.example"}, key.signing_key, "EdDSA",
                         headers={"kid": key.kid, "typ": "at+jwt"})
    assert get(stack, "/orders/1", foreign).json()["reason"] == "issuer"


def test_two_tokens_or_a_token_in_the_query_are_400(stack: DemoStack) -> None:
    token = stack.idp.issue("alice", "orders-api", "orders:read")
    r = get(stack, "/orders/1", token, params={"access_token": token})
    assert r.status_code == 400 and r.json() == {**r.json(), "error": "invalid_request", "reason": "multiple_tokens"}
    r = get(stack, "/orders/1", token, headers={"Cookie": f"access_token={token}"})
    assert r.status_code == 400 and r.json()["reason"] == "multiple_tokens"
    r = get(stack, "/orders/1", params={"access_token": token})
    assert r.status_code == 400 and r.json()["reason"] == "token_location"


def test_unmatched_routes_and_dot_segments_are_denied(stack: DemoStack) -> None:
    token = stack.idp.issue("alice", "orders-api", "orders:read")
    assert get(stack, "/admin", token).status_code == 404
    assert get(stack, "/orders-export", token).status_code == 404  # a prefix match needs a path boundary
    r = httpx.get(stack.gateway.url + "/orders/%2e%2e/admin", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (400, 404) and r.json()["reason"] in ("bad_path", "route_not_found")
    r = httpx.get(stack.gateway.url + "/orders%2f..%2fadmin", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["reason"] == "bad_path"
    r = httpx.get(stack.gateway.url + "/orders/..;/admin", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["reason"] == "bad_path"


def test_public_route_needs_no_token_and_gets_no_identity(stack: DemoStack) -> None:
    r = get(stack, "/public/ping", headers={"X-User-Sub": "mallory"})
    assert r.status_code == 200 and r.json() == {"service": "orders"}


def test_services_refuse_direct_calls_with_spoofed_headers(stack: DemoStack) -> None:
    r = httpx.get(stack.services["orders"].url + "/orders/1", headers={"X-User-Sub": "alice"})
    assert r.status_code == 401
    external = stack.idp.issue("alice", "orders", "orders:read")  # an IdP token is not the gateway's token
    r = httpx.get(stack.services["orders"].url + "/orders/1", headers={"Authorization": f"Bearer {external}"})
    assert r.status_code == 401 and r.json()["reason"] in ("kid_unknown", "issuer")


def test_gateway_publishes_its_own_jwks_and_health(stack: DemoStack) -> None:
    assert httpx.get(stack.gateway.url + "/.well-known/jwks.json").json()["keys"][0]["kid"] == ed25519_key("gateway").kid
    assert httpx.get(stack.gateway.url + "/healthz").json() == {"ok": True}
    assert httpx.get(stack.gateway.url + "/readyz").json()["ready"] is True
    metrics = httpx.get(stack.gateway.url + "/metrics").json()
    assert metrics["allowed"] >= 1 and metrics["jwks"]["fetches"] >= 1


def test_cold_start_is_503_with_retry_after_and_not_ready() -> None:
    clock = Clock()
    idp = IdentityProvider(clock=clock.now)
    idp.faults.jwks_status = 500
    with demo_stack(clock=clock, idp=idp) as stack:
        assert httpx.get(stack.gateway.url + "/readyz").status_code == 503
        r = get(stack, "/orders/1", idp.issue("alice", "orders-api", "orders:read"))
        assert r.status_code == 503 and r.json()["reason"] == "jwks_not_loaded"
        assert int(r.headers["retry-after"]) >= 1


def test_verified_token_cache_hits_but_never_past_exp() -> None:
    clock = Clock()
    with demo_stack(clock=clock, token_cache_size=100) as stack:
        token = stack.idp.issue("alice", "orders-api", "orders:read", lifetime=120)
        assert [get(stack, "/orders/1", token).status_code for _ in range(3)] == [200, 200, 200]
        assert stack.gateway_state.counters.cache_hits == 2
        clock.advance(121 + 60)  # past exp + leeway: the cached entry must not be used
        r = get(stack, "/orders/1", token)
        assert r.status_code == 401 and r.json()["reason"] == "expired"


def test_hide_descriptions() -> None:
    with demo_stack(clock=Clock(), hide_descriptions=True) as stack:
        r = get(stack, "/orders/1", "a.b.c")
        assert r.json() == {"error": "invalid_token", "reason": "malformed"}
        assert "error_description" not in r.headers["www-authenticate"]


# -- the demo IdP's token endpoint ---------------------------------------------------------------

def token_request(stack: DemoStack, data: dict[str, str], auth: tuple[str, str] | None = None) -> httpx.Response:
    return httpx.post(stack.idp_service.url + "/token", data=data, auth=auth)


def test_password_grant_issues_an_at_jwt_for_the_requested_audience(stack: DemoStack) -> None:
    r = token_request(stack, {"grant_type": "password", "username": "alice", "password": "alice-demo-password",
                              "client_id": "course-cli", "audience": "payments-api", "scope": "payments:read orders:read"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["scope"] == "payments:read"  # narrowed to what the audience understands
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["kid"] == stack.idp.rotation.signing_key().kid  # type: ignore[union-attr]
    assert get(stack, "/payments/1", body["access_token"]).status_code == 200


def test_client_credentials_with_basic_auth(stack: DemoStack) -> None:
    ok = token_request(stack, {"grant_type": "client_credentials", "audience": "payments-api"},
                       ("billing-job", "billing-job-demo-secret"))
    assert ok.status_code == 200 and ok.json()["scope"] == "payments:read payments:write"
    bad = token_request(stack, {"grant_type": "client_credentials", "audience": "payments-api"}, ("billing-job", "x"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(("data", "error"), [
    ({"grant_type": "password", "username": "alice", "password": "wrong", "client_id": "course-cli",
      "audience": "orders-api"}, "invalid_grant"),
    ({"grant_type": "password", "username": "bob", "password": "bob-demo-password", "client_id": "course-cli",
      "audience": "payments-api"}, "invalid_scope"),
    ({"grant_type": "password", "username": "alice", "password": "alice-demo-password", "client_id": "course-cli",
      "audience": "nowhere"}, "invalid_target"),
    ({"grant_type": "implicit", "client_id": "course-cli"}, "unsupported_grant_type"),
])
def test_token_endpoint_errors(stack: DemoStack, data: dict[str, str], error: str) -> None:
    r = token_request(stack, data)
    assert r.status_code == 400 and r.json()["error"] == error


def test_a_parameter_twice_is_invalid_request(stack: DemoStack) -> None:
    r = httpx.post(stack.idp_service.url + "/token", content=b"grant_type=password&grant_type=client_credentials",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_several_issuers_each_with_its_own_keys_and_allowlist() -> None:
    from jwtlab.gateway import Issuer, Route
    from jwtlab.idp import create_idp
    from jwtlab.keys import rsa_key
    from jwtlab.rotation import KeyRotation
    from jwtlab.services import start
    from jwtlab.stack import demo_routes

    clock = Clock()
    rsa_idp = IdentityProvider(clock=clock.now, issuer="https://partner.example",
                               rotation=KeyRotation(clock=clock.now, key_factory=lambda g: rsa_key(g % 4)))
    rsa_idp.faults.jwks_status = 500  # cold: the partner's keys cannot be fetched yet
    with start(create_idp(rsa_idp), name="partner-idp") as partner:
        extra = Issuer("https://partner.example", partner.url + "/.well-known/jwks.json", ("RS256",))

        def routes(urls: dict[str, str]) -> list[Route]:
            return [*demo_routes(urls), Route("/partner", urls["orders"], audience="orders-api", service="orders",
                                              issuer="https://partner.example")]

        with demo_stack(clock=clock, more_issuers=(extra,), routes=routes,
                        jwks_options={"tick": 0.05, "backoff_base": 0.01}) as stack:
            assert httpx.get(stack.gateway.url + "/readyz").status_code == 503  # every issuer must be loaded
            rsa_idp.faults.clear()
            for _ in range(100):
                if httpx.get(stack.gateway.url + "/readyz").status_code == 200:
                    break
                clock.advance(1)
            partner_token = rsa_idp.issue("carol", "orders-api", "orders:read")
            assert get(stack, "/partner/1", partner_token).json()["identity"]["sub"] == "carol"
            r = get(stack, "/orders/1", partner_token)  # the primary issuer's route does not trust the partner
            assert r.status_code == 401 and r.json()["reason"] in ("alg_not_allowed", "kid_unknown", "issuer")
            own = stack.idp.issue("alice", "orders-api", "orders:read")
            assert get(stack, "/partner/1", own).status_code == 401


@pytest.mark.parametrize("value", [
    "Bearer", "Bearer a b", "Bearer \u00e9\u00e9.\u00e9.\u00e9", "Bearer ....", "Bearer e30.e30.", "bearer x.y.z",
    "Bearer " + "A" * 8192 + ".e30.x", "Bearer eyJhbGciOiJub25lIn0.e30.", "Basic YWxpY2U6cHc=",
    "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6W119.e30.AA",
])
def test_hostile_authorization_values_are_refused_never_500(stack: DemoStack, value: str) -> None:
    r = httpx.get(stack.gateway.url + "/orders/1", headers=[("Authorization", value.encode("latin-1", "replace"))])
    assert r.status_code in (400, 401), r.text
    assert r.json()["reason"]


def test_no_token_in_any_log(stack: DemoStack, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    good = stack.idp.issue("alice", "orders-api", "orders:read")
    tampered = good[:-6] + "AAAAAA"
    wrong_aud = stack.idp.issue("alice", "payments-api", "payments:read")
    for token in (good, tampered, wrong_aud):
        get(stack, "/orders/1", token)
    get(stack, "/payments/1", good)
    signatures = [t.rsplit(".", 1)[1] for t in (good, tampered, wrong_aud)]
    assert caplog.records, "the gateway logs its decisions"
    assert not any(sig in caplog.text for sig in signatures)


def test_emergency_revoke_takes_effect_at_the_next_refetch() -> None:
    clock = Clock()
    with demo_stack(clock=clock, token_cache_size=100) as stack:
        old = stack.idp.issue("alice", "orders-api", "orders:read")
        assert [get(stack, "/orders/1", old).status_code for _ in range(2)] == [200, 200]  # second one cached
        stack.idp.revoke(stack.idp.rotation.signing_key().kid)  # type: ignore[union-attr]
        new = stack.idp.issue("alice", "orders-api", "orders:read")  # signed by the following key
        assert get(stack, "/orders/1", new).status_code == 200  # unknown kid: one forced refetch finds it
        r = get(stack, "/orders/1", old)
        assert r.status_code == 401 and r.json()["reason"] == "kid_unknown"  # the cache entry died with its key
        assert stack.gateway_state.jwks.counters.forced_refetches == 1


def test_bodies_are_forwarded_and_capped(stack: DemoStack) -> None:
    token = stack.idp.issue("alice", "orders-api", "orders:write")
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.post(stack.gateway.url + "/orders", headers=auth, content=b'{"item": 1}')
    assert r.status_code == 200 and r.json()["method"] == "POST"
    assert len(r.headers.get_list("date")) == 1  # the upstream's own date/server headers are not copied
    r = httpx.post(stack.gateway.url + "/orders", headers=auth, content=b"x" * ((1 << 20) + 1))
    assert r.status_code == 413 and r.json()["reason"] == "body_too_large"


def test_claim_headers_cannot_inject_headers(stack: DemoStack) -> None:
    token = stack.idp.issue("jos\u00e9\r\nx-user-admin: yes", "orders-api", "orders:read")
    r = get(stack, "/inventory/1", token)
    assert r.status_code == 200
    seen = r.json()["identity_headers"]
    assert seen["x-user-sub"] == "jos%C3%A9%0D%0Ax-user-admin: yes"  # percent-encoded, one header
    assert "x-user-admin" not in seen
