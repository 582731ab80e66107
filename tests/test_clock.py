"""The course clock: fixed now, relative wording, a clock that moves only when told."""

from __future__ import annotations

from jwtlab import clock


def test_now_is_fixed() -> None:
    assert clock.now() == clock.COURSE_NOW
    assert clock.iso(clock.COURSE_NOW) == "2026-01-01T00:00:00Z"


def test_claims_are_relative_to_now() -> None:
    c = clock.claims("bob", lifetime=60, issued=-30, scope="orders:read")
    assert (c["sub"], c["iat"], c["exp"], c["scope"]) == ("bob", clock.COURSE_NOW - 30, clock.COURSE_NOW + 30, "orders:read")


def test_relative_wording() -> None:
    n = clock.COURSE_NOW
    assert clock.relative(n + 720, n) == "in 12 min"
    assert clock.relative(n - 3 * 3600, n) == "3 h ago"
    assert clock.relative(n, n) == "now"
    assert clock.relative(n + 90, n) == "in 1.5 min"


def test_movable_clock() -> None:
    c = clock.Clock()
    assert c.now() == clock.COURSE_NOW
    c.advance(30)
    assert c.now() == clock.COURSE_NOW + 30
    real = clock.Clock(real=True)
    before = real.now()
    real.advance(3600)
    assert real.now() - before >= 3600
