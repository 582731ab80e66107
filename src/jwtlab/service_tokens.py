"""A service's own access token (client credentials grant), cached and refreshed single-flight.

Why a client and not one token request per call: a token request costs a round trip and, with
`private_key_jwt`, a signature; asking for a new token on every outgoing call multiplies the IdP's load
by the traffic. The token is reused until `refresh_margin` seconds (60) before it expires, so it never
reaches a service with seconds left to live. Refreshing is single-flight: when the token is due, the
first caller fetches and every concurrent caller waits for that one fetch instead of starting its own
(no thundering herd at the IdP every five minutes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from .client_auth import CLIENT_ASSERTION_TYPE, build_client_assertion
from .keys import DemoKey

__all__ = ["TokenRequestError", "ClientCredentials"]


class TokenRequestError(Exception):
    """The token endpoint refused: its RFC 6749 `error`, HTTP status and the course's `reason`, if any."""

    def __init__(self, error: str, status: int, reason: str | None = None) -> None:
        super().__init__(f"{error} ({status})" + (f" [{reason}]" if reason else ""))
        self.error, self.status, self.reason = error, status, reason


class ClientCredentials:
    """Tokens for `client_id` from `token_url`, by `client_secret_basic` (`secret`) or `private_key_jwt` (`key`).

    `assertion_audience` is the `aud` the IdP expects in a client assertion (the demo IdP:
    `IdentityProvider.token_endpoint`). `now` is the clock the token's lifetime is counted on.
    """

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        client_id: str,
        *,
        audience: str,
        scope: str | None = None,
        secret: str | None = None,
        key: DemoKey | None = None,
        assertion_audience: str | None = None,
        now: Callable[[], float],
        refresh_margin: float = 60,
    ) -> None:
        if (secret is None) == (key is None):
            raise ValueError("choose one client authentication method: secret or key")
        self._http, self.token_url, self.client_id = http, token_url, client_id
        self.audience, self.scope = audience, scope
        self._secret, self._key = secret, key
        self._assertion_audience = assertion_audience or token_url
        self._now = now
        self.refresh_margin = refresh_margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0  #: token requests actually sent

    def token(self) -> str:
        """A token with more than `refresh_margin` seconds left: the cached one, or one fresh fetch shared by all."""
        with self._lock:  # held during the fetch: that is what makes the refresh single-flight
            if self._token is not None and self._now() < self._expires_at - self.refresh_margin:
                return self._token
            token, expires_in = self._fetch()
            self._token, self._expires_at = token, self._now() + expires_in
            return token

    def _fetch(self) -> tuple[str, float]:
        data = {"grant_type": "client_credentials", "audience": self.audience}
        if self.scope is not None:
            data["scope"] = self.scope
        auth: tuple[str, str] | None = None
        if self._secret is not None:
            auth = (self.client_id, self._secret)
        else:
            assert self._key is not None
            data["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            data["client_assertion"] = build_client_assertion(self.client_id, self._assertion_audience, self._key,
                                                              now=self._now())
        resp = self._http.post(self.token_url, data=data, auth=auth)
        self.fetches += 1
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise TokenRequestError(str(body.get("error", "server_error")), resp.status_code, body.get("reason"))
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int) or expires_in <= 0:
            raise TokenRequestError("invalid_response", resp.status_code, "expires_in")
        return body["access_token"], float(expires_in)
