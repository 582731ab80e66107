"""Signing-key rotation for the demo identity provider: a schedule that follows from three numbers.

Why a schedule and not "swap the key": a verifier caches the issuer's JWKS for up to its cache TTL, and a
token stays valid until its `exp` (plus the verifier's clock-skew leeway). So a new key must be
*published* at least one maximum cache TTL (plus a margin) before it signs anything — otherwise a verifier
with a fresh cache meets an unknown `kid` — and an old key must stay *published* after it stops signing
until the last token it signed has expired everywhere: max token lifetime + skew + cache TTL. Each key
therefore goes through

    pending → next (published, not signing) → active (signing) → retiring (published, not signing) → retired

and an emergency revoke takes a key out of the JWKS at once (its tokens then fail with `kid_unknown`;
if it was signing, the following key takes over immediately).

Everything here is arithmetic on an injected clock (`jwtlab.clock.Clock`), so a notebook can run a
month of rotations in a second, and the result is deterministic: key number `n` is the demo key
`jwtlab.keys.ed25519_key(f"{prefix}-{n}")`, its `kid` the RFC 7638 thumbprint.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .keys import DemoKey, ed25519_key

__all__ = ["RotationPolicy", "KeyRotation", "KeyRecord", "KeyState"]

KeyState = Literal["pending", "next", "active", "retiring", "retired", "revoked"]

#: States in which a key appears in the JWKS.
PUBLISHED_STATES: frozenset[str] = frozenset({"next", "active", "retiring"})


@dataclass(frozen=True)
class RotationPolicy:
    """The numbers a rotation schedule follows from (all in seconds).

    `max_cache_ttl`: the longest any verifier may cache the JWKS. The issuer's `Cache-Control: max-age`
    must not exceed it (verifiers clamp to at most 1 h), so the IdP serves `max-age` = this value.
    `max_token_lifetime`: the longest `exp - iat` the issuer mints. `clock_skew`: the verifiers' leeway.
    `margin`: extra safety on top of the cache TTL (a verifier's refresh may be late by a backoff).
    `period`: how long each key signs.
    """

    max_cache_ttl: float = 300
    max_token_lifetime: float = 300
    clock_skew: float = 60
    margin: float = 60
    period: float = 3600

    def __post_init__(self) -> None:
        for name in ("max_cache_ttl", "max_token_lifetime", "clock_skew", "margin", "period"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.period <= self.publish_lead:
            # Otherwise two future keys would be published at once and a key could sign before every
            # cache has seen it; both make the schedule harder to reason about for no gain.
            raise ValueError(
                f"period ({self.period:g} s) must be longer than the publish lead "
                f"(max_cache_ttl + margin = {self.publish_lead:g} s)"
            )

    @property
    def publish_lead(self) -> float:
        """How long before it signs a key must be in the JWKS.

        One full cache TTL plus the margin: every cache has it before a token needs it.
        """
        return self.max_cache_ttl + self.margin

    @property
    def retire_after(self) -> float:
        """How long a key stays published after it stops signing.

        Its last token may still be in use, and a cache may still hold the old set.

        """

        return self.max_token_lifetime + self.clock_skew + self.max_cache_ttl


@dataclass(frozen=True)
class KeyRecord:
    """One key's place in the schedule: when it is published, signs, stops signing and disappears."""

    generation: int
    key: DemoKey
    published_at: float
    activates_at: float
    deactivates_at: float
    removed_at: float
    revoked_at: float | None = None

    @property
    def kid(self) -> str:
        return self.key.kid

    def state(self, t: float) -> KeyState:
        """The key's state at time `t`."""
        if self.revoked_at is not None and t >= self.revoked_at:
            return "revoked"
        if t < self.published_at:
            return "pending"
        if t < self.activates_at:
            return "next"
        if t < self.deactivates_at:
            return "active"
        if t < self.removed_at:
            return "retiring"
        return "retired"


@dataclass(frozen=True)
class _Anchor:
    generation: int
    activates_at: float
    published_at: float | None  # None: the regular lead applies


class KeyRotation:
    """The rotation schedule of one issuer, driven by an injected clock.

    `clock` is any zero-argument callable returning seconds (e.g. `Clock().now`). Key 0 is published and
    signing from `start` (default: the clock's time at construction); key `n` signs from
    `start + n * period` until the next key takes over, unless `revoke` moved things.
    """

    def __init__(
        self,
        policy: RotationPolicy | None = None,
        *,
        clock: Callable[[], float],
        start: float | None = None,
        prefix: str = "idp",
        key_factory: Callable[[int], DemoKey] | None = None,
    ) -> None:
        self.policy = policy or RotationPolicy()
        self.clock = clock
        self.prefix = prefix
        self._key_factory = key_factory
        self.start = float(clock() if start is None else start)
        self._anchors: list[_Anchor] = [_Anchor(0, self.start, self.start)]
        self._revoked: dict[int, float] = {}

    # -- the arithmetic -------------------------------------------------------------------------

    def key(self, generation: int) -> DemoKey:
        """The demo key of a generation: derived from its name, so every run has the same keys.

        `key_factory` replaces the Ed25519 default (e.g. the committed RSA demo keys for a benchmark;
        there are only four, so an RSA rotation repeats its kids after four generations).
        """
        if self._key_factory is not None:
            return self._key_factory(generation)
        return ed25519_key(f"{self.prefix}-{generation}")

    def _anchor_for(self, generation: int) -> _Anchor:
        index = bisect.bisect_right([a.generation for a in self._anchors], generation) - 1
        return self._anchors[max(index, 0)]

    def activates_at(self, generation: int) -> float:
        anchor = self._anchor_for(generation)
        return anchor.activates_at + (generation - anchor.generation) * self.policy.period

    def record(self, generation: int) -> KeyRecord:
        """Where key `generation` stands in the schedule (including any revocation so far)."""
        if generation < 0:
            raise ValueError("generations start at 0")
        activates = self.activates_at(generation)
        deactivates = self.activates_at(generation + 1)
        anchor = self._anchor_for(generation)
        if anchor.generation == generation and anchor.published_at is not None:
            published = anchor.published_at
        else:
            published = max(self.start, activates - self.policy.publish_lead)
        revoked = self._revoked.get(generation)
        removed = deactivates + self.policy.retire_after
        if revoked is not None:
            removed = min(removed, revoked)
        return KeyRecord(generation, self.key(generation), published, activates, deactivates, removed, revoked)

    def generation_at(self, t: float) -> int:
        """The generation that signs at time `t` (-1 before the start)."""
        if t < self.start:
            return -1
        candidates = [a for a in self._anchors if a.activates_at <= t]
        anchor = max(candidates, key=lambda a: a.generation)
        generation = anchor.generation + math.floor((t - anchor.activates_at) / self.policy.period)
        later = [a.generation for a in self._anchors if a.generation > anchor.generation]
        return min(generation, later[0] - 1) if later else generation

    def records_at(self, t: float | None = None) -> list[KeyRecord]:
        """Every key that is not pending or long gone at `t`: enough for a JWKS and a status table."""
        t = self.clock() if t is None else t
        current = max(self.generation_at(t), 0)
        back = math.ceil(self.policy.retire_after / self.policy.period) + 2
        records = [self.record(g) for g in range(max(current - back, 0), current + 3)]
        return [r for r in records if r.state(t) in PUBLISHED_STATES]

    # -- what the issuer uses -------------------------------------------------------------------

    def signing_key(self, t: float | None = None) -> DemoKey:
        """The key that signs at `t` (default: now)."""
        t = self.clock() if t is None else t
        generation = self.generation_at(t)
        if generation < 0:
            raise RuntimeError("the rotation has not started yet")
        return self.key(generation)

    def published_keys(self, t: float | None = None) -> list[DemoKey]:
        """The keys in the JWKS at `t`: next, active and retiring, in generation order."""
        return [r.key for r in self.records_at(t)]

    def jwks(self, t: float | None = None) -> dict[str, list[dict[str, object]]]:
        return {"keys": [key.public_jwk() for key in self.published_keys(t)]}

    def state_of(self, kid: str, t: float | None = None) -> KeyState | None:
        """The state of the key with this kid at `t`, or None if it is not among the recent keys."""
        t = self.clock() if t is None else t
        record = self._find(kid, t)
        return record.state(t) if record else None

    def _find(self, kid: str, t: float) -> KeyRecord | None:
        current = max(self.generation_at(t), 0)
        back = math.ceil(self.policy.retire_after / self.policy.period) + 2
        for generation in range(max(current - back, 0), current + 3):
            if self.key(generation).kid == kid:
                return self.record(generation)
        return None

    def revoke(self, kid: str, at: float | None = None) -> KeyRecord:
        """Emergency revoke: the key leaves the JWKS at `at` (default now) and never signs again.

        If it was signing, the following key takes over at once (published now if it was not yet);
        if it was `next`, the one after it takes its slot. Verifiers that cached the old JWKS meet the
        new `kid` and refetch (the caching client allows one forced refetch per 30 s for this).
        """
        at = self.clock() if at is None else at
        record = self._find(kid, at)
        if record is None:
            raise KeyError(f"no recent key has kid {kid!r}")
        state = record.state(at)
        if state in ("revoked", "retired"):
            return record
        following = self.record(record.generation + 1)
        if state == "active":
            self._set_anchor(_Anchor(record.generation + 1, at, min(following.published_at, at)))
        elif state in ("next", "pending"):
            self._set_anchor(_Anchor(record.generation + 1, record.activates_at,
                                     min(following.published_at, max(at, record.published_at))))
        self._revoked[record.generation] = at
        return self.record(record.generation)

    def _set_anchor(self, anchor: _Anchor) -> None:
        self._anchors = [a for a in self._anchors if a.generation != anchor.generation]
        bisect.insort(self._anchors, anchor, key=lambda a: a.generation)

    def timeline(self, until: float, *, since: float | None = None) -> list[KeyRecord]:
        """Every key that is published at some time in [since, until]: the data for a timeline plot."""
        since = self.start if since is None else since
        last = self.generation_at(until) + 1
        return [
            r for r in (self.record(g) for g in range(0, last + 1))
            if r.published_at <= until and r.removed_at > since and r.published_at < r.removed_at
        ]
