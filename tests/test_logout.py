"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the logout token, the session denylist,
the receiving endpoint and the gateway that refuses a logged-out session's tokens at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from jwtlab import keys
from jwtlab.clock import COURSE_NOW, DEMO_ISSUER, Clock
from jwtlab.dpop import ReplayCache
from jwtlab.logout import (
    BACKCHANNEL_LOGOUT_EVENT,
    LogoutRejected,
    SessionDenylist,
    logout_token,
    verify_logout_token,
)
from jwtlab.stack import DemoStack, demo_stack

IDP_KEY = keys.ed25519_key("logout-idp")  # demo key: the issuer's signing key
OTHER = keys.ed25519_key("logout-other")  # demo key: not the issuer's
RECEIVER = "gateway"


def verify(token: str, **kw: object) -> dict:
    kw.setdefault("now", COURSE_NOW)
    return verify_logout_token(token, keys.jwks(IDP_KEY), issuer=DEMO_ISSUER, audience=RECEIVER, **kw)


def make(claims: dict | None = None, *, typ: str = "logout+jwt", key: keys.DemoKey = IDP_KEY, drop: tuple = ()) -> str:
    base = {"iss": DEMO_ISSUER, "aud": RECEIVER, "iat": COURSE_NOW, "exp": COURSE_NOW + 120, "jti": "lo-1",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sid": "s-1", **(claims or {})}
    base = {k: v for k, v in base.items() if k not in drop and v is not None}
    return jwt.encode(base, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})


def test_a_logout_token_names_one_session_for_one_receiver() -> None:
    token = logout_token(IDP_KEY, issuer=DEMO_ISSUER, audience=RECEIVER, now=COURSE_NOW, sid="s-9")
    claims = verify(token)
    assert claims["sid"] == "s-9" and BACKCHANNEL_LOGOUT_EVENT in claims["events"] and "nonce" not in claims
    with pytest.raises(ValueError):
        logout_token(IDP_KEY, issuer=DEMO_ISSUER, audience=RECEIVER, now=COURSE_NOW)


@pytest.mark.parametrize(("token", "why"), [
    (make(typ="JWT"), "typ"),  # an ID token or any other JWT is not a logout token
    (make({"nonce": "n"}), "nonce"),
    (make(drop=("events",)), "missing_claim"),
    (make({"events": {"http://other.example/event": {}}}), "events"),
    (make({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}}), "events"),
    (make(drop=("sid",)), "sid"),
    (make({"aud": "orders"}), "audience"),
    (make({"iss": "https://evil.example"}), "issuer"),
    (make({"exp": COURSE_NOW - 100, "iat": COURSE_NOW - 200}), "expired"),
    (make(key=OTHER), "kid_unknown"),
    (make(drop=("jti",)), "missing_claim"),
    ("not-a-token", "malformed"),
])
def test_what_is_not_a_valid_logout_is_refused(token: str, why: str) -> None:
    with pytest.raises(LogoutRejected) as info:
        verify(token)
    assert why in str(info.value)


def test_each_logout_token_counts_once() -> None:
    replay = ReplayCache(window=660)
    token = make()
    verify(token, replay=replay)
    with pytest.raises(LogoutRejected, match="before"):
        verify(token, replay=replay)


def test_the_denylist_holds_a_session_only_as_long_as_its_tokens_can_live() -> None:
    clock = Clock()
    denylist = SessionDenylist(hold=360, clock=clock.now)
    denylist.deny(sid="s-1")
    assert denylist.denied({"sid": "s-1", "sub": "alice"}) and not denylist.denied({"sid": "s-2"})
    clock.advance(359)
    assert denylist.denied({"sid": "s-1"})
    clock.advance(2)
    assert not denylist.denied({"sid": "s-1"}) and len(denylist) == 0  # every token of s-1 has expired
    denylist.deny(sub="alice")  # "log out everywhere"
    assert denylist.denied({"sub": "alice", "iat": int(clock.now()) - 10})
    assert denylist.denied({"sub": "alice"})  # no iat: cannot prove it is newer, so refused
    clock.advance(1)
    assert not denylist.denied({"sub": "alice", "iat": int(clock.now())})  # she logged in again


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(clock=Clock(), logout_audience=RECEIVER, token_cache_size=16) as s:
        yield s


def post_logout(stack: DemoStack, body: bytes | str, content_type: str = "application/x-www-form-urlencoded"
                ) -> httpx.Response:
    return httpx.post(stack.gateway.url + "/backchannel-logout", content=body,
                      headers={"Content-Type": content_type}, timeout=10)


@pytest.mark.network
def test_the_gateway_refuses_a_logged_out_session_at_once(stack: DemoStack) -> None:
    token = stack.idp.issue("alice", "orders-api", "orders:read", extra={"sid": "sess-alice"})
    other = stack.idp.issue("alice", "orders-api", "orders:read", extra={"sid": "sess-phone"})
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(stack.gateway.url + "/orders/1", headers=headers, timeout=10).status_code == 200
    key = stack.idp.rotation.signing_key(stack.clock.now())  # type: ignore[union-attr]
    logout = logout_token(key, issuer=stack.idp.issuer, audience=RECEIVER, now=stack.clock.now(), sid="sess-alice")
    assert post_logout(stack, f"logout_token={logout}").status_code == 200
    r = httpx.get(stack.gateway.url + "/orders/1", headers=headers, timeout=10)  # cached as verified, still refused
    assert r.status_code == 401 and r.json()["reason"] == "session_ended"
    other_headers = {"Authorization": f"Bearer {other}"}
    assert httpx.get(stack.gateway.url + "/orders/1", headers=other_headers, timeout=10).status_code == 200
    again = post_logout(stack, f"logout_token={logout}")  # the same logout token a second time
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"


@pytest.mark.network
@pytest.mark.parametrize("body", [
    b"", b"logout_token=", b"logout_token=a&logout_token=b", b"x" * 20_000, b"\xff\xfe", b"logout_token=not.a.jwt",
    b"%%%", b"a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9",
])
def test_hostile_logout_requests_are_400_never_500(stack: DemoStack, body: bytes) -> None:
    r = post_logout(stack, body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    id_token = jwt.encode({"iss": stack.idp.issuer, "aud": RECEIVER, "sub": "alice", "nonce": "n"}, "k" * 32, "HS256")
    assert post_logout(stack, f"logout_token={id_token}").status_code == 400
