"""The course's API gateway: validate the access token once at the edge, forward a trustworthy identity.

Why each rule (the course bar, `gateway-feature-bar.md`):

* Every identity header a client sends (`x-user*`, `x-auth-*`, `x-forwarded-user*`, `x-jwt-*`, ...) is
  *deleted* on every route before anything else, then the gateway *sets* its own. Envoy appends, so a
  client-sent header survives next to the real one; a service that reads the first one is fooled. Names
  are compared after `_` → `-` (`x_user_sub` is `x-user-sub` to many frameworks), and the forwarding and
  client-certificate headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `X-Forwarded-Client-Cert`, ...)
  go too: the gateway sets `X-Forwarded-For`/`-Proto` itself from the connection it really received.
* A certificate-bound token (`cnf`, RFC 8705) is accepted only with the certificate it is bound to; over
  plain HTTP it is refused, never downgraded to an unbound internal token.
* A DPoP-bound token (`cnf.jkt`, RFC 9449) is accepted only as `Authorization: DPoP` with one fresh proof
  by its key for this very method and URL (`jwtlab.dpop`); as a bearer token it is refused. The URL the
  proof must name is `public_url` + path, or the address the gateway was reached on — never the `Host`
  header, which would let a proof made for another server pass here. `require_sender_constrained`
  refuses unbound tokens altogether; `dpop_nonce_ttl` makes proofs carry a nonce the gateway handed out.
* Phantom tokens (`phantom=PhantomSettings(...)`): an opaque token from the client is introspected at the
  issuer (RFC 7662, `jwtlab.phantom`), the answer cached for at most the token's remaining life and a
  bound, and the services get the same internal JWT as for any other token. Introspection down: 503.
* Logout (`logout_audience=...`): the gateway receives OpenID Connect back-channel logout tokens at
  `/backchannel-logout` (`jwtlab.logout`) and refuses every token of a logged-out session (`sid`) at
  once, instead of letting it live until `exp`.
* An unmatched route is denied (404), never passed through unverified.
* Exactly one token per request: a token in the header *and* the query or a cookie is 400
  `invalid_request` — two tokens invite one component to check one and another to use the other.
* The size cap applies before any decoding; verification is `verify_token` with the issuer's keys from
  the caching `JwksClient` (exact `iss`, `aud` per route, algorithm allowlist, `typ: at+jwt`, 60 s leeway).
* Errors follow RFC 6750 and carry a stable `reason` in a JSON body; no token is ever logged.
* Forwarding per route: claim headers, or (default) a short-lived internal JWT the gateway signs with
  its own key (`iss` = the gateway, `aud` = the upstream service, ≤ 5 min, never past the original `exp`),
  published on the gateway's own `/.well-known/jwks.json`. The original token does not travel further.
* Throughput: one aiohttp session with keep-alive (and no cookie jar) created in the lifespan (httpx costs 4-7 ms of CPU per
  forwarded request here), a raw ASGI proxy path, and an optional LRU of verified tokens keyed by the
  token's SHA-256, never used past `exp` nor after the signing key left the issuer's JWKS.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import secrets
import ssl
import time
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import aiohttp
import jwt
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from yarl import URL

from . import b64
from .dpop import DEFAULT_ALGORITHMS as DPOP_ALGORITHMS
from .dpop import DpopRejected, DpopVerifier
from .jwks import JwksClient, JwksUnavailable, verify_with
from .keys import DemoKey, ed25519_key
from .logout import SessionDenylist, logout_router
from .phantom import IntrospectionUnavailable, Introspector, PhantomSettings, looks_opaque
from .verify import TokenRejected

__all__ = ["Route", "Issuer", "GatewayConfig", "Gateway", "create_gateway", "GatewayApp", "GATEWAY_ISSUER", "CLAIM_HEADERS",
           "PROXY_HEADER_PREFIXES"]

log = logging.getLogger("jwtlab.gateway")
log.addHandler(logging.NullHandler())  # a library logs only where the application configures it

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: The gateway's own issuer name for the internal tokens it signs.
GATEWAY_ISSUER = "https://gateway.course.example"

#: Claim → header, for routes that forward identity as headers (every name starts with a stripped prefix).
CLAIM_HEADERS = {"sub": "x-user-sub", "scope": "x-user-scope", "client_id": "x-user-client-id", "iss": "x-user-iss"}

#: Hop-by-hop headers (RFC 9110 §7.6.1) and headers the gateway recomputes: never forwarded either way.
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"host", b"content-length",
})

#: Upstream response headers the gateway does not copy: hop-by-hop, and the ones its own server sets.
_NOT_RETURNED = _HOP_BY_HOP | {b"date", b"server"}

_OWN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/backchannel-logout"})

#: Forwarding and client-certificate headers a client must never set: services behind proxies read them as
#: the client's address, scheme, host or TLS identity. Compared as prefixes of the normalised name.
PROXY_HEADER_PREFIXES = (
    "x-forwarded-", "forwarded", "x-real-ip", "x-client-ip", "true-client-ip", "x-client-cert", "x-client-verify",
    "x-ssl-client-", "ssl-client-", "x-remote-user", "remote-user", "x-original-url", "x-rewrite-url",
)


@dataclass(frozen=True)
class Route:
    """One upstream behind a path prefix.

    `audience`: the `aud` a token must contain to use this route. `service`: the upstream's name, the
    `aud` of the internal token (defaults to `audience`). `scopes`: all required. `forward`:
    "internal_jwt" (default), "claims" (headers; only for services reachable solely through the gateway)
    or "token" (pass the original token through — only when asked for). `auth="none"` makes a public
    route (no token needed, no identity forwarded).
    """

    prefix: str
    upstream: str
    audience: str | None = None
    service: str | None = None
    scopes: tuple[str, ...] = ()
    forward: Literal["internal_jwt", "claims", "token"] = "internal_jwt"
    auth: Literal["jwt", "none"] = "jwt"
    strip_prefix: bool = False
    issuer: str | None = None  #: None: the gateway's primary issuer

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or (self.prefix != "/" and self.prefix.endswith("/")):
            raise ValueError(f"route prefix {self.prefix!r} must start with '/' and not end with one")
        if self.auth == "jwt" and not self.audience:
            raise ValueError(f"route {self.prefix!r} verifies tokens, so it needs an audience")
        if self.forward not in ("internal_jwt", "claims", "token"):
            raise ValueError(f"unknown forwarding mode {self.forward!r}")

    def matches(self, path: str) -> bool:
        return self.prefix == "/" or path == self.prefix or path.startswith(self.prefix + "/")


@dataclass(frozen=True)
class Issuer:
    """A further trusted issuer: its JWKS and its own algorithm allowlist (one key family per issuer)."""

    issuer: str
    jwks_url: str
    algorithms: tuple[str, ...] = ("EdDSA",)


@dataclass
class GatewayConfig:
    """Everything the gateway needs; defaults are the course's recommended settings."""

    issuer: str
    jwks_url: str
    routes: list[Route] = field(default_factory=list)
    algorithms: tuple[str, ...] = ("EdDSA",)
    typ: str | None = "at+jwt"
    leeway: float = 60
    max_lifetime: float | None = 3600
    max_token_size: int = 8192
    max_body: int = 1 << 20
    identity_header_prefixes: tuple[str, ...] = ("x-user", "x-auth-", "x-forwarded-user", "x-jwt-", "x-gateway-")
    proxy_header_prefixes: tuple[str, ...] = PROXY_HEADER_PREFIXES
    realm: str = "jwt-course"
    hide_descriptions: bool = False
    token_cache_size: int = 0
    internal_issuer: str = GATEWAY_ISSUER
    internal_key: DemoKey = field(default_factory=lambda: ed25519_key("gateway"))
    internal_ttl: int = 300
    accept_query_token: bool = False
    accept_cookie_token: bool = False
    upstream_timeout: float = 10.0
    clock: Callable[[], float] = time.time
    jwks_options: dict[str, Any] = field(default_factory=dict)
    more_issuers: tuple[Issuer, ...] = ()
    #: The scheme://host[:port] clients use to reach the gateway (for DPoP's `htu`); None: the socket's.
    public_url: str | None = None
    require_sender_constrained: bool = False
    dpop_max_age: float = 60
    dpop_replay_cache_size: int = 100_000
    #: Seconds a DPoP nonce stays current (the previous one is still accepted); None: no nonces.
    dpop_nonce_ttl: float | None = None
    #: Introspect opaque tokens (the phantom-token pattern); None: every token must be a JWT.
    phantom: PhantomSettings | None = None
    #: The gateway's client id at the issuer, the `aud` of the logout tokens it accepts; None: no receiver.
    logout_audience: str | None = None

    def __post_init__(self) -> None:
        prefixes = tuple(p.lower() for p in self.identity_header_prefixes)
        unstripped = [h for h in CLAIM_HEADERS.values() if not h.startswith(prefixes)]
        if unstripped:
            # A header the gateway emits but does not strip could be forged by a client.
            raise ValueError(f"claim headers {unstripped} are not covered by identity_header_prefixes")
        self.identity_header_prefixes = prefixes
        self.proxy_header_prefixes = tuple(p.lower().replace("_", "-") for p in self.proxy_header_prefixes)


@dataclass
class GatewayCounters:
    allowed: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    cache_hits: int = 0
    stripped_headers: int = 0


class _ClientGone(Exception):
    """The client disconnected before sending its whole body: nothing to forward, nobody to answer."""


class _Deny(Exception):
    def __init__(self, status: int, reason: str, description: str, *, error: str | None = None,
                 headers: Iterable[tuple[str, str]] = (), log_fields: dict[str, Any] | None = None,
                 scheme: str = "Bearer") -> None:
        super().__init__(description)
        self.status, self.reason, self.description, self.error = status, reason, description, error
        self.headers = list(headers)
        self.log_fields = log_fields or {}
        self.scheme = scheme  #: the challenge's scheme: "DPoP" for a refused proof or DPoP-bound token


def _quoted(text: str) -> str:
    """A value safe inside an RFC 9110 quoted-string: printable ASCII, no quote or backslash."""
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')[:200]


def _loggable(value: Any) -> str:
    """One log field on one line: a `kid` or a decoded path (`%0a`) must not be able to forge a log line."""
    text = value if isinstance(value, str) else repr(value)
    if text.isprintable() and " " not in text:
        return text[:200]
    return json.dumps(text[:200])  # quoted, with control characters escaped


def _header_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if text.isascii() and text.isprintable():
        return text
    return urllib.parse.quote(text, safe=" !#$&'()*+,/:;=?@[]~")


@functools.lru_cache(maxsize=256)
def _base_url(upstream: str) -> URL:
    """A route's upstream, parsed once: URLs are immutable, and parsing one costs more than the proxying logic."""
    return URL(upstream)


@functools.lru_cache(maxsize=256)
def _raw_prefix(prefix: str) -> str:
    """A route prefix as it appears literally in a raw path; routes are fixed, so quoted once, not per request."""
    return urllib.parse.quote(prefix, safe="/-._~!$&'()*+,;=:@")


def granted_scopes(claims: dict[str, Any]) -> list[str]:
    """The scopes a token grants: `scope` (RFC 9068, space-separated) or else `scp` (a list, or a string).

    Anything else grants nothing. `set("orders:write")` would be a set of *characters*, granting a route
    scope "r"; a number would raise and become a 500.
    """
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if name == "scp" and isinstance(value, list) and all(isinstance(v, str) and v and " " not in v for v in value):
            return list(value)
    return []


class Gateway:
    """The gateway's state and its raw-ASGI proxy path (`create_gateway` wraps it in a FastAPI app)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        issuers = [Issuer(config.issuer, config.jwks_url, config.algorithms), *config.more_issuers]
        #: issuer → (its settings, its own caching JWKS client): one client per issuer.
        self.issuers: dict[str, tuple[Issuer, JwksClient]] = {
            i.issuer: (i, JwksClient(i.jwks_url, clock=config.clock, **{"algorithms": i.algorithms, **config.jwks_options}))
            for i in issuers
        }
        self.jwks = self.issuers[config.issuer][1]
        self.routes: list[Route] = []
        self.set_routes(config.routes)
        self.counters = GatewayCounters()
        self.session: aiohttp.ClientSession | None = None
        self._cache: OrderedDict[tuple[bytes, str], tuple[dict[str, Any], float, str | None]] = OrderedDict()
        self._internal_cache: OrderedDict[tuple[bytes, str], tuple[str, float]] = OrderedDict()
        self._prefixes = tuple(p.replace("_", "-").encode("latin-1")
                               for p in (*config.identity_header_prefixes, *config.proxy_header_prefixes))
        key = config.internal_key
        self._internal_headers = {"kid": key.kid, "typ": "at+jwt"}
        # The header never changes: encode it once. EdDSA signs directly (no PyJWT round trip, ~3x less CPU
        # per internal token); other algorithms go through jwt.encode.
        header = json.dumps({"alg": key.alg, **self._internal_headers}, separators=(",", ":")).encode()
        self._internal_header_b64 = b64.encode(header) + "."
        self._nonce_secret = secrets.token_bytes(32)
        self.phantom = Introspector(config.phantom, config.clock) if config.phantom else None
        longest = (config.max_lifetime or 3600) + config.leeway  # no token of a session outlives this
        self.logged_out = SessionDenylist(hold=longest, clock=config.clock) if config.logout_audience else None
        self.dpop = DpopVerifier(
            max_age=config.dpop_max_age, max_entries=config.dpop_replay_cache_size, clock=config.clock,
            nonces=self.dpop_nonces if config.dpop_nonce_ttl else None,
        )

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Replace the routing table (longest prefix wins). Used to register services started later."""
        routes = list(routes)
        for route in routes:
            if route.issuer is not None and route.issuer not in self.issuers:
                raise ValueError(f"route {route.prefix!r} names the unknown issuer {route.issuer!r}")
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    @property
    def ready(self) -> bool:
        """Ready only when every issuer's keys are loaded (and not stale beyond the window)."""
        return all(client.ready for _, client in self.issuers.values())

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512, keepalive_timeout=60, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=self.config.upstream_timeout),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            # One session serves every client: a cookie jar would replay a cookie an upstream set for one
            # client on the next client's requests. Cookies pass through as the client's own headers only.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        await asyncio.gather(*(client.start() for _, client in self.issuers.values()))

    async def close(self) -> None:
        for _, client in self.issuers.values():
            await client.close()
        if self.session is not None:
            await self.session.close()
            self.session = None

    def own_jwks(self) -> dict[str, Any]:
        return {"keys": [self.config.internal_key.public_jwk()]}

    def metrics(self) -> dict[str, Any]:
        c = self.counters
        return {
            "allowed": c.allowed, "denied": dict(sorted(c.denied.items())), "cache_hits": c.cache_hits,
            "stripped_headers": c.stripped_headers, "jwks": self.jwks.counters.as_dict(), "ready": self.ready,
            "issuers": {name: client.counters.as_dict() for name, (_, client) in self.issuers.items()},
            **({"introspection": {"calls": self.phantom.calls, "cache_hits": self.phantom.cache_hits}}
               if self.phantom else {}),
        }

    # -- step 0: identity headers ----------------------------------------------------------------

    def strip_identity_headers(self, scope: Scope) -> None:
        """Delete every client-sent identity, forwarding and client-certificate header.

        On every path. Names are normalised first (lower case, `_` → `-`): many servers
        and frameworks (CGI/WSGI, some proxies) read `x_user_sub` as `x-user-sub`, so an
        underscore spelling must not slip past the test.
        """
        headers = scope.get("headers") or []
        prefixes = self._prefixes
        kept = [
            (k, v)
            for k, v in headers
            if not k.lower().replace(b"_", b"-").startswith(prefixes)
        ]

        if len(kept) != len(headers):
            self.counters.stripped_headers += len(headers) - len(kept)
            scope["headers"] = kept

    # -- the proxy path ---------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            route = self._route(scope)
            upstream_path = self._upstream_path(scope, route)
            token, source = self._token(scope) if route.auth == "jwt" else (None, None)
            claims: dict[str, Any] | None = None
            digest = b""
            if route.auth == "jwt":
                assert token is not None
                # The digest only keys the two caches: without them it would be computed for nothing.
                if self.config.token_cache_size:
                    digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
                if self.phantom is not None and looks_opaque(token):
                    claims = await self._introspect(token, route)
                else:
                    claims = await self._verify(token, digest, route)
                if self.logged_out is not None and self.logged_out.denied(claims):
                    raise _Deny(401, "session_ended", "This token's session was logged out.", error="invalid_token",
                                log_fields={"sub": claims.get("sub"), "jti": claims.get("jti")})
                self._check_binding(scope, claims, token, source == "dpop")
                self._check_scopes(claims, route)
            body = await self._body(receive)
            await self._forward(scope, send, route, upstream_path, body, claims, token, source, digest)
            self.counters.allowed += 1
        except _ClientGone:
            self.counters.denied["client_disconnected"] += 1
        except _Deny as deny:
            self.counters.denied[deny.reason] += 1
            if deny.status >= 500 or deny.log_fields:
                log.info("denied %s %s: reason=%s %s", _loggable(scope.get("method")), _loggable(scope.get("path", "")),
                         deny.reason, " ".join(f"{k}={_loggable(v)}" for k, v in deny.log_fields.items() if k != "reason"))
            await self._deny(send, deny)

    def _route(self, scope: Scope) -> Route:
        path: str = scope["path"]
        raw = scope.get("raw_path") or path.encode()
        # Dot segments (also Tomcat-style "..;"), backslashes and encoded slashes: a path the gateway and the
        # upstream might normalise differently, i.e. a way to reach a route the gateway did not check.
        dotted = "/." in path and any(s in (".", "..") or s.startswith((".;", "..;")) for s in path.split("/"))
        if dotted or "\\" in path or (b"%" in raw and (b"%2f" in raw.lower() or b"%5c" in raw.lower())):
            raise _Deny(400, "bad_path", "The path contains dot segments or encoded slashes.", error="invalid_request")
        for route in self.routes:
            if route.matches(path):
                return route
        raise _Deny(404, "route_not_found", "No route matches this path; the gateway denies by default.")

    @staticmethod
    def _upstream_path(scope: Scope, route: Route) -> str:
        """The raw (still percent-encoded) path to request upstream.

        The route was matched on the *decoded* path, so the prefix is cut only when the raw path starts
        with it literally, followed by `/` or nothing. `/ap%69/x` matches `/api`, but cutting four
        characters off the raw path would leave `69/x`, which glued to the upstream URL changes its host
        (`orders.internal69`) or port: such a path is refused (400 `bad_path`), never guessed at.
        """
        raw: bytes = scope.get("raw_path") or urllib.parse.quote(scope["path"]).encode()  # servers without raw_path
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if not text.startswith("/") or any(c in text for c in "?# ") or not text.isprintable():
            raise _Deny(400, "bad_path", "The path is not a clean origin-form path.", error="invalid_request")
        if route.strip_prefix and route.prefix != "/":
            prefix = _raw_prefix(route.prefix)
            if text == prefix or text.startswith(prefix + "/"):
                return text[len(prefix):] or "/"
            raise _Deny(400, "bad_path", "The route prefix is percent-encoded; send it literally.",
                        error="invalid_request")
        return text

    def _token(self, scope: Scope) -> tuple[str, str]:
        found: list[tuple[str, str]] = []
        malformed = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                # Any run of spaces or tabs separates the scheme: "Bearer<TAB>token" is the same request as
                # "Bearer token" to many servers, so it must not read as "no bearer token here".
                scheme, _, credentials = value.decode("latin-1").strip(" \t").replace("\t", " ").partition(" ")
                if scheme.lower() in ("bearer", "dpop"):
                    credentials = credentials.strip(" ")
                    if not credentials or " " in credentials:
                        malformed = True
                    found.append((credentials, "dpop" if scheme.lower() == "dpop" else "header"))
            elif name == b"cookie" and b"access_token" in value:
                for part in value.decode("latin-1").split(";"):
                    cname, _, cvalue = part.partition("=")
                    if cname.strip(" \t") == "access_token":  # "access_token =x" is the same cookie to Starlette
                        found.append((cvalue.strip(" \t"), "cookie"))
        query = scope.get("query_string") or b""
        if query:  # always parsed: "access%5Ftoken" decodes to "access_token", so a byte search would miss it
            for qname, qvalue in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if qname == "access_token":
                    found.append((qvalue, "query"))
        if len(found) > 1:
            raise _Deny(400, "multiple_tokens", "Send exactly one token, in the Authorization header only.",
                        error="invalid_request")
        if malformed:
            raise _Deny(400, "malformed_authorization", "The Authorization header must be 'Bearer <token>'.",
                        error="invalid_request")
        if not found:
            raise _Deny(401, "no_token", "This route needs a bearer token.")
        token, source = found[0]
        if (source == "query" and not self.config.accept_query_token) or (
            source == "cookie" and not self.config.accept_cookie_token
        ):
            raise _Deny(400, "token_location", f"Tokens in the {source} are not accepted; use the Authorization header.",
                        error="invalid_request")
        if len(token) > self.config.max_token_size:  # before any decoding
            raise _Deny(401, "too_large", f"The token is longer than {self.config.max_token_size} characters.",
                        error="invalid_token")
        return token, source

    async def _verify(self, token: str, digest: bytes, route: Route) -> dict[str, Any]:
        cfg = self.config
        assert route.audience is not None
        issuer, jwks = self.issuers[route.issuer or cfg.issuer]
        now = cfg.clock()
        cache_key = (digest, route.audience + " " + issuer.issuer)
        if cfg.token_cache_size:
            hit = self._cache.get(cache_key)
            if hit is not None:
                claims, exp, kid = hit
                if now < exp and (kid is None or kid in jwks.kids) and jwks.ready:
                    self._cache.move_to_end(cache_key)
                    self.counters.cache_hits += 1
                    return claims
                del self._cache[cache_key]
        try:
            claims = await verify_with(
                jwks, token, issuer=issuer.issuer, audience=route.audience, algorithms=issuer.algorithms, typ=cfg.typ,
                leeway=cfg.leeway, max_lifetime=cfg.max_lifetime, now=now, max_size=cfg.max_token_size,
            )
        except JwksUnavailable as exc:
            raise _Deny(503, exc.reason, exc.message, error="temporarily_unavailable",
                        headers=[("retry-after", str(exc.retry_after))]) from None
        except TokenRejected as exc:
            raise _Deny(401, exc.reason, exc.message, error="invalid_token", log_fields=exc.log_fields()) from None
        if cfg.token_cache_size:
            # Remember which key vouched for the token, so a cached entry dies with its key (revocation).
            kid = json.loads(b64.decode(token.split(".", 1)[0])).get("kid")  # already verified: well-formed
            self._cache[cache_key] = (claims, float(claims["exp"]), kid if isinstance(kid, str) else None)
            while len(self._cache) > cfg.token_cache_size:
                self._cache.popitem(last=False)
        return claims

    async def _introspect(self, token: str, route: Route) -> dict[str, Any]:
        """An opaque token's claims from the issuer, then the same route checks a JWT gets."""
        assert self.phantom is not None and self.session is not None and route.audience is not None
        try:
            claims = await self.phantom.introspect(self.session, token)
        except IntrospectionUnavailable as exc:
            raise _Deny(503, "introspection_unavailable", str(exc), error="temporarily_unavailable",
                        headers=[("retry-after", "5")]) from None
        if claims is None:
            raise _Deny(401, "token_inactive", "The issuer says this token is not active (expired, revoked or "
                        "unknown).", error="invalid_token")
        issuer = route.issuer or self.config.issuer
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if claims.get("iss", issuer) != issuer:
            raise _Deny(401, "issuer", "The token was issued by another issuer.", error="invalid_token")
        if not isinstance(audiences, list) or route.audience not in audiences:
            raise _Deny(401, "audience", "The token is not meant for this service.", error="invalid_token")
        if "sub" not in claims and isinstance(claims.get("client_id"), str):
            claims = {**claims, "sub": claims["client_id"]}  # client credentials: the client is the subject
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise _Deny(401, "missing_claim", "The introspected token has no subject.", error="invalid_token")
        return claims

    def _check_binding(self, scope: Scope, claims: dict[str, Any], token: str | None = None,
                       dpop_scheme: bool = False) -> None:
        """A sender-constrained token is only as good as the key or certificate presented with it.

        RFC 9449: a token with `cnf.jkt` needs the DPoP scheme and a proof by that key; the DPoP scheme
        with an unbound token is refused too, so the scheme can never be a way around the check.
        RFC 8705: without a verified client certificate on this connection the gateway cannot check a
        certificate binding, and forwarding the token's identity as an unbound internal token would turn
        a stolen bound token back into a bearer token: refused with 401 `cnf_mismatch`.
        """
        cnf = claims.get("cnf")
        if (isinstance(cnf, dict) and "jkt" in cnf) or dpop_scheme:
            self._check_dpop(scope, claims, token or "", dpop_scheme)
            return
        if "cnf" not in claims:
            if self.config.require_sender_constrained:
                raise _Deny(401, "dpop_key_mismatch", "This gateway accepts only sender-constrained (DPoP) tokens.",
                            error="invalid_token", scheme="DPoP")
            return
        from .mtls import check_certificate_binding  # the mTLS chapter's check; imported only when needed

        tls = (scope.get("extensions") or {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        cert_der = ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None
        try:
            check_certificate_binding(claims, cert_der)
        except TokenRejected as exc:
            raise _Deny(401, exc.reason, exc.message, error="invalid_token",
                        log_fields={"sub": claims.get("sub"), "jti": claims.get("jti")}) from None

    def _check_dpop(self, scope: Scope, claims: dict[str, Any], token: str, dpop_scheme: bool) -> None:
        """RFC 9449 §7: the DPoP scheme, exactly one proof, and every check of `jwtlab.dpop`."""
        log_fields = {"sub": claims.get("sub"), "jti": claims.get("jti")}
        if not dpop_scheme:
            raise _Deny(401, "dpop_missing", "This token is DPoP-bound: send it as 'Authorization: DPoP' with a proof.",
                        error="invalid_token", scheme="DPoP", log_fields=log_fields)
        proofs = [value.decode("latin-1") for name, value in scope["headers"] if name == b"dpop"]
        try:
            if len(proofs) != 1:
                raise DpopRejected("dpop_missing", f"Expected exactly one DPoP header, got {len(proofs)}.")
            self.dpop.verify(proofs[0], method=scope["method"], url=self.request_url(scope), access_token=token,
                             token_claims=claims)
        except DpopRejected as exc:
            headers = [("dpop-nonce", self.dpop_nonces()[0])] if exc.reason == "dpop_nonce" else []
            raise _Deny(401, exc.reason, exc.message, error=exc.error, scheme="DPoP", headers=headers,
                        log_fields=log_fields) from None

    def request_url(self, scope: Scope) -> str:
        """The URL a DPoP proof must name: the configured public origin, or the socket the request came in
        on, plus the raw path. Never the Host header: the client controls it."""
        origin = self.config.public_url
        if origin is None:
            host, port = scope.get("server") or ("127.0.0.1", 80)
            host = f"[{host}]" if ":" in str(host) else host
            origin = f"{scope.get('scheme') or 'http'}://{host}:{port}"
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        return origin.rstrip("/") + raw.decode("latin-1")

    def dpop_nonces(self) -> tuple[str, ...]:
        """The current DPoP nonce and the previous one (RFC 9449 §8): an HMAC of the time window, so a
        nonce cannot be made in advance and no table of issued nonces needs to be kept."""
        ttl = self.config.dpop_nonce_ttl or 300
        window = int(self.config.clock() // ttl)
        return tuple(
            b64.encode(hmac.new(self._nonce_secret, str(w).encode(), hashlib.sha256).digest()[:18])
            for w in (window, window - 1)
        )

    def _check_scopes(self, claims: dict[str, Any], route: Route) -> None:
        if not route.scopes:
            return
        have = set(granted_scopes(claims))
        missing = [s for s in route.scopes if s not in have]
        if missing:
            raise _Deny(403, "insufficient_scope", f"This route needs the scope(s) {' '.join(route.scopes)}.",
                        error="insufficient_scope", log_fields={"sub": claims.get("sub"), "jti": claims.get("jti")})

    async def _body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone  # never forward a truncated body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.config.max_body:
                raise _Deny(413, "body_too_large", f"The request body exceeds {self.config.max_body} bytes.",
                            error="invalid_request")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    def internal_token(self, claims: dict[str, Any], service: str, digest: bytes = b"") -> str:
        """A short-lived token for one upstream: the gateway vouches for the identity it verified."""
        cfg = self.config
        now = cfg.clock()
        key = (digest, service)
        if cfg.token_cache_size and digest:
            hit = self._internal_cache.get(key)
            if hit is not None and now < hit[1] - 60:
                return hit[0]
        exp = int(min(now + cfg.internal_ttl, claims["exp"]))
        payload = {
            "iss": cfg.internal_issuer, "sub": claims["sub"], "aud": service, "iat": int(now), "exp": exp,
            "jti": secrets.token_urlsafe(12), "scope": " ".join(granted_scopes(claims)), "src_iss": claims.get("iss"),
        }
        if "client_id" in claims:
            payload["client_id"] = claims["client_id"]
        if cfg.internal_key.alg == "EdDSA":
            signing_input = self._internal_header_b64 + b64.encode(json.dumps(payload, separators=(",", ":")).encode())
            signature = cfg.internal_key.signing_key.sign(signing_input.encode("ascii"))
            token = signing_input + "." + b64.encode(signature)
        else:
            token = jwt.encode(payload, cfg.internal_key.signing_key, algorithm=cfg.internal_key.alg,
                               headers=self._internal_headers)
        if cfg.token_cache_size and digest:
            self._internal_cache[key] = (token, exp)
            while len(self._internal_cache) > cfg.token_cache_size:
                self._internal_cache.popitem(last=False)
        return token

    async def _forward(self, scope: Scope, send: Send, route: Route, path: str, body: bytes,
                       claims: dict[str, Any] | None, token: str | None, source: str | None, digest: bytes) -> None:
        assert self.session is not None, "the gateway was not started (lifespan)"
        headers: list[tuple[str, str]] = []
        for name, value in scope["headers"]:
            if name in _HOP_BY_HOP or name in (b"authorization", b"dpop"):  # the proof was for the gateway
                continue
            if name == b"cookie" and source == "cookie":
                continue
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        # Set, never append: the client's own X-Forwarded-* were stripped on the way in.
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", str(client[0])))
        headers.append(("x-forwarded-proto", str(scope.get("scheme") or "http")))
        if claims is not None:
            if route.forward == "internal_jwt":
                service = route.service or route.audience or ""
                headers.append(("authorization", "Bearer " + self.internal_token(claims, service, digest)))
            elif route.forward == "claims":
                values = {**claims, "scope": " ".join(granted_scopes(claims))} if "scp" in claims else claims
                headers.extend((h, _header_value(values[c])) for c, h in CLAIM_HEADERS.items() if c in values)
            else:  # a DPoP-bound token keeps its scheme: never downgraded to a bearer token
                headers.append(("authorization", ("DPoP " if source == "dpop" else "Bearer ") + (token or "")))
        query = scope.get("query_string") or b""
        if source == "query":
            query = urllib.parse.urlencode(
                [(k, v) for k, v in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                 if k != "access_token"]).encode()
        target = self._upstream_url(route, path, query.decode("latin-1"))
        try:
            async with self.session.request(scope["method"], target, headers=headers,
                                            data=body or None, allow_redirects=False) as resp:
                payload = await resp.read()
                out = [(k, v) for k, v in resp.raw_headers if k.lower() not in _NOT_RETURNED]
                status = resp.status
        except TimeoutError:
            raise _Deny(504, "upstream_timeout", "The upstream service did not answer in time.",
                        error="temporarily_unavailable") from None
        except aiohttp.ClientError:
            raise _Deny(502, "upstream_unavailable", "The upstream service could not be reached.",
                        error="temporarily_unavailable") from None
        out.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    def _upstream_url(route: Route, path: str, query: str) -> URL:
        """The upstream URL, built from parts: the request can change the path and query, never the origin."""
        base = _base_url(route.upstream)
        try:
            url = URL.build(scheme=base.scheme, authority=base.raw_authority,
                            path=base.raw_path.rstrip("/") + path, query_string=query, encoded=True)
        except ValueError:
            raise _Deny(400, "bad_path", "The path cannot be forwarded.", error="invalid_request") from None
        if (url.scheme, url.raw_host, url.port) != (base.scheme, base.raw_host, base.port):
            raise _Deny(400, "bad_path", "The path would change the upstream's address.", error="invalid_request")
        return url

    async def _deny(self, send: Send, deny: _Deny) -> None:
        cfg = self.config
        body: dict[str, Any] = {"error": deny.error or {404: "not_found", 401: "unauthorized"}.get(deny.status, "denied"),
                                "reason": deny.reason}
        if not cfg.hide_descriptions:
            body["error_description"] = deny.description
        headers = [(k.encode(), v.encode()) for k, v in deny.headers]
        if deny.status in (400, 401, 403):
            params = [f'realm="{_quoted(cfg.realm)}"']
            if deny.error and deny.reason != "no_token":
                params.append(f'error="{deny.error}"')
                if not cfg.hide_descriptions:
                    params.append(f'error_description="{_quoted(deny.description)}"')
            if deny.error == "insufficient_scope":
                params.append(f'scope="{_quoted(deny.description.split("scope(s) ")[-1].rstrip("."))}"')
            if deny.scheme == "DPoP":
                params[0] = f'algs="{" ".join(DPOP_ALGORITHMS)}"'
            if deny.status != 400 or deny.error == "invalid_request":
                headers.append((b"www-authenticate", (f"{deny.scheme} " + ", ".join(params)).encode()))
        data = json.dumps(body).encode()
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                    (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": deny.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


class GatewayApp:
    """The ASGI entry point: strip identity headers on every request, proxy, or hand over to FastAPI.

    The proxy path does not go through FastAPI's middleware stack: it needs none of it, and FastAPI
    0.16x checks its telemetry settings on every request (~80 µs of CPU here). The gateway's own
    endpoints (health, readiness, metrics, its JWKS) and the lifespan are FastAPI's.
    """

    def __init__(self, gateway: Gateway, app: FastAPI) -> None:
        self.gateway, self.app = gateway, app
        self.title = app.title
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.gateway.strip_identity_headers(scope)
            if scope["type"] == "http" and scope["path"] not in _OWN_PATHS:
                try:
                    await self.gateway.handle(scope, receive, send)
                except Exception as exc:  # fail closed with a clean 500; the log names the type, never a token
                    log.error("gateway error on %s %s: %s", _loggable(scope.get("method")), _loggable(scope.get("path", "")),
                              type(exc).__name__)
                    self.gateway.counters.denied["internal_error"] += 1
                    with contextlib.suppress(Exception):  # fails only if the response had already started
                        await self.gateway._deny(send, _Deny(500, "internal_error", "The gateway failed."))
                return
        await self.app(scope, receive, send)


def create_gateway(config: GatewayConfig, **overrides: Any) -> GatewayApp:
    """The gateway as an ASGI app; `app.state.gateway` exposes counters, routes and the JWKS client."""
    if overrides:
        config = replace(config, **overrides)
    gateway = Gateway(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        await gateway.start()
        try:
            yield
        finally:
            await gateway.close()

    app = FastAPI(title="gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gateway

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = gateway.ready
        return JSONResponse({"ready": ready, "reason": None if ready else "jwks_not_loaded"},
                            status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> dict[str, Any]:
        return gateway.metrics()

    @app.get("/.well-known/jwks.json")
    async def jwks() -> JSONResponse:
        return JSONResponse(gateway.own_jwks(), headers={"Cache-Control": "public, max-age=300"})

    if gateway.logged_out is not None and config.logout_audience:
        def forget_introspections(_claims: dict[str, Any]) -> None:
            if gateway.phantom is not None:  # cached introspection answers may belong to the session
                gateway.phantom.forget()

        app.include_router(logout_router(gateway.logged_out, gateway.jwks.keys, issuer=config.issuer,
                                         audience=config.logout_audience, algorithms=config.algorithms,
                                         on_logout=forget_introspections))

    return GatewayApp(gateway, app)
