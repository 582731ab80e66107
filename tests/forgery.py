"""Token forging helpers shared by the verifier's corpus and property tests.

Every hostile token of the security checklist (section B) is built here, programmatically, from the
course's demo keys and clock, so the corpus documents *how* each attack is made, not just that a
stored string fails. The helpers sign exactly the segment text they are given: a non-canonical or
UTF-16 segment is still *correctly signed*, so only the verifier's own strictness can reject it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from jwt.algorithms import get_default_algorithms

from jwtlab import b64, clock, keys

ALGORITHMS = get_default_algorithms()

NOW = clock.now()
ISSUER = clock.DEMO_ISSUER
AUDIENCE = clock.DEMO_AUDIENCE

RSA = keys.rsa_key(0)
PSS = keys.rsa_key(1, "PS256")
EC = keys.p256_key()
ED = keys.ed25519_key()
HS = keys.hmac_secret()
#: A key the verifier does not trust: what an attacker signs with.
ATTACKER = keys.rsa_key(3)

ASYMMETRIC = (RSA, PSS, EC, ED)
ALL_KEYS = (RSA, PSS, EC, ED, HS)
ASYMMETRIC_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]

#: Base64url digits in order: the index of a character is its 6-bit value.
B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the canonical encoding of a header or claims set."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def segment(part: dict[str, Any] | bytes | str) -> str:
    """A segment's text: a dict becomes compact JSON, bytes are encoded as given, a str is used verbatim."""
    if isinstance(part, dict):
        return b64.encode(json_bytes(part))
    if isinstance(part, bytes):
        return b64.encode(part)
    return part


def sign_input(signing_input: bytes, key: Any, alg: str) -> bytes:
    """Sign bytes with a demo key, a cryptography private key or raw HMAC secret bytes.

    HMAC is computed by hand so that any byte string can be the secret, including a public key in PEM
    form: that is exactly what an algorithm-confusion attacker does, and PyJWT refuses to help.
    """
    if alg.startswith("HS"):
        secret = key.secret if isinstance(key, keys.DemoSecret) else key
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return hmac.new(secret, signing_input, digest).digest()
    private = key.signing_key if isinstance(key, keys.DemoKey) else key
    return ALGORITHMS[alg].sign(signing_input, private)


def forge(
    header: dict[str, Any] | bytes | str,
    claims: dict[str, Any] | bytes | str,
    key: Any = RSA,
    alg: str | None = None,
) -> str:
    """A compact JWS whose signature is correct over exactly these segment texts."""
    if alg is None:
        alg = header["alg"] if isinstance(header, dict) else key.alg
    h, p = segment(header), segment(claims)
    signature = sign_input(f"{h}.{p}".encode("ascii"), key, alg)
    return f"{h}.{p}.{b64.encode(signature)}"


def header_for(key: Any, **extra: Any) -> dict[str, Any]:
    """The honest header of a demo key: its algorithm, `typ` and `kid`, plus anything extra."""
    return {"alg": key.alg, "typ": "JWT", "kid": key.kid, **extra}


def good_claims(now: int = NOW, **overrides: Any) -> dict[str, Any]:
    """Valid claims for the demo issuer and audience at `now`; `None` removes a claim."""
    claims = clock.claims("alice", now=now)
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def good_token(key: Any = RSA, now: int = NOW, **overrides: Any) -> str:
    """A token that every default verifier of the corpus accepts."""
    return forge(header_for(key), good_claims(now, **overrides), key)


def with_claims_text(claims: dict[str, Any], extra: str) -> bytes:
    """Claims JSON with raw text appended before the closing brace (duplicates, NaN, huge numbers)."""
    text = json.dumps(claims, separators=(",", ":"))
    return (text[:-1] + "," + extra + "}").encode("utf-8")


def flip_unused_bits(text: str) -> str:
    """The same bytes, spelled non-canonically: set an unused low bit of the last base64url digit."""
    if len(text) % 4 not in (2, 3):
        raise ValueError("only a segment whose length is 2 or 3 mod 4 has unused bits")
    return text[:-1] + B64_DIGITS[B64_DIGITS.index(text[-1]) ^ 1]


def header_with_unused_bits(key: Any) -> dict[str, Any]:
    """An honest header padded with an extra member until its encoding has unused bits."""
    for width in range(4):
        header = header_for(key, pad="x" * width)
        if len(segment(header)) % 4 in (2, 3):
            return header
    raise AssertionError("unreachable: some width gives a length of 2 or 3 mod 4")


def claims_with_unused_bits() -> dict[str, Any]:
    """Valid claims padded with an extra member until their encoding has unused bits."""
    for width in range(4):
        claims = good_claims(pad="x" * width)
        if len(segment(claims)) % 4 in (2, 3):
            return claims
    raise AssertionError("unreachable: some width gives a length of 2 or 3 mod 4")
