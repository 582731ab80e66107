"""The phantom-token gateway in front of a certified OpenID provider nobody here wrote (oidc-provider).

The provider issues opaque access tokens for one resource server and answers RFC 7662 introspection and
RFC 7009 revocation. The course's gateway, trusting that issuer, must turn such a token into an internal
JWT for the service, keep answering from its cache only within its bound, refuse the token once the
provider says it was revoked, and keep JWTs on the JWT path.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from interop_peers import OidcProvider

from jwtlab.clock import Clock
from jwtlab.gateway import GatewayConfig, Route, create_gateway
from jwtlab.phantom import PhantomSettings
from jwtlab.services import Service, start
from jwtlab.verify import verify_token

pytestmark = pytest.mark.network


def whoami_app() -> FastAPI:
    app = FastAPI()

    @app.get("/{path:path}")
    async def whoami(path: str, request: Request) -> dict[str, str]:
        return {"authorization": request.headers.get("authorization", "")}

    return app


@pytest.fixture(scope="module")
def phantom(provider: OidcProvider) -> Iterator[tuple[Service, Clock]]:
    clock = Clock(real=True)  # the provider's exp is real time; the gateway's clock can be moved ahead
    discovery = httpx.get(provider.issuer + "/.well-known/openid-configuration", timeout=10).json()
    settings = PhantomSettings(discovery["introspection_endpoint"], *OidcProvider.CLIENT, max_cache_seconds=30)
    with start(whoami_app(), name="whoami") as upstream:
        routes = [Route("/opaque", upstream.url, audience=provider.resource("opaque"), service="orders",
                        scopes=(OidcProvider.SCOPE,)),
                  Route("/es256", upstream.url, audience=provider.resource("ES256"), service="orders")]
        config = GatewayConfig(issuer=provider.issuer, jwks_url=provider.jwks_url, routes=routes,
                               algorithms=("ES256",), phantom=settings, clock=clock.now)
        with start(create_gateway(config), name="gateway") as gateway:
            yield gateway, clock


def get(gateway: Service, path: str, token: str) -> httpx.Response:
    return httpx.get(gateway.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def internal_sub(response: httpx.Response, gateway: Service) -> str:
    """The subject of the internal JWT the service received, verified with the gateway's own keys."""
    token = response.json()["authorization"].removeprefix("Bearer ")
    keys = httpx.get(gateway.url + "/.well-known/jwks.json", timeout=10).json()
    claims = verify_token(token, keys, issuer="https://gateway.course.example", audience="orders",
                          algorithms=["EdDSA"], typ="at+jwt")
    return claims["sub"]


def test_an_opaque_provider_token_becomes_an_internal_jwt(provider: OidcProvider,
                                                          phantom: tuple[Service, Clock]) -> None:
    gateway, _ = phantom
    token = provider.token("opaque")
    assert token.count(".") != 2  # opaque: nothing to decode
    r = get(gateway, "/opaque/orders/1", token)
    assert r.status_code == 200 and internal_sub(r, gateway) == OidcProvider.CLIENT[0]
    assert get(gateway, "/es256/orders/1", provider.token("ES256")).status_code == 200  # a JWT takes the JWT path
    assert get(gateway, "/es256/orders/1", token).json()["reason"] == "audience"  # opaque, but for another API
    assert get(gateway, "/opaque/orders/1", "not-a-token-the-provider-issued").json()["reason"] == "token_inactive"


def test_revoked_at_the_provider_refused_once_the_cache_bound_passes(provider: OidcProvider,
                                                                     phantom: tuple[Service, Clock]) -> None:
    gateway, clock = phantom
    token = provider.token("opaque")
    assert get(gateway, "/opaque/orders/1", token).status_code == 200
    revoked = httpx.post(provider.issuer + "/token/revocation", auth=OidcProvider.CLIENT, timeout=10,
                         data={"token": token, "token_type_hint": "access_token"})
    assert revoked.status_code == 200
    assert get(gateway, "/opaque/orders/1", token).status_code == 200  # the cached answer, within its bound
    clock.advance(31)
    r = get(gateway, "/opaque/orders/1", token)
    assert r.status_code == 401 and r.json()["reason"] == "token_inactive"
