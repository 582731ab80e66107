"""A three-service chain (orders → payments → ledger) that propagates the user's identity two ways.

Why the course builds it: "forward the user's token" is the first thing every team does, and its cost is
invisible until a token leaks. With `mode="pass_through"` the user's token names every service in its
`aud` and travels the whole chain, so whoever holds it — any hop, any log line — can call any service
directly. With `mode="exchange"` each hop trades the token it received for one addressed to the next
service only (RFC 8693, at the demo IdP), with scope narrowed to what that service accepts and `act`
recording who acted for the user; a replay anywhere else fails with reason `audience`.

Every hop verifies its incoming token the same way (IdP's JWKS, `typ: at+jwt`, `aud` = itself, its
required scope) and answers RFC 6750 shapes: 401 `invalid_token` with a reason code, 403
`insufficient_scope`. With exchange, payments and the ledger also authorise the *current actor* (RFC 8693
§4.1: the outermost `act`) — the ledger serves payments, not orders skipping a step — and log the whole
chain. The answer echoes what the hop saw (never the token) and the downstream answer.

Demo only: the service secrets and the user's password are published below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .clock import DEMO_ISSUER, Clock
from .exchange import TOKEN_EXCHANGE_GRANT, ExchangedTokenCache, ExchangeError, actor_chain, http_exchanger
from .idp import DEMO_CLIENTS, DemoClient, DemoUser, IdentityProvider, create_idp
from .jwks import JwksClient, JwksUnavailable, verify_with
from .services import Service, start
from .verify import TokenRejected

__all__ = [
    "CHAIN", "CHAIN_RESOURCES", "REQUIRED_SCOPE", "EXPECTED_ACTOR", "expected_act", "CHAIN_CLIENTS", "CHAIN_USERS", "USER_SCOPE", "Mode",
    "chain_idp", "create_hop", "ChainStack", "chain_stack", "login",
]

Mode = Literal["pass_through", "exchange"]

#: The services, in call order.
CHAIN = ("orders-api", "payments-api", "ledger-api")
#: What each service accepts: its own scopes plus those it passes on downstream (exchange only narrows).
CHAIN_RESOURCES: dict[str, frozenset[str]] = {
    "orders-api": frozenset({"orders:read", "orders:write", "payments:charge", "ledger:write"}),
    "payments-api": frozenset({"payments:charge", "ledger:write"}),
    "ledger-api": frozenset({"ledger:read", "ledger:write"}),
}
#: The scope each service requires for its one endpoint.
REQUIRED_SCOPE = {"orders-api": "orders:write", "payments-api": "payments:charge", "ledger-api": "ledger:write"}
#: With token exchange: the one service each hop serves (the current actor it accepts).
EXPECTED_ACTOR = {"payments-api": "orders-api", "ledger-api": "payments-api"}
#: What the shop asks for when alice places an order.
USER_SCOPE = "ledger:write orders:write payments:charge"
_SECRETS = {name: f"{name}-demo-secret" for name in CHAIN}
CHAIN_CLIENTS: dict[str, DemoClient] = {
    **DEMO_CLIENTS,
    "shop": DemoClient("shop", "shop-demo-secret", frozenset({"password"}), CHAIN_RESOURCES["orders-api"]),
    **{name: DemoClient(name, secret, frozenset({TOKEN_EXCHANGE_GRANT}), frozenset()) for name, secret in _SECRETS.items()},
}
log = logging.getLogger("jwtlab.propagation")
log.addHandler(logging.NullHandler())  # a library logs only where the application configures it

CHAIN_USERS = {"alice": DemoUser("alice", "alice-demo-password", CHAIN_RESOURCES["orders-api"] | {"ledger:read"})}


def expected_act(name: str) -> dict[str, Any] | None:
    """The `act` claim a token reaching `name` through the whole exchange chain carries (None at the first hop)."""
    act: dict[str, Any] | None = None
    for caller in CHAIN[: CHAIN.index(name)]:
        act = {"sub": caller, **({"act": act} if act else {})}
    return act


def chain_idp(clock: Clock) -> IdentityProvider:
    """The demo IdP configured for the chain: the shop (password grant) and the three services (exchange)."""
    return IdentityProvider(clock=clock.now, users=dict(CHAIN_USERS), clients=dict(CHAIN_CLIENTS),
                            resources=dict(CHAIN_RESOURCES))


def _problem(status: int, error: str, reason: str, description: str, realm: str) -> JSONResponse:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer realm="{realm}", error="{error}", error_description="{reason}"'
    elif status == 403:
        headers["WWW-Authenticate"] = f'Bearer realm="{realm}", error="insufficient_scope"'
    return JSONResponse({"error": error, "reason": reason, "error_description": description}, status_code=status,
                        headers=headers)


def create_hop(
    name: str,
    *,
    mode: Mode,
    jwks_url: str,
    token_url: str,
    next_hop: dict[str, str],
    clock: Callable[[], float],
    issuer: str = DEMO_ISSUER,
) -> FastAPI:
    """One service of the chain. `next_hop` holds `name` and `url` of the service it calls (empty: the last).

    `app.state.exchanges` is its `ExchangedTokenCache` (its `fetches` counts exchanges actually made).
    """
    state: dict[str, Any] = {}

    def fetch(subject_token: str, target: str, scope: str | None) -> Any:
        with httpx.Client(timeout=5) as http:
            return http_exchanger(http, token_url, name, secret=_SECRETS[name])(subject_token, target, scope)

    cache = ExchangedTokenCache(fetch, now=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        state["jwks"] = JwksClient(jwks_url, clock=clock)
        await state["jwks"].start()
        try:
            yield
        finally:
            await state["jwks"].close()

    app = FastAPI(title=name, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.exchanges = cache

    @app.post("/work")
    async def work(request: Request) -> JSONResponse:
        values = request.headers.getlist("authorization")
        scheme, _, token = (values[0] if len(values) == 1 else "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _problem(401, "invalid_request", "no_token", "Send exactly one Bearer token.", name)
        token = token.strip()
        try:
            claims = await verify_with(state["jwks"], token, issuer=issuer, audience=name, algorithms=["EdDSA"],
                                       typ="at+jwt", max_lifetime=3600, now=clock())
        except TokenRejected as exc:
            return _problem(401, "invalid_token", exc.reason, exc.message, name)
        except JwksUnavailable as exc:
            return JSONResponse({"error": "temporarily_unavailable", "reason": exc.reason}, status_code=503)
        scopes = str(claims.get("scope", "")).split()
        if REQUIRED_SCOPE[name] not in scopes:
            return _problem(403, "insufficient_scope", "insufficient_scope", f"{name} requires {REQUIRED_SCOPE[name]}.", name)
        if mode == "exchange" and name in EXPECTED_ACTOR:
            try:
                chain = actor_chain(claims)
            except ExchangeError:
                chain = []
            # Authorise on the current actor only; the rest of the chain is for the log (RFC 8693 §4.1).
            if not chain or chain[0] != EXPECTED_ACTOR[name]:
                log.info("%s refused actor chain=%s sub=%s jti=%s", name, chain, claims.get("sub"), claims.get("jti"))
                return _problem(403, "insufficient_scope", "actor",
                                f"{name} serves {EXPECTED_ACTOR[name]} acting for a user, not {chain[0] if chain else 'a direct call'}.",
                                name)
            log.info("%s accepted sub=%s actor chain=%s jti=%s", name, claims.get("sub"), chain, claims.get("jti"))
        saw = {"service": name, "sub": claims["sub"], "aud": claims["aud"], "scope": claims.get("scope"),
               "act": claims.get("act")}
        if not next_hop.get("url"):
            return JSONResponse(saw)
        if mode == "pass_through":
            onward = token
        else:
            try:
                onward = await asyncio.to_thread(cache.token_for, token, claims, next_hop["name"])
            except ExchangeError as exc:
                return JSONResponse({**saw, "error": "exchange_failed", "reason": exc.reason or exc.error}, status_code=502)
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                resp = await http.post(next_hop["url"] + "/work", headers={"Authorization": "Bearer " + onward})
            answer = resp.json()
        except (httpx.HTTPError, ValueError):  # the next hop is down or not speaking JSON: our 502, never a 500
            return JSONResponse({**saw, "error": "downstream_unavailable"}, status_code=502)
        return JSONResponse({**saw, "downstream": {"status": resp.status_code, **answer}},
                            status_code=200 if resp.status_code == 200 else 502)

    return app


@dataclass
class ChainStack:
    """The running chain: the IdP and one `Service` per hop; `apps` gives each hop's app (for its cache)."""

    clock: Clock
    idp: IdentityProvider
    idp_service: Service
    hops: dict[str, Service] = field(default_factory=dict)
    apps: dict[str, FastAPI] = field(default_factory=dict)

    def exchanges(self, name: str) -> int:
        """How many token exchanges `name` has made so far."""
        return int(self.apps[name].state.exchanges.fetches)


@contextlib.contextmanager
def chain_stack(mode: Mode, *, clock: Clock | None = None) -> Iterator[ChainStack]:
    """Start the IdP and the three hops (last hop first, so each knows the next one's URL); stop them all."""
    clock = clock or Clock()
    idp = chain_idp(clock)
    started: list[Service] = []
    try:
        idp_service = start(create_idp(idp), name="idp")
        started.append(idp_service)
        stack = ChainStack(clock, idp, idp_service)
        downstream: dict[str, str] = {}
        for name in reversed(CHAIN):
            app = create_hop(name, mode=mode, jwks_url=idp_service.url + "/.well-known/jwks.json",
                             token_url=idp_service.url + "/token", next_hop=dict(downstream), clock=clock.now)
            service = start(app, name=name)
            started.append(service)
            stack.hops[name], stack.apps[name] = service, app
            downstream = {"name": name, "url": service.url}
        yield stack
    finally:
        for service in reversed(started):
            service.stop()


def login(idp_url: str, audience: str | list[str], scope: str = USER_SCOPE) -> str:
    """Alice logs in at the shop (password grant); the token names `audience`."""
    data = {"grant_type": "password", "username": "alice", "password": "alice-demo-password", "scope": scope,
            "audience": [audience] if isinstance(audience, str) else list(audience)}
    resp = httpx.post(idp_url + "/token", data=data, auth=("shop", "shop-demo-secret"), timeout=5)
    resp.raise_for_status()
    return str(resp.json()["access_token"])
