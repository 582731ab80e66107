"""Checks of lab 4 — The gateway. Each test belongs to one task of labs/labs.toml.

The early tasks call your functions directly. From the pipeline task on, the checks start the whole
system on 127.0.0.1 with uvicorn: the demo IdP (`jwtlab.idp`), your gateway (`create_gateway`), and the
course's demo services (`jwtlab.upstream`): orders and payments verify the internal token your gateway
signs, inventory naively trusts `x-user-*` headers. Then real HTTP goes through your gateway — spoofed
headers, wrong audiences, every forgery family of lab 2 (built with `jwtlab.attacks`) — and around it,
straight to the services. Time is a frozen `jwtlab.clock.Clock` shared by every part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from jwtlab import attacks, keys
from jwtlab.clock import DEMO_AUDIENCE, DEMO_ISSUER, Clock
from jwtlab.idp import IdentityProvider, create_idp
from jwtlab.jwks import JwksClient
from jwtlab.labs.target import lab_module
from jwtlab.services import Service, start, stop_all
from jwtlab.upstream import create_service

LAB = Path(__file__).resolve().parents[1]
gateway = lab_module("gateway", LAB)

ATTACKER = keys.ed25519_key("lab4-attacker")  # demo key the attacker signs with (EdDSA: passes the allowlist)
ATTACKER_RSA = keys.rsa_key(3)  # serves its JWKS and certificate from the attacker app


@dataclass
class Stack:
    clock: Clock
    idp: IdentityProvider
    idp_service: Service
    gateway: Service
    services: dict[str, Service]
    attacker: Service
    http: httpx.Client

    @property
    def jwks_url(self) -> str:
        return f"{self.idp_service.url}/.well-known/jwks.json"

    def token(self, audience: str = DEMO_AUDIENCE, sub: str = "alice", **options: Any) -> str:
        return self.idp.issue(sub, audience, "orders:read payments:read", **options)

    def get(self, path: str, token: str | None = None, headers: list[tuple[str, str]] | None = None,
            base: str | None = None) -> httpx.Response:
        sent: list[tuple[str, str | bytes]] = list(headers or [])
        if token is not None:
            sent.append(("Authorization", f"Bearer {token}".encode()))  # bytes: junk tokens may be non-ASCII
        return self.http.get((base or self.gateway.url) + path, headers=sent)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    clock = Clock()
    idp = IdentityProvider(clock=clock.now)
    started: list[Service] = []
    try:
        started.append(start(create_idp(idp), name="idp"))
        started.append(start(attacks.attacker_app(ATTACKER_RSA), name="attacker"))
        app = gateway.create_gateway(f"{started[0].url}/.well-known/jwks.json", clock=clock.now)
        started.append(start(app, name="lab-gateway"))
        own_jwks = f"{started[2].url}/.well-known/jwks.json"
        services = {
            "orders": start(create_service("orders", gateway_jwks_url=own_jwks, clock=clock.now), name="orders"),
            "payments": start(create_service("payments", gateway_jwks_url=own_jwks, clock=clock.now), name="payments"),
            "inventory": start(create_service("inventory", gateway_jwks_url=None, identity="headers"), name="inventory"),
        }
        started.extend(services.values())
        gone = start(create_service("gone", gateway_jwks_url=None, identity="headers"), name="gone")
        gone.stop()  # a route to a service that is down
        app.state.routes = [
            gateway.Route("/orders", services["orders"].url, "orders-api", "orders"),
            gateway.Route("/payments", services["payments"].url, "payments-api", "payments"),
            gateway.Route("/inventory", services["inventory"].url, "orders-api", "inventory"),
            gateway.Route("/gone", gone.url, "orders-api", "orders"),
        ]
        with httpx.Client(timeout=10) as http:
            yield Stack(clock, idp, started[0], started[2], services, started[1], http)
    finally:
        stop_all(started)


def denied(exc_info: pytest.ExceptionInfo[BaseException]) -> tuple[int, str, str | None]:
    exc = exc_info.value
    return exc.status, exc.reason, exc.error  # type: ignore[attr-defined]


# --- strip ----------------------------------------------------------------------------------------


@pytest.mark.task("strip")
def test_strip_removes_every_identity_header() -> None:
    headers = [
        ("accept", "application/json"), ("x-user-sub", "admin"), ("X-User", "admin"), ("x-auth-request-user", "admin"),
        ("x-forwarded-user", "admin"), ("X-JWT-Claims", "{}"), ("x-gateway-verified", "true"), ("X-USER-ROLE", "admin"),
        ("x-request-id", "r-1"), ("x-forwarded-for", "10.0.0.1"), ("authorization", "Bearer t"), ("x-users-count", "9"),
    ]
    kept = gateway.strip_identity_headers(headers)
    assert kept == [("accept", "application/json"), ("x-request-id", "r-1"), ("x-forwarded-for", "10.0.0.1"),
                    ("authorization", "Bearer t")], (
        f"after stripping, {kept} remain; every header starting with one of IDENTITY_PREFIXES (any case) must go, "
        "the others must stay in order"
    )


# --- route ----------------------------------------------------------------------------------------

ROUTES = [("/orders", "orders"), ("/orders/admin", "orders-admin"), ("/payments", "payments")]


def routes() -> list[Any]:
    return [gateway.Route(prefix, f"http://127.0.0.1:1{prefix}", "orders-api", name) for prefix, name in ROUTES]


@pytest.mark.task("route")
@pytest.mark.parametrize(("path", "service"), [
    ("/orders", "orders"), ("/orders/42", "orders"), ("/orders/admin", "orders-admin"),
    ("/orders/admin/users", "orders-admin"), ("/orders/administrator", "orders"), ("/payments/7", "payments"),
])
def test_longest_prefix_wins_at_a_segment_boundary(path: str, service: str) -> None:
    got = gateway.match_route(path, routes()).service
    assert got == service, f"{path} must go to {service}, not {got}"


@pytest.mark.task("route")
@pytest.mark.parametrize("path", ["/", "/admin", "/ordersx", "/order", "/payment", "/paymentsadmin/1"])
def test_an_unmatched_path_is_denied(path: str) -> None:
    with pytest.raises(gateway.Denied) as caught:
        gateway.match_route(path, routes())
        raise AssertionError(f"{path} matches no route: deny it (Denied 404), never pass it through")
    assert denied(caught)[:2] == (404, "route_not_found"), f"{path}: expected Denied(404, 'route_not_found')"


@pytest.mark.task("route")
@pytest.mark.parametrize("path", ["/orders/../payments", "/orders/./42", "/orders/..", "/orders\\..\\admin"])
def test_dot_segments_and_backslashes_are_refused(path: str) -> None:
    with pytest.raises(gateway.Denied) as caught:
        gateway.match_route(path, routes())
        raise AssertionError(f"{path!r} must be refused: the upstream may normalise it into another route")
    assert denied(caught) == (400, "bad_path", "invalid_request"), f"{path!r}: expected Denied(400, 'bad_path', 'invalid_request')"


# --- bearer ---------------------------------------------------------------------------------------


@pytest.mark.task("bearer")
@pytest.mark.parametrize(("headers", "expected"), [
    ([], (401, "no_token", None)),
    ([("authorization", "Basic YWxpY2U6cHc=")], (401, "no_token", None)),
    ([("authorization", "Bearer ")], (401, "no_token", None)),
    ([("authorization", "Bearer")], (401, "no_token", None)),
    ([("authorization", "Bearer a.b.c"), ("authorization", "Bearer d.e.f")], (400, "multiple_tokens", "invalid_request")),
    ([("authorization", "Bearer " + "a" * 9000)], (401, "too_large", "invalid_token")),
])
def test_bearer_refusals(headers: list[tuple[str, str]], expected: tuple[int, str, str | None]) -> None:
    with pytest.raises(gateway.Denied) as caught:
        gateway.bearer_token(headers)
        raise AssertionError(f"bearer_token({str(headers)[:80]}) must raise Denied{expected}")
    assert denied(caught) == expected, f"{str(headers)[:80]}: expected Denied{expected}, got {denied(caught)}"


@pytest.mark.task("bearer")
def test_bearer_returns_the_token() -> None:
    for value in ("Bearer a.b.c", "bearer a.b.c", "BEARER   a.b.c  "):
        got = gateway.bearer_token([("accept", "*/*"), ("authorization", value)])
        assert got == "a.b.c", f"Authorization {value!r} carries the token 'a.b.c', got {got!r}"


# --- verify ---------------------------------------------------------------------------------------


def verify(stack: Stack, token: str, audience: str = "orders-api", *, started: bool = True) -> Any:
    async def run() -> Any:
        client = JwksClient(stack.jwks_url, clock=stack.clock.now)
        if started:
            await client.start(background=False)
        try:
            return await gateway.verify(token, gateway.Route("/x", "http://127.0.0.1:1", audience, "x"), client,
                                        stack.clock.now())
        finally:
            await client.close()

    return asyncio.run(run())


@pytest.mark.task("verify")
def test_a_valid_token_gives_its_claims(stack: Stack) -> None:
    claims = verify(stack, stack.token())
    assert claims["sub"] == "alice" and claims["aud"] == "orders-api", "verify must return the token's claims"


@pytest.mark.task("verify")
def test_bad_tokens_are_401(stack: Stack) -> None:
    key = stack.idp.rotation.signing_key()
    now = int(stack.clock.now())

    def signed(**changes: Any) -> str:
        claims = {"iss": DEMO_ISSUER, "sub": "alice", "aud": "orders-api", "iat": now, "exp": now + 300, **changes}
        return jwt.encode(claims, key.signing_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": "at+jwt"})

    cases = {
        "wrong audience": stack.token("payments-api"),
        "wrong issuer": signed(iss="https://idp.course.example.evil"),
        "expired": signed(iat=now - 1000, exp=now - 100),
        "typ JWT instead of at+jwt": jwt.encode({"iss": DEMO_ISSUER, "sub": "a", "aud": "orders-api", "iat": now,
                                                 "exp": now + 60}, key.signing_key, algorithm="EdDSA",
                                                headers={"kid": key.kid, "typ": "JWT"}),
        "alg none": attacks.forge_alg_none(attacks.admin_claims()),
        "junk": "not-a-token",
    }
    for name, token in cases.items():
        with pytest.raises(gateway.Denied) as caught:
            verify(stack, token)
            raise AssertionError(f"{name}: the token was accepted; it must be Denied(401)")
        status, reason, error = denied(caught)
        assert (status, error) == (401, "invalid_token"), f"{name}: expected a 401 invalid_token, got {status} {error}"
        assert reason and reason != "invalid_token", f"{name}: the reason must be the verifier's own (e.g. aud_mismatch)"


@pytest.mark.task("verify")
def test_no_keys_is_503(stack: Stack) -> None:
    with pytest.raises(gateway.Denied) as caught:
        verify(stack, stack.token(), started=False)
        raise AssertionError("with no keys loaded the gateway must refuse (503), never accept")
    assert denied(caught) == (503, "jwks_not_loaded", "temporarily_unavailable"), (
        "no keys yet: Denied(503, 'jwks_not_loaded', 'temporarily_unavailable')"
    )


# --- internal token -------------------------------------------------------------------------------


@pytest.mark.task("internal-token")
def test_the_internal_token(stack: Stack) -> None:
    now = stack.clock.now()
    claims = {"iss": DEMO_ISSUER, "sub": "alice", "aud": "orders-api", "scope": "orders:read", "exp": now + 3000}
    token = gateway.internal_token(claims, "orders", now)
    header = jwt.get_unverified_header(token)
    assert header.get("kid") == gateway.GATEWAY_KEY.kid and header.get("typ") == "at+jwt", (
        "the header needs the gateway key's kid and typ at+jwt"
    )
    body = jwt.decode(token, gateway.GATEWAY_KEY.public_key, algorithms=["EdDSA"], audience="orders",
                      issuer=gateway.INTERNAL_ISSUER, options={"verify_exp": False})
    assert (body["sub"], body["scope"], body["iat"]) == ("alice", "orders:read", int(now)), "sub, scope and iat=now"
    assert body["exp"] == int(now) + 300, "an internal token lives INTERNAL_TTL (300 s)"
    short = jwt.decode(gateway.internal_token({**claims, "exp": now + 100}, "orders", now),
                       options={"verify_signature": False})
    assert short["exp"] == int(now) + 100, "an internal token never outlives the token it stands for"
    again = jwt.decode(gateway.internal_token(claims, "orders", now), options={"verify_signature": False})
    assert body.get("jti") and again.get("jti") != body["jti"], "every internal token needs a fresh jti"


@pytest.mark.task("internal-token")
def test_the_services_accept_it_only_as_its_audience(stack: Stack) -> None:
    claims = {"iss": DEMO_ISSUER, "sub": "alice", "scope": "orders:read", "exp": stack.clock.now() + 300}
    orders = stack.services["orders"].url
    ok = stack.get("/orders/1", gateway.internal_token(claims, "orders", stack.clock.now()), base=orders)
    assert ok.status_code == 200 and ok.json()["identity"]["sub"] == "alice", (
        f"the orders service refused your internal token ({ok.status_code} {ok.text[:120]})"
    )
    other = stack.get("/orders/1", gateway.internal_token(claims, "payments", stack.clock.now()), base=orders)
    assert other.status_code == 401, "a token made for payments must not open orders (aud)"


# --- forward --------------------------------------------------------------------------------------


@pytest.mark.task("forward")
def test_only_the_internal_token_travels() -> None:
    headers = [("accept", "*/*"), ("Authorization", "Bearer original"), ("authorization", "Bearer second"),
               ("connection", "keep-alive"), ("host", "gateway"), ("content-length", "0"), ("Transfer-Encoding", "x"),
               ("upgrade", "h2c"), ("x-request-id", "r-1")]
    sent = gateway.upstream_headers(headers, "internal")
    assert sent == [("accept", "*/*"), ("x-request-id", "r-1"), ("authorization", "Bearer internal")], (
        f"upstream_headers gave {sent}: drop every Authorization and hop-by-hop header, keep the rest in order, "
        "then add one Authorization with the internal token"
    )


# --- pipeline -------------------------------------------------------------------------------------

SPOOFED = [("X-User-Sub", "admin"), ("X-User", "admin"), ("X-Auth-Request-User", "admin"), ("X-Forwarded-User", "admin"),
           ("X-JWT-Payload", '{"sub":"admin"}'), ("X-Gateway-Verified", "true"), ("X-USER-ROLE", "admin")]


@pytest.mark.task("pipeline")
def test_a_legitimate_request_reaches_the_service_as_its_caller(stack: Stack) -> None:
    resp = stack.get("/orders/42?page=2", stack.token(), [("X-Request-Id", "r-42")])
    assert resp.status_code == 200, f"a valid token for orders-api got {resp.status_code} {resp.text[:200]}"
    body = resp.json()
    assert body["service"] == "orders" and body["path"] == "/orders/42", "the request must reach orders at /orders/42"
    assert body["identity"]["sub"] == "alice" and body["identity"]["iss"] == gateway.INTERNAL_ISSUER, (
        "the service must see alice, vouched for by the gateway's internal token"
    )
    assert body["identity_headers"].get("x-request-id") == "r-42", "ordinary headers must still be forwarded"


@pytest.mark.task("pipeline")
def test_spoofed_identity_headers_never_reach_a_service(stack: Stack) -> None:
    resp = stack.get("/orders/1", stack.token(), SPOOFED)
    assert resp.status_code == 200, f"a valid token with extra headers got {resp.status_code}"
    arrived = resp.json()["identity_headers"]
    leaked = [name for name, _ in SPOOFED if name.lower() in arrived]
    assert not leaked, f"spoofed headers reached the service: {leaked}"
    naive = stack.get("/inventory/1", stack.token(), SPOOFED)
    assert naive.status_code == 401, (
        f"the header-trusting inventory service answered {naive.status_code}: a client's X-User-Sub got through"
    )


@pytest.mark.task("pipeline")
def test_the_gateway_denies_by_default_and_by_audience(stack: Stack) -> None:
    for path in ("/admin", "/", "/ordersx/1", "/.env"):
        resp = stack.get(path, stack.token())
        assert resp.status_code == 404 and resp.json()["reason"] == "route_not_found", (
            f"{path} matches no route: expected 404 route_not_found, got {resp.status_code}"
        )
    for path, audience in (("/orders/1", "payments-api"), ("/payments/1", "orders-api")):
        resp = stack.get(path, stack.token(audience))
        assert resp.status_code == 401, f"a token for {audience} at {path} must be 401, got {resp.status_code}"
        assert 'error="invalid_token"' in resp.headers.get("www-authenticate", ""), "a 401 carries the RFC 6750 challenge"
    resp = stack.get("/orders/1")
    assert resp.status_code == 401 and resp.json()["reason"] == "no_token", "no token: 401 no_token"
    resp = stack.http.get(stack.gateway.url + "/orders/1", headers=[("Authorization", "Bearer a.b.c")] * 2)
    assert resp.status_code == 400, "two Authorization headers: 400 invalid_request"


# --- end to end -----------------------------------------------------------------------------------


def forgeries(stack: Stack) -> dict[str, str]:
    """One token per forgery family of lab 2 (and a few more), all aimed at the orders route."""
    real = stack.idp.rotation.signing_key()
    legit = stack.token()
    claims = attacks.admin_claims(scope="orders:read")
    attacker = stack.attacker.url
    made = {
        "tampered claims": attacks.tamper(legit, sub="admin"),
        "stripped signature": attacks.strip_signature(legit),
        "alg none, old signature kept": attacks.forge_alg_none(claims, "none", signature=legit.split(".")[2]),
        "weak HMAC secret": attacks.forge_hs_with_key(claims, b"secret1"),
        "embedded jwk": attacks.forge_embedded_jwk(claims, ATTACKER),
        "embedded jwk (RSA)": attacks.forge_embedded_jwk(claims, ATTACKER_RSA),
        "jku to the attacker": attacks.forge_jku(claims, ATTACKER_RSA, f"{attacker}/jwks.json"),
        "x5c self-signed": attacks.forge_x5c(claims, ATTACKER_RSA),
        "x5u to the attacker": attacks.forge_x5u(claims, ATTACKER_RSA, f"{attacker}/cert.pem"),
        "kid path traversal": attacks.forge_hs_with_key(claims, b"", kid=attacks.PATH_TRAVERSAL_KID),
        "kid SQL injection": attacks.forge_hs_with_key(claims, attacks.SQL_INJECTION_KEY, kid=attacks.SQL_INJECTION_KID),
        "psychic signature": attacks.forge_psychic_signature(claims, real.kid),
        "another key, the real kid": jwt.encode({**claims, "typ": None}, ATTACKER.signing_key, algorithm="EdDSA",
                                                 headers={"kid": real.kid, "typ": "at+jwt"}),
        "expired": stack.token(lifetime=-120),
    }
    made.update({f"alg {v}": attacks.forge_alg_none(claims, v) for v in attacks.ALG_NONE_VARIANTS})
    made.update({f"confusion ({form})": attacks.forge_hs_with_key(claims, data, kid=real.kid)
                 for form, data in attacks.public_key_forms(real.public_key).items()})
    return made


@pytest.mark.task("end-to-end")
def test_every_forgery_is_refused(stack: Stack) -> None:
    let_in = {}
    for name, token in forgeries(stack).items():
        status = stack.get("/orders/1", token, [("X-User-Sub", "admin")]).status_code
        if status != 401:
            let_in[name] = status
    assert not let_in, f"forgeries not answered 401: {let_in}"


@pytest.mark.task("end-to-end")
def test_hostile_input_is_401_never_500(stack: Stack) -> None:
    for token in ("abc", "a.b.c", "a.b", "....", "eyJ.eyJ.", "a.b.c.d.e", "ü.ü.ü", "x" * 8000):
        status = stack.get("/orders/1", token).status_code
        assert status == 401, f"junk token {token[:20]!r} got {status}; expected 401"


@pytest.mark.task("end-to-end")
def test_services_reached_directly_refuse(stack: Stack) -> None:
    orders = stack.services["orders"].url
    cases = {
        "no token": stack.get("/orders/1", base=orders),
        "bare identity headers": stack.get("/orders/1", headers=SPOOFED, base=orders),
        "the user's own access token": stack.get("/orders/1", stack.token(), base=orders),
    }
    via = stack.get("/payments/1", stack.token("payments-api"))
    assert via.status_code == 200, f"a valid payments token through the gateway got {via.status_code}"
    for name, resp in cases.items():
        assert resp.status_code == 401, f"orders reached directly with {name} answered {resp.status_code}; expected 401"


@pytest.mark.task("end-to-end")
def test_an_upstream_that_is_down_is_502(stack: Stack) -> None:
    resp = stack.get("/gone/1", stack.token())
    assert resp.status_code == 502, f"a route whose service is down must answer 502, got {resp.status_code}"
