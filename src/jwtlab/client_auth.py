"""Client authentication with `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9).

Why: with `client_secret_basic` the token endpoint stores a secret that, once copied from its database
or a log, lets anyone act as the client. With `private_key_jwt` the client proves possession of a
private key by signing a short-lived assertion; the server stores only the public key.

The assertion is itself a bearer token, so the verifier closes the ways to replay it:
- `aud` must be exactly this token endpoint (an assertion for another server is useless here);
- `exp` at most five minutes ahead (a long-lived assertion is a password by another name);
- `jti` is remembered until the assertion expires (the same assertion is accepted once).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from .keys import DemoKey
from .verify import KeySet, TokenRejected, verify_token

__all__ = [
    "CLIENT_ASSERTION_TYPE", "MAX_ASSERTION_LIFETIME", "ClientAuthError", "ReplayCache",
    "build_client_assertion", "ClientAssertionVerifier",
]

#: The `client_assertion_type` form value for a JWT client assertion (RFC 7523 §2.2).
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: How far in the future an assertion's `exp` may be (seconds).
MAX_ASSERTION_LIFETIME = 300


class ClientAuthError(Exception):
    """Client authentication failed; the token endpoint answers 401 `invalid_client`.

    `reason` is a short code for logs and tests (`unknown_client`, `bad_assertion`, `audience`,
    `expired`, `bad_signature`, `lifetime_too_long`, `replayed`, ...); the assertion is never stored.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.reason}]"


def build_client_assertion(
    client_id: str,
    token_endpoint: str,
    key: DemoKey,
    *,
    now: float,
    lifetime: int = 60,
    jti: str | None = None,
) -> str:
    """A signed client assertion: iss = sub = client_id, aud = the token endpoint, a fresh jti, short exp."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": int(now),
        "exp": int(now) + lifetime,
        "jti": jti or secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers=key.headers())


class ReplayCache:
    """Remembers (client_id, jti) until the assertion's `exp` (plus leeway); thread-safe, bounded.

    When full of unexpired entries it refuses new assertions rather than forgetting old ones: forgetting
    would re-open the replay window, refusing only slows an attacker who floods it (fail closed).
    """

    def __init__(self, now: Callable[[], float], *, max_entries: int = 10_000, leeway: float = 60) -> None:
        self._now = now
        self._max = max_entries
        self._leeway = leeway
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, client_id: str, jti: str, exp: float) -> bool:
        """Record the pair; False if it was already seen (a replay) or the cache is full."""
        with self._lock:
            now = self._now()
            if len(self._seen) >= self._max:
                self._seen = {k: until for k, until in self._seen.items() if until > now}
            key = (client_id, jti)
            if key in self._seen and self._seen[key] > now:
                return False
            if len(self._seen) >= self._max:
                return False
            self._seen[key] = exp + self._leeway
            return True


class ClientAssertionVerifier:
    """Verifies `private_key_jwt` assertions against each registered client's public key.

    `client_keys` maps client_id → public JWK (or anything `KeySet` accepts). `now` is the token
    endpoint's clock (the course passes a `jwtlab.clock.Clock().now`).
    """

    def __init__(
        self,
        client_keys: Mapping[str, Any],
        token_endpoint: str,
        *,
        now: Callable[[], float],
        algorithms: tuple[str, ...] = ("EdDSA", "ES256"),
        leeway: float = 30,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        self._keys = {client_id: KeySet.of(k) for client_id, k in client_keys.items()}
        self.token_endpoint = token_endpoint
        self._now = now
        self._algorithms = algorithms
        self._leeway = leeway
        self.replay_cache = replay_cache or ReplayCache(now, leeway=leeway)

    def knows(self, client_id: str) -> bool:
        return client_id in self._keys

    def verify(self, assertion: str, client_id: str | None = None) -> str:
        """The authenticated client_id, or ClientAuthError. `client_id`, if the request sent one, must match."""
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except Exception:  # any parse failure is a failed authentication, never a 500
            raise ClientAuthError("bad_assertion", "The client assertion is not a JWT.") from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._keys:
            raise ClientAuthError("unknown_client", "The client assertion names no registered client.")
        if client_id is not None and client_id != issuer:
            raise ClientAuthError("bad_assertion", "client_id and the assertion's issuer differ.")
        now = self._now()
        try:
            claims = verify_token(
                assertion, self._keys[issuer], issuer=issuer, audience=self.token_endpoint,
                algorithms=self._algorithms, leeway=self._leeway, required=("iss", "sub", "aud", "exp", "jti"), now=now,
            )
        except TokenRejected as exc:
            raise ClientAuthError(exc.reason, f"The client assertion is invalid: {exc.message}") from None
        if claims["sub"] != issuer:
            raise ClientAuthError("bad_assertion", "A client assertion's sub must equal its iss (the client_id).")
        if claims["aud"] not in (self.token_endpoint, [self.token_endpoint]):
            raise ClientAuthError("audience", "A client assertion must name this token endpoint as its only audience.")
        if claims["exp"] > now + MAX_ASSERTION_LIFETIME:
            raise ClientAuthError("lifetime_too_long", f"The assertion expires more than {MAX_ASSERTION_LIFETIME} s ahead.")
        if not self.replay_cache.remember(issuer, claims["jti"], claims["exp"]):
            raise ClientAuthError("replayed", "This client assertion (jti) was already used.")
        return issuer
