"""Lab 3 — the arithmetic of a key rotation: when a new key must be published, and when an old one may go.

A verifier caches the issuer's JWKS for up to `max_cache_ttl`. So a key must be in the JWKS at least that
long (plus a margin) *before* it signs, or a verifier with a fresh cache meets a kid it does not know.
And a token stays valid until `exp` plus the verifier's clock skew, and the verifier may hold an old
JWKS for one more cache TTL — so a key must stay published that long *after* it stops signing.

The course's full schedule, with states and emergency revocation, is `jwtlab.rotation.KeyRotation`;
the checks compare your numbers with it and then run real rotations with your schedule.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """The numbers a schedule follows from, in seconds. Key n signs from start + n × period."""

    period: float = 3600  #: how long each key signs
    max_cache_ttl: float = 300  #: the longest any verifier caches the JWKS
    max_token_lifetime: float = 300  #: the longest exp − iat the issuer mints
    clock_skew: float = 60  #: the verifiers' leeway
    margin: float = 60  #: extra safety on top of the cache TTL


@dataclass(frozen=True)
class KeyTimes:
    """When key `generation` enters the JWKS, signs, stops signing and leaves the JWKS."""

    generation: int
    published: float
    activates: float
    deactivates: float
    removed: float


def publish_lead(policy: Policy) -> float:
    """How long before it signs a key must be published: one full cache TTL plus the margin."""
    # BEGIN SOLUTION schedule
    return policy.max_cache_ttl + policy.margin
    # END SOLUTION


def retire_after(policy: Policy) -> float:
    """How long a key stays published after it stops signing: its last token may still be checked."""
    # BEGIN SOLUTION schedule
    return policy.max_token_lifetime + policy.clock_skew + policy.max_cache_ttl
    # END SOLUTION


def key_times(generation: int, policy: Policy, start: float) -> KeyTimes:
    """The schedule of one key. Key 0 is published at `start` (there is nothing before it to overlap)."""
    # BEGIN SOLUTION schedule
    activates = start + generation * policy.period
    deactivates = activates + policy.period
    published = max(start, activates - publish_lead(policy))
    return KeyTimes(generation, published, activates, deactivates, deactivates + retire_after(policy))
    # END SOLUTION
