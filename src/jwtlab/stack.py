"""The Part IV demo stack in one call: IdP, gateway and three services on loopback, sharing one clock.

Why one function for it: the gateway needs the services' addresses for its routes and the services need the
gateway's JWKS address, so the start order matters (IdP → gateway with no routes, which denies
everything → services → routes registered). Notebooks, tests and benchmarks all need the same wiring.

    with demo_stack(clock=Clock()) as stack:
        token = stack.idp.issue("alice", "orders-api", "orders:read")
        httpx.get(stack.gateway.url + "/orders/42", headers={"Authorization": f"Bearer {token}"})
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .clock import DEMO_ISSUER, Clock
from .gateway import Gateway, GatewayConfig, Route, create_gateway
from .idp import IdentityProvider, create_idp
from .phantom import PhantomSettings
from .services import Service, start
from .upstream import create_service

__all__ = ["DemoStack", "demo_stack", "demo_routes", "GATEWAY_CLIENT"]

#: The gateway's DEMO client at the IdP (`jwtlab.idp.DEMO_CLIENTS`): it introspects and receives logouts.
GATEWAY_CLIENT = ("gateway", "gateway-demo-secret")


@dataclass
class DemoStack:
    clock: Clock
    idp: IdentityProvider
    idp_service: Service
    gateway: Service
    gateway_state: Gateway
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def jwks_url(self) -> str:
        return self.idp_service.url + "/.well-known/jwks.json"


def demo_routes(urls: dict[str, str]) -> list[Route]:
    """Orders and payments get a gateway-signed internal token (payments also need a scope); inventory
    trusts claim headers (the weaker mode, for comparison); /public needs no token."""
    return [
        Route("/orders", urls["orders"], audience="orders-api", service="orders"),
        Route("/payments", urls["payments"], audience="payments-api", service="payments", scopes=("payments:read",)),
        Route("/inventory", urls["inventory"], audience="orders-api", forward="claims"),
        Route("/public", urls["orders"], auth="none"),
    ]


@contextlib.contextmanager
def demo_stack(
    *,
    clock: Clock | None = None,
    idp: IdentityProvider | None = None,
    routes: Callable[[dict[str, str]], list[Route]] = demo_routes,
    jwks_options: dict[str, Any] | None = None,
    ports: dict[str, int] | None = None,
    introspect: bool = False,
    introspect_cache_seconds: float = 30,
    logout: bool = False,
    **gateway_settings: Any,
) -> Iterator[DemoStack]:
    """Start the stack; everything is stopped when the block ends (services first, IdP last).

    `introspect`: the gateway introspects opaque tokens at the IdP as its DEMO client "gateway" (the
    phantom-token mode; pair it with `IdentityProvider(opaque_access_tokens=True)`), caching each active
    answer for at most `introspect_cache_seconds` (0: ask the IdP on every request). `logout`: the IdP
    announces every ended login to the gateway's back-channel logout endpoint.

    `ports` pins a port per name (idp, gateway, orders, payments, inventory) so printed commands stay
    valid from run to run (`jwtlab up --port-base`); any name not given gets a free port from the OS.
    """
    port = (ports or {}).get
    clock = clock or Clock()
    idp = idp or IdentityProvider(clock=clock.now)
    started: list[Service] = []
    try:
        idp_service = start(create_idp(idp), name="idp", port=port("idp", 0))
        started.append(idp_service)
        if introspect:
            gateway_settings.setdefault("phantom", PhantomSettings(
                idp_service.url + "/introspect", *GATEWAY_CLIENT, max_cache_seconds=introspect_cache_seconds))
        if logout:
            gateway_settings.setdefault("logout_audience", GATEWAY_CLIENT[0])
        config = GatewayConfig(issuer=DEMO_ISSUER, jwks_url=idp_service.url + "/.well-known/jwks.json",
                               clock=clock.now, jwks_options=jwks_options or {}, **gateway_settings)
        gateway_app = create_gateway(config)
        gateway = start(gateway_app, name="gateway", port=port("gateway", 0))
        started.append(gateway)
        if logout:
            idp.logout_receivers[GATEWAY_CLIENT[0]] = gateway.url + "/backchannel-logout"
        gw_jwks = gateway.url + "/.well-known/jwks.json"
        orders = start(create_service("orders", gateway_jwks_url=gw_jwks, clock=clock.now), name="orders",
                       port=port("orders", 0))
        started.append(orders)
        payments = start(create_service("payments", gateway_jwks_url=gw_jwks, clock=clock.now), name="payments",
                         port=port("payments", 0))
        started.append(payments)
        inventory = start(create_service("inventory", gateway_jwks_url=None, identity="headers"), name="inventory",
                          port=port("inventory", 0))
        started.append(inventory)
        services = {"orders": orders, "payments": payments, "inventory": inventory}
        state: Gateway = gateway_app.state.gateway
        state.set_routes(routes({n: s.url for n, s in services.items()}))
        yield DemoStack(clock, idp, idp_service, gateway, state, services)
    finally:
        for service in reversed(started):
            service.stop()
