"""Demo keys for the course — DEMO ONLY, never use them outside the course.

Why fixed keys: notebook outputs are committed and compared on every CI run, so the keys that sign the
course's tokens must be the same on every machine. Ed25519 and P-256 keys are derived from published
seeds, RSA keys are committed PEM files (RSA key generation cannot be seeded), and the HMAC secret is a
hash of a published label. Everyone who reads this file can sign tokens with these keys; that is the
point of a demo key and the reason no real service may trust one.

Each key exposes what the course needs: the key objects, PEM, its public JWK with `kid` set to the
RFC 7638 thumbprint, and `jwks(...)` to publish several as a JWK Set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import b64

DEMO_WARNING = "DEMO KEY - published with the course, never use it to protect anything real"

_SEED_LABEL = b"jwt-in-microservices demo key v1: "

JWK = dict[str, Any]


def thumbprint(jwk: JWK) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the course's `kid` for every key.

    Only the required members take part, in lexicographic order, without whitespace, so the same
    public key always gets the same `kid` no matter which optional members a JWK carries.
    """
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "oct": ("k", "kty")}
    members = required[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64.encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk_of(public_key: Any) -> JWK:
    """The public JWK members (without kid/alg/use) of a cryptography public key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        nums = public_key.public_numbers()
        return {"kty": "RSA", "n": b64.uint_to_b64(nums.n), "e": b64.uint_to_b64(nums.e)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public_key.curve.name]
        size = (public_key.curve.key_size + 7) // 8
        nums = public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64.encode(nums.x.to_bytes(size, "big")),
            "y": b64.encode(nums.y.to_bytes(size, "big")),
        }
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64.encode(raw)}
    raise TypeError(f"unsupported public key type: {type(public_key).__name__}")


@dataclass(frozen=True)
class DemoKey:
    """One asymmetric demo key pair, bound to exactly one JWS algorithm (RFC 8725 §3.1)."""

    name: str
    alg: str
    private_key: Any = field(repr=False)
    kid: str = ""

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    @property
    def signing_key(self) -> Any:
        """What `jwt.encode(..., key=...)` takes."""
        return self.private_key

    @property
    def verifying_key(self) -> Any:
        """What a verifier holds: the public key only."""
        return self.public_key

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_jwk(self) -> JWK:
        """The public JWK as a JWKS publishes it: kid (RFC 7638 thumbprint), alg and use pinned."""
        return {**public_jwk_of(self.public_key), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def headers(self, **extra: Any) -> dict[str, Any]:
        """JOSE header fields for `jwt.encode(headers=...)`: the kid, plus anything extra."""
        return {"kid": self.kid, **extra}


@dataclass(frozen=True)
class DemoSecret:
    """A demo HMAC secret (256 bits). A shared secret: whoever verifies can also sign."""

    name: str
    secret: bytes = field(repr=False)
    alg: str = "HS256"
    kid: str = ""

    @property
    def signing_key(self) -> bytes:
        return self.secret

    @property
    def verifying_key(self) -> bytes:
        return self.secret

    def public_jwk(self) -> JWK:
        """The oct JWK. It contains the secret itself: never publish it on a JWKS endpoint."""
        return {"kty": "oct", "k": b64.encode(self.secret), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def headers(self, **extra: Any) -> dict[str, Any]:
        return {"kid": self.kid, **extra}


def _seed(name: str) -> bytes:
    return hashlib.sha256(_SEED_LABEL + name.encode("utf-8")).digest()


def _with_kid(key: DemoKey) -> DemoKey:
    return DemoKey(key.name, key.alg, key.private_key, thumbprint(public_jwk_of(key.public_key)))


@cache
def ed25519_key(name: str = "ed25519") -> DemoKey:
    """An Ed25519 (EdDSA) demo key derived from a published seed: the same on every machine."""
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_seed("ed25519/" + name))
    return _with_kid(DemoKey(name, "EdDSA", private))


@cache
def p256_key(name: str = "p256") -> DemoKey:
    """A P-256 (ES256) demo key derived from a published seed. ES256 *signatures* still vary per run."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(_seed("p256/" + name), "big") % (order - 1) + 1
    return _with_kid(DemoKey(name, "ES256", ec.derive_private_key(scalar, ec.SECP256R1())))


RSA_DEMO_KEY_COUNT = 4


@cache
def rsa_key(index: int = 0, alg: str = "RS256") -> DemoKey:
    """RSA-2048 demo key number `index` (0-3) from the committed PEM files, bound to `alg` (RS256 or PS256)."""
    if not 0 <= index < RSA_DEMO_KEY_COUNT:
        raise ValueError(f"there are {RSA_DEMO_KEY_COUNT} RSA demo keys (0-{RSA_DEMO_KEY_COUNT - 1})")
    if alg not in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        raise ValueError(f"{alg} is not an RSA algorithm")
    pem = resources.files("jwtlab").joinpath(f"demo_keys/rsa-demo-{index}.pem").read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    return _with_kid(DemoKey(f"rsa-{index}", alg, private))


@cache
def hmac_secret(name: str = "hs256") -> DemoSecret:
    """A 256-bit HMAC demo secret derived from a published label."""
    secret = _seed("hmac/" + name)
    kid = thumbprint({"kty": "oct", "k": b64.encode(secret)})
    return DemoSecret(name, secret, "HS256", kid)


def jwks(*keys: DemoKey) -> dict[str, list[JWK]]:
    """A JWK Set publishing the public half of each key (never an HMAC secret)."""
    for key in keys:
        if isinstance(key, DemoSecret):
            raise TypeError("an HMAC secret is not a public key: it never goes into a published JWKS")
    return {"keys": [key.public_jwk() for key in keys]}


def all_demo_keys() -> list[DemoKey]:
    """The course's default keys, one per algorithm family."""
    return [rsa_key(0), ed25519_key(), p256_key()]


def weak_secret_wordlist() -> list[str]:
    """The small wordlist shipped for the offline HMAC-cracking demos (checklist B.3)."""
    text = resources.files("jwtlab").joinpath("data/weak-secrets.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]
