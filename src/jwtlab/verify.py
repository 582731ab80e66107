"""`verify_token`: a JWT verifier that applies the whole security checklist on top of PyJWT.

Why not just `jwt.decode`? Plain PyJWT 2.15 still accepts correctly signed tokens that the course's
security checklist forbids: UTF-16/32 JSON, duplicate member names, numeric strings for `exp`, an empty
`sub`, `=`-padded signatures, megabyte tokens; and it has no setting for a maximum lifetime, `typ` or
an unknown `kid`. This module parses the token itself, strictly, and uses PyJWT's algorithm
implementations (over pyca/cryptography) only for the signature check. Every failure — including
exceptions nobody anticipated — becomes one exception type, `TokenRejected`, with a stable reason code.

The order of checks matters: size and shape first (cheap, before any decoding), then the header and the
key choice (the verifier, not the token, picks the algorithm), then the signature, and only then the
claims, so that a forged token never learns which of its claims would have been accepted.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from jwt.algorithms import get_default_algorithms

from . import b64
from .reasons import ALL_REASONS

__all__ = [
    "TokenRejected", "KeySet", "SignedParts", "verify_signature", "verify_token", "check_claims",
    "DEFAULT_MAX_SIZE", "DEFAULT_REQUIRED_CLAIMS",
]

#: Tokens longer than this (characters) are rejected before any decoding (checklist B.14).
DEFAULT_MAX_SIZE = 8192
#: The claims `verify_token` requires unless told otherwise.
DEFAULT_REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")
_ALGORITHMS = dict(get_default_algorithms())
# PyJWT has no "Ed25519" name (RFC 9864); its EdDSA implementation is that very signature for Ed25519 keys,
# and `_binds` below keeps Ed448 keys away from it.
_ALGORITHMS["Ed25519"] = _ALGORITHMS["EdDSA"]

#: Which key family each algorithm needs: one key, one algorithm family (RFC 8725 §3.1).
_FAMILY = {
    "HS256": "oct", "HS384": "oct", "HS512": "oct",
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
    "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
    "ES256": "EC:P-256", "ES384": "EC:P-384", "ES512": "EC:P-521",
    "EdDSA": "OKP",
    # RFC 9864: the fully specified name of EdDSA with Ed25519 (same signature; Ed25519 keys only).
    "Ed25519": "OKP",
}
#: RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
_MIN_HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
#: RSA keys shorter than this are refused (NIST SP 800-131A; RFC 7518 §3.3 requires at least 2048 bits).
_MIN_RSA_BITS = 2048
#: Header parameters that carry keys, key locations or JWE processing: never honoured, always rejected.
_FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "x5c", "enc", "zip", "epk")
#: The largest NumericDate accepted: 9999-12-31T23:59:59Z. Larger values are type tricks (10^400).
_MAX_NUMERIC_DATE = 253_402_300_799
#: The deepest JSON nesting accepted in a header or claims set (checklist B.14). Without a fixed cap the
#: limit would be Python's recursion limit minus the caller's stack depth: the same token would pass a
#: shallow caller (a CLI) and fail a deep one (a web service).
_MAX_JSON_DEPTH = 32


class TokenRejected(jwt.InvalidTokenError):
    """The one exception `verify_token` raises. `reason` is a stable code (see `jwtlab.reasons`).

    It subclasses PyJWT's `InvalidTokenError`, so existing `except jwt.InvalidTokenError` handlers keep
    working. `unverified_header` / `unverified_claims` hold whatever could be decoded, for diagnosis
    only (never for decisions); the token itself is never stored, so logging the exception is safe.
    """

    status_code = 401

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        if reason not in ALL_REASONS:  # a programming error inside this module; keep the contract anyway
            message, reason = f"{message} (unknown reason code {reason!r})", "malformed"
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.unverified_header = header
        self.unverified_claims = claims

    @property
    def fix(self) -> str:
        return ALL_REASONS[self.reason].fix

    def log_fields(self) -> dict[str, Any]:
        """What a log line may say about a rejected token: reason, iss, kid, jti — never the token."""
        header, claims = self.unverified_header or {}, self.unverified_claims or {}
        fields = {"reason": self.reason, "iss": claims.get("iss"), "kid": header.get("kid"), "jti": claims.get("jti")}
        return {k: _loggable(v) for k, v in fields.items()}

    def __str__(self) -> str:
        return f"{self.message} [{self.reason}]"


def _loggable(value: Any) -> str | None:
    """A header or claim value as it may appear in a log line: short, printable ASCII, so a hostile `kid`
    cannot forge a second log line or flood the log."""
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text.encode("unicode_escape").decode("ascii")[:80]


@dataclass(frozen=True)
class _Entry:
    kid: str | None
    alg: str | None
    family: str
    key: Any


def _family_of(key: Any) -> str:
    if isinstance(key, bytes):
        return "oct"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC:" + {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(key.curve.name, "?")
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "OKP"
    raise TypeError(f"unsupported key type {type(key).__name__}")


def _public(key: Any) -> Any:
    """Verifiers need only the public half; accept a private key but never keep it."""
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key.public_key()
    return key


def jwk_unusable_reason(jwk: Any) -> str | None:
    """Why a member of a JWK Set cannot verify signatures here, or None when it may (RFC 7517 §4.2-4.4, §5).

    RFC 7517 §5: members a verifier does not understand are ignored, so that an identity provider that
    also publishes an encryption key, a post-quantum key or a key type newer than this code does not make
    every token fail. The same rule serves `KeySet` and the JWKS client (`jwtlab.jwks`).
    """
    if not isinstance(jwk, dict):
        return "not a JSON object"
    if jwk.get("use", "sig") != "sig":
        return f"use {str(jwk.get('use'))[:20]!r} (not for signatures)"
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return "key_ops without 'verify'"
    kty = jwk.get("kty")
    if kty not in ("RSA", "EC", "OKP", "oct"):
        return f"kty {str(kty)[:20]!r} is not supported"
    alg = jwk.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in _FAMILY):
        return f"alg {str(alg)[:24]!r} is not a supported signature algorithm"
    if alg == "Ed25519" and jwk.get("crv") != "Ed25519":
        return f"alg 'Ed25519' on a {str(jwk.get('crv'))[:12]!r} key"
    return None


def _binds(entry: _Entry, alg: str) -> bool:
    """May `entry` verify a token that says `alg`? Its own `alg`, if any, must name the same signature."""
    if alg == "Ed25519" and not isinstance(entry.key, ed25519.Ed25519PublicKey):
        return False
    if entry.alg is None or entry.alg == alg:
        return True
    # RFC 9864: "EdDSA" with an Ed25519 key and "Ed25519" are one and the same signature.
    return {entry.alg, alg} == {"EdDSA", "Ed25519"} and isinstance(entry.key, ed25519.Ed25519PublicKey)


@lru_cache(maxsize=256)
def _entry_from_jwk_json(jwk_json: str) -> _Entry:
    """Parse one JWK once: building key objects per request is a measured 1.3-57x trap."""
    jwk_dict = json.loads(jwk_json)
    kty = jwk_dict.get("kty")
    alg = jwk_dict.get("alg")
    if alg is not None and alg not in _FAMILY:
        raise ValueError(f"JWK alg {alg!r} is not supported")
    if alg == "Ed25519" and jwk_dict.get("crv") != "Ed25519":
        raise ValueError("JWK alg 'Ed25519' needs an Ed25519 key")
    if kty == "oct":
        key: Any = b64.decode(jwk_dict["k"])
    elif kty in ("RSA", "EC", "OKP"):
        if "d" in jwk_dict:
            raise ValueError("a verifier's key set must not contain private keys (JWK member 'd')")
        # PyJWK picks its parser by `alg` and knows no "Ed25519" (RFC 9864): parse as the EdDSA it is.
        parsed = jwt.PyJWK({**jwk_dict, "alg": "EdDSA"} if alg == "Ed25519" else jwk_dict)
        key = _public(parsed.key)
    else:
        raise ValueError(f"JWK kty {kty!r} is not supported")
    kid = jwk_dict.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("JWK kid must be a string")
    return _Entry(kid, alg, _family_of(key), key)


class KeySet:
    """Trusted verification keys, parsed once. `verify_token` accepts one directly (fastest).

    Built from a JWKS dict, a single JWK dict, a cryptography key object, an HMAC secret (bytes), a
    PEM public key (str), a course demo key, or a list of any of these.

    Members of a JWK Set that cannot verify (an encryption key, an unknown `kty` or `alg`, `key_ops`
    without `verify`, a key that does not parse) are skipped and listed in `skipped`, as RFC 7517 §5 asks;
    they never verify anything. A set with no usable member is refused, and so is a private key.
    """

    def __init__(self, keys: Any) -> None:
        self.skipped: list[tuple[str | None, str]] = []
        self.entries: tuple[_Entry, ...] = tuple(self._entries(keys))
        if not self.entries:
            if self.skipped:
                why = "; ".join(f"{kid or '(no kid)'}: {reason}" for kid, reason in self.skipped[:5])
                raise ValueError(f"the key set holds no usable verification key (skipped {why})")
            raise ValueError("the key set is empty: a verifier with no keys can verify nothing")
        self._by_kid: dict[str, list[_Entry]] = {}
        for entry in self.entries:
            if entry.kid is not None:
                self._by_kid.setdefault(entry.kid, []).append(entry)
        self._unkeyed = [e for e in self.entries if e.kid is None]

    @classmethod
    def of(cls, keys: Any) -> KeySet:
        """`keys` as a KeySet. A JWKS/JWK dict passed on every call is rebuilt only when its content changes."""
        if isinstance(keys, KeySet):
            return keys
        if isinstance(keys, str | bytes):
            return _key_set_of_text(keys)  # a PEM or secret passed per call: parsed once per distinct value
        if not isinstance(keys, dict):
            return cls(keys)
        # Rebuilding costs ~14 us per call (about 10 % of an ES256 verification); an equality check, ~0.3 us.
        # Keyed by id, confirmed by comparing with a private copy, so a dict changed in place is rebuilt.
        cached = _DICT_KEY_SETS.get(id(keys))
        if cached is not None and cached[0] == keys:
            _DICT_KEY_SETS.move_to_end(id(keys))
            return cached[1]
        key_set = cls(keys)
        _DICT_KEY_SETS[id(keys)] = (copy.deepcopy(keys), key_set)
        _DICT_KEY_SETS.move_to_end(id(keys))
        while len(_DICT_KEY_SETS) > _DICT_CACHE_SIZE:  # least recently used first, never a wholesale clear
            _DICT_KEY_SETS.popitem(last=False)
        return key_set

    def _entries(self, keys: Any) -> Iterable[_Entry]:
        if isinstance(keys, dict):
            if "keys" in keys:
                if not isinstance(keys["keys"], list):
                    raise ValueError("a JWKS needs a 'keys' list")
                for jwk_dict in keys["keys"]:
                    kid = jwk_dict.get("kid") if isinstance(jwk_dict, dict) else None
                    kid = kid if isinstance(kid, str) else None
                    reason = jwk_unusable_reason(jwk_dict)
                    if reason is None and "d" in jwk_dict:
                        raise ValueError("a verifier's key set must not contain private keys (JWK member 'd')")
                    if reason is None:
                        try:
                            yield _entry_from_jwk_json(json.dumps(jwk_dict, sort_keys=True))
                            continue
                        except (ValueError, TypeError, KeyError, jwt.PyJWTError) as exc:
                            reason = f"does not parse ({str(exc)[:60]})"
                    self.skipped.append((kid, reason))
            else:
                yield _entry_from_jwk_json(json.dumps(keys, sort_keys=True))
        elif isinstance(keys, list | tuple):
            for item in keys:
                yield from self._entries(item)
        elif isinstance(keys, jwt.PyJWKSet):
            for jwk in keys.keys:
                yield _Entry(jwk.key_id, jwk.algorithm_name, _family_of(_public(jwk.key)), _public(jwk.key))
        elif isinstance(keys, jwt.PyJWK):
            yield _Entry(keys.key_id, keys.algorithm_name, _family_of(_public(keys.key)), _public(keys.key))
        elif hasattr(keys, "verifying_key") and hasattr(keys, "alg"):  # jwtlab.keys.DemoKey / DemoSecret
            key = keys.verifying_key
            yield _Entry(keys.kid or None, keys.alg, _family_of(key), key)
        elif isinstance(keys, str) and keys.lstrip().startswith("-----BEGIN"):
            key = _public(load_pem_public_key(keys.encode("ascii")))
            yield _Entry(None, None, _family_of(key), key)
        elif isinstance(keys, str | bytes):
            secret = keys.encode("utf-8") if isinstance(keys, str) else keys
            if secret.lstrip().startswith((b"-----BEGIN", b"ssh-", b"ecdsa-", b"{")) or _is_der_public_key(secret):
                raise ValueError("a public key or JWK text is not an HMAC secret (algorithm confusion)")
            yield _Entry(None, None, "oct", secret)
        else:
            key = _public(keys)
            yield _Entry(None, None, _family_of(key), key)

    def candidates(self, kid: str | None) -> list[_Entry]:
        """Keys that may verify a token with this `kid`: an exact match, else keys without a kid."""
        if kid is not None and kid in self._by_kid:
            return self._by_kid[kid]
        if kid is not None and not self._unkeyed:
            return []
        return self._unkeyed if kid is not None else list(self.entries)


def _is_der_public_key(secret: bytes) -> bool:
    """A DER public key (SPKI or PKCS#1) handed over as an HMAC secret is algorithm confusion, not a secret."""
    if not secret.startswith(b"\x30"):  # every DER key is a SEQUENCE; most secrets stop here
        return False
    try:
        load_der_public_key(secret)
    except Exception:  # not a key we can load: treat it as the secret it claims to be, never crash here
        return False
    return True


def _json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests deeper than `limit`; iterative, so hostile input cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


#: KeySet.of's cache for dicts handed over per call: id(dict) -> (a copy of its content, its KeySet).
_DICT_CACHE_SIZE = 64
_DICT_KEY_SETS: OrderedDict[int, tuple[Any, KeySet]] = OrderedDict()


@lru_cache(maxsize=64)
def _key_set_of_text(keys: str | bytes) -> KeySet:
    return KeySet(keys)


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Duplicate(dup)
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: Built once: `json.loads(text, object_pairs_hook=..., parse_constant=...)` builds this very decoder on every
#: call (a few microseconds, twice per token); `decode` is what it then calls.
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _json_object(segment: str, what: str, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """Decode one segment: canonical base64url → strict UTF-8 → JSON without duplicates → an object."""
    try:
        raw = b64.decode(segment)
    except ValueError as exc:
        raise TokenRejected("malformed", f"The {what} segment is {exc}.", header=header) from None
    return parse_json_object(raw, what, header)


def parse_json_object(raw: bytes, what: str = "claims", header: dict[str, Any] | None = None) -> dict[str, Any]:
    """Strict UTF-8 → JSON without duplicate names, NaN or lone surrogates → an object, else TokenRejected."""
    if raw.startswith(b"\xef\xbb\xbf") or b"\x00" in raw:
        raise TokenRejected("not_utf8", f"The {what} is not plain UTF-8 (a byte-order mark or UTF-16/32).", header=header)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenRejected("not_utf8", f"The {what} is not valid UTF-8.", header=header) from None
    try:
        obj = _JSON_DECODER.decode(text)
    except _Duplicate as dup:
        raise TokenRejected("duplicate_name", f"The {what} contains the member {str(dup)[:40]!r} twice.", header=header) from None
    except RecursionError:
        raise TokenRejected("malformed", f"The {what} is nested too deeply.", header=header) from None
    except ValueError as exc:
        raise TokenRejected("malformed", f"The {what} is not valid JSON ({str(exc)[:80]}).", header=header) from None
    if not isinstance(obj, dict):
        raise TokenRejected("malformed", f"The {what} must be a JSON object, not {type(obj).__name__}.", header=header)
    if text.count("{") + text.count("[") > _MAX_JSON_DEPTH and _json_depth_exceeds(obj, _MAX_JSON_DEPTH):
        raise TokenRejected("malformed", f"The {what} nests deeper than {_MAX_JSON_DEPTH} levels.", header=header)
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(obj):
        raise TokenRejected("not_utf8", f"The {what} contains a lone UTF-16 surrogate.", header=header)
    return obj


def _numeric_date(claims: dict[str, Any], name: str, header: dict[str, Any]) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    # The range test comes before isfinite: math.isfinite(10**400) raises OverflowError (checklist B.9).
    if type(value) not in (int, float) or not 0 <= value <= _MAX_NUMERIC_DATE or not math.isfinite(value):
        raise TokenRejected(
            "bad_claim_type", f"The {name!r} claim must be a number of seconds since 1970, not {repr(value)[:40]}.",
            header=header, claims=claims,
        )
    return value


def _normalise_typ(value: str) -> str:
    value = value.lower()
    return value[len("application/"):] if value.startswith("application/") else value


def _finite_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _check_settings(algorithms: Any, issuer: Any, audience: Any, leeway: Any) -> tuple[str, ...]:
    if isinstance(algorithms, str) or not isinstance(algorithms, Collection):
        raise ValueError("algorithms must be a list of algorithm names, e.g. ['RS256']")
    allowed = tuple(a for a in algorithms if isinstance(a, str) and a in _FAMILY)
    if not allowed:
        raise ValueError(f"no usable algorithm in {list(algorithms)!r}; supported: {sorted(_FAMILY)}")
    for name, value in (("issuer", issuer), ("audience", audience)):
        if value is not None and not (isinstance(value, str) and value):
            raise ValueError(f"{name} must be a non-empty string (or None only in diagnostic tools)")
    if type(leeway) not in (int, float) or not 0 <= leeway <= 300:
        raise ValueError("leeway must be a number of seconds between 0 and 300")
    return allowed


@dataclass(frozen=True)
class SignedParts:
    """What `verify_signature` proves: this header and payload were signed by a trusted key."""

    header: dict[str, Any]
    payload: bytes
    alg: str
    kid: str | None


def verify_signature(
    token: str | bytes,
    keys: Any,
    *,
    algorithms: Collection[str],
    typ: str | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
) -> SignedParts:
    """Check shape, header and signature only; return the signed header and raw payload bytes.

    `verify_token` builds on this. Diagnostic tools use it alone to report signature validity
    separately from claim validity (and to verify JWS whose payload is not a JWT claims set).
    Raises `TokenRejected` for every failure.
    """
    return _verify_signature(token, keys, algorithms, typ, max_size, None)


def _verify_signature(
    token: str | bytes, keys: Any, algorithms: Collection[str], typ: str | None, max_size: int,
    allowed: tuple[str, ...] | None,
) -> SignedParts:
    """`verify_signature`; `allowed` is the allowlist `_check_settings` already returned to `verify_token`,
    so the same settings are not validated twice per token (None: validate them here)."""
    header: dict[str, Any] | None = None
    try:
        try:
            if allowed is None:
                allowed = _check_settings(algorithms, None, None, 0)
            if type(max_size) is not int or max_size <= 0:
                raise ValueError("max_size must be a positive whole number of characters")
            if typ is not None and not (isinstance(typ, str) and typ):
                raise ValueError("typ must be a non-empty string such as 'at+jwt'")
            key_set = KeySet.of(keys)
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenRejected("misconfigured", f"The verifier was called with unusable settings: {exc}") from None

        # 1. Size and shape, before any decoding (checklist B.14, RFC 8725 revision: strict compact form).
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise TokenRejected("malformed", "The token contains non-ASCII bytes.") from None
        if not isinstance(token, str):
            raise TokenRejected("malformed", f"The token must be a string, not {type(token).__name__}.")
        if len(token) > max_size:
            raise TokenRejected("too_large", f"The token is {len(token)} characters; the limit is {max_size}.")
        if not _COMPACT.match(token):
            dots = token.count(".")
            if dots == 4:
                raise TokenRejected("malformed", "This is a five-segment JWE, not a signed JWT; it is not accepted.")
            if dots != 2:
                raise TokenRejected("malformed", f"A compact JWS has three segments; this token has {dots + 1}.")
            raise TokenRejected("malformed", "The token has characters outside base64url (A-Z a-z 0-9 - _) or an empty segment.")
        header_b64, payload_b64, signature_b64 = token.split(".")

        # 2. The header: the verifier, not the token, chooses the algorithm and the key.
        header = _json_object(header_b64, "header")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise TokenRejected("malformed", "The header has no 'alg' string.", header=header)
        if alg.lower() == "none":
            raise TokenRejected("alg_not_allowed", f"Unsigned tokens (alg {alg!r}) are never accepted.", header=header)
        if alg not in allowed:
            raise TokenRejected("alg_not_allowed", f"The algorithm {alg[:20]!r} is not in the allowlist {list(allowed)}.", header=header)
        if "crit" in header or "b64" in header:
            raise TokenRejected("crit_unsupported", "The header lists critical extensions ('crit'/'b64') this verifier does not implement.", header=header)
        forbidden = [name for name in _FORBIDDEN_HEADERS if name in header]
        if forbidden:
            raise TokenRejected(
                "forbidden_header", f"The header carries {', '.join(forbidden)}; keys come only from the trusted key set.",
                header=header,
            )
        if typ is not None:
            token_typ = header.get("typ")
            if not isinstance(token_typ, str) or _normalise_typ(token_typ) != _normalise_typ(typ):
                raise TokenRejected("typ", f"Expected a token of type {typ!r}, got {repr(token_typ)[:40]}.", header=header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("malformed", "The header's 'kid' must be a string.", header=header)

        candidates = key_set.candidates(kid)
        if not candidates:
            raise TokenRejected("kid_unknown", f"No trusted key has kid {kid[:64]!r}.", header=header)
        family = _FAMILY[alg]
        usable = [e for e in candidates if e.family == family and _binds(e, alg)]
        if not usable:
            bound = ", ".join(sorted({e.alg or e.family for e in candidates}))
            raise TokenRejected(
                "alg_not_allowed", f"The token says {alg}, but the trusted key for it is bound to {bound}.", header=header
            )
        if family == "RSA":
            usable = [e for e in usable if e.key.key_size >= _MIN_RSA_BITS]
            if not usable:
                raise TokenRejected(
                    "weak_key", f"The RSA key is shorter than {_MIN_RSA_BITS} bits; refusing to use it.", header=header
                )
        if family == "oct":
            usable = [e for e in usable if len(e.key) >= _MIN_HMAC_BYTES[alg]]
            if not usable:
                raise TokenRejected(
                    "weak_key", f"The HMAC secret is shorter than {_MIN_HMAC_BYTES[alg] * 8} bits; refusing to use it.",
                    header=header,
                )

        # 3. The signature, over the exact bytes received.
        try:
            signature = b64.decode(signature_b64)
            payload = b64.decode(payload_b64)
        except ValueError as exc:
            raise TokenRejected("malformed", f"A segment is {exc}.", header=header) from None
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        algorithm = _ALGORITHMS[alg]
        if not any(algorithm.verify(signing_input, e.key, signature) for e in usable):
            raise TokenRejected("bad_signature", "The signature does not verify with the trusted key.", header=header)
        return SignedParts(header, payload, alg, kid)
    except TokenRejected:
        raise
    except Exception as exc:  # fail closed: any surprise is a rejection, never a 500 (checklist B.16)
        raise TokenRejected("malformed", f"The token could not be processed ({type(exc).__name__}).", header=header) from None


def verify_token(
    token: str | bytes,
    keys: Any,
    *,
    issuer: str | None,
    audience: str | None,
    algorithms: Collection[str],
    leeway: float = 60,
    required: Collection[str] = DEFAULT_REQUIRED_CLAIMS,
    max_lifetime: float | None = None,
    typ: str | None = None,
    now: float | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
) -> dict[str, Any]:
    """Verify a compact JWS and its claims; return the claims or raise `TokenRejected`.

    `keys`: a `KeySet`, JWKS dict, JWK dict, key object, demo key or HMAC secret (see `KeySet`).
    `issuer` / `audience`: exact values this verifier trusts (None skips the check — diagnostic tools only).
    `algorithms`: the allowlist; `none` is never allowed, and a key is only used with its own algorithm family.
    `typ`: if set, the header's `typ` must match (e.g. "at+jwt" for RFC 9068 access tokens).
    `now`: seconds since the epoch (the course passes `jwtlab.clock.now()`); defaults to the wall clock.
    """
    try:
        allowed = _check_settings(algorithms, issuer, audience, leeway)
        if isinstance(required, str) or not all(isinstance(name, str) for name in required):
            raise ValueError("required must be a list of claim names, e.g. ['exp', 'sub']")
        if now is not None and not (_finite_number(now) and now >= 0):
            raise ValueError("now must be a finite number of seconds since 1970")
        if max_lifetime is not None and not (_finite_number(max_lifetime) and max_lifetime > 0):
            raise ValueError("max_lifetime must be a positive number of seconds")
    except (ValueError, TypeError) as exc:
        raise TokenRejected("misconfigured", f"verify_token was called with unusable settings: {exc}") from None
    signed = _verify_signature(token, keys, algorithms, typ, max_size, allowed)
    claims: dict[str, Any] | None = None
    try:
        claims = parse_json_object(signed.payload, "claims", signed.header)
        _check_claims(claims, signed.header, issuer=issuer, audience=audience, leeway=leeway, required=required,
                      max_lifetime=max_lifetime, now=time.time() if now is None else now)
        return claims
    except TokenRejected:
        raise
    except Exception as exc:  # fail closed (checklist B.16)
        raise TokenRejected(
            "malformed", f"The claims could not be processed ({type(exc).__name__}).", header=signed.header, claims=claims
        ) from None


def check_claims(
    claims: dict[str, Any],
    header: dict[str, Any] | None = None,
    *,
    issuer: str | None,
    audience: str | None,
    leeway: float = 60,
    required: Collection[str] = DEFAULT_REQUIRED_CLAIMS,
    max_lifetime: float | None = None,
    now: float | None = None,
) -> None:
    """Apply `verify_token`'s claim rules alone; raise `TokenRejected` for the first rule that fails.

    For diagnostic tools (`jwtlab inspect`) that report signature validity and claim validity
    separately. A service never calls this without `verify_signature` first: claims of a token whose
    signature was not checked prove nothing.
    """
    try:
        _check_settings(("RS256",), issuer, audience, leeway)
    except (ValueError, TypeError) as exc:
        raise TokenRejected("misconfigured", f"check_claims was called with unusable settings: {exc}") from None
    header = header if header is not None else {}
    try:
        _check_claims(claims, header, issuer=issuer, audience=audience, leeway=leeway, required=required,
                      max_lifetime=max_lifetime, now=time.time() if now is None else now)
    except TokenRejected:
        raise
    except Exception as exc:  # fail closed (checklist B.16)
        raise TokenRejected(
            "malformed", f"The claims could not be processed ({type(exc).__name__}).", header=header, claims=claims
        ) from None

def _check_claims(
    claims: dict[str, Any],
    header: dict[str, Any],
    *,
    issuer: str | None,
    audience: str | None,
    leeway: float,
    required: Collection[str],
    max_lifetime: float | None,
    now: float,
) -> None:
    def reject(reason: str, message: str) -> TokenRejected:
        return TokenRejected(reason, message, header=header, claims=claims)

    for name in required:
        if name not in claims:
            raise reject("missing_claim", f"The required claim {name!r} is missing.")
    exp = _numeric_date(claims, "exp", header)
    nbf = _numeric_date(claims, "nbf", header)
    iat = _numeric_date(claims, "iat", header)

    for name in ("iss", "sub", "jti"):
        if name in claims and not (isinstance(claims[name], str) and claims[name]):
            raise reject("bad_claim_type", f"The {name!r} claim must be a non-empty string, not {repr(claims[name])[:40]}.")
    if "aud" in claims:
        aud = claims["aud"]
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or not auds or not all(isinstance(a, str) and a for a in auds):
            raise reject("bad_claim_type", "The 'aud' claim must be a string or a non-empty list of strings.")

    if issuer is not None and claims.get("iss") != issuer:
        raise reject("issuer", f"The issuer {str(claims.get('iss'))[:80]!r} is not the trusted issuer {issuer!r}.")
    if audience is not None:
        aud = claims.get("aud")
        if aud is None or audience not in ([aud] if isinstance(aud, str) else aud):
            raise reject("audience", f"The token is not meant for {audience!r} (aud = {repr(aud)[:80]}).")

    if exp is not None and exp <= now - leeway:
        raise reject("expired", f"The token expired {now - exp:.0f} s ago (leeway {leeway:g} s).")
    if nbf is not None and nbf > now + leeway:
        raise reject("not_yet_valid", f"The token is not valid for another {nbf - now:.0f} s (leeway {leeway:g} s).")
    if iat is not None and iat > now + leeway:
        raise reject("issued_in_future", f"The token claims to be issued {iat - now:.0f} s in the future (leeway {leeway:g} s).")
    if max_lifetime is not None:
        if exp is None or iat is None:
            raise reject("missing_claim", "A maximum lifetime is enforced, so 'exp' and 'iat' are both required.")
        if exp - iat > max_lifetime:
            raise reject("lifetime_too_long", f"The token lives {exp - iat:.0f} s; the limit is {max_lifetime:g} s.")
