"""Tiny demo services behind the gateway (orders, payments) that verify the gateway's internal token.

Why they verify instead of reading `X-User`: a header is only as trustworthy as the network path it
came over, and "only the gateway can reach us" is the assumption attackers break first (a debug port,
a sidecar, a misrouted request). The internal token is signed by the gateway, names this service as its
audience and lives five minutes, so a service can check it in microseconds with a cached JWKS — and a
spoofed header proves nothing. Each service echoes the identity it accepted and every `x-*` header it
received, so tests and notebooks can show that spoofed identity headers never arrive.

`identity="headers"` builds the weaker variant that trusts the gateway's claim headers; it exists so the
course can compare the two, and answers 401 when the headers are missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .gateway import CLAIM_HEADERS, GATEWAY_ISSUER
from .jwks import JwksClient, JwksUnavailable, verify_with
from .verify import TokenRejected

__all__ = ["create_service"]

#: Headers the gateway sets from the connection itself (never from the client): not part of the identity.
_CONNECTION_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto"})


def _unauthorized(reason: str, description: str, status: int = 401, realm: str = "service") -> JSONResponse:
    error = "invalid_token" if status == 401 and reason != "no_token" else None
    challenge = f'Bearer realm="{realm}"' + (f', error="{error}"' if error else "")
    body = {"error": error or ("temporarily_unavailable" if status == 503 else "unauthorized"), "reason": reason,
            "error_description": description}
    headers = {"WWW-Authenticate": challenge} if status == 401 else {"Retry-After": "5"}
    return JSONResponse(body, status_code=status, headers=headers)


def create_service(
    name: str,
    *,
    gateway_jwks_url: str | None,
    gateway_issuer: str = GATEWAY_ISSUER,
    audience: str | None = None,
    identity: Literal["internal_jwt", "headers"] = "internal_jwt",
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """A demo service. `/public/ping` needs nothing (the benchmark's plain endpoint); every other path
    needs the gateway's identity and echoes it."""
    audience = audience or name
    state: dict[str, Any] = {"jwks": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        if identity == "internal_jwt" and gateway_jwks_url:
            state["jwks"] = JwksClient(gateway_jwks_url, clock=clock, algorithms=("EdDSA",))  # what it verifies
            await state["jwks"].start()
        try:
            yield
        finally:
            if state["jwks"] is not None:
                await state["jwks"].close()

    app = FastAPI(title=name, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/public/ping")
    async def ping() -> dict[str, str]:
        return {"service": name}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(path: str, request: Request) -> JSONResponse:
        # The identity-looking headers that arrived; the gateway's own X-Forwarded-For/-Proto are
        # connection facts, not identity, so they are left out of this view.
        seen = {k: v for k, v in request.headers.items() if k.startswith("x-") and k not in _CONNECTION_HEADERS}
        if identity == "headers":
            sub = request.headers.get(CLAIM_HEADERS["sub"])
            if not sub:
                return _unauthorized("no_identity", "No identity headers from the gateway.")
            who = {"sub": sub, "scope": request.headers.get(CLAIM_HEADERS["scope"], ""), "iss": None}
        else:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _unauthorized("no_token", "This service accepts only the gateway's internal token.")
            client: JwksClient | None = state["jwks"]
            if client is None:
                return _unauthorized("jwks_not_loaded", "No key set for the gateway is configured.", status=503)
            try:
                claims = await verify_with(client, token.strip(), issuer=gateway_issuer, audience=audience,
                                           algorithms=["EdDSA"], typ="at+jwt", max_lifetime=300, now=clock())
            except JwksUnavailable as exc:
                return _unauthorized(exc.reason, exc.message, status=503)
            except TokenRejected as exc:
                return _unauthorized(exc.reason, exc.message)
            who = {"sub": claims["sub"], "scope": claims.get("scope", ""), "iss": claims["iss"],
                   "client_id": claims.get("client_id")}
        return JSONResponse({"service": name, "path": "/" + path, "method": request.method, "identity": who,
                             "identity_headers": seen})

    return app
