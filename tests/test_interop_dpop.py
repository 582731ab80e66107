"""DPoP (RFC 9449) with software nobody here wrote: a certified OpenID provider and npm jose.

`jwtlab.dpop` and the gateway's DPoP checks were written together, so they could share a misreading of
the RFC. Here oidc-provider accepts the course's proofs at its token endpoint and binds its tokens to
the proof key; the course's gateway then accepts those tokens only with a fresh proof by that key; and
proofs cross between npm jose and `jwtlab.dpop` in both directions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from interop_peers import JosePeer, OidcProvider
from jwcrypto import jwk as jwcrypto_jwk
from test_interop_provider import running_gateway

from jwtlab import keys
from jwtlab.dpop import DpopRejected, DpopVerifier, ath_of, jkt_of, make_proof
from jwtlab.gateway import Gateway
from jwtlab.keys import public_jwk_of
from jwtlab.services import Service

pytestmark = pytest.mark.network

CLIENT = keys.p256_key("interop-dpop-client")  # demo key: the client's proof key
THIEF = keys.p256_key("interop-dpop-thief")  # demo key


@pytest.fixture(scope="module")
def gateway(provider: OidcProvider) -> Iterator[tuple[Service, Gateway]]:
    with running_gateway(provider) as running:
        yield running


def bound_token(provider: OidcProvider, alg: str = "ES256", key: keys.DemoKey = CLIENT) -> str:
    proof = make_proof(key, "POST", provider.issuer + "/token", now=time.time())
    return provider.token(alg, dpop=proof)


@pytest.mark.parametrize("alg", OidcProvider.ALGORITHMS)
def test_the_provider_accepts_our_proof_and_binds_its_token_to_our_key(provider: OidcProvider, alg: str) -> None:
    claims = jwt.decode(bound_token(provider, alg), options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": jkt_of(CLIENT.public_key)}


def call(gateway: tuple[Service, Gateway], token: str, proofs: list[str], scheme: str = "DPoP") -> httpx.Response:
    headers = [("Authorization", f"{scheme} {token}"), *(("DPoP", p) for p in proofs)]
    return httpx.get(gateway[0].url + "/es256/orders/1", headers=headers, timeout=10)


def proof_for(gateway: tuple[Service, Gateway], token: str, key: keys.DemoKey = CLIENT) -> str:
    return make_proof(key, "GET", gateway[0].url + "/es256/orders/1", now=time.time(), access_token=token)


def test_the_gateway_takes_the_providers_bound_token_only_with_its_key(
        provider: OidcProvider, gateway: tuple[Service, Gateway]) -> None:
    token = bound_token(provider)
    r = call(gateway, token, [proof_for(gateway, token)])
    assert r.status_code == 200 and r.json() == {"service": "orders", "path": "orders/1"}
    results = {
        "as a bearer token": call(gateway, token, [], scheme="Bearer"),
        "without a proof": call(gateway, token, []),
        "with the thief's proof": call(gateway, token, [proof_for(gateway, token, THIEF)]),
    }
    reasons = {name: (r.status_code, r.json()["reason"]) for name, r in results.items()}
    assert reasons == {"as a bearer token": (401, "dpop_missing"), "without a proof": (401, "dpop_missing"),
                       "with the thief's proof": (401, "dpop_key_mismatch")}


@pytest.mark.parametrize("key", [CLIENT, keys.ed25519_key("interop-dpop-ed"), keys.rsa_key(1, "PS256")],
                         ids=lambda k: k.alg)
def test_npm_jose_and_jwtlab_read_each_others_proofs(jose: JosePeer, key: keys.DemoKey) -> None:
    now = int(time.time())
    url, token = "https://api.example.test/orders", "opaque-or-jwt-access-token"
    answer = jose.call(op="verify_dpop", alg=key.alg, token=make_proof(key, "GET", url, now=now, access_token=token))
    assert answer["ok"] and answer["jkt"] == jkt_of(key.public_key), answer
    assert answer["claims"]["ath"] == ath_of(token)
    private = {**public_jwk_of(key.public_key), **_private_members(key)}
    signed = jose.call(op="sign", alg=key.alg, jwk=private,
                       header={"typ": "dpop+jwt", "jwk": public_jwk_of(key.public_key)},
                       claims={"jti": f"jose-{key.alg}", "htm": "GET", "htu": url, "iat": now, "ath": ath_of(token)})
    verifier = DpopVerifier()
    bound = {"cnf": {"jkt": jkt_of(key.public_key)}}
    proof = verifier.verify(signed["token"], method="GET", url=url, access_token=token, token_claims=bound)
    assert proof.jkt == jkt_of(key.public_key)
    with pytest.raises(DpopRejected) as info:
        verifier.verify(signed["token"], method="GET", url=url, access_token=token, token_claims=bound)
    assert info.value.reason == "dpop_replay"


def _private_members(key: keys.DemoKey) -> dict[str, str]:
    """The private JWK members of a demo key, for the peer that signs (jose.importJWK)."""
    exported = jwcrypto_jwk.JWK.from_pem(key.private_pem()).export_private(as_dict=True)
    return {k: v for k, v in exported.items() if k not in ("kid", "alg", "use")}
