"""The course's verifiers against a certified OpenID provider nobody here wrote (oidc-provider, Node.js).

The provider runs on 127.0.0.1 (`tests/interop/provider.mjs`): a client credentials client and one
resource server per algorithm (RS256, ES256, EdDSA) with RFC 9068 JWT access tokens. `verify_token`,
`jwtlab inspect --jwks URL` and the gateway (trusting that issuer) must accept its tokens and refuse
tampered ones, and follow a key rotation at the provider without being restarted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from interop_peers import JosePeer, OidcProvider, tamper
from jwcrypto import jwk

from jwtlab import attacks
from jwtlab.gateway import Gateway, GatewayConfig, Route, create_gateway
from jwtlab.keys import ed25519_key
from jwtlab.services import Service, start
from jwtlab.verify import TokenRejected, verify_token

pytestmark = pytest.mark.network

ALGORITHMS = OidcProvider.ALGORITHMS
FIGURES = Path(__file__).resolve().parents[1] / "_build" / "figures" / "interop.json"


def record(name: str, **figures: Any) -> None:
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = figures
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def jwks_of(provider: OidcProvider) -> dict[str, Any]:
    r = httpx.get(provider.jwks_url, timeout=10)
    assert r.status_code == 200
    return r.json()


def flip_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    return f"{head}.{('B' if signature[0] == 'A' else 'A') + signature[1:]}"


# -- verify_token --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_verify_token_accepts_the_providers_access_tokens(provider: OidcProvider, alg: str) -> None:
    token = provider.token(alg)
    claims = verify_token(token, jwks_of(provider), issuer=provider.issuer, audience=provider.resource(alg),
                          algorithms=[alg], typ="at+jwt")
    # RFC 9068 for the client credentials grant: the client is the subject.
    assert claims["sub"] == claims["client_id"] == OidcProvider.CLIENT[0]
    assert claims["scope"] == OidcProvider.SCOPE


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize(("tampering", "reason"), [(tamper, "bad_signature"), (flip_signature, "bad_signature")])
def test_verify_token_refuses_tampered_provider_tokens(provider: OidcProvider, alg: str, tampering: Any,
                                                       reason: str) -> None:
    token = tampering(provider.token(alg))
    with pytest.raises(TokenRejected) as refused:
        verify_token(token, jwks_of(provider), issuer=provider.issuer, audience=provider.resource(alg),
                     algorithms=[alg], typ="at+jwt")
    assert refused.value.reason == reason


def test_verify_token_refuses_a_token_for_another_resource(provider: OidcProvider) -> None:
    token = provider.token("ES256")
    with pytest.raises(TokenRejected) as refused:
        verify_token(token, jwks_of(provider), issuer=provider.issuer, audience=provider.resource("EdDSA"),
                     algorithms=["ES256", "EdDSA"], typ="at+jwt")
    assert refused.value.reason == "audience"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_npm_jose_agrees_with_verify_token_on_the_providers_tokens(provider: OidcProvider, alg: str,
                                                                   jose: JosePeer) -> None:
    """A second opinion on the provider's tokens: npm jose with the same JWKS URL, the same rules."""
    token = provider.token(alg)
    ask = {"op": "verify_remote", "alg": alg, "jwks_url": provider.jwks_url, "issuer": provider.issuer,
           "audience": provider.resource(alg), "typ": "at+jwt"}
    answer = jose.call(**ask, token=token)
    assert answer["ok"] and answer["claims"]["sub"] == OidcProvider.CLIENT[0], answer
    answer = jose.call(**ask, token=tamper(token))
    assert answer == {"ok": False, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"}


# -- jwtlab inspect --jwks URL --------------------------------------------------------------------------


def inspect(provider: OidcProvider, token: str, alg: str) -> tuple[int, dict[str, Any]]:
    """`jwtlab inspect - --jwks URL ... --json`, the token on stdin (never on the command line)."""
    done = subprocess.run(
        [sys.executable, "-m", "jwtlab.cli", "inspect", "-", "--jwks", provider.jwks_url, "--iss", provider.issuer,
         "--aud", provider.resource(alg), "--alg", alg, "--typ", "at+jwt", "--json"],
        input=token, capture_output=True, text=True, timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_jwtlab_inspect_with_the_providers_jwks_url(provider: OidcProvider, alg: str) -> None:
    code, report = inspect(provider, provider.token(alg), alg)
    assert code == 0, report
    code, report = inspect(provider, tamper(provider.token(alg)), alg)
    assert code != 0
    assert "bad_signature" in json.dumps(report)


# -- the gateway -----------------------------------------------------------------------------------------


def upstream_app() -> FastAPI:
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        return {"service": "orders", "path": path}

    return app


def gateway_config(provider: OidcProvider, upstream: str) -> GatewayConfig:
    """The course's gateway trusting the provider.

    Its issuer, its JWKS, one route per resource server.
    """
    routes = [
        Route(
            prefix=f"/{alg.lower()}",
            upstream=upstream,
            audience=provider.resource(alg),
            scopes=(OidcProvider.SCOPE,),
            service="orders",
            strip_prefix=True,
        )
        for alg in ("RS256", "ES256", "EdDSA")
    ]

    return GatewayConfig(
        issuer=provider.issuer,
        jwks_url=provider.jwks_url,
        algorithms=("RS256", "ES256", "EdDSA"),
        typ="at+jwt",
        routes=routes,
    )



@contextlib.contextmanager
def running_gateway(provider: OidcProvider) -> Iterator[tuple[Service, Gateway]]:
    """The gateway and an upstream behind it on 127.0.0.1; both stopped when the block ends."""
    upstream = start(upstream_app(), name="upstream")
    try:
        app = create_gateway(gateway_config(provider, upstream.url))
        with start(app, name="gateway") as service:
            yield service, app.state.gateway
    finally:
        upstream.stop()


@pytest.fixture(scope="module")
def gateway(provider: OidcProvider) -> Iterator[tuple[Service, Gateway]]:
    with running_gateway(provider) as running:
        yield running


def call(gateway: tuple[Service, Gateway], path: str, token: str) -> httpx.Response:
    return httpx.get(gateway[0].url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_gateway_accepts_the_providers_tokens_and_refuses_tampered_ones(
        provider: OidcProvider, gateway: tuple[Service, Gateway], alg: str) -> None:
    token = provider.token(alg)
    r = call(gateway, f"/{alg.lower()}/orders/1", token)
    assert r.status_code == 200 and r.json() == {"service": "orders", "path": "orders/1"}
    for forged in (tamper(token), flip_signature(token)):
        r = call(gateway, f"/{alg.lower()}/orders/1", forged)
        assert r.status_code == 401 and r.json()["reason"] == "bad_signature"
    assert token not in r.text


def forgeries(provider: OidcProvider) -> dict[str, str]:
    """The classic forgeries, aimed at the real issuer: its claims, its kids, its published keys."""
    genuine = provider.token("RS256")
    _, claims, _ = attacks.split(genuine)
    claims = {**claims, "sub": "mallory"}
    rsa_jwk = next(k for k in jwks_of(provider)["keys"] if k["kid"] == provider.kids["RS256"])
    rsa_public = jwk.JWK(**rsa_jwk).export_to_pem()
    attacker = ed25519_key("attacker")
    return {
        "alg none": attacks.forge_alg_none(claims, kid=provider.kids["RS256"], typ="at+jwt"),
        "HS256 keyed with the published RSA key": attacks.forge_hs_with_key(
            claims, rsa_public, kid=provider.kids["RS256"], typ="at+jwt"),
        "attacker key under the provider's kid": jwt.encode(
            claims, attacker.signing_key, "EdDSA", headers={"kid": provider.kids["EdDSA"], "typ": "at+jwt"}),
        "embedded jwk": attacks.forge_embedded_jwk(claims, attacker),
        "signature stripped": attacks.strip_signature(genuine),
    }


def test_forgeries_aimed_at_the_real_issuer_are_401(provider: OidcProvider, gateway: tuple[Service, Gateway],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    reasons = {}
    for name, forged in forgeries(provider).items():
        r = call(gateway, "/rs256/orders/1", forged)
        assert r.status_code == 401, (name, r.status_code, r.text)
        reasons[name] = r.json()["reason"]
        assert forged not in caplog.text  # refused tokens are not logged
    assert "denied GET /rs256/orders/1: reason=alg_not_allowed" in caplog.text  # logged: the reason, not the token
    record("forgeries against the provider's issuer at the gateway", **reasons)


def test_the_gateway_keeps_each_resource_to_its_own_route(provider: OidcProvider,
                                                          gateway: tuple[Service, Gateway]) -> None:
    r = call(gateway, "/eddsa/orders/1", provider.token("RS256"))
    assert r.status_code == 401 and r.json()["reason"] == "audience"


def test_a_key_rotation_at_the_provider_is_followed_without_a_restart(provider: OidcProvider) -> None:
    with running_gateway(provider) as gateway:  # its own gateway: no other test spent its refetch budget
        follow_a_rotation(provider, gateway)


def follow_a_rotation(provider: OidcProvider, gateway: tuple[Service, Gateway]) -> None:
    _, state = gateway
    pid = provider.proc.pid
    before = provider.token("EdDSA")
    assert call(gateway, "/eddsa/orders/1", before).status_code == 200
    fetches_before = state.jwks.counters.fetches
    old_kids = dict(provider.kids)

    started = time.perf_counter()
    rotation = provider.rotate()
    rotated_ms = (time.perf_counter() - started) * 1000
    after = provider.token("EdDSA")
    kid = rotation["kids"]["EdDSA"]
    published = {key["kid"] for key in jwks_of(provider)["keys"]}
    assert {kid, old_kids["EdDSA"]} <= published  # the new key, and the previous one for tokens in flight
    assert kid != old_kids["EdDSA"] and kid not in state.jwks.kids  # a key the gateway has never seen
    started = time.perf_counter()
    r = call(gateway, "/eddsa/orders/1", after)
    first_ms = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, r.json()
    assert kid in state.jwks.kids
    # Tokens signed before the rotation stay valid: the previous key is still published.
    assert call(gateway, "/eddsa/orders/1", before).status_code == 200
    for alg in ALGORITHMS:
        assert call(gateway, f"/{alg.lower()}/orders/1", provider.token(alg)).status_code == 200
    record("provider key rotation", rotate_ms=round(rotated_ms, 1), first_request_after_ms=round(first_ms, 1),
           jwks_fetches=state.jwks.counters.fetches - fetches_before,
           forced_refetches=state.jwks.counters.forced_refetches, gateway_restarts=0,
           provider_restarts=0 if provider.proc.pid == pid and provider.proc.poll() is None else 1)

    # A second rotation retires the first generation: a fresh JWKS no longer vouches for `before`.
    provider.rotate()
    with pytest.raises(TokenRejected) as refused:
        verify_token(before, jwks_of(provider), issuer=provider.issuer, audience=provider.resource("EdDSA"),
                     algorithms=["EdDSA"], typ="at+jwt")
    assert refused.value.reason == "kid_unknown"
