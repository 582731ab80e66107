"""Checks of lab 7 — Secure the estate. Each test belongs to one task of labs/labs.toml.

The whole estate runs on 127.0.0.1 under uvicorn: the demo IdP (`jwtlab.idp`), your gateway, orders and
payments. Every check is real HTTP: the attack families of labs 2–6 (built with `jwtlab.attacks`) go in
at the gateway and straight at each service, and each failure says which hop let what through. Time is
a frozen `jwtlab.clock.Clock` shared by every part, so "30 s later" takes no time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from jwtlab import attacks, keys
from jwtlab.clock import Clock
from jwtlab.idp import IdentityProvider, create_idp
from jwtlab.labs.target import lab_module
from jwtlab.services import Service, start, stop_all

LAB = Path(__file__).resolve().parents[1]
estate = lab_module("estate", LAB)

ATTACKER = keys.ed25519_key("lab7-attacker")  # demo key: EdDSA, so it passes the algorithm allowlist


@dataclass
class Estate:
    clock: Clock
    idp: IdentityProvider
    urls: dict[str, str]
    http: httpx.Client

    def token(self, sub: str = "alice", scope: str = "orders:read orders:write", audience: str = "orders-api",
              **options: Any) -> str:
        """A genuine access token from the demo IdP."""
        return self.idp.issue(sub, audience, scope, **options)

    def call(self, hop: str, path: str, token: str | None = None, method: str = "GET",
             headers: dict[str, str] | None = None) -> httpx.Response:
        sent: dict[str, str | bytes] = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}".encode()  # bytes: junk tokens may be non-ASCII
        return self.http.request(method, self.urls[hop] + path, headers=sent)

    def internal(self, aud: str, sub: str = "alice", scope: str = "orders:read orders:write payments:read "
                 "payments:write", **extra: Any) -> str:
        """An internal token as the gateway makes them (signed with its demo key) — what a hop holds."""
        now = int(self.clock.now())
        claims = {"iss": estate.INTERNAL_ISSUER, "aud": aud, "sub": sub, "scope": scope, "iat": now,
                  "exp": now + 120, "jti": secrets.token_urlsafe(8), **extra}
        return jwt.encode(claims, estate.GATEWAY_KEY.signing_key, algorithm="EdDSA",
                          headers={"kid": estate.GATEWAY_KEY.kid, "typ": "at+jwt"})


@pytest.fixture(scope="session")
def world() -> Iterator[Estate]:
    clock = Clock()
    idp = IdentityProvider(clock=clock.now)
    started: list[Service] = []
    try:
        started.append(start(create_idp(idp), name="idp"))
        gateway_app = estate.create_gateway(f"{started[0].url}/.well-known/jwks.json", clock=clock.now)
        started.append(start(gateway_app, name="gateway"))
        started.append(start(estate.create_service("orders", estate.orders_caller, clock=clock.now), name="orders"))
        started.append(start(estate.create_service("payments", estate.payments_caller, clock=clock.now),
                             name="payments"))
        urls = {s.name: s.url for s in started}
        gateway_app.state.upstreams = {"orders": urls["orders"], "payments": urls["payments"]}
        with httpx.Client(timeout=10) as http:
            yield Estate(clock, idp, urls, http)
    finally:
        stop_all(started)


def answer(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"text": resp.text[:120]}


def got_through(resp: httpx.Response) -> str:
    """How a check words what happened to a request that should have been refused."""
    body = answer(resp)
    if resp.status_code == 200:
        return f"reached {body.get('by')} as {body.get('sub')!r} with scope {body.get('scope')!r}"
    return f"got {resp.status_code} from {body.get('by', '?')} ({body.get('reason', body.get('error', ''))})"


def forgeries(world: Estate, kid: str, public_pem: bytes, sub: str = "admin", **claims: Any) -> dict[str, str]:
    """The forgery families of lab 2 against one verifier whose key has `kid` and `public_pem`."""
    base = attacks.admin_claims(**claims)
    base.update(sub=sub, iat=int(world.clock.now()), exp=int(world.clock.now()) + 120)
    forged = {f"alg {v}": attacks.forge_alg_none(base, v, kid=kid) for v in attacks.ALG_NONE_VARIANTS}
    forged["HS256 MACed with the public key"] = attacks.forge_hs_with_key(base, public_pem, kid=kid)
    forged["an embedded jwk"] = attacks.forge_embedded_jwk(base, ATTACKER)
    forged["a jku to the attacker's key set"] = attacks.forge_jku(base, ATTACKER, "http://127.0.0.1:9/jwks.json")
    forged["the attacker's key with the real kid"] = jwt.encode(base, ATTACKER.signing_key, algorithm="EdDSA",
                                                                headers={"kid": kid, "typ": "at+jwt"})
    return forged


def idp_forgeries(world: Estate, **claims: Any) -> dict[str, str]:
    key = world.idp.rotation.signing_key(world.clock.now())  # type: ignore[union-attr]
    claims.setdefault("scope", "orders:read orders:write payments:read payments:write")  # the forger's wish
    forged = forgeries(world, key.kid, key.public_pem(), iss=estate.ISSUER, aud="orders-api", **claims)
    genuine = world.token("bob", "orders:read")
    forged["a tampered token (sub changed)"] = attacks.tamper(genuine, sub="admin", scope="orders:read orders:write")
    forged["a stripped signature"] = attacks.strip_signature(attacks.tamper(genuine, sub="admin"))
    return forged


JUNK = ["a.b.c", "eyJhbGciOiJub25lIn0", "x" * 9000, "é.é.é"]


# --- verify-every-route ------------------------------------------------------------------------------


@pytest.mark.task("verify-every-route")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_gateway_verifies_every_method(world: Estate, method: str) -> None:
    through = []
    for name, token in idp_forgeries(world).items():
        resp = world.call("gateway", "/orders/me", token, method)
        if resp.status_code != 401 or answer(resp).get("by") != "gateway":
            through.append(f"{name}: {got_through(resp)}")
    assert not through, (
        f"the gateway let forged tokens through on {method} /orders/me (a hop that skips verification "
        f"hands the next hop a forged identity): " + "; ".join(through[:4])
    )


@pytest.mark.task("verify-every-route")
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_junk_and_no_token_are_401_from_the_gateway(world: Estate, method: str) -> None:
    for junk in [None, *JUNK]:
        resp = world.call("gateway", "/payments/1", junk, method)
        assert resp.status_code == 401 and answer(resp).get("by") == "gateway", (
            f"{method} /payments/1 with token {str(junk)[:20]!r}: the gateway must refuse it (401), "
            f"it {got_through(resp)}"
        )


@pytest.mark.task("verify-every-route")
def test_genuine_tokens_still_pass_and_unknown_routes_are_404(world: Estate) -> None:
    resp = world.call("gateway", "/orders/me", world.token())
    assert resp.status_code == 200 and answer(resp)["sub"] == "alice", (
        f"alice's genuine token on GET /orders/me must reach orders: {got_through(resp)}"
    )
    resp = world.call("gateway", "/admin", world.token())
    assert resp.status_code == 404, f"/admin matches no route: the gateway must answer 404, not {resp.status_code}"


# --- key-cache -----------------------------------------------------------------------------------


def unknown_kid_token(world: Estate, kid: str) -> str:
    claims = attacks.admin_claims(iss=estate.ISSUER, aud="orders-api", iat=int(world.clock.now()),
                                  exp=int(world.clock.now()) + 120)
    return jwt.encode(claims, ATTACKER.signing_key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


@pytest.mark.task("key-cache")
def test_a_flood_of_unknown_kids_costs_one_fetch(world: Estate) -> None:
    world.clock.advance(estate.REFETCH_INTERVAL)  # the refetch budget is fresh, whatever ran before
    before = world.idp.jwks_requests
    statuses = {world.call("gateway", "/orders/1", unknown_kid_token(world, f"flood-{i}"), "POST").status_code
                for i in range(40)}
    fetches = world.idp.jwks_requests - before
    assert statuses == {401}, f"tokens signed by an unknown key must be 401, got {sorted(statuses)}"
    assert fetches <= 1, (
        f"40 tokens with random kids made the gateway fetch the IdP's key set {fetches} times: every attacker "
        f"request became a request to the IdP; allow one forced refetch per REFETCH_INTERVAL "
        f"({estate.REFETCH_INTERVAL} s)"
    )


@pytest.mark.task("key-cache")
def test_a_new_kid_still_refetches_once_the_interval_has_passed(world: Estate) -> None:
    world.clock.advance(estate.REFETCH_INTERVAL)
    before = world.idp.jwks_requests
    resp = world.call("gateway", "/orders/1", unknown_kid_token(world, "rotated-in"), "POST")
    assert resp.status_code == 401, f"a token by an unknown key must be 401: {got_through(resp)}"
    fetches = world.idp.jwks_requests - before
    assert fetches == 1, (
        f"{estate.REFETCH_INTERVAL} s after the last refetch a new kid must make one refetch (the IdP may have "
        f"rotated), it made {fetches}"
    )
    resp = world.call("gateway", "/orders/1", world.token(), "POST")
    assert resp.status_code == 200, f"a genuine token must still pass after the flood: {got_through(resp)}"


# --- narrow-scope --------------------------------------------------------------------------------


@pytest.mark.task("narrow-scope")
def test_the_internal_token_never_widens_the_scope(world: Estate) -> None:
    resp = world.call("gateway", "/orders/new", world.token("bob", "orders:read"), "POST")
    assert resp.status_code == 403, (
        f"bob holds only orders:read, yet his POST /orders/new {got_through(resp)}: the gateway's internal "
        "token gave him more than his own token says"
    )


@pytest.mark.task("narrow-scope")
def test_the_internal_token_carries_only_the_services_scopes(world: Estate) -> None:
    token = world.token("alice", "orders:read payments:read profile", audience="orders-api")
    body = answer(world.call("gateway", "/orders/me", token))
    assert body.get("scope") == "orders:read", (
        f"alice holds 'orders:read payments:read profile'; orders must see only 'orders:read' (hers, and "
        f"meant for orders), it saw {body.get('scope')!r}"
    )
    body = answer(world.call("gateway", "/orders/me", world.token("carol", "")))
    assert body.get("by") == "orders" and body.get("reason") == "needs orders:read", (
        f"a token without scope must give orders nothing to allow: {body}"
    )


# --- no-header-trust -----------------------------------------------------------------------------


SPOOFED = {"X-User": "admin", "X-Scope": "orders:read orders:write"}


@pytest.mark.task("no-header-trust")
def test_orders_ignores_identity_headers_without_a_token(world: Estate) -> None:
    resp = world.call("orders", "/orders/me", None, headers=SPOOFED)
    assert resp.status_code == 401, (
        f"a client that reached orders directly with X-User: admin and no token {got_through(resp)}: "
        "orders must believe only a verified token"
    )


@pytest.mark.task("no-header-trust")
def test_orders_believes_the_token_not_the_header(world: Estate) -> None:
    resp = world.call("orders", "/orders/me", world.internal("orders", sub="bob", scope="orders:read"),
                      headers=SPOOFED)
    body = answer(resp)
    assert resp.status_code == 200 and body.get("sub") == "bob", (
        f"bob's own internal token plus X-User: admin {got_through(resp)}: orders must see bob"
    )


# --- own-audience --------------------------------------------------------------------------------


@pytest.mark.task("own-audience")
@pytest.mark.parametrize("aud", ["orders", "inventory"])
def test_payments_refuses_another_services_token(world: Estate, aud: str) -> None:
    resp = world.call("payments", "/payments/charge", world.internal(aud), "POST")
    assert resp.status_code == 401 and answer(resp).get("reason") == "audience", (
        f"payments accepted a token whose aud is {aud}: it {got_through(resp)}. A service that accepts "
        "another service's tokens can be called by anyone who ever held one (a cross-service replay)"
    )


@pytest.mark.task("own-audience")
def test_payments_accepts_its_own_tokens_through_the_gateway(world: Estate) -> None:
    resp = world.call("gateway", "/payments/7", world.token("alice", "payments:read", audience="payments-api"))
    assert resp.status_code == 200 and answer(resp).get("aud") == "payments", (
        f"alice's token for payments-api on GET /payments/7 must reach payments: {got_through(resp)}"
    )


# --- every-hop -----------------------------------------------------------------------------------


@pytest.mark.task("every-hop")
def test_every_attack_family_at_every_hop(world: Estate) -> None:
    through: list[str] = []
    for method in ("GET", "POST"):
        for path in ("/orders/1", "/payments/1"):
            for name, token in {**idp_forgeries(world), **{f"junk {j[:8]!r}": j for j in JUNK}}.items():
                resp = world.call("gateway", path, token, method)
                if resp.status_code != 401 or answer(resp).get("by") != "gateway":
                    through.append(f"gateway {method} {path}, {name}: {got_through(resp)}")
    gateway_pem = estate.GATEWAY_KEY.public_pem()
    for hop in ("orders", "payments"):
        at_hop = forgeries(world, estate.GATEWAY_KEY.kid, gateway_pem, iss=estate.INTERNAL_ISSUER, aud=hop,
                           scope=f"{hop}:read {hop}:write")
        at_hop["the user's own IdP token"] = world.token("alice", f"{hop}:read", audience=hop)
        at_hop["a tampered internal token"] = attacks.tamper(world.internal(hop, sub="bob"), sub="admin")
        at_hop["another service's token"] = world.internal("orders" if hop == "payments" else "payments")
        at_hop["an expired internal token"] = world.internal(hop, iat=int(world.clock.now()) - 600,
                                                             exp=int(world.clock.now()) - 300)
        at_hop["no token, X-User: admin"] = None  # type: ignore[assignment]
        for name, token in at_hop.items():
            resp = world.call(hop, f"/{hop}/1", token, "POST", headers={"X-User": "admin"})
            if resp.status_code != 401:
                through.append(f"{hop}, {name}: {got_through(resp)}")
    per_hop = {hop: [t for t in through if t.startswith(hop)] for hop in ("gateway", "orders", "payments")}
    assert not through, f"{len(through)} attacks still get through. " + " ".join(
        f"At {hop} ({len(found)}): {'; '.join(found[:3])}." for hop, found in per_hop.items() if found
    )
