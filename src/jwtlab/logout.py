"""Logout carried to every service: OpenID Connect Back-Channel Logout 1.0 and a session denylist.

Why: when a user logs out (or the issuer revokes a refresh-token family after a theft), the access
tokens already handed out stay valid at every service that verifies them locally, until `exp`. The
issuer cannot recall them, but it can *tell* the services: it POSTs a signed logout token (a JWT with
`typ: logout+jwt`, an `events` claim and the session id `sid`) to each registered receiver, which puts
the session on a denylist. From then on a token carrying that `sid` is refused, within milliseconds
instead of minutes. A denylist entry is needed only until the last token of that session would have
expired anyway, so the list stays as small as the number of logouts in one token lifetime.

`logout_token` makes one (the issuer's side), `verify_logout_token` checks one with every rule of the
specification's §2.6 on top of `verify_token`, `SessionDenylist` remembers logged-out sessions, and
`logout_router` is the receiving endpoint a service or the gateway mounts. Demo keys only; the tokens
are never logged.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .dpop import ReplayCache
from .keys import DemoKey
from .verify import TokenRejected, verify_token

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT", "LOGOUT_TYP", "LogoutRejected", "logout_token", "verify_logout_token",
    "SessionDenylist", "logout_router",
]

#: The member of `events` that makes a JWT a back-channel logout token (§2.4).
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Explicit typing (§2.4, RFC 8725 §3.11): a logout token is never mistaken for an ID or access token.
LOGOUT_TYP = "logout+jwt"
_MAX_FORM = 16_384


class LogoutRejected(Exception):
    """A logout token that must not be acted on; answered 400 (§2.8), never 500."""


def logout_token(
    key: DemoKey,
    *,
    issuer: str,
    audience: str,
    now: float,
    sid: str | None = None,
    sub: str | None = None,
    lifetime: int = 120,
) -> str:
    """The issuer's logout token for one session (`sid`) or one user (`sub`) and one receiver."""
    if not sid and not sub:
        raise ValueError("a logout token names a session (sid), a subject (sub) or both")
    claims: dict[str, Any] = {
        "iss": issuer, "aud": audience, "iat": int(now), "exp": int(now) + lifetime,
        "jti": secrets.token_urlsafe(12), "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    claims.update({k: v for k, v in (("sid", sid), ("sub", sub)) if v})
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": LOGOUT_TYP})


def verify_logout_token(
    token: Any,
    keys: Any,
    *,
    issuer: str,
    audience: str,
    algorithms: tuple[str, ...] = ("EdDSA",),
    now: float,
    replay: ReplayCache | None = None,
) -> dict[str, Any]:
    """§2.6: signature, `iss`, `aud`, `iat`, `exp` and `typ` as for any token; then the `events`
    member, `sid` or `sub`, no `nonce` (so an ID token can never pass as a logout token), and each
    `jti` once."""
    try:
        claims = verify_token(
            token, keys, issuer=issuer, audience=audience, algorithms=algorithms, typ=LOGOUT_TYP, now=now,
            required=("iss", "aud", "iat", "exp", "jti", "events"), max_lifetime=600,
        )
    except TokenRejected as exc:
        raise LogoutRejected(f"{exc.message} [{exc.reason}]") from None
    events = claims["events"]
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise LogoutRejected("The token's events claim has no back-channel logout event.")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
        raise LogoutRejected("A logout token must name a session (sid) or a subject (sub).")
    if "nonce" in claims:
        raise LogoutRejected("A logout token must not carry a nonce (is this an ID token?).")
    if not isinstance(claims["jti"], str) or len(claims["jti"]) > 128:
        raise LogoutRejected("The logout token's jti must be a short string.")
    if replay is not None and replay.remember(claims["jti"], claims["iat"], now) is not None:
        raise LogoutRejected("This logout token was received before.")
    return claims


@dataclass
class SessionDenylist:
    """Sessions (`sid`) and subjects (`sub`) logged out, each until no token issued before could live.

    `hold` is the longest access-token lifetime plus the verifiers' leeway: after that, every token of
    the session that existed at logout has expired on its own and the entry can go. A subject-wide
    logout refuses only tokens issued (`iat`) before it, so the user can log in again at once.
    """

    hold: float = 300 + 60
    clock: Callable[[], float] = time.time
    _sessions: dict[str, float] = field(default_factory=dict)
    _subjects: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._sessions) + len(self._subjects)

    def deny(self, *, sid: str | None = None, sub: str | None = None) -> None:
        now = self.clock()
        with self._lock:
            self._prune(now)
            if sid:
                self._sessions[sid] = now + self.hold
            if sub:
                self._subjects[sub] = (now, now + self.hold)

    def denied(self, claims: dict[str, Any]) -> bool:
        """Is this (already verified) token from a logged-out session or subject?"""
        now = self.clock()
        with self._lock:
            self._prune(now)
            sid, sub = claims.get("sid"), claims.get("sub")
            if isinstance(sid, str) and sid in self._sessions:
                return True
            if isinstance(sub, str) and sub in self._subjects:
                iat = claims.get("iat")
                return not isinstance(iat, int | float) or iat <= self._subjects[sub][0]
            return False

    def _prune(self, now: float) -> None:
        for sid in [s for s, until in self._sessions.items() if until <= now]:
            del self._sessions[sid]
        for sub in [s for s, (_, until) in self._subjects.items() if until <= now]:
            del self._subjects[sub]


def logout_router(
    denylist: SessionDenylist,
    keys: Callable[[], Any],
    *,
    issuer: str,
    audience: str,
    algorithms: tuple[str, ...] = ("EdDSA",),
    path: str = "/backchannel-logout",
    on_logout: Callable[[dict[str, Any]], None] | None = None,
) -> APIRouter:
    """The receiving endpoint (§2.5): a form POST with `logout_token`; 200 when acted on, else 400
    with an OAuth error body. `keys` is called per request so a rotating issuer's keys are current;
    `on_logout` runs after a valid logout only (e.g. to drop cached answers for the session)."""
    router = APIRouter()
    replay = ReplayCache(window=600 + 60)

    @router.post(path)
    async def backchannel_logout(request: Request) -> Response:
        body = await request.body()
        try:
            if len(body) > _MAX_FORM:
                raise LogoutRejected("The request is too large.")
            form = urllib.parse.parse_qs(body.decode("ascii"), max_num_fields=8, strict_parsing=True)
            values = form.get("logout_token", [])
            if len(values) != 1:
                raise LogoutRejected("Send exactly one logout_token.")
            try:
                key_set = keys()
            except Exception:  # the issuer's keys are not loaded: not the sender's fault, try again later
                return JSONResponse({"error": "temporarily_unavailable"}, status_code=503,
                                    headers={"Retry-After": "5", "Cache-Control": "no-store"})
            claims = verify_logout_token(values[0], key_set, issuer=issuer, audience=audience,
                                         algorithms=algorithms, now=denylist.clock(), replay=replay)
        except (LogoutRejected, UnicodeDecodeError, ValueError) as exc:
            message = str(exc) if isinstance(exc, LogoutRejected) else "The body is not a form."
            return JSONResponse({"error": "invalid_request", "error_description": message}, status_code=400,
                                headers={"Cache-Control": "no-store"})
        sid = claims.get("sid")
        if isinstance(sid, str) and sid:  # with both, the session alone ends: not the user's other devices
            denylist.deny(sid=sid)
        else:
            denylist.deny(sub=claims.get("sub"))
        if on_logout is not None:
            on_logout(claims)
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    return router
