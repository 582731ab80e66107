"""A token's life at the demo IdP over real HTTP: login, rotation, theft, revocation, introspection.

The scenario the design exists for: a refresh token is stolen; whoever uses it second presents a retired
token, the IdP revokes the whole login, and from then on the real client cannot refresh either and
introspection calls the login's access tokens inactive. Hostile requests to the new endpoints get an
OAuth error body (400, or 401 for client authentication) — never a 500, never a token's claims.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jwtlab.clock import DEMO_ISSUER, Clock
from jwtlab.idp import IdentityProvider, create_idp
from jwtlab.services import Service, start
from jwtlab.verify import verify_token

pytestmark = pytest.mark.network

WEB_APP = ("web-app", "web-app-demo-secret")
ORDERS_API = ("orders-api", "orders-api-demo-secret")  # a resource server: introspects what it receives
ALICE = {"username": "alice", "password": "alice-demo-password"}


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[IdentityProvider, Service, Clock]]:
    clock = Clock()
    state = IdentityProvider(clock=clock.now)
    with start(create_idp(state), name="idp-lifecycle") as service:
        yield state, service, clock


@pytest.fixture
def service(idp: tuple[IdentityProvider, Service, Clock]) -> Service:
    return idp[1]


Auth = tuple[str, str] | None


def post(service: Service, path: str, data: dict[str, str], auth: Auth = None) -> httpx.Response:
    with httpx.Client(timeout=5) as http:
        resp = http.post(service.url + path, data=data, auth=auth)
    assert resp.status_code != 500 and resp.headers["cache-control"] == "no-store"
    return resp


def login(service: Service, auth: Auth = WEB_APP, **extra: str) -> dict[str, Any]:
    data = {"grant_type": "password", **ALICE, "audience": "orders-api", **extra}
    resp = post(service, "/token", data, auth)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def refresh(service: Service, token: str, auth: Auth = WEB_APP, **extra: str) -> httpx.Response:
    return post(service, "/token", {"grant_type": "refresh_token", "refresh_token": token, **extra}, auth)


def introspect(service: Service, token: str, auth: Auth = ORDERS_API) -> dict[str, Any]:
    resp = post(service, "/introspect", {"token": token}, auth)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def revoke(service: Service, token: str, auth: Auth = WEB_APP, **extra: str) -> httpx.Response:
    return post(service, "/revoke", {"token": token, **extra}, auth)


def verified(service: Service, token: str) -> dict[str, Any]:
    jwks = httpx.get(service.url + "/.well-known/jwks.json", timeout=5).json()
    return verify_token(token, jwks, issuer=DEMO_ISSUER, audience="orders-api", algorithms=["EdDSA"],
                        typ="at+jwt", now=Clock().now())


def test_discovery_advertises_refresh_revocation_and_introspection(service: Service) -> None:
    meta = httpx.get(service.url + "/.well-known/openid-configuration", timeout=5).json()
    assert meta["revocation_endpoint"] == service.url + "/revoke"
    assert meta["introspection_endpoint"] == service.url + "/introspect"
    assert "refresh_token" in meta["grant_types_supported"]
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]


def test_login_refresh_refresh(service: Service) -> None:
    first = login(service)
    assert first["scope"] == "orders:read orders:write" and len(first["refresh_token"]) == 43
    second = refresh(service, first["refresh_token"]).json()
    third = refresh(service, second["refresh_token"], scope="orders:read").json()  # narrowed on the way
    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert second["scope"] == "orders:read orders:write" and third["scope"] == "orders:read"
    claims = [verified(service, body["access_token"]) for body in (first, second, third)]
    assert {c["sid"] for c in claims} == {claims[0]["sid"]} and len({c["jti"] for c in claims}) == 3
    assert {(c["sub"], c["client_id"], c["aud"]) for c in claims} == {("alice", "web-app", "orders-api")}
    # The refresh token's scope is the login's: narrowing one access token does not shrink the next.
    fourth = refresh(service, third["refresh_token"]).json()
    assert fourth["scope"] == "orders:read orders:write"


def test_a_public_client_refreshes_with_its_client_id(service: Service) -> None:
    body = login(service, auth=None, client_id="course-cli")
    resp = refresh(service, body["refresh_token"], auth=None, client_id="course-cli")
    assert resp.status_code == 200 and resp.json()["refresh_token"] != body["refresh_token"]


def test_a_refresh_never_widens_and_a_refused_request_does_not_spend_the_token(service: Service) -> None:
    body = login(service, scope="orders:read")
    wider = refresh(service, body["refresh_token"], scope="orders:read orders:write")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    elsewhere = refresh(service, body["refresh_token"], audience="payments-api")
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_target"
    assert refresh(service, body["refresh_token"]).status_code == 200  # still the current token


def test_a_stolen_refresh_token_replayed_after_the_real_client_revokes_the_login(service: Service) -> None:
    login_body = login(service)
    stolen = login_body["refresh_token"]  # the thief copies it
    real = refresh(service, stolen).json()  # the real client refreshes first
    replay = refresh(service, stolen)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant" and replay.json()["reason"] == "reused"
    assert stolen not in replay.text and real["refresh_token"] not in replay.text
    after = refresh(service, real["refresh_token"])  # the real client is logged out too ...
    assert after.status_code == 400 and after.json()["reason"] == "revoked"
    # ... and a service that asks learns that the login's access tokens are dead, although they still verify.
    assert introspect(service, real["access_token"]) == {"active": False}
    assert introspect(service, login_body["access_token"]) == {"active": False}
    sids = {verified(service, body["access_token"])["sid"] for body in (login_body, real)}
    assert len(sids) == 1


def test_revoking_a_refresh_token_ends_the_login(service: Service) -> None:
    body = login(service)
    again = refresh(service, body["refresh_token"]).json()
    assert revoke(service, again["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert refresh(service, again["refresh_token"]).json()["reason"] == "revoked"
    assert introspect(service, again["access_token"]) == {"active": False}


def test_revoking_an_access_token_denies_its_jti_only(service: Service) -> None:
    body = login(service)
    assert introspect(service, body["access_token"])["active"] is True
    assert revoke(service, body["access_token"], token_type_hint="access_token").status_code == 200
    assert introspect(service, body["access_token"]) == {"active": False}
    fresh = refresh(service, body["refresh_token"]).json()  # the login itself lives on
    assert introspect(service, fresh["access_token"])["active"] is True


def test_revocation_of_unknown_tokens_is_200_and_of_another_clients_is_refused(service: Service) -> None:
    for token in ("garbage", "x" * 43, "a.b.c"):
        assert revoke(service, token).status_code == 200
    body = login(service)
    other = revoke(service, body["refresh_token"], auth=ORDERS_API)
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    assert other.json()["reason"] == "wrong_client"
    other = revoke(service, body["access_token"], auth=ORDERS_API)
    assert other.status_code == 400 and other.json()["reason"] == "wrong_client"
    assert introspect(service, body["access_token"])["active"] is True
    assert refresh(service, body["refresh_token"]).status_code == 200
    public = login(service, auth=None, client_id="course-cli")
    assert revoke(service, public["refresh_token"], auth=None, client_id="course-cli").status_code == 200
    after = refresh(service, public["refresh_token"], auth=None, client_id="course-cli")
    assert after.json()["reason"] == "revoked"


def test_introspection_answers_only_authenticated_clients(service: Service) -> None:
    body = login(service)
    for auth, extra in ((None, {}), (("orders-api", "wrong-secret"), {}), (None, {"client_id": "course-cli"}),
                        (("nobody", "x"), {})):
        resp = post(service, "/introspect", {"token": body["access_token"], **extra}, auth)
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
        assert resp.headers["www-authenticate"].startswith("Basic") and "alice" not in resp.text


def test_introspection_claims_of_access_and_refresh_tokens(service: Service) -> None:
    body = login(service)
    active = introspect(service, body["access_token"])
    claims = verified(service, body["access_token"])
    assert active == {"active": True, "token_type": "Bearer", **{k: claims[k] for k in (
        "iss", "sub", "aud", "scope", "client_id", "iat", "exp", "jti", "sid")}}
    own = introspect(service, body["refresh_token"], auth=WEB_APP)
    assert own["active"] is True and own["token_type"] == "refresh_token" and own["sid"] == claims["sid"]
    described = (own["sub"], own["client_id"], own["scope"], own["aud"])
    assert described == ("alice", "web-app", claims["scope"], "orders-api")
    assert introspect(service, body["refresh_token"]) == {"active": False}  # not for orders-api to know
    job = post(service, "/token", {"grant_type": "client_credentials", "audience": "orders-api"},
               ("billing-job", "billing-job-demo-secret")).json()
    assert "refresh_token" not in job
    described = introspect(service, job["access_token"])
    assert described["active"] is True and described["sub"] == "billing-job" and "sid" not in described


def test_introspection_of_expired_forged_and_garbage_tokens_is_inactive(
    idp: tuple[IdentityProvider, Service, Clock],
) -> None:
    state, service, clock = idp
    body = login(service)
    token = body["access_token"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (forged, "garbage", "a.b.c", "e" * 8000):
        assert introspect(service, bad) == {"active": False}
    clock.advance(state.token_lifetime)
    try:
        assert introspect(service, token) == {"active": False}  # expired at `exp`: no leeway at the issuer
        assert refresh(service, body["refresh_token"]).status_code == 200  # the refresh token lives longer
    finally:
        clock.set(Clock().now())


HOSTILE: list[tuple[str, bytes, str]] = [
    ("missing token", b"token_type_hint=access_token", "application/x-www-form-urlencoded"),
    ("empty token", b"token=", "application/x-www-form-urlencoded"),
    ("token twice", b"token=a&token=b", "application/x-www-form-urlencoded"),
    ("garbage body", b"%zz&&==&token", "application/x-www-form-urlencoded"),
    ("not UTF-8", b"token=\xff\xfe", "application/x-www-form-urlencoded"),
    ("huge value", b"token=" + b"A" * 100_000, "application/x-www-form-urlencoded"),
    ("JSON body", b'{"token": "abc"}', "application/json"),
    ("no content type", b"token=abc", ""),
]


@pytest.mark.parametrize("path", ["/revoke", "/introspect"])
@pytest.mark.parametrize(("case", "body", "content_type"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_requests_get_an_oauth_error(service: Service, path: str, case: str, body: bytes,
                                             content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = httpx.post(service.url + path, content=body, headers=headers, auth=ORDERS_API, timeout=5)
    assert resp.status_code == 400, (case, resp.text)
    assert resp.json()["error"] == "invalid_request" and set(resp.json()) >= {"error", "error_description"}
    unauthenticated = httpx.post(service.url + path, content=b"token=abc", timeout=5,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("token", "status", "error"), [
    ("", 400, "invalid_request"),
    ("garbage", 400, "invalid_grant"),
    ("é" * 43, 400, "invalid_grant"),
    ("A" * 100_000, 400, "invalid_request"),  # over the body limit: never read to the end
])
def test_hostile_refresh_requests(service: Service, token: str, status: int, error: str) -> None:
    resp = refresh(service, token)
    assert resp.status_code == status and resp.json()["error"] == error


def test_no_token_in_any_log_line(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jwtlab")
    body = login(service)
    real = refresh(service, body["refresh_token"]).json()
    refresh(service, body["refresh_token"])  # a reuse: logged as a warning with the login's sid
    revoke(service, real["access_token"])
    introspect(service, real["access_token"])
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "reused" in text and "sid=" in text
    for token in (body["access_token"], body["refresh_token"], real["access_token"], real["refresh_token"]):
        assert token not in text
