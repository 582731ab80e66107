"""Key sets shaped like the ones identity providers publish: members this verifier cannot use are skipped.

An IdP set carries an encryption key beside its signing keys, sets mix RSA/EC/OKP, and newer sets hold
`alg: Ed25519` (RFC 9864) or post-quantum (`kty: AKP`) keys. None of these may turn a correctly signed
token into `misconfigured`, none may verify anything, and a set with nothing usable is still refused.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from jwtlab import keys
from jwtlab.inspect import load_jwks
from jwtlab.jwks import JwksClient
from jwtlab.verify import KeySet, TokenRejected, jwk_skip_reason, verify_token

RSA = keys.rsa_key()
EC = keys.p256_key()
ED = keys.ed25519_key()
ENC_KEY = {**keys.public_jwk_of(keys.rsa_key(1).public_key), "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"}
OAEP_NO_USE = {**keys.public_jwk_of(keys.rsa_key(2).public_key), "kid": "oaep-2", "alg": "RSA-OAEP-256"}
ED25519_NAME = {**keys.public_jwk_of(ED.public_key), "kid": "ed-new", "alg": "Ed25519", "use": "sig"}
PQ_KEY = {"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq-1", "pub": "AAAA", "use": "sig"}
WRAP_ONLY = {**keys.public_jwk_of(EC.public_key), "kid": "wrap", "key_ops": ["wrapKey"]}
IDP_SET: dict[str, Any] = {
    "keys": [ENC_KEY, OAEP_NO_USE, ED25519_NAME, PQ_KEY, WRAP_ONLY, RSA.public_jwk(), EC.public_jwk(), ED.public_jwk()]
}
ISSUER, AUDIENCE = "https://idp.example", "orders"


def token(key: keys.DemoKey, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers={"kid": kid or key.kid})


@pytest.mark.parametrize("key", [RSA, EC, ED], ids=lambda k: k.alg)
def test_a_correct_token_verifies_against_a_mixed_idp_set(key: keys.DemoKey) -> None:
    claims = verify_token(token(key), IDP_SET, issuer=ISSUER, audience=AUDIENCE, algorithms=[key.alg])
    assert claims["sub"] == "alice"


def test_the_skipped_members_are_named_with_a_reason() -> None:
    skipped = dict(KeySet(IDP_SET).skipped)
    assert set(skipped) == {"enc-1", "oaep-2", "ed-new", "pq-1", "wrap"}
    assert "use 'enc'" in skipped["enc-1"] and "key_ops" in skipped["wrap"] and "'AKP'" in skipped["pq-1"]


@pytest.mark.parametrize("kid", ["enc-1", "ed-new", "pq-1", "wrap"])
def test_a_skipped_key_never_verifies(kid: str) -> None:
    signer = ED if kid == "ed-new" else RSA if kid == "enc-1" else EC
    with pytest.raises(TokenRejected) as caught:
        verify_token(token(signer, kid=kid), IDP_SET, issuer=ISSUER, audience=AUDIENCE, algorithms=[signer.alg])
    assert caught.value.reason != "misconfigured"


def test_a_set_with_no_usable_key_is_still_refused() -> None:
    with pytest.raises(ValueError, match="no usable signing key"):
        KeySet({"keys": [ENC_KEY, PQ_KEY, ED25519_NAME]})
    with pytest.raises(TokenRejected) as caught:
        verify_token(token(RSA), {"keys": [ENC_KEY]}, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"])
    assert caught.value.reason == "misconfigured"


def test_the_remote_jwks_parser_shares_the_rule() -> None:
    import json

    key_set, kids = JwksClient.parse(json.dumps(IDP_SET).encode())
    assert kids == {RSA.kid, EC.kid, ED.kid}
    assert jwk_skip_reason(ENC_KEY) and jwk_skip_reason(RSA.public_jwk()) is None


def test_inspect_lists_skipped_keys() -> None:
    import json

    _, labels = load_jwks(json.dumps(IDP_SET).encode(), "idp.json")
    assert any(label.startswith("idp.json: skipped kid=enc-1 (use 'enc'") for label in labels)
    assert sum("skipped" not in label for label in labels) == 3
