"""DPoP (RFC 9449): with every request, a proof that the caller holds the key its token
is bound to.

Why: a bearer token works for whoever holds it, so a token copied from a log, a proxy or
a browser extension is as good as the original. A DPoP-bound access token carries
`cnf.jkt`, the RFC 7638 thumbprint of the client's public key, and every request carries
a fresh proof: a small JWT signed by that key that names the request (`htm` method,
`htu` URL, `iat` time, a unique `jti`, and `ath`, the hash of the access token). A thief
with the token but not the key cannot make a proof; a proof captured in transit names
one method, URL, token and moment, and the replay cache refuses it twice.

`make_proof` is the client's half; `DpopVerifier.verify` the resource server's (the
checks of RFC 9449 §4.3, then the token binding of §7.1); `ReplayCache` remembers seen
`jti`s in bounded memory. Every failure raises `DpopRejected` — a `TokenRejected`, so a
service answers 401 — with a stable code from `jwtlab.reasons.DPOP_REASONS`; neither the
proof nor the token is ever part of a message, so logging the exception is safe.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from . import b64
from .keys import DemoKey, public_jwk_of, thumbprint
from .verify import TokenRejected, parse_json_object

__all__ = [
    "DPOP_TYP",
    "DEFAULT_ALGORITHMS",
    "DpopRejected",
    "DpopProof",
    "ReplayCache",
    "DpopVerifier",
    "make_proof",
    "ath_of",
    "normalise_htu",
    "jkt_of",
    "single_proof",
]

# : The `typ` of a proof (RFC 9449 §4.2): a proof is never mistaken for an access or ID
# token.
DPOP_TYP = "dpop+jwt"
#: Asymmetric algorithms only: a proof is signed with the client's private key.
DEFAULT_ALGORITHMS = ("ES256", "EdDSA", "PS256", "RS256")

_ALGORITHMS = get_default_algorithms()
_CURVE_OF = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_KTY_OF = {"ES": "EC", "Ed": "OKP", "PS": "RSA", "RS": "RSA"}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MIN_RSA_BITS = 2048
# : A proof is a few hundred characters; anything this long is not one (checked before
# decoding).
_MAX_PROOF = 4096
_MAX_JTI = 128
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z")


class DpopRejected(TokenRejected):
    """A request whose DPoP proof or binding fails. `error` is the RFC 9449 code for the
    answer's `WWW-Authenticate: DPoP` header: `invalid_dpop_proof`, `use_dpop_nonce`
    or `invalid_token`."""

    def __init__(
        self, reason: str, message: str, *, error: str = "invalid_dpop_proof"
    ) -> None:
        super().__init__(reason, message)
        self.error = error

    def www_authenticate(self, algorithms: Collection[str] = DEFAULT_ALGORITHMS) -> str:
        """The challenge a resource server sends with its 401 (RFC 9449 §7.1): the error
        and the algorithms it accepts, so a client can tell a bad proof from a
        missing nonce."""
        algs = " ".join(algorithms)
        description = self.message.replace('"', "'")
        return (
            f'DPoP algs="{algs}", error="{self.error}", '
            f'error_description="{description}"'
        )


@dataclass(frozen=True)
class DpopProof:
    """What a verified proof establishes: the key (`jkt`) made a proof for this request
    at `iat`."""

    jkt: str
    jti: str
    htm: str
    htu: str
    iat: int
    claims: dict[str, Any] = field(repr=False)


def ath_of(access_token: str) -> str:
    """`ath`: base64url SHA-256 of the access token's ASCII bytes (RFC 9449 §4.2),
    binding the proof to it."""
    return b64.encode(hashlib.sha256(access_token.encode("ascii")).digest())


def jkt_of(public_key: Any) -> str:
    """`cnf.jkt` for a public key: its RFC 7638 thumbprint, what an issuer binds a token
    to."""
    return thumbprint(public_jwk_of(public_key))


def normalise_htu(url: str) -> str:
    """A URL as `htu` compares it (RFC 9449 §4.3, RFC 3986 §6): scheme and host in lower
    case, no default port, no query, no fragment. Two spellings of one URL compare
    equal; another path never does."""
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        raise ValueError("htu must be an absolute http(s) URL")
    port = parts.port
    default = {"http": 80, "https": 443}[scheme]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        netloc = f"{netloc}:{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def make_proof(
    key: DemoKey,
    method: str,
    url: str,
    *,
    now: float,
    access_token: str | None = None,
    nonce: str | None = None,
    jti: str | None = None,
) -> str:
    """A DPoP proof for one request, signed by `key` (the client's). `now` is explicit
    so a course clock can drive it; `jti` is random unless given, so that two proofs
    are never the same."""
    header = {"typ": DPOP_TYP, "alg": key.alg, "jwk": public_jwk_of(key.public_key)}
    claims: dict[str, Any] = {
        "jti": jti or secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(now),
    }
    if access_token is not None:
        claims["ath"] = ath_of(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers=header)


def single_proof(values: list[str]) -> str:
    """The request's one DPoP header (RFC 9449 §4.3 check 1): none or several is a
    rejection."""
    if len(values) != 1:
        raise DpopRejected(
            "dpop_missing", f"Expected exactly one DPoP header, got {len(values)}."
        )
    return values[0]


class ReplayCache:
    """The `jti`s of accepted proofs, kept only while their proof could still pass the
    `iat` check.

    Bounded under a flood: at most `max_entries` are kept. When full, the entry that
    would expire first is dropped and the *floor* rises to its `iat`; from then on a
    proof issued at or before the floor is refused, because its `jti` might be among the
    forgotten. So memory stays bounded and a replay is never accepted; the price of a
    flood is that slightly older honest proofs are refused (the client makes a new one),
    not that a captured proof gets through."""

    def __init__(self, *, window: float, max_entries: int = 100_000) -> None:
        if window <= 0 or max_entries <= 0:
            raise ValueError("window and max_entries must be positive")
        self.window = window
        self.max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes, float]] = []
        self._floor = float("-inf")
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def remember(self, jti: str, iat: float, now: float) -> str | None:
        """Record a proof's `jti`; None if it is new, else why it must be refused
        ("replay", "evicted")."""
        key = hashlib.sha256(jti.encode("utf-8")).digest()[
            :16
        ]  # bounded size, whatever the jti
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                expires, old, _ = heapq.heappop(self._heap)
                if self._expiry.get(old) == expires:
                    del self._expiry[old]
            if key in self._expiry:
                return "replay"
            if iat <= self._floor:
                return "evicted"
            expires = iat + self.window
            self._expiry[key] = expires
            heapq.heappush(self._heap, (expires, key, iat))
            while len(self._expiry) > self.max_entries:
                expires, old, old_iat = heapq.heappop(self._heap)
                if self._expiry.get(old) == expires:
                    del self._expiry[old]
                    self._floor = max(self._floor, old_iat)
            return None


@dataclass
class DpopVerifier:
    """A resource server's DPoP checks. One per service: it owns the replay cache.

    `max_age` bounds how old a proof may be and `leeway` how far ahead the client's
    clock may run; together they are the window a captured proof could be replayed in,
    which is exactly how long the replay cache must remember it. `nonces`, when set,
    returns the nonces currently valid (RFC 9449 §9): a proof without one of them is
    refused with `use_dpop_nonce`, so that a proof made in advance by a thief who
    briefly held the key is useless."""

    algorithms: Collection[str] = DEFAULT_ALGORITHMS
    max_age: float = 60
    leeway: float = 5
    max_entries: int = 100_000
    nonces: Callable[[], Collection[str]] | None = None
    clock: Callable[[], float] = time.time
    replay_cache: ReplayCache = field(init=False)

    def __post_init__(self) -> None:
        unknown = [
            a for a in self.algorithms if a not in _ALGORITHMS or a[:2] not in _KTY_OF
        ]
        if unknown or not self.algorithms:
            raise ValueError(
                f"DPoP needs asymmetric algorithms; cannot use {unknown or 'none'}"
            )
        self.replay_cache = ReplayCache(
            window=self.max_age + self.leeway, max_entries=self.max_entries
        )

    def verify(
        self,
        proof: Any,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        token_claims: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> DpopProof:
        """Check one proof for one request. With `access_token`, the proof must carry
        its `ath`; with `token_claims` (the verified access token's claims),
        `cnf.jkt` must be the proof key's thumbprint. The `jti` is recorded only
        after every other check passed, so junk cannot fill the cache."""
        now = self.clock() if now is None else now
        try:
            header, claims, public_jwk = self._signed(proof)
            self._check_request(claims, method, url)
            iat = self._check_time(claims, now)
            self._check_nonce(claims)
            self._check_token(claims, public_jwk, access_token, token_claims)
        except DpopRejected:
            raise
        except (
            Exception
        ) as exc:  # fail closed: anything unforeseen is a refusal, never a 500
            raise DpopRejected(
                "dpop_invalid",
                f"The proof could not be processed ({type(exc).__name__}).",
            ) from None
        jti = claims["jti"]
        refused = self.replay_cache.remember(jti, iat, now)
        if refused == "replay":
            raise DpopRejected(
                "dpop_replay",
                "This proof's jti was seen before: a proof is good for one request.",
            )
        if refused == "evicted":
            raise DpopRejected(
                "dpop_stale",
                "The proof is older than the replay cache can vouch for; make another.",
            )
        return DpopProof(
            thumbprint(public_jwk), jti, claims["htm"], claims["htu"], iat, claims
        )

    def _signed(
        self, proof: Any
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Shape, header, embedded key and signature (RFC 9449 §4.3 checks 2-7)."""
        if (
            not isinstance(proof, str)
            or len(proof) > _MAX_PROOF
            or not _COMPACT.match(proof)
        ):
            raise DpopRejected(
                "dpop_invalid",
                "The DPoP header is not a compact signed JWT of a sensible size.",
            )
        header_b64, claims_b64, signature_b64 = proof.split(".")
        try:
            header = parse_json_object(b64.decode(header_b64), "proof header")
            claims = parse_json_object(b64.decode(claims_b64), "proof claims")
            signature = b64.decode(signature_b64)
        except (TokenRejected, ValueError) as exc:
            raise DpopRejected(
                "dpop_invalid", f"The proof is not well-formed: {exc}."
            ) from None
        if not isinstance(header.get("typ"), str) or header["typ"].lower() != DPOP_TYP:
            raise DpopRejected("dpop_invalid", f"The proof's typ must be {DPOP_TYP!r}.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise DpopRejected(
                "dpop_invalid",
                f"The proof's alg must be one of {list(self.algorithms)}.",
            )
        if "crit" in header:
            raise DpopRejected(
                "dpop_invalid",
                "The proof lists critical extensions this server does not implement.",
            )
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise DpopRejected(
                "dpop_invalid", "The proof's header has no public key (jwk)."
            )
        if any(member in jwk for member in _PRIVATE_MEMBERS):
            raise DpopRejected(
                "dpop_invalid", "The proof's jwk contains private key material."
            )
        algorithm = _ALGORITHMS[alg]
        if jwk.get("kty") != _KTY_OF[alg[:2]] or (
            alg in _CURVE_OF and jwk.get("crv") != _CURVE_OF[alg]
        ):
            raise DpopRejected(
                "dpop_invalid", f"The proof's jwk is not a key for {alg}."
            )
        try:
            key = algorithm.from_jwk(json.dumps(jwk))
        except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
            raise DpopRejected(
                "dpop_invalid", "The proof's jwk is not a valid public key."
            ) from None
        if jwk["kty"] == "RSA" and key.key_size < _MIN_RSA_BITS:
            raise DpopRejected(
                "dpop_invalid",
                f"The proof's RSA key is shorter than {_MIN_RSA_BITS} bits.",
            )
        if not algorithm.verify(
            f"{header_b64}.{claims_b64}".encode("ascii"), key, signature
        ):
            raise DpopRejected(
                "dpop_invalid",
                "The proof's signature does not verify with its own jwk.",
            )
        public_jwk = public_jwk_of(key)
        return header, claims, public_jwk

    @staticmethod
    def _check_request(claims: dict[str, Any], method: str, url: str) -> None:
        """Required claims, then `htm` and `htu` against this very request (checks 8-9).
        """
        for name in ("jti", "htm", "htu"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise DpopRejected("dpop_invalid", f"The proof has no {name} string.")
        if len(claims["jti"]) > _MAX_JTI:
            raise DpopRejected(
                "dpop_invalid", f"The proof's jti is longer than {_MAX_JTI} characters."
            )
        if claims["htm"] != method:
            raise DpopRejected(
                "dpop_wrong_request",
                f"The proof is for {claims['htm'][:10]!r}, not {method}.",
            )
        try:
            same = normalise_htu(claims["htu"]) == normalise_htu(url)
        except ValueError:
            same = False
        if not same:
            raise DpopRejected(
                "dpop_wrong_request", "The proof is for another URL (htu)."
            )

    def _check_time(self, claims: dict[str, Any], now: float) -> int:
        """`iat` a whole number within [now - max_age, now + leeway] (check 11)."""
        iat = claims.get("iat")
        if type(iat) is not int:
            raise DpopRejected(
                "dpop_invalid", "The proof's iat must be a whole number of seconds."
            )
        if iat < now - self.max_age:
            raise DpopRejected(
                "dpop_stale",
                f"The proof was made {int(now - iat)} s ago; "
                f"the limit is {self.max_age:g} s.",
            )
        if iat > now + self.leeway:
            raise DpopRejected(
                "dpop_stale",
                f"The proof claims to be made {int(iat - now)} s in the future.",
            )
        return iat

    def _check_nonce(self, claims: dict[str, Any]) -> None:
        """When the server hands out nonces, the proof must carry a current one (check
        10)."""
        if self.nonces is None:
            return
        nonce = claims.get("nonce")
        valid = self.nonces()
        if not isinstance(nonce, str) or not any(
            hmac.compare_digest(nonce, v) for v in valid
        ):
            raise DpopRejected(
                "dpop_nonce",
                "The proof needs the server's current nonce.",
                error="use_dpop_nonce",
            )

    @staticmethod
    def _check_token(
        claims: dict[str, Any],
        public_jwk: dict[str, Any],
        access_token: str | None,
        token_claims: dict[str, Any] | None,
    ) -> None:
        """`ath` names the token sent (check 12); the token's `cnf.jkt` names the
        proof's key (§7.1)."""
        if access_token is not None:
            ath = claims.get("ath")
            expected = ath_of(access_token) if access_token.isascii() else ""
            if not isinstance(ath, str) or not expected or not ath.isascii():
                ath = None
            if ath is None or not hmac.compare_digest(ath, expected):
                raise DpopRejected(
                    "dpop_wrong_token",
                    "The proof's ath is not the hash of this access token.",
                )
        if token_claims is not None:
            cnf = token_claims.get("cnf")
            jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
            if not isinstance(jkt, str) or not hmac.compare_digest(
                jkt, thumbprint(public_jwk)
            ):
                raise DpopRejected(
                    "dpop_key_mismatch",
                    "The access token is bound to another key than the proof's.",
                    error="invalid_token",
                )
