"""verify_token refuses unusable settings and weak RSA keys, and its log fields cannot forge log lines."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from jwtlab import KeySet, TokenRejected, clock, keys, verify_token

KEY = keys.ed25519_key()
TOKEN = jwt.encode(clock.claims(), KEY.signing_key, algorithm="EdDSA", headers=KEY.headers())
BASE: dict[str, Any] = {"issuer": clock.DEMO_ISSUER, "audience": clock.DEMO_AUDIENCE, "algorithms": ["EdDSA"],
                        "now": clock.now()}


@pytest.mark.parametrize("setting", [
    {"now": float("nan")}, {"now": float("inf")}, {"now": "1767225600"}, {"now": -1},
    {"max_lifetime": float("nan")}, {"max_lifetime": "600"}, {"max_lifetime": 0},
    {"max_size": None}, {"max_size": 0}, {"max_size": 8192.0},
    {"typ": 5}, {"typ": ""},
], ids=repr)
def test_unusable_settings_are_misconfigured_never_a_silent_accept(setting: dict[str, Any]) -> None:
    with pytest.raises(TokenRejected) as caught:
        verify_token(TOKEN, KEY, **{**BASE, **setting})
    assert caught.value.reason == "misconfigured"


def test_rsa_keys_below_2048_bits_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(clock.claims(), small, algorithm="RS256")
    with pytest.raises(TokenRejected) as caught:
        verify_token(token, small.public_key(), **{**BASE, "algorithms": ["RS256"]})
    assert caught.value.reason == "weak_key"


def test_log_fields_are_short_printable_ascii() -> None:
    hostile = jwt.encode(clock.claims(jti="j\r\n2026-01-01 INFO allowed sub=admin"), KEY.signing_key,
                         algorithm="EdDSA", headers={"kid": "k\n" + "x" * 500})
    with pytest.raises(TokenRejected) as caught:
        verify_token(hostile, keys.jwks(KEY), **BASE)
    fields = caught.value.log_fields()
    for value in fields.values():
        assert value is None or (value.isascii() and value.isprintable() and len(value) <= 80)


def test_text_keys_are_parsed_once_per_distinct_value() -> None:
    pem = keys.rsa_key(0).public_pem().decode()
    assert KeySet.of(pem) is KeySet.of(pem)
    secret = keys.hmac_secret().secret
    assert KeySet.of(secret) is KeySet.of(secret)
