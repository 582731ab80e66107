"""DPoP proofs (RFC 9449): what a thief can and cannot do with a stolen DPoP-bound token.

Each refusal is asserted with its stable reason code, so a check that stops working fails here, and
a proof that is fine must still pass (a verifier that refuses everything would pass the other tests).
"""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtlab import b64, keys
from jwtlab.clock import COURSE_NOW
from jwtlab.dpop import (
    DpopRejected,
    DpopVerifier,
    ReplayCache,
    ath_of,
    jkt_of,
    make_proof,
    normalise_htu,
    single_proof,
)
from jwtlab.keys import public_jwk_of
from jwtlab.reasons import DPOP_REASONS

URL = "https://api.example.test/orders/42"
CLIENT = keys.p256_key("dpop-client")  # demo key: the legitimate client's proof key
THIEF = keys.p256_key("dpop-thief")  # demo key: a thief's own key
TOKEN = "eyJ.demo-access-token.sig"  # the value only matters through its hash (ath)
BOUND = {"sub": "alice", "cnf": {"jkt": jkt_of(CLIENT.public_key)}}


def verifier(**settings_: object) -> DpopVerifier:
    return DpopVerifier(clock=lambda: COURSE_NOW, **settings_)


def proof(key: keys.DemoKey = CLIENT, method: str = "GET", url: str = URL, **kw: object) -> str:
    kw.setdefault("now", COURSE_NOW)
    kw.setdefault("access_token", TOKEN)
    return make_proof(key, method, url, **kw)


def signed(header: dict, claims: dict, key: keys.DemoKey = CLIENT) -> str:
    """Sign exactly this header (PyJWT would add or change members): how a hostile client does it."""
    head = b64.encode_json(header)
    body = b64.encode_json(claims)
    signature = jwt.get_algorithm_by_name(key.alg).sign(f"{head}.{body}".encode(), key.signing_key)
    return f"{head}.{body}.{b64.encode(signature)}"


def good_claims(**extra: object) -> dict:
    return {"jti": "j-1", "htm": "GET", "htu": URL, "iat": COURSE_NOW, "ath": ath_of(TOKEN), **extra}


def good_header(key: keys.DemoKey = CLIENT, **extra: object) -> dict:
    return {"typ": "dpop+jwt", "alg": key.alg, "jwk": public_jwk_of(key.public_key), **extra}


def rejected(reason: str, value: object, **kw: object) -> DpopRejected:
    kw.setdefault("method", "GET")
    kw.setdefault("url", URL)
    kw.setdefault("access_token", TOKEN)
    kw.setdefault("token_claims", BOUND)
    v = kw.pop("v", None) or verifier()
    with pytest.raises(DpopRejected) as info:
        v.verify(value, **kw)
    assert info.value.reason == reason, info.value
    assert info.value.status_code == 401 and info.value.reason in DPOP_REASONS
    if isinstance(value, str) and len(value) > 20:
        assert value not in str(info.value) and value not in info.value.www_authenticate()
    return info.value


@pytest.mark.parametrize("key", [CLIENT, keys.ed25519_key("dpop-ed"), keys.rsa_key(1, "PS256"), keys.rsa_key(2)])
def test_a_fresh_proof_by_the_bound_key_passes(key: keys.DemoKey) -> None:
    bound = {"cnf": {"jkt": jkt_of(key.public_key)}}
    result = verifier().verify(proof(key), method="GET", url=URL, access_token=TOKEN, token_claims=bound)
    assert result.jkt == jkt_of(key.public_key) and result.htm == "GET" and result.iat == COURSE_NOW


def test_the_thief_without_the_key_is_refused() -> None:
    assert single_proof(["p"]) == "p"
    for headers in ([], ["a", "b"]):
        with pytest.raises(DpopRejected) as info:
            single_proof(headers)
        assert info.value.reason == "dpop_missing"
    # The thief signs a proof with a key of their own: valid proof, but the token names another key.
    error = rejected("dpop_key_mismatch", proof(THIEF))
    assert error.error == "invalid_token"
    # ...or copies the victim's public key into the header and signs with their own.
    rejected("dpop_invalid", signed(good_header(CLIENT), good_claims(), key=THIEF))
    rejected("dpop_key_mismatch", proof(), token_claims={"sub": "alice"})  # a token with no cnf.jkt


def test_a_proof_names_one_request() -> None:
    rejected("dpop_wrong_request", proof(method="POST"))
    rejected("dpop_wrong_request", proof(url="https://api.example.test/orders/43"))
    rejected("dpop_wrong_request", proof(url="https://evil.example.test/orders/42"))
    rejected("dpop_wrong_request", proof(url="http://api.example.test/orders/42"))
    rejected("dpop_wrong_request", proof(url="not a url"))
    # One URL spelt differently is still that URL; the query and fragment take no part (RFC 9449 §4.3).
    for same in ("HTTPS://API.example.test:443/orders/42", "https://api.example.test/orders/42?x=1#f"):
        verifier().verify(proof(url=same), method="GET", url=URL, access_token=TOKEN, token_claims=BOUND)
    assert normalise_htu("http://[::1]:8080/a?b") == "http://[::1]:8080/a"
    assert normalise_htu("http://127.0.0.1") == "http://127.0.0.1/"


def test_a_proof_is_good_for_a_minute_and_once() -> None:
    rejected("dpop_stale", proof(now=COURSE_NOW - 61))
    rejected("dpop_stale", proof(now=COURSE_NOW + 6))
    verifier().verify(proof(now=COURSE_NOW - 59), method="GET", url=URL)
    v = verifier()
    captured = proof()
    v.verify(captured, method="GET", url=URL, access_token=TOKEN, token_claims=BOUND)
    rejected("dpop_replay", captured, v=v)
    for iat in ("1767225600", 1767225600.5, True, None):
        rejected("dpop_invalid", signed(good_header(), good_claims(iat=iat)))


def test_a_proof_names_one_access_token() -> None:
    rejected("dpop_wrong_token", proof(access_token="another.access.token"))
    rejected("dpop_wrong_token", signed(good_header(), {k: v for k, v in good_claims().items() if k != "ath"}))
    rejected("dpop_wrong_token", proof(), access_token="ey.non-ascii-é.x")  # hashing it cannot match


def test_the_server_nonce() -> None:
    v = verifier(nonces=lambda: {"n-current"})
    error = rejected("dpop_nonce", proof(), v=v)
    assert error.error == "use_dpop_nonce" and 'error="use_dpop_nonce"' in error.www_authenticate()
    rejected("dpop_nonce", proof(nonce="n-old", jti="other"), v=v)
    v.verify(proof(nonce="n-current"), method="GET", url=URL, access_token=TOKEN, token_claims=BOUND)


def _rsa_jwk(bits: int) -> dict:
    return public_jwk_of(rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key())


HOSTILE_HEADERS = {
    "typ JWT": {"typ": "JWT"},
    "typ missing": {"typ": None},
    "typ at+jwt": {"typ": "at+jwt"},
    "alg none": {"alg": "none"},
    "alg HS256": {"alg": "HS256"},
    "alg not a string": {"alg": ["ES256"]},
    "no jwk": {"jwk": None},
    "jwk a string": {"jwk": "key"},
    "private jwk": {"jwk": {**public_jwk_of(CLIENT.public_key), "d": "AAAA"}},
    "symmetric jwk": {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
    "RSA jwk for ES256": {"jwk": _rsa_jwk(2048)},
    "P-384 jwk for ES256": {"jwk": public_jwk_of(ec.generate_private_key(ec.SECP384R1()).public_key())},
    "jwk off the curve": {"jwk": {**public_jwk_of(CLIENT.public_key), "y": b64.encode(b"\x01" * 32)}},
    "crit": {"crit": ["exp"]},
}


@pytest.mark.parametrize("change", HOSTILE_HEADERS.values(), ids=HOSTILE_HEADERS.keys())
def test_hostile_headers_are_refused(change: dict) -> None:
    header = {k: v for k, v in {**good_header(), **change}.items() if v is not None}
    rejected("dpop_invalid", signed(header, good_claims()))


def test_a_short_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": public_jwk_of(weak.public_key())}
    body = f"{b64.encode_json(header)}.{b64.encode_json(good_claims())}"
    sig = jwt.get_algorithm_by_name("RS256").sign(body.encode(), weak)
    rejected("dpop_invalid", f"{body}.{b64.encode(sig)}")


DUPLICATE_TYP = b'{"typ":"dpop+jwt","typ":"JWT","alg":"ES256"}'


@pytest.mark.parametrize(
    "value",
    [None, 42, b"bytes", "", "a.b", "a.b.c", "x" * 5000, proof() + "=", proof().replace(".", "..", 1),
     b64.encode(b"[1]") + ".e30.AAAA", b64.encode(DUPLICATE_TYP) + ".e30.AAAA"],
)
def test_garbage_is_refused_not_crashed(value: object) -> None:
    rejected("dpop_invalid", value)


def test_claims_must_be_present_and_bounded() -> None:
    for name in ("jti", "htm", "htu"):
        rejected("dpop_invalid", signed(good_header(), {**good_claims(), name: ""}))
        rejected("dpop_invalid", signed(good_header(), {**good_claims(), name: 7}))
    rejected("dpop_invalid", signed(good_header(), good_claims(jti="j" * 129)))


@settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b64.encode(b)))
def test_nothing_but_a_dpop_rejection_escapes(text: str) -> None:
    for candidate in (text, f"{text}.{text}.{text}", f"{b64.encode_json(good_header())}.{text}.AAAA"):
        with pytest.raises(DpopRejected):
            verifier().verify(candidate, method="GET", url=URL, access_token=TOKEN, token_claims=BOUND)


def test_the_replay_cache_stays_bounded_and_never_lets_a_replay_through() -> None:
    cache = ReplayCache(window=65, max_entries=500)
    accepted = []
    for i in range(5_000):  # a flood of unique jtis, all made "now"
        if cache.remember(f"flood-{i}", COURSE_NOW + i // 100, COURSE_NOW + i // 100) is None:
            accepted.append((f"flood-{i}", COURSE_NOW + i // 100))
        assert len(cache) <= 500
    later = COURSE_NOW + 50
    assert all(cache.remember(jti, iat, later) in ("replay", "evicted") for jti, iat in accepted)
    # Once the window has passed, memory is given back.
    cache.remember("after", later + 200, later + 200)
    assert len(cache) == 1


def test_the_challenge_names_the_algorithms_and_never_the_proof() -> None:
    v = verifier()
    captured = proof(jti="r")
    v.verify(captured, method="GET", url=URL)
    error = rejected("dpop_replay", captured, v=v)
    challenge = error.www_authenticate()
    assert challenge.startswith('DPoP algs="ES256 EdDSA PS256 RS256", error="invalid_dpop_proof"')
    assert json.dumps(captured) not in challenge


def test_settings_that_cannot_be_safe_are_refused() -> None:
    for algorithms in ((), ("HS256",), ("none",)):
        with pytest.raises(ValueError):
            DpopVerifier(algorithms=algorithms)
