"""DELIBERATELY VULNERABLE JWT VERIFIERS — FOR TEACHING ONLY. NEVER USE ANY OF THIS CODE.

Each function reproduces one real-world mistake, and is named after it, so that the attacks notebooks
can show a forgery succeeding before `jwtlab.verify_token` rejects the same token. Apart from its one
flaw each verifier does the ordinary things (checks `exp` against the course clock, checks a
signature where it checks one at all), so the flaw on show is the only reason the attack works.

Safety rails that do not weaken the lesson: the verifiers that fetch keys (`jku`, `x5u`) fetch
loopback URLs only, with a timeout and no redirects, so no demo can send traffic off the machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import get_default_algorithms

from . import b64, clock

__all__ = [
    "NaiveRejected",
    "blocklist_exact_none",
    "cache_keyed_by_signature",
    "decode_without_verifying",
    "ecdsa_without_range_checks",
    "fetch_jku",
    "fetch_x5u",
    "first_wins_claims",
    "hmac_any_secret",
    "ignore_audience",
    "issue_with_string_template",
    "kid_as_file_path",
    "kid_in_sql_query",
    "last_wins_claims",
    "trust_embedded_jwk",
    "trust_embedded_x5c",
    "verify_with_header_alg",
]

_ALGORITHMS = get_default_algorithms()
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class NaiveRejected(Exception):
    """A naive verifier said no. (They say it far too rarely; that is the point of this module.)"""


def _parse(token: str, loads: Any = json.loads) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header, claims = loads(b64.decode(header_b64)), loads(b64.decode(payload_b64))
        signature = b64.decode(signature_b64)
    except ValueError as exc:
        raise NaiveRejected(f"malformed token: {exc}") from None
    return header, claims, f"{header_b64}.{payload_b64}".encode("ascii"), signature


def _not_expired(claims: dict[str, Any], now: float | None) -> dict[str, Any]:
    if claims.get("exp", 0) <= (clock.now() if now is None else now):
        raise NaiveRejected("expired")
    return claims


def _hmac_ok(alg: str, key: bytes, signing_input: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(hmac.new(key, signing_input, _HMAC[alg]).digest(), signature)


def _asymmetric_ok(alg: str, public_key: Any, signing_input: bytes, signature: bytes) -> bool:
    if alg not in _ALGORITHMS or alg.startswith("HS") or alg == "none":
        return False
    return bool(_ALGORITHMS[alg].verify(signing_input, public_key, signature))


def _load_public_key(material: bytes) -> Any:
    """Whatever spelling the key text has: JWK JSON, PEM, an OpenSSH line, raw Ed25519 bytes or DER."""
    if material.lstrip().startswith(b"{"):
        return jwt.PyJWK(json.loads(material)).key
    if material.lstrip().startswith(b"-----BEGIN"):
        return serialization.load_pem_public_key(material)
    if material.startswith(b"ssh-") or material.startswith(b"ecdsa-"):
        return serialization.load_ssh_public_key(material)
    if len(material) == 32:
        return ed25519.Ed25519PublicKey.from_public_bytes(material)
    return serialization.load_der_public_key(material)


# --- Apprentice -----------------------------------------------------------------------------------


def decode_without_verifying(
    token: str, *, now: float | None = None
) -> dict[str, Any]:
    """FLAW: decodes the claims and never checks the signature.

    PortSwigger lab 1; in PyJWT, `options={"verify_signature": False}`.
    """
    _, claims, _, _ = _parse(token)
    return _not_expired(claims, now)


def verify_with_header_alg(token: str, key_material: bytes, *, now: float | None = None) -> dict[str, Any]:
    """FLAW: lets the token's `alg` decide how to use the key — `none` skips the check, `HS256` MACs
    with the key's text (algorithm confusion), `RS256` loads the same text as a public key.

    This is how early JWT libraries behaved when called as `decode(token, key)` without an allowlist.
    """
    header, claims, signing_input, signature = _parse(token)
    alg = header.get("alg")
    if alg == "none":
        return _not_expired(claims, now)
    if alg in _HMAC:
        ok = _hmac_ok(alg, key_material, signing_input, signature)
    else:
        ok = _asymmetric_ok(alg, _load_public_key(key_material), signing_input, signature)
    if not ok:
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def blocklist_exact_none(
    token: str, public_key: Any, *, now: float | None = None
) -> dict[str, Any]:
    """FLAW: blocks `alg == "none"` exactly, then looks the algorithm up
    case-insensitively, so `None`, `NONE` and `nOnE` reach the "no
    signature" branch (checklist B.1)."""
    header, claims, signing_input, signature = _parse(token)
    alg = str(header.get("alg"))
    if alg == "none":
        raise NaiveRejected("alg none is not allowed")
    if alg.lower() == "none":
        return _not_expired(claims, now)
    if not _asymmetric_ok(alg.upper(), public_key, signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def cache_keyed_by_signature(token: str, public_key: Any, cache: dict[str, bool], *,
                             now: float | None = None) -> dict[str, Any]:
    """FLAW: remembers verified tokens by their signature segment to save CPU, and on a cache hit
    decodes whatever claims arrived with that signature (claim tampering, checklist B.8)."""
    header, claims, signing_input, signature = _parse(token)
    signature_b64 = token.rsplit(".", 1)[1]
    if signature_b64 in cache:
        return _not_expired(claims, now)
    if header.get("alg") != "RS256" or not _asymmetric_ok("RS256", public_key, signing_input, signature):
        raise NaiveRejected("bad signature")
    cache[signature_b64] = True
    return _not_expired(claims, now)


def hmac_any_secret(token: str, secret: bytes, *, now: float | None = None) -> dict[str, Any]:
    """FLAW: a correct HS256 check, but with whatever secret it was configured with — here a
    dictionary word, which anyone holding one token can crack offline (checklist B.3)."""
    header, claims, signing_input, signature = _parse(token)
    if header.get("alg") != "HS256" or not _hmac_ok("HS256", secret, signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


# --- Practitioner ---------------------------------------------------------------------------------


def trust_embedded_jwk(token: str, *, now: float | None = None) -> dict[str, Any]:
    """FLAW: verifies the signature with the `jwk` carried in the token's own header (checklist B.6):
    the attacker signs with their key and ships the matching public key alongside."""
    header, claims, signing_input, signature = _parse(token)
    if "jwk" not in header:
        raise NaiveRejected("no key")
    key = jwt.PyJWK(header["jwk"]).key
    if not _asymmetric_ok(header.get("alg", ""), key, signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def trust_embedded_x5c(token: str, *, now: float | None = None) -> dict[str, Any]:
    """FLAW: verifies with the first certificate of the token's own `x5c` chain and never checks that
    the chain ends at a trusted root — so a self-signed certificate vouches for itself (checklist B.6)."""
    header, claims, signing_input, signature = _parse(token)
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    except (KeyError, IndexError, TypeError, ValueError):
        raise NaiveRejected("no usable certificate") from None
    if not _asymmetric_ok(header.get("alg", ""), certificate.public_key(), signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def _fetch_loopback(url: str, allowed_prefix: str | None) -> httpx.Response:
    """The naive part is the `startswith` allowlist; the loopback-only rule is this module's safety rail."""
    if allowed_prefix is not None and not url.startswith(allowed_prefix):
        raise NaiveRejected("key URL is not on the allowlist")
    if urlsplit(url).hostname not in ("127.0.0.1", "::1", "localhost"):
        raise NaiveRejected("this teaching verifier fetches loopback URLs only")
    response = httpx.get(url, timeout=5.0, follow_redirects=False)
    response.raise_for_status()
    return response


def fetch_jku(token: str, *, allowed_prefix: str | None = None, now: float | None = None) -> dict[str, Any]:
    """FLAW: downloads the JWK Set named by the token's `jku` header and trusts its keys
    (checklist B.5) — optionally behind a `startswith` allowlist, which URL tricks get around."""
    header, claims, signing_input, signature = _parse(token)
    response = _fetch_loopback(str(header.get("jku")), allowed_prefix)
    key_set = jwt.PyJWKSet.from_dict(response.json())
    key = next((k for k in key_set.keys if k.key_id == header.get("kid")), None)
    if key is None or not _asymmetric_ok(header.get("alg", ""), key.key, signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def fetch_x5u(token: str, *, allowed_prefix: str | None = None, now: float | None = None) -> dict[str, Any]:
    """FLAW: downloads the certificate named by `x5u` and verifies with its public key, without
    checking that the certificate chains to a trusted root (checklist B.5/B.6)."""
    header, claims, signing_input, signature = _parse(token)
    response = _fetch_loopback(str(header.get("x5u")), allowed_prefix)
    certificate = x509.load_pem_x509_certificate(response.content)
    if not _asymmetric_ok(header.get("alg", ""), certificate.public_key(), signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def kid_as_file_path(
    token: str, key_dir: Path, *, now: float | None = None
) -> dict[str, Any]:
    """FLAW: treats `kid` as a file name under `key_dir` and MACs with that
    file's bytes — so `../../dev/null` gives the empty key and any public
    file gives a key the attacker knows (checklist B.4)."""
    header, claims, signing_input, sig = _parse(token)
    try:
        secret = (Path(key_dir) / str(header.get("kid"))).read_bytes()
    except OSError:
        raise NaiveRejected("unknown kid") from None
    alg = header.get("alg")
    if alg not in _HMAC or not _hmac_ok(alg, secret, signing_input, sig):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def kid_in_sql_query(token: str, db: sqlite3.Connection, *, now: float | None = None) -> dict[str, Any]:
    """FLAW: looks the secret up with a string-formatted SQL query, so a `kid` of
    `x' UNION SELECT 'my-key' -- ` makes the database return a key the attacker chose (checklist B.4)."""
    header, claims, signing_input, signature = _parse(token)
    row = db.execute(f"SELECT secret FROM signing_keys WHERE kid = '{header.get('kid')}'").fetchone()  # noqa: S608
    if row is None:
        raise NaiveRejected("unknown kid")
    secret = row[0].encode() if isinstance(row[0], str) else bytes(row[0])
    if header.get("alg") not in _HMAC or not _hmac_ok(header["alg"], secret, signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def ignore_audience(token: str, public_key: Any, *, issuer: str = clock.DEMO_ISSUER,
                    now: float | None = None) -> dict[str, Any]:
    """FLAW: checks algorithm, signature, issuer and expiry — but not `aud`, so a token the same
    identity provider issued for another service is accepted here too (cross-service replay, B.11)."""
    header, claims, signing_input, signature = _parse(token)
    if header.get("alg") != "RS256" or not _asymmetric_ok("RS256", public_key, signing_input, signature):
        raise NaiveRejected("bad signature")
    if claims.get("iss") != issuer:
        raise NaiveRejected("wrong issuer")
    return _not_expired(claims, now)


def issue_with_string_template(
    sub: str, display_name: str, private_key: Any, kid: str
) -> str:
    """FLAW (an issuer's): builds the claims JSON by pasting strings into a
    template, so a display name like `Eve","sub":"admin` adds a second `sub`
    to a token the issuer then signs (checklist B.13)."""
    now = clock.now()
    body = (
        f'{{"iss":"{clock.DEMO_ISSUER}","sub":"{sub}",'
        f'"name":"{display_name}","aud":"{clock.DEMO_AUDIENCE}",'
        f'"iat":{now},"exp":{now + 300}}}'
    )
    header_b64 = b64.encode_json({"alg": "RS256", "typ": "JWT", "kid": kid})
    signing_input = f"{header_b64}.{b64.encode(body.encode('utf-8'))}"
    rs256 = _ALGORITHMS["RS256"]
    signature = rs256.sign(signing_input.encode("ascii"), private_key)
    return f"{signing_input}.{b64.encode(signature)}"


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        result.setdefault(name, value)
    return result


def _verified_rs256(token: str, public_key: Any, loads: Any, now: float | None) -> dict[str, Any]:
    header, claims, signing_input, signature = _parse(token, loads)
    if header.get("alg") != "RS256" or not _asymmetric_ok("RS256", public_key, signing_input, signature):
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)


def first_wins_claims(token: str, public_key: Any, *, now: float | None = None) -> dict[str, Any]:
    """FLAW (with `last_wins_claims`): a correct RS256 check whose JSON parser keeps the FIRST of two
    duplicate names — as several parsers in other languages do. Stands for the API gateway."""
    return _verified_rs256(token, public_key, lambda raw: json.loads(raw, object_pairs_hook=_first_wins), now)


def last_wins_claims(token: str, public_key: Any, *, now: float | None = None) -> dict[str, Any]:
    """FLAW (with `first_wins_claims`): a correct RS256 check with Python's `json`, which keeps the
    LAST duplicate. Stands for the service behind the gateway: the two disagree about who the user is."""
    return _verified_rs256(token, public_key, json.loads, now)


# --- Expert ---------------------------------------------------------------------------------------

# P-256 (FIPS 186-4 D.1.2.3): field prime, order, coefficient a, base point.
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_A = _P - 3
_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
      0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5, 1)


def _double(pt: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = pt
    if z == 0 or y == 0:
        return (0, 1, 0)
    s = 4 * x * y * y % _P
    m = (3 * x * x + _A * pow(z, 4, _P)) % _P
    x3 = (m * m - 2 * s) % _P
    return (x3, (m * (s - x3) - 8 * pow(y, 4, _P)) % _P, 2 * y * z % _P)


def _add(p1: tuple[int, int, int], p2: tuple[int, int, int]) -> tuple[int, int, int]:
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    u1, u2 = x1 * z2 * z2 % _P, x2 * z1 * z1 % _P
    s1, s2 = y1 * pow(z2, 3, _P) % _P, y2 * pow(z1, 3, _P) % _P
    if u1 == u2:
        return _double(p1) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    x3 = (r * r - h**3 - 2 * u1 * h * h) % _P
    return (x3, (r * (u1 * h * h - x3) - s1 * h**3) % _P, h * z1 * z2 % _P)


def _multiply(k: int, pt: tuple[int, int, int]) -> tuple[int, int, int]:
    result = (0, 1, 0)  # the point at infinity: Z = 0
    for bit in (bin(k)[2:] if k else ""):
        result = _double(result)
        if bit == "1":
            result = _add(result, pt)
    return result


def _inverse_by_fermat(value: int, modulus: int) -> int:
    """value**(m − 2) mod m: the inverse for every value except 0 — for which it returns 0."""
    return pow(value, modulus - 2, modulus)


def ecdsa_without_range_checks(token: str, public_key: ec.EllipticCurvePublicKey, *,
                               now: float | None = None) -> dict[str, Any]:
    """FLAW: textbook ES256 verification that skips the "1 ≤ r, s < n" check (checklist B.7).

    Shaped like the Java code behind CVE-2022-21449: with s = 0 the Fermat "inverse" is 0, so
    u1 = u2 = 0 and R = 0·G + 0·Q is the point at infinity; converting it to affine coordinates with
    the same inverse yields x = 0, which equals r = 0. Every genuine signature still verifies.
    """
    header, claims, signing_input, signature = _parse(token)
    if header.get("alg") != "ES256" or len(signature) != 64:
        raise NaiveRejected("bad signature")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    e = int.from_bytes(hashlib.sha256(signing_input).digest(), "big")
    numbers = public_key.public_numbers()
    w = _inverse_by_fermat(s, _N)
    x, _, z = _add(_multiply(e * w % _N, _G), _multiply(r * w % _N, (numbers.x, numbers.y, 1)))
    affine_x = x * pow(_inverse_by_fermat(z, _P), 2, _P) % _P
    if affine_x % _N != r:
        raise NaiveRejected("bad signature")
    return _not_expired(claims, now)
