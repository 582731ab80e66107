"""The phantom-token pattern: an opaque token outside, a JWT inside.

Why: a JWT a browser or mobile app holds can be decoded by anyone who sees it — its `sub`, `email`,
scopes and internal service names are readable — and it stays valid until `exp` whatever happens. An
opaque access token (a random string, RFC 6749 §1.4) reveals nothing and can be revoked at the
issuer at once. The gateway exchanges it for its claims with token introspection (RFC 7662), then
forwards a short-lived internal JWT (`jwtlab.gateway`), so the services keep verifying JWTs locally.

The cost is a call to the issuer per token, so the answer is cached — keyed by the token's SHA-256,
never the token — for at most the token's remaining life *and* at most `max_cache_seconds`. That bound
is exactly how long a revoked token can still pass the gateway: the course measures it in notebook 46.
An inactive answer is never cached as active, and an entry is never served past its `exp`.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["PhantomSettings", "IntrospectionUnavailable", "Introspector", "looks_opaque"]


@dataclass(frozen=True)
class PhantomSettings:
    """Where and as whom the gateway introspects (RFC 7662 §2.1: the caller must authenticate)."""

    introspection_url: str
    client_id: str
    client_secret: str = field(repr=False)
    max_cache_seconds: float = 30
    cache_size: int = 10_000
    timeout: float = 5.0


class IntrospectionUnavailable(Exception):
    """The introspection endpoint did not give a usable answer: the gateway fails closed (503)."""


def _basic(client_id: str, secret: str) -> str:
    """client_secret_basic (RFC 6749 §2.3.1): both parts form-encoded, then base64."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def looks_opaque(token: str) -> bool:
    """An opaque token is anything that is not shaped like a compact JWS (two dots)."""
    return token.count(".") != 2


@dataclass
class Introspector:
    """RFC 7662 client with a bounded, time-bounded cache of *active* answers."""

    settings: PhantomSettings
    clock: Callable[[], float]
    calls: int = 0
    cache_hits: int = 0
    _cache: OrderedDict[bytes, tuple[dict[str, Any], float]] = field(default_factory=OrderedDict)

    async def introspect(self, session: aiohttp.ClientSession, token: str) -> dict[str, Any] | None:
        """The token's claims if the issuer says it is active now, else None."""
        now = self.clock()
        key = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        hit = self._cache.get(key)
        if hit is not None:
            claims, until = hit
            if now < until:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return claims
            del self._cache[key]
        claims = await self._ask(session, token)
        if claims is None:
            return None
        exp = claims.get("exp")
        if type(exp) is not int or exp <= now:
            return None  # active without a future exp would be served forever: refuse instead
        self._cache[key] = (claims, min(float(exp), now + self.settings.max_cache_seconds))
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)
        return claims

    def forget(self) -> None:
        """Drop every cached answer (e.g. on a back-channel logout event)."""
        self._cache.clear()

    async def _ask(self, session: aiohttp.ClientSession, token: str) -> dict[str, Any] | None:
        s = self.settings
        self.calls += 1
        try:
            async with session.post(
                s.introspection_url,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": _basic(s.client_id, s.client_secret)},
                timeout=aiohttp.ClientTimeout(total=s.timeout),
                allow_redirects=False,
            ) as resp:
                if resp.status != 200:
                    raise IntrospectionUnavailable(f"introspection answered {resp.status}")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise IntrospectionUnavailable(f"introspection failed ({type(exc).__name__})") from None
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise IntrospectionUnavailable("introspection answered without an 'active' boolean")
        return body if body["active"] is True else None
