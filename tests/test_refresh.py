"""`jwtlab.refresh.RefreshTokens`: rotation, reuse detection, revocation, expiry and a bounded store.

The property at the end is the one the whole design exists for (RFC 9700 §4.14.2): once a retired token
has been presented again, nothing of that family ever rotates again — whoever holds which copy.
Runs are derandomised, so CI sees the same examples every time.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtlab.clock import COURSE_NOW, Clock
from jwtlab.refresh import REFRESH_REASONS, RefreshError, RefreshTokens

DETERMINISTIC = settings(
    derandomize=True, database=None, deadline=None, max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
SCOPE = "orders:read orders:write"


def store(clock: Clock | None = None, **options: int) -> tuple[RefreshTokens, Clock]:
    clock = clock or Clock()
    tokens = RefreshTokens(clock, absolute_lifetime=3600, idle_lifetime=600, **options)
    return tokens, clock


def refused(tokens: RefreshTokens, token: object, client_id: str = "web-app") -> str:
    """Assert that rotating `token` fails the one allowed way; return the reason."""
    with pytest.raises(RefreshError) as info:
        tokens.rotate(token, client_id)  # type: ignore[arg-type]
    assert info.value.error == "invalid_grant" and info.value.reason in REFRESH_REASONS
    return info.value.reason


def test_rotation_returns_a_fresh_token_and_retires_the_old_one() -> None:
    tokens, clock = store()
    first = tokens.issue("web-app", "alice", SCOPE, audience=("orders-api",))
    assert len(first) == 43 and first.replace("-", "").replace("_", "").isalnum()
    clock.advance(300)
    second, grant = tokens.rotate(first, "web-app")
    assert second != first
    described = (grant.client_id, grant.subject, grant.scope, grant.audience)
    assert described == ("web-app", "alice", SCOPE, ("orders-api",))
    assert grant.issued_at == COURSE_NOW + 300 and grant.expires_at == COURSE_NOW + 900  # idle deadline
    assert grant.family_expires_at == COURSE_NOW + 3600
    third, again = tokens.rotate(second, "web-app")
    assert again.family_id == grant.family_id and tokens.family_active(grant.family_id)
    assert tokens.grant_of(third) == again and tokens.grant_of(second) is None


def test_a_replayed_token_revokes_the_whole_family() -> None:
    tokens, _ = store()
    stolen = tokens.issue("web-app", "alice", SCOPE)
    current, grant = tokens.rotate(stolen, "web-app")  # the real client refreshes first
    assert refused(tokens, stolen) == "reused"  # the thief replays the copy it took
    assert refused(tokens, current) == "revoked"  # ... and the real client is logged out too
    assert not tokens.family_active(grant.family_id)


def test_a_thief_who_refreshes_first_is_cut_off_when_the_real_client_comes_back() -> None:
    tokens, _ = store()
    stolen = tokens.issue("web-app", "alice", SCOPE)
    thiefs, _ = tokens.rotate(stolen, "web-app")  # the server cannot tell the thief from the client
    assert refused(tokens, stolen) == "reused"  # the real client presents its (now retired) token
    assert refused(tokens, thiefs) == "revoked"


def test_a_token_of_another_client_fails_and_cannot_revoke_the_family() -> None:
    tokens, _ = store()
    first = tokens.issue("web-app", "alice", SCOPE)
    second, grant = tokens.rotate(first, "web-app")
    assert refused(tokens, second, "course-cli") == "wrong_client"
    assert refused(tokens, first, "course-cli") == "wrong_client"  # not "reused": no reuse detection for it
    assert tokens.revoke(second, client_id="course-cli") is False
    assert tokens.family_active(grant.family_id) and tokens.rotate(second, "web-app")


def test_a_dpop_bound_family_rotates_only_with_its_key() -> None:
    """RFC 9449 §5: without the bound key's proof (jkt) a token is `wrong_key` — before reuse detection,
    so a thief replaying a spent copy without the key cannot end the real client's login."""
    tokens, _ = store()
    first = tokens.issue("course-cli", "alice", SCOPE, jkt="alice-key-thumbprint")
    with pytest.raises(RefreshError) as info:
        tokens.rotate(first, "course-cli")
    assert info.value.reason == "wrong_key"
    with pytest.raises(RefreshError) as info:
        tokens.rotate(first, "course-cli", jkt="thief-key-thumbprint")
    assert info.value.reason == "wrong_key"
    second, grant = tokens.rotate(first, "course-cli", jkt="alice-key-thumbprint")
    assert grant.jkt == "alice-key-thumbprint"
    with pytest.raises(RefreshError) as info:  # the spent first token, without the key: no alarm, no revocation
        tokens.rotate(first, "course-cli", jkt="thief-key-thumbprint")
    assert info.value.reason == "wrong_key" and tokens.family_active(grant.family_id)
    tokens.rotate(second, "course-cli", jkt="alice-key-thumbprint")
    unbound = tokens.issue("course-cli", "alice", SCOPE)
    tokens.rotate(unbound, "course-cli", jkt="any-key")  # an unbound family ignores the proof

@pytest.mark.parametrize("token", ["", "x" * 43, "not a token", "é" * 43, "A" * 100_000, None, 42, b"bytes"])
def test_anything_else_is_unknown(token: object) -> None:
    tokens, _ = store()
    tokens.issue("web-app", "alice", SCOPE)
    assert refused(tokens, token) == "unknown"
    assert tokens.grant_of(token) is None and tokens.revoke(token) is False  # type: ignore[arg-type]
    assert tokens.owner_of(token) is None  # type: ignore[arg-type]


def test_idle_and_absolute_expiry() -> None:
    tokens, clock = store()
    idle = tokens.issue("web-app", "alice", SCOPE)
    clock.advance(600)  # the idle lifetime, to the second
    assert refused(tokens, idle) == "expired"
    busy = tokens.issue("web-app", "alice", SCOPE)
    started = clock.now()
    for _ in range(6):  # refreshing every 9 minutes keeps it alive ... until the family's end
        clock.advance(540)
        busy, grant = tokens.rotate(busy, "web-app")
    assert grant.expires_at == started + 3600 == grant.family_expires_at  # the idle deadline is capped
    clock.advance(540)
    assert refused(tokens, busy) == "expired" and not tokens.family_active(grant.family_id)


def test_revoke_any_token_of_the_family_or_the_family_by_id() -> None:
    tokens, _ = store()
    first = tokens.issue("web-app", "alice", SCOPE)
    second, grant = tokens.rotate(first, "web-app")
    assert tokens.owner_of(first) == tokens.owner_of(second) == "web-app"
    assert tokens.revoke(first, client_id="web-app") is True  # a retired token still names its family
    assert refused(tokens, second) == "revoked" and tokens.grant_of(second) is None
    other = tokens.issue("web-app", "bob", "orders:read")
    sid = tokens.grant_of(other).family_id  # type: ignore[union-attr]
    assert tokens.revoke_family(sid) is True and tokens.revoke_family("no-such-family") is False
    assert refused(tokens, other) == "revoked" and not tokens.family_active(sid)
    assert not tokens.family_active(grant.family_id)
    assert not tokens.family_active(None)  # type: ignore[arg-type]


def test_grant_of_never_spends_or_revokes() -> None:
    tokens, _ = store()
    first = tokens.issue("web-app", "alice", SCOPE)
    assert tokens.grant_of(first) == tokens.grant_of(first)
    second, grant = tokens.rotate(first, "web-app")
    assert tokens.grant_of(first) is None  # retired: not usable, but looking is not a reuse
    assert tokens.family_active(grant.family_id) and tokens.rotate(second, "web-app")


def test_a_family_ends_after_max_rotations() -> None:
    tokens, _ = store(max_rotations=3)
    token = tokens.issue("web-app", "alice", SCOPE)
    for _ in range(3):
        token, grant = tokens.rotate(token, "web-app")
    assert refused(tokens, token) == "expired" and not tokens.family_active(grant.family_id)


def test_the_store_is_bounded_prunes_dead_families_and_fails_closed_when_full() -> None:
    tokens, clock = store(max_families=3)
    dead = tokens.issue("web-app", "alice", SCOPE)
    tokens.revoke(dead)
    idle = tokens.issue("web-app", "alice", SCOPE)
    clock.advance(601)
    live = tokens.issue("web-app", "alice", SCOPE)
    assert len(tokens) == 3
    newer = tokens.issue("web-app", "bob", "orders:read")  # full: the revoked and the idle family are pruned
    assert len(tokens) == 2 and refused(tokens, dead) == "unknown" and refused(tokens, idle) == "unknown"
    tokens.issue("web-app", "bob", "orders:read")
    tokens.issue("web-app", "bob", "orders:read")  # full of live families: the oldest is forgotten
    assert len(tokens) == 3 and refused(tokens, live) == "unknown"  # forgotten means refused, never accepted
    assert tokens.rotate(newer, "web-app")
    clock.advance(3600)
    assert tokens.prune() == 3 and len(tokens) == 0
    assert not tokens._index  # no hash of a pruned family is kept


def test_the_store_and_the_logs_never_hold_a_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jwtlab.refresh")
    tokens, _ = store()
    first = tokens.issue("web-app", "alice", SCOPE)
    second, _ = tokens.rotate(first, "web-app")
    with pytest.raises(RefreshError) as info:
        tokens.rotate(first, "web-app")
    seen = [first, second]
    dump = repr(vars(tokens)) + repr(tokens._families)
    dump += "".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    dump += str(info.value) + repr(info.value.args)
    assert caplog.records and not any(token in dump for token in seen)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        RefreshTokens(Clock(), absolute_lifetime=60, idle_lifetime=120)
    with pytest.raises(ValueError):
        RefreshTokens(Clock(), max_families=0)
    assert RefreshTokens(Clock().now).issue("web-app", "alice", SCOPE)  # a plain callable is a clock too


@DETERMINISTIC
@given(
    rotations=st.integers(min_value=1, max_value=12),
    pauses=st.lists(st.integers(min_value=0, max_value=599), min_size=12, max_size=12),
    replayed=st.integers(min_value=0),
    attempts=st.lists(st.integers(min_value=0), min_size=1, max_size=8),
)
def test_after_one_replay_no_rotation_of_the_family_ever_succeeds(
    rotations: int, pauses: list[int], replayed: int, attempts: list[int]
) -> None:
    tokens, clock = store(Clock(), max_rotations=100)
    seen = [tokens.issue("web-app", "alice", SCOPE)]
    for pause in pauses[:rotations]:
        clock.advance(pause % 50)  # stay inside the family's hour
        new, grant = tokens.rotate(seen[-1], "web-app")
        seen.append(new)
    old = seen[replayed % (len(seen) - 1)]  # any token but the current one
    assert refused(tokens, old) == "reused"
    for pick in attempts:  # thief or real client, any copy, current or retired, again and again
        assert refused(tokens, seen[pick % len(seen)]) == "revoked"
    assert not tokens.family_active(grant.family_id)
