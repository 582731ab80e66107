"""Lab 3 — a caching JWKS client that survives key rotations, IdP outages and kid floods.

This is the small version you write yourself. The course's full client, `jwtlab.jwks.JwksClient`, adds
what a production gateway also needs: async I/O, a background refresh at 80 % of the TTL, exponential
backoff with jitter, a bounded memory of unknown kids and counters for every decision.

The rules you implement (each one is a task, in order):

* ttl          — the TTL comes from the response's `Cache-Control: max-age`, clamped to [30 s, 1 h].
* fetch        — a fetched set replaces the cache only when it holds at least one usable signing key.
* cache        — the first lookup loads the set; a fresh set answers every lookup without a request.
* unknown-kid  — an unknown kid forces at most one refetch per 30 s, shared by concurrent requests;
                 a token without a kid never causes a fetch.
* cold-start   — with nothing fetched yet and the IdP down, the client is not ready and says why.
* stale        — when the IdP is down, the last good set keeps serving for a bounded window, then the
                 client fails closed.

Time comes from the injected `clock`, so the checks move through an hour-long outage in milliseconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from jwtlab.verify import KeySet, verify_token

DEFAULT_TTL = 300  #: seconds, when the response has no usable max-age
MIN_TTL = 30  #: never refetch more often than this, whatever the IdP says
MAX_TTL = 3600  #: never trust a set for longer than this, whatever the IdP says
REFETCH_INTERVAL = 30  #: at most one refetch forced by an unknown kid per this many seconds
RETRY_DELAY = 10  #: after a failed fetch, wait this long before trying again
STALE_WINDOW = 3600  #: how long past its TTL the last good set may still be used when the IdP is down


class JwksUnavailable(Exception):
    """No trustworthy keys: `reason` is "jwks_not_loaded" (cold start) or "jwks_stale" (outage too long)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownKey(Exception):
    """The token names no key of the issuer (or names none at all): a 401, never a 500."""


def ttl_from_cache_control(header: str | None) -> float:
    """How long to cache a JWKS, from the response's Cache-Control header.

    `max-age=N` gives N seconds, clamped to [MIN_TTL, MAX_TTL]: an IdP that says max-age=0 must not make
    every request a fetch, and one that says a year must not keep a revoked key alive. `no-store` or
    `no-cache` count as the minimum; no header, or no valid max-age, gives DEFAULT_TTL.
    """
    # BEGIN SOLUTION ttl
    if not header:
        return DEFAULT_TTL
    for directive in header.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return MIN_TTL
        if name == "max-age":
            value = value.strip().strip('"')
            if value.isdigit():
                return float(max(MIN_TTL, min(MAX_TTL, int(value))))
    return DEFAULT_TTL
    # END SOLUTION


def parse_jwks(body: bytes) -> dict[str, KeySet]:
    """The usable signing keys of a JWKS document, by kid. Raises ValueError if none is usable.

    Skipped: keys without a kid, encryption keys (`use` other than "sig"), private keys (`d`) and shared
    secrets (`kty` "oct"): none of them may verify a token here.
    """
    # BEGIN SOLUTION fetch
    try:
        document = json.loads(body)
    except ValueError:  # also bytes that are not UTF-8
        raise ValueError("the JWKS is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no 'keys' list")
    usable: dict[str, KeySet] = {}
    for jwk in entries:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig" or "d" in jwk or jwk.get("kty") == "oct":
            continue
        try:
            usable[jwk["kid"]] = KeySet(jwk)
        except Exception:  # noqa: BLE001 - one broken key must not hide the good ones
            continue
    if not usable:
        raise ValueError("the JWKS holds no usable signing key")
    return usable
    # END SOLUTION


class JwksCache:
    """The keys of one issuer, fetched from `url` and cached. One instance per issuer and process."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, timeout: float = 2.0) -> None:
        self.url = url
        self.clock = clock
        self.http = httpx.Client(timeout=timeout)
        self.keys: dict[str, KeySet] = {}  #: the last good set, by kid ({} until the first good fetch)
        self.expires_at = float("-inf")  #: when the last good set stops being fresh
        self.retry_at = float("-inf")  #: no fetch before this moment (set after a failure)
        self.last_forced = float("-inf")  #: when an unknown kid last forced a refetch
        self.last_error: str | None = None
        self.lock = threading.Lock()  #: concurrent unknown kids share one refetch

    def close(self) -> None:
        self.http.close()

    def fetch(self) -> bool:
        """Fetch the JWKS now. True if a good set replaced the cache; False (cache untouched) otherwise."""
        # BEGIN SOLUTION fetch
        try:
            response = self.http.get(self.url)
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            keys = parse_jwks(response.content)
        except (httpx.HTTPError, ValueError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.retry_at = self.clock() + RETRY_DELAY
            return False
        self.keys = keys
        self.expires_at = self.clock() + ttl_from_cache_control(response.headers.get("cache-control"))
        self.last_error = None
        return True
        # END SOLUTION

    @property
    def ready(self) -> bool:
        """True when a good set is loaded and not stale beyond the window (what /readyz reports)."""
        # BEGIN SOLUTION cold-start
        return bool(self.keys) and self.clock() <= self.expires_at + STALE_WINDOW
        # END SOLUTION

    def current_keys(self) -> dict[str, KeySet]:
        """The keys to verify with now: fresh, refetched, or (during an outage) stale but bounded."""
        # BEGIN SOLUTION cache
        if not self.keys and self.clock() >= self.retry_at:
            self.fetch()  # the first load
        if self.keys and self.clock() < self.expires_at:
            return self.keys
        if self.keys and self.clock() >= self.retry_at and self.fetch():
            return self.keys
        # END SOLUTION
        # BEGIN SOLUTION cold-start
        if not self.keys:
            raise JwksUnavailable("jwks_not_loaded")
        # END SOLUTION
        # BEGIN SOLUTION stale
        if self.clock() <= self.expires_at + STALE_WINDOW:
            return self.keys
        raise JwksUnavailable("jwks_stale")
        # END SOLUTION

    def key_for(self, kid: str | None) -> KeySet:
        """The key a token names, giving an unknown kid one shared, rate-limited refetch."""
        keys = self.current_keys()
        # BEGIN SOLUTION cache
        if kid in keys:
            return keys[kid]
        # END SOLUTION
        # BEGIN SOLUTION unknown-kid
        if kid is None:
            raise UnknownKey("the token names no key (no kid)")
        with self.lock:  # the first miss fetches; the others wait here and find its result
            if kid not in self.keys and self.clock() - self.last_forced >= REFETCH_INTERVAL:
                self.last_forced = self.clock()
                self.fetch()
        if kid not in self.keys:
            raise UnknownKey("the issuer has no key with this kid")
        return self.keys[kid]
        # END SOLUTION


def verify(
    cache: JwksCache, token: str, *, issuer: str, audience: str
) -> dict[str, Any]:
    """Verify an access token with the issuer's cached keys
    (given: the subject here is the cache).

    Raises UnknownKey, JwksUnavailable, or `jwt.InvalidTokenError`
    (e.g. `jwtlab.verify.TokenRejected`).
    """
    kid = jwt.get_unverified_header(token).get("kid")
    return verify_token(
        token,
        cache.key_for(kid),
        issuer=issuer,
        audience=audience,
        algorithms=["EdDSA"],
        typ="at+jwt",
        now=cache.clock(),
    )
