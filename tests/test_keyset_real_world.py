"""Key sets as identity providers publish them: members the verifier cannot use are skipped (RFC 7517 §5).

Keycloak publishes an RSA-OAEP encryption key beside its signing key, newer providers an `alg: Ed25519`
key (RFC 9864) or a post-quantum key type; a verifier that refuses the whole set for one such member
rejects every token. These tests use the shapes real providers publish.
"""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed448

from jwtlab import b64, clock, keys
from jwtlab.inspect import load_jwks
from jwtlab.verify import KeySet, TokenRejected, verify_token

RSA = keys.rsa_key(0)
EC = keys.p256_key()
ED = keys.ed25519_key()
ISS, AUD = "https://idp.course.example", "orders-api"
NOW = clock.now()
#: Shapes seen in real key sets: an encryption key (use: enc, RSA-OAEP), a post-quantum key (kty AKP,
#: ML-DSA, draft-ietf-cose-dilithium), a key that may only sign, an unknown future kty.
ENC_KEY = {**keys.rsa_key(1).public_jwk(), "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"}
PQ_KEY = {"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq-1", "pub": "AAAA", "use": "sig"}
SIGN_ONLY = {**keys.rsa_key(2).public_jwk(), "kid": "sign-only", "key_ops": ["sign"]}
FUTURE_KTY = {"kty": "XYZ", "kid": "future-1", "x": "AAAA"}
#: An encryption key published without `use`, only its `alg` says so; a key that may only wrap keys.
OAEP_NO_USE = {**keys.rsa_key(3).public_jwk(), "kid": "oaep-2", "alg": "RSA-OAEP-256"}
OAEP_NO_USE.pop("use")
WRAP_ONLY = {**keys.p256_key("wrap").public_jwk(), "kid": "wrap", "key_ops": ["wrapKey"]}
WRAP_ONLY.pop("alg")


def token(key: keys.DemoKey, alg: str | None = None, **claims) -> str:
    body = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW - 10, "exp": NOW + 300, **claims}
    if alg is None:
        return jwt.encode(body, key.signing_key, algorithm=key.alg, headers=key.headers())
    # PyJWT has no "Ed25519" name: sign by hand, exactly as RFC 9864 specifies (it is EdDSA with Ed25519).
    header = b64.encode(json.dumps({"alg": alg, "kid": key.kid, "typ": "JWT"}).encode())
    payload = b64.encode(json.dumps(body).encode())
    signature = key.private_key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64.encode(signature)}"


def verify(tok: str, jwks: dict, algorithms=("RS256", "ES256", "EdDSA")) -> dict:
    return verify_token(tok, jwks, algorithms=list(algorithms), issuer=ISS, audience=AUD, now=NOW)


@pytest.mark.parametrize(
    "extra",
    [ENC_KEY, PQ_KEY, SIGN_ONLY, FUTURE_KTY, OAEP_NO_USE, WRAP_ONLY,
     {**ED.public_jwk(), "kid": "ed-new", "alg": "Ed25519"}],
    ids=["enc-key", "pq-key", "key-ops-sign", "unknown-kty", "oaep-without-use", "wrap-only", "alg-Ed25519"],
)
def test_one_odd_member_does_not_break_the_right_key(extra: dict) -> None:
    jwks = {"keys": [extra, RSA.public_jwk()]}
    assert verify(token(RSA), jwks)["sub"] == "alice"


def test_an_identity_providers_mixed_set_verifies_each_family() -> None:
    jwks = {"keys": [ENC_KEY, RSA.public_jwk(), EC.public_jwk(), ED.public_jwk(), PQ_KEY, OAEP_NO_USE, WRAP_ONLY]}
    for key in (RSA, EC, ED):
        assert verify(token(key), jwks)["sub"] == "alice"
    assert [kid for kid, _ in KeySet(jwks).skipped] == ["enc-1", "pq-1", "oaep-2", "wrap"]


@pytest.mark.parametrize("member", [ENC_KEY, SIGN_ONLY], ids=["enc-key", "key-ops-sign"])
def test_a_skipped_key_never_verifies_anything(member: dict) -> None:
    """A token signed with the private half of a skipped member is refused, even though its kid is listed."""
    signer = keys.rsa_key(1) if member is ENC_KEY else keys.rsa_key(2)
    tok = jwt.encode({"iss": ISS, "aud": AUD, "sub": "mallory", "iat": NOW, "exp": NOW + 60},
                     signer.signing_key, algorithm="RS256", headers={"kid": member["kid"]})
    with pytest.raises(TokenRejected) as exc:
        verify(tok, {"keys": [member, RSA.public_jwk()]})
    assert exc.value.reason == "kid_unknown"


def test_a_set_with_no_usable_member_is_still_refused() -> None:
    with pytest.raises(ValueError, match="no usable verification key"):
        KeySet({"keys": [ENC_KEY, PQ_KEY, FUTURE_KTY]})
    with pytest.raises(TokenRejected) as exc:
        verify(token(RSA), {"keys": [ENC_KEY, PQ_KEY]})
    assert exc.value.reason == "misconfigured"


def test_a_private_key_in_the_set_is_still_refused() -> None:
    leaked = {**RSA.public_jwk(), "d": "AAAA"}
    with pytest.raises(ValueError, match="private"):
        KeySet({"keys": [leaked]})


def test_rfc_9864_ed25519_name_on_the_key_and_on_the_token() -> None:
    jwks = {"keys": [{**ED.public_jwk(), "alg": "Ed25519"}]}
    assert verify(token(ED), jwks)["sub"] == "alice"  # an EdDSA token, the key says Ed25519
    assert verify(token(ED, alg="Ed25519"), jwks, algorithms=["Ed25519"])["sub"] == "alice"
    assert verify(token(ED, alg="Ed25519"), {"keys": [ED.public_jwk()]}, algorithms=["Ed25519"])
    with pytest.raises(TokenRejected) as exc:  # the allowlist still decides
        verify(token(ED, alg="Ed25519"), jwks, algorithms=["EdDSA"])
    assert exc.value.reason == "alg_not_allowed"


def test_ed25519_is_never_used_with_an_ed448_key() -> None:
    raw = ed448.Ed448PrivateKey.generate().public_key().public_bytes_raw()
    ed448_jwk = {"kty": "OKP", "crv": "Ed448", "x": b64.encode(raw)}
    skipped = KeySet({"keys": [{**ed448_jwk, "kid": "x", "alg": "Ed25519"}, RSA.public_jwk()]}).skipped
    assert skipped and "Ed25519" in skipped[0][1]
    with pytest.raises(TokenRejected) as exc:
        verify(token(ED, alg="Ed25519"), {"keys": [{**ed448_jwk, "kid": ED.kid}]}, algorithms=["Ed25519"])
    assert exc.value.reason in ("alg_not_allowed", "bad_signature", "misconfigured")  # PyJWT cannot parse Ed448


def test_inspect_lists_the_skipped_members() -> None:
    jwks = {"keys": [ENC_KEY, RSA.public_jwk(), PQ_KEY]}
    _, labels = load_jwks(json.dumps(jwks).encode(), "idp.json")
    assert any(label.startswith("idp.json: RSA kid=") for label in labels)
    skipped = [label for label in labels if "skipped" in label]
    assert len(skipped) == 2 and "kid=enc-1" in skipped[0] and "RFC 7517" in skipped[0]
