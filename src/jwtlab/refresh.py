"""Refresh tokens with rotation and reuse detection: the store behind the demo IdP's `refresh_token` grant.

Why opaque and not a JWT: a refresh token is only ever read by the identity provider that issued it, so
it needs no signature anyone else can check — it needs to be *revocable*, and a random string looked up
in a store is revocable by deleting the entry. The store keeps only SHA-256 hashes: a dump of it (a
backup, a debug page, a log) contains nothing a thief could present. 256 random bits make a hash as good
a lookup key as the token and make guessing hopeless.

Why rotation (RFC 9700 §4.14.2): every use returns a new refresh token and retires the old one. One login
starts a *family*; every token of that family can be used exactly once. If a retired token comes back,
two parties hold the family — the real client and a thief — and the server cannot tell which one is
presenting, so it revokes the whole family: the thief's copy and the real client's current token both
stop working, and the user logs in again. A stolen refresh token is therefore good for at most one use,
and only until the real client refreshes.

Every family has an absolute lifetime (one login never lasts longer, however often it refreshes) and
each token an idle lifetime (a token unused for that long expires, so an abandoned laptop's session
ends). Time comes from an injected clock (`jwtlab.clock.Clock`), so a notebook can let a day pass at once.

Failures raise `RefreshError` with the OAuth error `invalid_grant` and a short, stable `reason` for tests
and logs (`REFRESH_REASONS`). Nothing here puts a token in a message or a log line; the family id (the
`sid` of the access tokens issued from it) is what identifies a session in logs.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .clock import Clock

__all__ = ["RefreshTokens", "RefreshGrant", "RefreshError", "REFRESH_REASONS"]

log = logging.getLogger("jwtlab.refresh")
log.addHandler(logging.NullHandler())

#: The reason codes of `RefreshError`. Like `jwtlab.reasons`, an API: never rename one.
REFRESH_REASONS: dict[str, str] = {
    "unknown": "Not a refresh token this server issued (or its family was forgotten long ago).",
    "wrong_client": "The refresh token was issued to another client.",
    "revoked": "The token's family was revoked (logout, revocation request, or detected reuse).",
    "expired": "The token was idle too long, or its family reached its absolute lifetime.",
    "reused": "The token was already used: the family is now revoked (possible theft).",
    "wrong_key": "The token is bound to a DPoP key (RFC 9449 §5): send a proof signed by that key.",
}

_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_MAX_TOKEN_LENGTH = 128  # token_urlsafe(32) is 43 characters; anything much longer is not ours


class RefreshError(Exception):
    """A refresh token was refused. `error` is the OAuth error, `reason` one of `REFRESH_REASONS`."""

    error = "invalid_grant"

    def __init__(self, reason: str, description: str | None = None) -> None:
        super().__init__(description or REFRESH_REASONS[reason])
        self.reason = reason
        self.description = description or REFRESH_REASONS[reason]


@dataclass(frozen=True)
class RefreshGrant:
    """What a refresh token stands for: who logged in, at which client, with which scope, until when.

    `issued_at` / `expires_at` belong to this one token (`expires_at` is the idle deadline, capped by the
    family's end); `family_expires_at` is when the login ends however often it refreshes.
    """

    family_id: str
    client_id: str
    subject: str
    scope: str
    audience: tuple[str, ...]
    issued_at: float
    expires_at: float
    family_expires_at: float
    jkt: str | None = None  #: the DPoP key thumbprint every use must prove (None: not bound)


@dataclass
class _Family:
    family_id: str
    client_id: str
    subject: str
    scope: str
    audience: tuple[str, ...]
    created: float
    expires_at: float
    current: str  # hash of the one token that may be used next
    current_issued: float
    used: set[str] = field(default_factory=set)  # hashes of retired tokens: presenting one is a reuse
    revoked: bool = False
    jkt: str | None = None  # DPoP key thumbprint the family is bound to (public clients, RFC 9449 §5)

    def idle_deadline(self, idle: float) -> float:
        return min(self.current_issued + idle, self.expires_at)


def _digest(token: object) -> str | None:
    """The store's key for a presented token, or None if it cannot be one of ours (never raises)."""
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_LENGTH or not set(token) <= _ALPHABET:
        return None
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class RefreshTokens:
    """A bounded, thread-safe store of opaque, rotating refresh tokens, grouped in families.

    `clock`: a `jwtlab.clock.Clock` or any zero-argument callable returning seconds (e.g. `Clock().now`).
    `absolute_lifetime`: the longest a family (one login) lives. `idle_lifetime`: how long one token stays
    usable without being rotated; keep it longer than the access-token lifetime, or a client that
    refreshes only when its access token expires is logged out.

    Bounded: at most `max_families` families, each with at most `max_rotations` retired tokens, so the
    store never holds more than `max_families * (max_rotations + 1)` hashes. When it is full, dead
    families (revoked, expired or idle) are pruned; if it is still full, the oldest family is forgotten.
    Forgetting fails closed here — every token of a forgotten family, current or retired, becomes
    `unknown` and is refused — so pressure on the store can end sessions but never lets a token through.
    A family that reaches `max_rotations` ends (`expired`): a real client needs a few hundred rotations
    in a day at most; a script rotating in a loop should not grow the store.
    """

    def __init__(
        self,
        clock: Clock | Callable[[], float],
        *,
        absolute_lifetime: float = 8 * 3600,
        idle_lifetime: float = 30 * 60,
        max_families: int = 10_000,
        max_rotations: int = 500,
    ) -> None:
        if not 0 < idle_lifetime <= absolute_lifetime:
            raise ValueError("need 0 < idle_lifetime <= absolute_lifetime")
        if max_families < 1 or max_rotations < 1:
            raise ValueError("max_families and max_rotations must be at least 1")
        self._now: Callable[[], float] = clock.now if isinstance(clock, Clock) else clock
        self.absolute_lifetime = float(absolute_lifetime)
        self.idle_lifetime = float(idle_lifetime)
        self.max_families = max_families
        self.max_rotations = max_rotations
        self._families: dict[str, _Family] = {}  # insertion order = age, for eviction
        self._index: dict[str, str] = {}  # token hash (current or retired) -> family id
        self._lock = threading.Lock()
        #: Called with (family id, subject) whenever a family is revoked — reuse, logout, limit — so the
        #: issuer can tell the services (back-channel logout). It runs under the store's lock: keep it short.
        self.on_revoke: Callable[[str, str], None] | None = None

    def __len__(self) -> int:
        """The number of families held (live or dead but not yet pruned)."""
        return len(self._families)

    # -- issuing and rotating ------------------------------------------------------------------

    def issue(
        self, client_id: str, subject: str, scope: str, *, audience: tuple[str, ...] = (), jkt: str | None = None
    ) -> str:
        """Start a family (one login) and return its first refresh token.

        `audience` is optional: the resources the login was for, so a refresh request that names none
        can get an access token for the same ones (and one that names others can be refused). `jkt` binds
        the whole family to a DPoP key: a public client's refresh token is then worthless without the
        private key, as RFC 9449 §5 requires, and a copy of it is not even worth a reuse alarm.
        """
        with self._lock:
            now = self._now()
            if len(self._families) >= self.max_families:
                self._prune(now)
            while len(self._families) >= self.max_families:
                oldest = next(iter(self._families.values()))
                self._forget(oldest)
                log.warning("refresh store full: forgot family sid=%s client=%s",
                            oldest.family_id, oldest.client_id)
            family_id = secrets.token_urlsafe(16)
            token, digest = self._new_token()
            family = _Family(family_id, client_id, subject, scope, tuple(audience), now,
                             now + self.absolute_lifetime, digest, now, jkt=jkt)
            self._families[family_id] = family
            self._index[digest] = family_id
        log.info("refresh family started sid=%s client=%s sub=%s", family_id, client_id, subject)
        return token

    def rotate(self, token: str, client_id: str, *, jkt: str | None = None) -> tuple[str, RefreshGrant]:
        """Use a refresh token once: return its successor and what it grants, or raise `RefreshError`.

        The checks run in an order that leaks nothing to the wrong party: a token of another client is
        `wrong_client` whatever state its family is in, and that client cannot revoke the family. Only
        the client the family belongs to can trigger reuse detection, and of a DPoP-bound family only a
        request whose proof key (`jkt`, its verified thumbprint) is the family's: anyone else is
        `wrong_key`, so a thief holding a copy cannot even end the login by replaying it.
        """
        with self._lock:
            now = self._now()
            family = self._family_of(token)
            if family is None:
                raise self._refuse("unknown", None, client_id)
            if family.client_id != client_id:
                raise self._refuse("wrong_client", family, client_id)
            if family.jkt is not None and jkt != family.jkt:
                raise self._refuse("wrong_key", family, client_id)
            if family.revoked:
                raise self._refuse("revoked", family, client_id)
            if now >= family.expires_at:
                raise self._refuse("expired", family, client_id)
            digest = _digest(token)
            if digest != family.current:
                self._mark_revoked(family)  # RFC 9700 §4.14.2: a retired token came back, so revoke every token
                log.warning("refresh token reused: family revoked sid=%s client=%s",
                            family.family_id, client_id)
                raise RefreshError("reused")
            if now >= family.idle_deadline(self.idle_lifetime):
                raise self._refuse("expired", family, client_id)
            if len(family.used) >= self.max_rotations:
                self._mark_revoked(family)
                raise self._refuse("expired", family, client_id, "The login reached its rotation limit.")
            new_token, new_digest = self._new_token()
            family.used.add(family.current)
            family.current, family.current_issued = new_digest, now
            self._index[new_digest] = family.family_id
            grant = self._grant(family)
        log.info("refresh token rotated sid=%s client=%s rotation=%d",
                 family.family_id, client_id, len(family.used))
        return new_token, grant

    # -- looking up and revoking --------------------------------------------------------------

    def grant_of(self, token: str) -> RefreshGrant | None:
        """What a token grants if it could be rotated right now, else None. No side effects.

        For introspection and for checking a refresh request before the token is spent: a retired token
        returns None here *without* revoking its family — only `rotate` treats a reuse as theft.
        """
        with self._lock:
            family = self._family_of(token)
            if family is None or not self._alive(family, self._now()) or _digest(token) != family.current:
                return None
            return self._grant(family)

    def family_active(self, family_id: str) -> bool:
        """Whether the login `family_id` (an access token's `sid`) is alive: known, not revoked, not idle."""
        with self._lock:
            family = self._families.get(family_id) if isinstance(family_id, str) else None
            return family is not None and self._alive(family, self._now())

    def revoke(self, token: str, client_id: str | None = None) -> bool:
        """Revoke the family of `token` (any of its tokens, current or retired): logout, RFC 7009.

        With `client_id`, only a token of that client is revoked. Returns whether a family was revoked;
        an unknown token is simply not there (RFC 7009 answers 200 for it all the same).
        """
        with self._lock:
            family = self._family_of(token)
            if family is None or (client_id is not None and family.client_id != client_id):
                return False
            self._mark_revoked(family)
        log.info("refresh family revoked sid=%s client=%s", family.family_id, family.client_id)
        return True

    def revoke_family(self, family_id: str) -> bool:
        """Revoke one login by its id (the `sid` of its access tokens): an administrator's logout."""
        with self._lock:
            family = self._families.get(family_id) if isinstance(family_id, str) else None
            if family is None:
                return False
            self._mark_revoked(family)
        log.info("refresh family revoked sid=%s client=%s", family.family_id, family.client_id)
        return True

    def owner_of(self, token: str) -> str | None:
        """The client_id a token (current or retired) was issued to, or None if unknown. No side effects."""
        with self._lock:
            family = self._family_of(token)
            return family.client_id if family else None

    def prune(self) -> int:
        """Drop every dead family (revoked, expired or idle) and its hashes; return how many went.

        Runs by itself when the store is full; call it from a timer to keep memory low in between.
        """
        with self._lock:
            return self._prune(self._now())

    # -- internals (call with the lock held) ---------------------------------------------------

    @staticmethod
    def _new_token() -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, hashlib.sha256(token.encode("ascii")).hexdigest()

    def _family_of(self, token: str) -> _Family | None:
        digest = _digest(token)
        family_id = self._index.get(digest) if digest else None
        return self._families.get(family_id) if family_id else None

    def _alive(self, family: _Family, now: float) -> bool:
        return not family.revoked and now < family.idle_deadline(self.idle_lifetime)

    def _grant(self, family: _Family) -> RefreshGrant:
        return RefreshGrant(family.family_id, family.client_id, family.subject, family.scope,
                            family.audience, family.current_issued, family.idle_deadline(self.idle_lifetime),
                            family.expires_at, family.jkt)

    def _refuse(
        self, reason: str, family: _Family | None, client_id: str, description: str | None = None
    ) -> RefreshError:
        sid = family.family_id if family else "-"
        log.info("refresh refused reason=%s sid=%s client=%s", reason, sid, client_id)
        return RefreshError(reason, description)

    def _mark_revoked(self, family: _Family) -> None:
        if not family.revoked:
            family.revoked = True
            if self.on_revoke is not None:
                self.on_revoke(family.family_id, family.subject)

    def _forget(self, family: _Family) -> None:
        for digest in (family.current, *family.used):
            self._index.pop(digest, None)
        del self._families[family.family_id]

    def _prune(self, now: float) -> int:
        dead = [family for family in self._families.values() if not self._alive(family, now)]
        for family in dead:
            self._forget(family)
        return len(dead)
