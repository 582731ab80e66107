"""The course clock: one fixed "now", so that stored notebook outputs never depend on the wall clock.

Tokens in the course are minted relative to `COURSE_NOW` and verified with `now=COURSE_NOW`, so an
"expires in 5 min" printed today is still true when CI re-runs the notebook next year. `Clock` is a
movable clock for code that needs time to pass on demand (key rotation, caches) without sleeping.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

#: 2026-01-01T00:00:00Z, the moment every course example happens.
COURSE_NOW = 1_767_225_600

#: The demo identity provider's issuer and the course's default audience.
DEMO_ISSUER = "https://idp.course.example"
DEMO_AUDIENCE = "orders-api"


def now() -> int:
    """The course's fixed now (seconds since the epoch)."""
    return COURSE_NOW


def iso(ts: float) -> str:
    """A timestamp as ISO 8601 UTC, e.g. 2026-01-01T00:05:00Z."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(ts: float, reference: float) -> str:
    """Human wording of `ts` relative to `reference`: 'in 5 min', '3 h ago', 'now'."""
    delta = ts - reference
    seconds = abs(delta)
    if seconds < 1:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            amount = seconds / size
            text = f"{amount:.0f} {unit}" if amount >= 10 or amount == int(amount) else f"{amount:.1f} {unit}"
            return f"in {text}" if delta > 0 else f"{text} ago"
    raise AssertionError("unreachable")


def claims(
    sub: str = "alice",
    *,
    iss: str = DEMO_ISSUER,
    aud: str | list[str] = DEMO_AUDIENCE,
    lifetime: int = 300,
    issued: int = 0,
    now: int = COURSE_NOW,
    **extra: Any,
) -> dict[str, Any]:
    """Registered claims for a token issued `issued` seconds from the course's now, valid `lifetime` seconds.

    >>> claims("alice", lifetime=60)["exp"] - claims("alice")["iat"]
    60
    """
    iat = now + issued
    return {"iss": iss, "sub": sub, "aud": aud, "iat": iat, "exp": iat + lifetime, **extra}


class Clock:
    """A clock that only moves when told to: `advance(30)` is 30 seconds later, instantly.

    Pass `clock.now` wherever a component takes a time source. `Clock(real=True)` follows the wall
    clock instead, for the real services in `jwtlab up`.
    """

    def __init__(self, start: float = COURSE_NOW, *, real: bool = False) -> None:
        self._offset = start - time.time() if not real else 0.0
        self._frozen = not real
        self._value = float(start)

    def now(self) -> float:
        return self._value if self._frozen else time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (the frozen value, or the offset of a real clock)."""
        if self._frozen:
            self._value += seconds
        else:
            self._offset += seconds
        return self.now()

    def set(self, value: float) -> None:
        if self._frozen:
            self._value = float(value)
        else:
            self._offset = value - time.time()
