"""An async caching JWKS client, one per issuer, that keeps verifying through IdP outages and key floods.

Why not PyJWKClient: it is synchronous, ignores `Cache-Control`, wiped its cache when the endpoint
failed, and refetches on *every* unknown `kid` — a token with a random `kid` becomes a request to the
IdP, so a flood of them is a denial of service against both. The rules here (the course bar):

* TTL from the response's `Cache-Control: max-age`, clamped to [30 s, 1 h]; 300 s without one.
* Refresh in the background at ~80 % of the TTL, single-flight: concurrent callers share one fetch.
* Endpoint down (5xx, timeout, garbage): keep serving the last good set for a bounded stale window
  (default 1 h past expiry), counted, retrying with exponential backoff and jitter; a fetched set that
  is empty or has no usable key never replaces a good one. "Usable" is judged for this issuer: with an
  algorithm allowlist, a set of only RSA keys for an EdDSA issuer, only `use: enc` keys or only keys whose
  `key_ops` lack `verify` is as useless as an empty one (and would lock every valid token out).
  After the window: fail closed.
* Unknown `kid`: at most one forced refetch per 30 s per issuer, shared by concurrent misses; a kid still
  unknown after a successful fetch that began after it was first seen is remembered for 5 min (bounded).
  A kid that only met the rate limit is remembered until the next refetch is allowed, no longer: a junk
  kid must not lock out a key the issuer publishes a few seconds later. A token without `kid` never
  forces a fetch.
* Cold start with nothing fetched fails closed with an explicit reason (`JwksUnavailable`).

The hot path (`keys()`) is synchronous and does no I/O and no key parsing: it returns a parsed
`jwtlab.verify.KeySet` that `verify_token` uses directly. Time is injected (`clock`), so tests and
notebooks move through an hour-long outage instantly; the background task wakes every `tick` wall-clock
seconds and compares deadlines on that clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from .verify import _FAMILY, KeySet, TokenRejected, jwk_unusable_reason, parse_json_object, verify_token

__all__ = ["JwksClient", "JwksUnavailable", "JwksCounters", "parse_max_age"]

log = logging.getLogger("jwtlab.jwks")
log.addHandler(logging.NullHandler())  # a library logs only where the application configures it


class JwksUnavailable(Exception):
    """No trustworthy key set: never fetched (`jwks_not_loaded`) or stale beyond the window (`jwks_stale`).

    `retry_after` (seconds) is a hint for a 503 `Retry-After` header.
    """

    def __init__(self, reason: str, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.reason, self.message, self.retry_after = reason, message, retry_after


@dataclass
class JwksCounters:
    """What an operator graphs: a healthy client shows fetches ≈ elapsed / (0.8 × TTL), nothing else."""

    fetches: int = 0  #: attempts to fetch the JWKS (successful or not)
    failures: int = 0  #: fetches that failed or returned an unusable set
    stale_serves: int = 0  #: lookups answered from a set past its TTL (inside the stale window)
    forced_refetches: int = 0  #: fetches forced by an unknown kid
    refetches_rate_limited: int = 0  #: unknown kids that found the 30 s budget already spent
    unknown_kid_cached: int = 0  #: unknown kids answered from the negative cache

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_max_age(cache_control: str | None) -> int | None:
    """`max-age` from a Cache-Control header, 0 for no-store/no-cache, None if absent or unparsable."""
    if not cache_control:
        return None
    max_age: int | None = None
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return 0
        if name == "max-age":
            value = value.strip().strip('"')
            if value.isdigit() and len(value) <= 10:
                max_age = int(value)
    return max_age


class JwksClient:
    """Caching client for one issuer's JWKS. Create it in the app's lifespan: `await client.start()`."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        default_ttl: float = 300,
        min_ttl: float = 30,
        max_ttl: float = 3600,
        refresh_ratio: float = 0.8,
        stale_window: float = 3600,
        refetch_interval: float = 30,
        unknown_kid_ttl: float = 300,
        unknown_kid_max: int = 10_000,
        timeout: float = 5.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        tick: float = 1.0,
        max_bytes: int = 256 * 1024,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
        algorithms: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        self.url = url
        #: The issuer's algorithm allowlist: keys no allowed algorithm can use do not count as usable.
        self.algorithms = tuple(algorithms) if algorithms is not None else None
        self.clock = clock
        self.default_ttl, self.min_ttl, self.max_ttl = default_ttl, min_ttl, max_ttl
        self.refresh_ratio = refresh_ratio
        self.stale_window = stale_window
        self.refetch_interval = refetch_interval
        self.unknown_kid_ttl, self.unknown_kid_max = unknown_kid_ttl, unknown_kid_max
        self.timeout = timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.tick = tick
        self.max_bytes = max_bytes
        self.rng = rng or random.Random()
        self.counters = JwksCounters()
        self._session = session
        self._own_session = session is None
        self._key_set: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self.fetched_at: float | None = None
        self.ttl: float = default_ttl
        self._refresh_at = 0.0
        self._expires_at = 0.0
        self._failures_in_a_row = 0
        self._next_attempt_at = 0.0
        self._last_forced = float("-inf")
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._inflight: asyncio.Task[bool] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> bool:
        """Open the HTTP session, fetch once (a failure is counted, not raised) and start refreshing."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=4),
                headers={"Accept": "application/json"},
            )
        ok = await self.refresh()
        if background and self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run())
        return ok

    async def close(self) -> None:
        for task in (self._loop_task, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._loop_task = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> JwksClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.refresh_if_due()
            except Exception:  # noqa: BLE001 - the loop must survive anything; counted in refresh()
                log.exception("JWKS background refresh crashed")

    # -- state ----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True when a key set is loaded and not stale beyond the window (what /readyz reports)."""
        return self._key_set is not None and self.clock() <= self._expires_at + self.stale_window

    @property
    def kids(self) -> frozenset[str]:
        return self._kids

    def retry_after(self) -> int:
        return max(1, min(300, round(self._next_attempt_at - self.clock()) if self._next_attempt_at else 5))

    def keys(self) -> KeySet:
        """The current key set, without I/O; `JwksUnavailable` when failing closed.


        Past the TTL it serves the last good set (counted as a stale serve) until the
        stale window ends, and nudges a background refresh when one is due.
        """
        key_set = self._key_set
        if key_set is None:
            raise JwksUnavailable(
                "jwks_not_loaded",
                "The issuer's keys have not been fetched yet.",
                self.retry_after(),
            )
        now = self.clock()
        if now >= self._refresh_at:
            self._nudge(now)
            if now > self._expires_at:
                if now > self._expires_at + self.stale_window:
                    raise JwksUnavailable(
                        "jwks_stale",
                        "The issuer's keys could not be refreshed for longer than"
                        " the stale window.",
                        self.retry_after(),
                    )

                self.counters.stale_serves += 1
        return key_set

    async def keys_for_kid(self, kid: str | None) -> KeySet:
        """The key set after giving an unknown `kid` its one chance: a shared, rate-limited refetch.

        Returns the (possibly refreshed) set; the caller verifies again and gets `kid_unknown` if the
        kid is still not there. A missing kid never causes a fetch.
        """
        if kid is None or kid in self._kids:
            return self.keys()
        now = self.clock()
        remembered = self._unknown.get(kid[:256])
        if remembered is not None and remembered > now:
            self.counters.unknown_kid_cached += 1
            return self.keys()
        authoritative = False  # did a fetch that began after this kid was seen succeed?
        if self._inflight is not None and not self._inflight.done():
            # A fetch is already running: share it. It began before this kid arrived, so it may predate a
            # key published a moment ago; its answer is not a reason to remember the kid for long.
            await asyncio.shield(self._inflight)
        elif now - self._last_forced >= self.refetch_interval:
            self._last_forced = now
            self.counters.forced_refetches += 1
            authoritative = await self.refresh()
        else:
            self.counters.refetches_rate_limited += 1
        if kid not in self._kids:
            until = self.clock() + self.unknown_kid_ttl if authoritative else self._last_forced + self.refetch_interval
            self._remember_unknown(kid, until)
        return self.keys()

    def _remember_unknown(self, kid: str, until: float) -> None:
        if until <= self.clock():
            return
        self._unknown[kid[:256]] = until
        self._unknown.move_to_end(kid[:256])
        while len(self._unknown) > self.unknown_kid_max:
            self._unknown.popitem(last=False)

    # -- fetching -------------------------------------------------------------------------------

    def _nudge(self, now: float) -> None:
        if now < self._next_attempt_at or (self._inflight is not None and not self._inflight.done()):
            return
        with contextlib.suppress(RuntimeError):  # no running loop: the background task will do it
            # Set _inflight at once, so the other requests of this moment see a fetch running and add none.
            self._inflight = asyncio.get_running_loop().create_task(self._fetch())

    async def refresh_if_due(self) -> None:
        now = self.clock()
        if now >= self._refresh_at and now >= self._next_attempt_at:
            await self.refresh()

    async def refresh(self) -> bool:
        """Fetch now, single-flight: callers arriving during a fetch share its result."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._fetch())
        return await asyncio.shield(self._inflight)

    async def _fetch(self) -> bool:
        self.counters.fetches += 1
        try:
            key_set, kids, ttl = await self._download()
        except Exception as exc:  # noqa: BLE001 - every failure keeps the old set and backs off
            self._failed(f"{type(exc).__name__}: {str(exc)[:120]}")
            return False
        now = self.clock()
        self._key_set, self._kids, self.ttl, self.fetched_at = key_set, kids, ttl, now
        self._refresh_at = now + ttl * self.refresh_ratio
        self._expires_at = now + ttl
        self._failures_in_a_row, self._next_attempt_at, self.last_error = 0, 0.0, None
        for kid in kids:
            self._unknown.pop(kid, None)
        return True

    def _failed(self, error: str) -> None:
        self.counters.failures += 1
        self._failures_in_a_row += 1
        self.last_error = error
        delay = min(self.backoff_max, self.backoff_base * 2 ** (self._failures_in_a_row - 1))
        self._next_attempt_at = self.clock() + delay * (0.5 + self.rng.random() / 2)  # jitter: spread retries
        log.warning("JWKS fetch from %s failed (%s); %s", self.url, error,
                    "serving the last good set" if self._key_set is not None else "no keys yet")

    async def _download(self) -> tuple[KeySet, frozenset[str], float]:
        if self._session is None:
            raise RuntimeError("JwksClient.start() was not called")
        async with self._session.get(self.url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            body = await resp.content.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise ValueError(f"the JWKS is larger than {self.max_bytes} bytes")
            max_age = parse_max_age(resp.headers.get("Cache-Control"))
        key_set, kids = self.parse(body, self.algorithms)
        ttl = self.default_ttl if max_age is None else max(self.min_ttl, min(self.max_ttl, max_age))
        return key_set, kids, float(ttl)

    @staticmethod
    def parse(body: bytes, algorithms: tuple[str, ...] | None = None) -> tuple[KeySet, frozenset[str]]:
        """Parse a JWKS strictly, keeping only usable public signing keys; raise if none is left.

        Usable: a public key for signatures (`use` absent or `sig`, `key_ops` absent or listing `verify`)
        and, given the issuer's `algorithms`, of a family one of them uses (and its `alg`, if any, allowed).
        """
        try:
            document = parse_json_object(body, "JWKS")
        except TokenRejected as exc:
            raise ValueError(exc.message) from None
        jwks: Any = document.get("keys")
        if not isinstance(jwks, list):
            raise ValueError("the JWKS has no 'keys' list")
        usable: list[dict[str, Any]] = []
        families = {_FAMILY[a] for a in algorithms or () if a in _FAMILY}
        for jwk in jwks[:100]:
            if jwk_unusable_reason(jwk) is not None or "d" in jwk or jwk.get("kty") == "oct":
                continue  # RFC 7517 §5 (see jwk_unusable_reason); private keys and shared secrets never verify here
            try:
                entries = KeySet(jwk).entries  # parsed once and cached by jwtlab.verify; the set below reuses it
            except Exception:  # noqa: BLE001 - one bad key must not hide the good ones
                continue
            if algorithms is not None and not any(
                e.family in families and (e.alg is None or e.alg in algorithms) for e in entries
            ):
                continue  # no allowed algorithm can use this key: it cannot vouch for any token here
            usable.append(jwk)
        if not usable:
            raise ValueError("the JWKS holds no usable signing key (empty or invalid); keeping the last good set")
        key_set = KeySet(usable)
        return key_set, frozenset(e.kid for e in key_set.entries if e.kid)


async def verify_with(client: JwksClient, token: str, **options: Any) -> dict[str, Any]:
    """`verify_token` against an issuer's cached keys, giving an unknown `kid` its one shared refetch.

    The hot path parses nothing twice: it verifies with the cached set, and only a `kid_unknown`
    rejection (rare, and rate-limited) costs a second attempt. Raises `TokenRejected` or
    `JwksUnavailable`.
    """
    try:
        return verify_token(token, client.keys(), **options)
    except TokenRejected as exc:
        if exc.reason != "kid_unknown":
            raise
        kid = (exc.unverified_header or {}).get("kid")
        before = client.kids
        keys = await client.keys_for_kid(kid)
        if client.kids == before:
            raise
        return verify_token(token, keys, **options)
