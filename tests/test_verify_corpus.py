"""`verify_token` against the security checklist: every forgery of section B is rejected with its reason.

The corpus is built here, programmatically (see `forgery.py`), from the demo keys and the course clock:
each family of the checklist is a generator of hostile tokens plus the reason code a learner should see.
A second part documents the gap this toolkit closes: correctly signed tokens that plain `jwt.decode`
accepts and `verify_token` rejects. A third part pins what must keep working: honest tokens of every
algorithm, the leeway boundaries, `typ` spellings and every way of handing over keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from forgery import (
    ASYMMETRIC,
    ASYMMETRIC_ALGS,
    ATTACKER,
    AUDIENCE,
    B64_DIGITS,
    EC,
    ED,
    HS,
    ISSUER,
    NOW,
    PSS,
    RSA,
    claims_with_unused_bits,
    flip_unused_bits,
    forge,
    good_claims,
    good_token,
    header_for,
    header_with_unused_bits,
    json_bytes,
    segment,
    sign_input,
    with_claims_text,
)

from jwtlab import b64, keys
from jwtlab.reasons import REASONS
from jwtlab.verify import DEFAULT_MAX_SIZE, KeySet, TokenRejected, verify_signature, verify_token

ALL_KEYS = (RSA, PSS, EC, ED, HS)
ALL_ALGS = [*ASYMMETRIC_ALGS, "HS256"]
JWKS = keys.jwks(*ASYMMETRIC)
#: The default verifier of this module: the four asymmetric demo keys (by kid) and the HMAC demo secret.
TRUSTED = KeySet([JWKS, HS])
REQUIRED = ("exp", "iat", "iss", "aud", "sub")

Param = Any  # a pytest.param


def verify(token: Any, key_set: Any = TRUSTED, **options: Any) -> dict[str, Any]:
    """The module's standard verifier: demo issuer and audience, course clock, all five algorithms."""
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ALL_ALGS, "now": NOW}
    settings.update(options)
    return verify_token(token, key_set, **settings)


def assert_rejected(token: Any, reason: str, key_set: Any = TRUSTED, **options: Any) -> TokenRejected:
    """Rejected with exactly `reason`, as a `TokenRejected` (nothing else escapes) that never quotes the token."""
    with pytest.raises(TokenRejected) as info:
        verify(token, key_set, **options)
    exc = info.value
    assert type(exc) is TokenRejected
    assert exc.reason == reason, f"expected {reason}, got {exc.reason}: {exc.message}"
    assert exc.reason in REASONS and exc.status_code == 401
    if isinstance(token, str) and len(token) >= 16:
        for part in {token, *token.split(".")} - {""}:
            if len(part) >= 16:
                assert part not in str(exc) and part not in repr(exc.log_fields())
    return exc


def case(token: str, reason: str, name: str, **options: Any) -> Param:
    return pytest.param(token, reason, options, id=name)


# --- B.1 alg: none ----------------------------------------------------------------------------------------

def none_family() -> Iterator[Param]:
    real_signature = good_token(RSA).split(".")[2]
    claims = segment(good_claims())
    for variant in ("none", "None", "NONE", "nOnE"):
        for header in ({"alg": variant, "typ": "JWT"}, {"alg": variant, "kid": RSA.kid}):
            h = segment(header)
            tag = f"{variant}-kid" if "kid" in header else variant
            yield case(f"{h}.{claims}.", "alg_not_allowed", f"{tag}-empty-signature")
            yield case(f"{h}.{claims}.{real_signature}", "alg_not_allowed", f"{tag}-with-signature")
            yield case(f"{h}.{claims}.{b64.encode(b'x')}", "alg_not_allowed", f"{tag}-junk-signature")
    h = segment({"alg": "none"})
    # An allowlist that names "none" still never accepts it.
    yield case(f"{h}.{claims}.", "alg_not_allowed", "none-listed-in-allowlist", algorithms=["RS256", "none"])
    # RFC 8725 §3.1 (revision): algorithm names compare exactly, case included.
    for variant in ("rs256", "Rs256", "RS256 ", " RS256", "RS256\u0000", "RS-256", "HS256\u200b"):
        yield case(forge({"alg": variant, "kid": RSA.kid}, good_claims(), RSA, alg="RS256"), "alg_not_allowed",
                   f"alg-spelling-{variant.encode('unicode_escape').decode()}")
    yield case(f"{segment({'alg': 'none'})}.{claims}", "malformed", "none-two-segments")


@pytest.mark.parametrize(("token", "reason", "options"), list(none_family()))
def test_b1_alg_none_is_never_accepted(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.2 algorithm confusion --------------------------------------------------------------------------------

def public_key_forms(key: keys.DemoKey) -> dict[str, bytes]:
    """Every serialisation of a public key an attacker can find and use as an HMAC secret."""
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    public = key.public_key
    pem = public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo)
    forms = {
        "pem": pem,
        "pem-no-final-newline": pem.rstrip(b"\n"),
        "der": public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "jwk-json": json.dumps(key.public_jwk()).encode(),
        "jwk-json-compact": json_bytes(keys.public_jwk_of(public)),
    }
    if key.alg.startswith(("RS", "PS")):
        forms["pkcs1-pem"] = public.public_bytes(enc.PEM, fmt.PKCS1)
        forms["pkcs1-der"] = public.public_bytes(enc.DER, fmt.PKCS1)
    if key.alg == "EdDSA":
        forms["raw"] = public.public_bytes(enc.Raw, fmt.Raw)
    if key.alg == "ES256":
        forms["x962-point"] = public.public_bytes(enc.X962, fmt.UncompressedPoint)
    return forms


def confusion_family() -> Iterator[Param]:
    for key in (RSA, EC, ED):
        for form, secret in public_key_forms(key).items():
            for with_kid in (True, False):
                header = {"alg": "HS256", "typ": "JWT", **({"kid": key.kid} if with_kid else {})}
                token = forge(header, good_claims(), secret)
                kid_tag = "kid" if with_kid else "no-kid"
                for holds_tag, holds in (("jwks", KeySet(JWKS)), ("key-object", key.public_key)):
                    for allow_tag, allowed in (("own-alg", [key.alg]), ("mixed", [key.alg, "HS256"])):
                        yield pytest.param(token, holds, allowed,
                                           id=f"{key.alg}-{form}-{kid_tag}-{holds_tag}-{allow_tag}")


@pytest.mark.parametrize(("token", "holds", "allowed"), list(confusion_family()))
def test_b2_public_key_as_hmac_secret_is_alg_not_allowed(token: str, holds: Any, allowed: list[str]) -> None:
    # The verifier holds the real public key (or its JWKS): a key is used only with its own algorithm family.
    assert_rejected(token, "alg_not_allowed", holds, algorithms=allowed)


def misconfigured_secret_forms() -> Iterator[Param]:
    for key in (RSA, EC, ED):
        for form, secret in public_key_forms(key).items():
            if form in ("raw", "x962-point"):
                # Raw key bytes look like any random secret; only holding the real key object (above) defends.
                continue
            yield pytest.param(key, secret, id=f"{key.alg}-{form}")


@pytest.mark.parametrize(("key", "secret"), list(misconfigured_secret_forms()))
def test_b2_public_key_handed_over_as_hmac_secret_is_misconfigured(key: keys.DemoKey, secret: bytes) -> None:
    # The mirror image: a verifier *configured* with public-key bytes as its HMAC secret refuses to start,
    # so the attacker's HS256 token (MACed with those very bytes) can never verify.
    token = forge({"alg": "HS256", "typ": "JWT"}, good_claims(), secret)
    assert_rejected(token, "misconfigured", secret, algorithms=["HS256"])
    with pytest.raises(ValueError, match="algorithm confusion"):
        KeySet(secret)


# --- B.3 weak HMAC secrets ----------------------------------------------------------------------------------

def weak_secret_family() -> Iterator[Param]:
    for word in keys.weak_secret_wordlist():
        yield pytest.param(word, id=f"wordlist-{word}")
    yield pytest.param(b"", id="empty")  # what `kid: ../../dev/null` reads
    yield pytest.param(b"k" * 31, id="31-bytes")
    yield pytest.param({"kty": "oct", "k": b64.encode(b"secret"), "kid": "weak", "alg": "HS256"}, id="jwk-oct")


@pytest.mark.parametrize("secret", list(weak_secret_family()))
def test_b3_verifier_with_a_weak_secret_says_weak_key(secret: Any) -> None:
    # The attacker cracked the secret offline and re-signed: the verifier refuses to use such a secret at all.
    raw = secret if isinstance(secret, bytes) else (
        b64.decode(secret["k"]) if isinstance(secret, dict) else secret.encode())
    header = {"alg": "HS256", "typ": "JWT", **({"kid": "weak"} if isinstance(secret, dict) else {})}
    token = forge(header, good_claims(sub="admin"), raw)
    assert_rejected(token, "weak_key", secret, algorithms=["HS256"])


def test_b3_a_256_bit_secret_is_the_minimum() -> None:
    secret = bytes(range(32))
    token = forge({"alg": "HS256"}, good_claims(), secret)
    assert verify(token, secret, algorithms=["HS256"])["sub"] == "alice"


# --- B.4 kid injection --------------------------------------------------------------------------------------

KID_INJECTIONS = [
    "../../../../../../dev/null", "/dev/null", "..%2f..%2f..%2fdev%2fnull", "..\\..\\..\\windows\\win.ini",
    "' UNION SELECT 'attacker-key' -- ", "x' OR '1'='1", "1; DROP TABLE keys",
    "| cat /etc/passwd", "; sleep 10", "$(id)", "`id`", "key\u0000.pem", "key\nX-Injected: 1", "", " ",
    RSA.kid + " ", RSA.kid.swapcase(), "x" * 1_000,
]


def kid_family() -> Iterator[Param]:
    for index, kid in enumerate(KID_INJECTIONS):
        for secret_tag, secret in (("empty-key", b""), ("chosen-key", b"attacker-key" * 4)):
            yield case(forge({"alg": "HS256", "kid": kid}, good_claims(sub="admin"), secret), "kid_unknown",
                       f"{index}-HS256-{secret_tag}")
        yield case(forge({"alg": "RS256", "kid": kid}, good_claims(sub="admin"), ATTACKER), "kid_unknown",
                   f"{index}-RS256-attacker")


@pytest.mark.parametrize(("token", "reason", "options"), list(kid_family()))
def test_b4_kid_injection_is_an_unknown_kid(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


def test_b4_kid_is_never_opened_as_a_path() -> None:
    # With a key set whose key has no kid, the kid is ignored: the injected HS256 token meets the RSA key.
    token = forge({"alg": "HS256", "kid": "../../../../dev/null"}, good_claims(), b"")
    assert_rejected(token, "alg_not_allowed", RSA.public_key)
    token = forge({"alg": "RS256", "kid": "../../../../dev/null"}, good_claims(), ATTACKER)
    assert_rejected(token, "bad_signature", RSA.public_key)


# --- B.5 / B.6 jku, x5u, jwk, x5c ----------------------------------------------------------------------------

LOCATION_TRICKS = [
    "https://attacker.example/jwks.json",
    "https://idp.course.example.attacker.example/jwks.json",
    "https://idp.course.example@attacker.example/jwks.json",
    "https://idp.course.example/../redirect?to=https://attacker.example/jwks.json",
    "https://idp.course.example/.well-known/jwks.json",
    "http://127.0.0.1:1/jwks.json",
    "file:///etc/passwd",
]


def self_signed_certificate(key: keys.DemoKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.course.example")])
    start = dt.datetime.fromtimestamp(NOW, dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key)
        .serial_number(1).not_valid_before(start).not_valid_after(start + dt.timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def forbidden_header_family() -> Iterator[Param]:
    for index, url in enumerate(LOCATION_TRICKS):
        for name in ("jku", "x5u"):
            yield case(forge(header_for(ATTACKER, **{name: url}), good_claims(sub="admin"), ATTACKER),
                       "forbidden_header", f"{name}-{index}-attacker-key")
            # Even a token signed by the real key is refused: key locations are never honoured.
            yield case(forge(header_for(RSA, **{name: url}), good_claims(), RSA), "forbidden_header",
                       f"{name}-{index}-real-key")
    for embedded in (ATTACKER, keys.ed25519_key("attacker")):
        jwk = keys.public_jwk_of(embedded.public_key)
        yield case(forge(header_for(embedded, jwk=jwk), good_claims(sub="admin"), embedded), "forbidden_header",
                   f"jwk-{embedded.alg}")
        yield case(forge({"alg": embedded.alg, "jwk": jwk}, good_claims(sub="admin"), embedded), "forbidden_header",
                   f"jwk-{embedded.alg}-no-kid")
    x5c = [base64.b64encode(self_signed_certificate(ATTACKER)).decode()]
    yield case(forge(header_for(ATTACKER, x5c=x5c), good_claims(sub="admin"), ATTACKER), "forbidden_header", "x5c")
    yield case(forge({"alg": "RS256", "x5c": x5c}, good_claims(sub="admin"), ATTACKER), "forbidden_header",
               "x5c-no-kid")
    for name, value in (("enc", "A256GCM"), ("zip", "DEF"), ("epk", {"kty": "EC"})):
        yield case(forge(header_for(RSA, **{name: value}), good_claims(), RSA), "forbidden_header", name)


@pytest.mark.parametrize(("token", "reason", "options"), list(forbidden_header_family()))
def test_b5_b6_keys_and_key_locations_in_the_header_are_refused(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.7 psychic signatures -----------------------------------------------------------------------------------

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def psychic_family() -> Iterator[Param]:
    h, p, _ = good_token(EC).split(".")
    n = P256_ORDER.to_bytes(32, "big")
    zero, one = bytes(32), (1).to_bytes(32, "big")
    signatures = {"r=s=0": zero + zero, "r=s=n": n + n, "r=0,s=1": zero + one, "r=1,s=0": one + zero,
                  "r=n,s=1": n + one, "der-zero": bytes.fromhex("3006020100020100"), "all-ones": b"\xff" * 64}
    for name, signature in signatures.items():
        yield case(f"{h}.{p}.{b64.encode(signature)}", "bad_signature", f"ES256-{name}")
    for key in (RSA, ED, HS):
        h, p, s = good_token(key).split(".")
        yield case(f"{h}.{p}.{b64.encode(bytes(len(b64.decode(s))))}", "bad_signature", f"{key.alg}-all-zero")


@pytest.mark.parametrize(("token", "reason", "options"), list(psychic_family()))
def test_b7_psychic_signatures_fail(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.8 stripping, truncation, bit flips, tampering ------------------------------------------------------------

def _canonical(text: str) -> bool:
    """An oracle independent of `jwtlab.b64`: does this base64url text round-trip unchanged?"""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == text


def tampering_family() -> Iterator[Param]:
    for key in ALL_KEYS:
        token = good_token(key)
        h, p, s = token.split(".")
        sig = b64.decode(s)
        a = key.alg
        yield case(f"{h}.{p}.", "bad_signature", f"{a}-stripped")
        yield case(f"{h}.{p}", "malformed", f"{a}-signature-segment-dropped")
        yield case(f"{token}.", "malformed", f"{a}-fourth-empty-segment")
        yield case(f"{token}.{s}", "malformed", f"{a}-signature-twice")
        for cut in (1, len(sig) // 2, len(sig) - 1):
            yield case(f"{h}.{p}.{b64.encode(sig[:cut])}", "bad_signature", f"{a}-truncated-to-{cut}-bytes")
        yield case(f"{h}.{p}.{s[4:]}", "bad_signature", f"{a}-first-quantum-cut")
        if len(s) % 4 == 2:  # one character less leaves an impossible length (1 mod 4)
            yield case(f"{h}.{p}.{s[:-1]}", "malformed", f"{a}-last-character-cut")
        # A whole quantum less: the new final digit's unused bits were in use, so usually non-canonical.
        cut = s[:-4]
        yield case(f"{h}.{p}.{cut}", "bad_signature" if _canonical(cut) else "malformed", f"{a}-last-quantum-cut")
        yield case(f"{h}.{p}.{b64.encode(sig + bytes(1))}", "bad_signature", f"{a}-extended")
        for bit in (0, 7, 8 * (len(sig) // 2) + 3, 8 * len(sig) - 1):
            flipped = bytearray(sig)
            flipped[bit // 8] ^= 1 << (bit % 8)
            yield case(f"{h}.{p}.{b64.encode(bytes(flipped))}", "bad_signature", f"{a}-bit-{bit}-flipped")
        for name, change in (("sub-admin", {"sub": "admin"}), ("aud-other", {"aud": "billing-api"}),
                             ("exp-extended", {"exp": NOW + 86_400 * 365}), ("role-added", {"role": "admin"}),
                             ("iss-other", {"iss": "https://idp.attacker.example"})):
            yield case(f"{h}.{segment(good_claims(**change))}.{s}", "bad_signature", f"{a}-claims-{name}")
        yield case(f"{segment(header_for(key, typ='at+jwt'))}.{p}.{s}", "bad_signature", f"{a}-header-typ-changed")
        yield case(f"{p}.{h}.{s}", "malformed", f"{a}-header-and-payload-swapped")
        yield case(f"{h}.{h}.{s}", "bad_signature", f"{a}-header-as-payload")
    # Header tampering that moves the token to another algorithm: the key is bound to its own algorithm.
    h, p, s = good_token(RSA).split(".")
    yield case(f"{segment(header_for(RSA, alg='PS256'))}.{p}.{s}", "alg_not_allowed", "RS256-relabelled-PS256")
    yield case(f"{segment(header_for(RSA, kid=EC.kid))}.{p}.{s}", "alg_not_allowed", "RS256-kid-of-EC-key")
    yield case(f"{segment(header_for(RSA, kid=PSS.kid))}.{p}.{s}", "alg_not_allowed", "RS256-kid-of-PS256-key")


@pytest.mark.parametrize(("token", "reason", "options"), list(tampering_family()))
def test_b8_stripped_truncated_flipped_or_tampered_tokens_fail(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.9 time claims ---------------------------------------------------------------------------------------------

def time_family() -> Iterator[Param]:
    def signed(claims: dict[str, Any] | bytes) -> str:
        return forge(header_for(RSA), claims, RSA)

    yield case(signed(good_claims(iat=NOW - 400, exp=NOW - 61)), "expired", "expired-past-leeway")
    yield case(signed(good_claims(iat=NOW - 400, exp=NOW - 60)), "expired", "expired-exactly-at-leeway")
    yield case(signed(good_claims(iat=NOW - 9000, exp=NOW - 3600)), "expired", "expired-an-hour-ago")
    yield case(signed(good_claims(iat=NOW - 400, exp=NOW)), "expired", "expired-without-leeway", leeway=0)
    yield case(signed(good_claims(nbf=NOW + 61)), "not_yet_valid", "nbf-past-leeway")
    yield case(signed(good_claims(nbf=NOW + 3600)), "not_yet_valid", "nbf-in-an-hour")
    yield case(signed(good_claims(iat=NOW + 61, exp=NOW + 400)), "issued_in_future", "iat-past-leeway")
    yield case(signed(good_claims(iat=NOW + 86_400, exp=NOW + 90_000)), "issued_in_future", "iat-tomorrow")
    for name in REQUIRED:
        yield case(signed(good_claims(**{name: None})), "missing_claim", f"missing-{name}")
    yield case(signed(good_claims(nbf=None)), "missing_claim", "nbf-required", required=(*REQUIRED, "nbf"))
    tricks = {
        "numeric-string": '"1799999999"', "true": "true", "false": "false", "null": "null", "object": '{"$date":1}',
        "list": f"[{NOW + 300}]", "negative": "-1", "1e999": "1e999", "10^400": "1" + "0" * 400,
        "year-10000": "253402300800", "-0.5": "-0.5", "empty-string": '""',
    }
    for claim in ("exp", "nbf", "iat"):
        for name, raw in tricks.items():
            base = good_claims(**{claim: None})
            yield case(signed(with_claims_text(base, f'"{claim}":{raw}')), "bad_claim_type", f"{claim}-{name}")
        # NaN and Infinity are not JSON at all (RFC 8259): the claims set is malformed before it is read.
        for literal in ("NaN", "Infinity", "-Infinity"):
            base = good_claims(**{claim: None})
            yield case(signed(with_claims_text(base, f'"{claim}":{literal}')), "malformed", f"{claim}-{literal}")
    yield case(signed(good_claims(exp=NOW + 301)), "lifetime_too_long", "lifetime-301-over-300", max_lifetime=300)
    yield case(signed(good_claims(iat=None)), "missing_claim", "max-lifetime-needs-iat",
               max_lifetime=300, required=("exp", "iss", "aud", "sub"))


@pytest.mark.parametrize(("token", "reason", "options"), list(time_family()))
def test_b9_time_claims_and_their_type_tricks(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.10 / B.11 issuer, audience, cross-service replay -------------------------------------------------------------

def issuer_audience_family() -> Iterator[Param]:
    def signed(**change: Any) -> str:
        return forge(header_for(RSA), good_claims(**change), RSA)

    issuers = {
        "prefix": "https://idp.course", "substring": "idp.course.example", "superstring": ISSUER + ".attacker.example",
        "path-superstring": ISSUER + "/tenant", "trailing-slash": ISSUER + "/", "upper-case": ISSUER.upper(),
        "host-case": "https://IDP.course.example", "http-scheme": "http://idp.course.example",
        "leading-space": " " + ISSUER, "cve-2024-53861-substring": "https://idp",
    }
    for name, iss in issuers.items():
        yield case(signed(iss=iss), "issuer", f"iss-{name}")
    for name, raw in (("list", [ISSUER]), ("empty", ""), ("empty-list", []), ("number", 1), ("object", {"iss": ISSUER})):
        yield case(signed(iss=raw), "bad_claim_type", f"iss-{name}")
    yield case(forge(header_for(RSA), with_claims_text(good_claims(iss=None), '"iss":null'), RSA), "bad_claim_type",
               "iss-null")
    audiences = {
        "prefix": "orders", "substring": "rders-ap", "superstring": AUDIENCE + "-admin", "trailing-slash": AUDIENCE + "/",
        "upper-case": AUDIENCE.upper(), "other-service": "billing-api", "list-of-others": ["billing-api", "users-api"],
        "list-with-prefix": ["orders"], "url-form": "https://orders-api",
    }
    for name, aud in audiences.items():
        yield case(signed(aud=aud), "audience", f"aud-{name}")
    for name, raw in (("empty", ""), ("empty-list", []), ("list-with-empty", [""]), ("list-with-number", [AUDIENCE, 1]),
                      ("nested-list", [[AUDIENCE]]), ("number", 7)):
        yield case(signed(aud=raw), "bad_claim_type", f"aud-{name}")
    yield case(signed(sub=""), "bad_claim_type", "sub-empty")
    yield case(signed(sub=["alice"]), "bad_claim_type", "sub-list")
    yield case(signed(jti=""), "bad_claim_type", "jti-empty")
    # B.11: a token minted for another service, by another issuer, or of another kind.
    yield case(signed(aud="billing-api"), "audience", "replay-token-for-billing")
    yield case(signed(aud="orders-api"), "audience", "replay-orders-token-at-billing", audience="billing-api")
    other_issuer = forge(header_for(ATTACKER), good_claims(iss="https://idp.partner.example"), ATTACKER)
    yield case(other_issuer, "issuer", "replay-other-issuer-shared-key-set", key_set=KeySet([JWKS, ATTACKER]))
    yield case(forge(header_for(RSA, typ="JWT"), good_claims(), RSA), "typ", "id-token-as-access-token", typ="at+jwt")
    yield case(forge({"alg": "RS256", "kid": RSA.kid}, good_claims(), RSA), "typ", "untyped-as-access-token", typ="at+jwt")
    yield case(forge(header_for(RSA, typ="refresh+jwt"), good_claims(), RSA), "typ", "refresh-as-access-token",
               typ="at+jwt")
    yield case(forge(header_for(RSA, typ="at+jwt"), good_claims(), RSA), "typ", "access-token-as-id-token", typ="JWT")
    yield case(forge(header_for(RSA, typ=["at+jwt"]), good_claims(), RSA), "typ", "typ-list", typ="at+jwt")


@pytest.mark.parametrize(("token", "reason", "options"), list(issuer_audience_family()))
def test_b10_b11_issuer_audience_confusion_and_replay(token: str, reason: str, options: dict[str, Any]) -> None:
    key_set = options.pop("key_set", TRUSTED)
    assert_rejected(token, reason, key_set, **options)


# --- B.12 / B.13 crit, b64, duplicate names --------------------------------------------------------------------------

def crit_duplicate_family() -> Iterator[Param]:
    claims = good_claims()
    for name, extra in (("crit-exp", {"crit": ["exp"], "exp": NOW}), ("crit-unknown", {"crit": ["urn:x:unknown"]}),
                        ("crit-empty", {"crit": []}), ("crit-b64", {"crit": ["b64"], "b64": False}),
                        ("b64-false-alone", {"b64": False}), ("b64-true", {"b64": True}), ("crit-null", {"crit": None})):
        yield case(forge(header_for(RSA, **extra), claims, RSA), "crit_unsupported", name)
    # RFC 7797 detached-style payload: b64=false with the raw claims as the payload text.
    h = segment(header_for(RSA, crit=["b64"], b64=False))
    raw = json.dumps(claims)
    sig = b64.encode(sign_input(f"{h}.{raw}".encode(), RSA, "RS256"))
    yield case(f"{h}..{sig}", "malformed", "b64-false-detached")
    header_text = json.dumps(header_for(RSA))[:-1]
    for name, extra in (("alg", '"alg":"none"'), ("kid", f'"kid":"{EC.kid}"'), ("typ", '"typ":"at+jwt"')):
        yield case(forge(f"{b64.encode((header_text + ',' + extra + '}').encode())}", claims, RSA), "duplicate_name",
                   f"header-duplicate-{name}")
    for name, extra in (("sub", '"sub":"admin"'), ("exp", f'"exp":{NOW + 86_400}'), ("aud", '"aud":"billing-api"'),
                        ("iss", f'"iss":"{ISSUER}"'), ("same-value-sub", '"sub":"alice"')):
        yield case(forge(header_for(RSA), with_claims_text(claims, extra), RSA), "duplicate_name",
                   f"claims-duplicate-{name}")
    yield case(forge(header_for(RSA), with_claims_text(claims, '"roles":{"admin":false,"admin":true}'), RSA),
               "duplicate_name", "claims-nested-duplicate")
    yield case(forge(header_for(RSA), with_claims_text(claims, '"sub\\u0000":"x","\\u0073ub":"admin"'), RSA),
               "duplicate_name", "claims-escaped-duplicate")


@pytest.mark.parametrize(("token", "reason", "options"), list(crit_duplicate_family()))
def test_b12_b13_crit_b64_and_duplicate_names(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.14 size and shape ----------------------------------------------------------------------------------------------

def size_family() -> Iterator[Param]:
    yield case(good_token(RSA, blob="x" * 1_000_000), "too_large", "1-MB-claims")
    yield case(good_token(HS, blob="x" * 6_000), "too_large", "just-over-8-kB")
    yield case("a" * 1_000_000, "too_large", "1-MB-of-letters")
    yield case("a." * 5_000, "too_large", "10k-segments")
    yield case("a." * 2_000 + "a", "malformed", "2001-segments")
    yield case(".".join(["eyJ9"] * 5), "malformed", "five-segment-jwe")
    yield case(".".join(["a"] * 4), "malformed", "four-segments")
    yield case("a.b", "malformed", "two-segments")
    yield case("abc", "malformed", "one-segment")
    yield case("..", "malformed", "empty-segments")
    yield case(json.dumps({"payload": "x", "signatures": []}), "malformed", "json-serialization")
    deep = with_claims_text(good_claims(), '"d":' + "[" * 100_000 + "]" * 100_000)
    yield case(forge(header_for(HS), deep, HS), "malformed", "100k-deep-with-size-cap-lifted", max_size=10**7)
    yield case(forge(header_for(HS), deep, HS), "too_large", "100k-deep")
    for depth in (33, 200, 900, 2_000):
        nested = with_claims_text(good_claims(), '"d":' + "[" * depth + "]" * depth)
        yield case(forge(header_for(HS), nested, HS), "malformed", f"{depth}-deep-in-claims")
    nested_objects = with_claims_text(good_claims(), '"d":' + '{"a":' * 40 + "1" + "}" * 40)
    yield case(forge(header_for(HS), nested_objects, HS), "malformed", "40-deep-objects-in-claims")
    deep_header = json.dumps(header_for(HS))[:-1] + ',"x":' + "[" * 50 + "]" * 50 + "}"
    yield case(forge(b64.encode(deep_header.encode()), good_claims(), HS), "malformed", "50-deep-in-header")


@pytest.mark.parametrize(("token", "reason", "options"), list(size_family()))
def test_b14_oversized_deep_or_many_segments(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


def test_b14_nesting_within_the_cap_is_accepted_the_same_at_any_stack_depth() -> None:
    token = forge(header_for(HS), with_claims_text(good_claims(), '"d":' + "[" * 31 + "]" * 31), HS)

    def nested_call(depth: int) -> dict[str, Any]:
        return verify(token) if depth == 0 else nested_call(depth - 1)

    assert verify(token)["d"] == nested_call(400)["d"]


# --- B.15 encoding tricks ----------------------------------------------------------------------------------------------

def encoding_family() -> Iterator[Param]:
    claims = good_claims()
    header = header_for(RSA)
    text = json.dumps(claims)
    for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "utf-8-sig"):
        yield case(forge(header, text.encode(codec), RSA), "not_utf8", f"claims-{codec}")
        yield case(forge(json.dumps(header).encode(codec), claims, RSA, alg="RS256"), "not_utf8", f"header-{codec}")
    for name, raw in (("cesu-surrogate", b"\xed\xa0\x80"), ("overlong-slash", b"\xc0\xaf"), ("byte-ff", b"\xff"),
                      ("truncated-sequence", b"\xe2\x82")):
        yield case(forge(header, text[:-1].encode() + b',"x":"' + raw + b'"}', RSA), "not_utf8", f"claims-{name}")
    for name, escaped in (("lone-high", "\\ud800"), ("lone-low", "\\udc00"), ("upper-case", "\\uD83D"),
                          ("reversed-pair", "\\ude00\\ud83d")):
        yield case(forge(header, with_claims_text(claims, f'"nick":"{escaped}"'), RSA), "not_utf8", f"surrogate-{name}")
        yield case(forge(header, with_claims_text(claims, f'"{escaped}":1'), RSA), "not_utf8", f"surrogate-name-{name}")
    for literal in ("NaN", "Infinity", "-Infinity"):
        yield case(forge(header, with_claims_text(claims, f'"score":{literal}'), RSA), "malformed", f"literal-{literal}")
    yield case(forge(b64.encode((json.dumps(header)[:-1] + ',"x":NaN}').encode()), claims, RSA), "malformed",
               "header-NaN")
    # Non-canonical base64url, every segment, each correctly signed over its exact text.
    h, p = segment(header_with_unused_bits(RSA)), segment(claims_with_unused_bits())
    signature = b64.encode(sign_input(f"{h}.{p}".encode(), RSA, "RS256"))
    for where in ("header", "payload", "signature"):
        parts = {"header": h, "payload": p, "signature": signature}
        parts[where] = flip_unused_bits(parts[where])
        if where != "signature":
            si = f"{parts['header']}.{parts['payload']}".encode()
            parts["signature"] = b64.encode(sign_input(si, RSA, "RS256"))
        yield case(".".join(parts.values()), "malformed", f"{where}-non-zero-unused-bits")
        for trick_name, trick in (("padded", lambda s: s + "=" * (-len(s) % 4 or 4)), ("plus-slash", _plus_slash),
                                  ("space", lambda s: s[:5] + " " + s[5:]), ("newline", lambda s: s[:5] + "\n" + s[5:]),
                                  ("percent", lambda s: s[:5] + "%" + s[5:]), ("e-acute", lambda s: s[:5] + "é" + s[5:]),
                                  ("zero-width", lambda s: s[:5] + "\u200b" + s[5:]), ("trailing-newline", lambda s: s + "\n")):
            parts = {"header": h, "payload": p, "signature": signature}
            parts[where] = trick(parts[where])
            if where != "signature":  # signed over the exact (UTF-8) text, so only the spelling is wrong
                si = f"{parts['header']}.{parts['payload']}".encode()
                parts["signature"] = b64.encode(sign_input(si, RSA, "RS256"))
            yield case(".".join(parts.values()), "malformed", f"{where}-{trick_name}")


def _plus_slash(text: str) -> str:
    """The standard base64 alphabet instead of base64url: the same bytes, another spelling."""
    translated = text.replace("-", "+").replace("_", "/")
    return translated if translated != text else "+" + text[1:]


@pytest.mark.parametrize(("token", "reason", "options"), list(encoding_family()))
def test_b15_one_token_one_spelling(token: str, reason: str, options: dict[str, Any]) -> None:
    assert_rejected(token, reason, **options)


# --- B.16 nothing escapes -------------------------------------------------------------------------------------------

def garbage_family() -> Iterator[Param]:
    claims = segment(good_claims())
    odd_tokens: dict[str, Any] = {
        "None": None, "int": 42, "float": 1.5, "list": [good_token(HS)], "dict": {"token": good_token(HS)},
        "bytearray": bytearray(good_token(HS).encode()), "memoryview": memoryview(b"a.b.c"), "object": object(),
        "non-ascii-bytes": b"\xff.\xfe.\xfd", "empty": "", "dot": ".", "dots": "...", "nul": "\x00.\x00.\x00",
        "bearer-prefix": "Bearer " + good_token(HS), "whitespace-around": " " + good_token(HS) + " ",
    }
    for name, value in odd_tokens.items():
        yield pytest.param(value, "malformed", {}, id=f"input-{name}")
    headers: dict[str, Any] = {
        "array": [], "string": "RS256", "number": 1, "null": None, "alg-number": {"alg": 256},
        "alg-null": {"alg": None}, "alg-list": {"alg": ["RS256"]}, "alg-missing": {"kid": RSA.kid},
        "kid-number": {"alg": "RS256", "kid": 1}, "kid-object": {"alg": "RS256", "kid": {"$ne": ""}},
        "kid-list": {"alg": "RS256", "kid": [RSA.kid]},
    }
    for name, header in headers.items():
        yield case(f"{b64.encode(json.dumps(header).encode())}.{claims}.{b64.encode(b'sig')}", "malformed",
                   f"header-{name}")
    yield case(forge(header_for(RSA, alg="RS256" * 1000), good_claims(), RSA, alg="RS256"), "alg_not_allowed",
               "alg-5000-chars")
    for name, payload in (("array", b"[]"), ("string", b'"alice"'), ("number", b"1"), ("null", b"null"),
                          ("empty", b""), ("not-json", b"alice"), ("trailing-data", json_bytes(good_claims()) + b"x"),
                          ("two-objects", json_bytes(good_claims()) * 2), ("huge-int-string", b"9" * 5000)):
        yield case(forge(header_for(HS), payload, HS), "malformed", f"claims-{name}")
    for name, raw in (("huge-int-custom", '"n":' + "9" * 4000), ("huge-float-custom", '"n":1e400'),
                      ("deep-then-huge", '"n":[[[' + "9" * 4000 + "]]]")):
        yield case(forge(header_for(HS), with_claims_text(good_claims(), raw), HS), "accepted", f"claims-{name}")


@pytest.mark.parametrize(("token", "reason", "options"), list(garbage_family()))
def test_b16_no_exception_escapes(token: Any, reason: str, options: dict[str, Any]) -> None:
    if reason == "accepted":  # odd but well-formed custom claims: accepted, and nothing blows up
        assert verify(token)["sub"] == "alice"
        return
    assert_rejected(token, reason, **options)


def test_b16_verify_signature_alone_never_raises_anything_else() -> None:
    for token in (None, 1, b"\xff", "a.b.c", good_token(HS) + "x", "e30.e30.", "x" * 10_000):
        with pytest.raises(TokenRejected):
            verify_signature(token, TRUSTED, algorithms=ALL_ALGS)  # type: ignore[arg-type]
    signed = verify_signature(good_token(EC), TRUSTED, algorithms=ALL_ALGS)
    assert (signed.alg, signed.kid) == ("ES256", EC.kid) and json.loads(signed.payload)["sub"] == "alice"


# --- The gap: correctly signed tokens plain `jwt.decode` accepts --------------------------------------------------

def wall_clock_claims(**overrides: Any) -> dict[str, Any]:
    """PyJWT only knows the wall clock, so this part mints tokens valid right now."""
    return good_claims(now=int(time.time()), **overrides)


def pyjwt_decode(token: str, key: Any) -> dict[str, Any]:
    """Plain PyJWT with every check it offers, configured like the verifier of this module."""
    return jwt.decode(token, key.verifying_key, algorithms=[key.alg], audience=AUDIENCE, issuer=ISSUER, leeway=60,
                      options={"require": list(REQUIRED)})


def dangerous_family() -> Iterator[Param]:
    base = wall_clock_claims()
    text = json.dumps(base)
    h = header_for(RSA)
    yield pytest.param(forge(h, text.encode("utf-16-le"), RSA), "not_utf8", id="claims-utf-16")
    yield pytest.param(forge(h, text.encode("utf-16"), RSA), "not_utf8", id="claims-utf-16-with-bom")
    yield pytest.param(forge(h, text.encode("utf-32-be"), RSA), "not_utf8", id="claims-utf-32")
    yield pytest.param(forge(h, text.encode("utf-8-sig"), RSA), "not_utf8", id="claims-utf-8-bom")
    yield pytest.param(forge(json.dumps(h).encode("utf-16-le"), base, RSA), "not_utf8", id="header-utf-16")
    yield pytest.param(forge(h, with_claims_text(base, '"sub":"admin"'), RSA), "duplicate_name", id="duplicate-sub")
    yield pytest.param(forge(b64.encode((json.dumps(h)[:-1] + ',"typ":"at+jwt"}').encode()), base, RSA),
                       "duplicate_name", id="duplicate-header-typ")
    yield pytest.param(forge(h, {**base, "exp": str(base["exp"])}, RSA), "bad_claim_type", id="numeric-string-exp")
    yield pytest.param(forge(h, {**base, "iat": str(base["iat"])}, RSA), "bad_claim_type", id="numeric-string-iat")
    yield pytest.param(forge(h, {**base, "sub": ""}, RSA), "bad_claim_type", id="empty-sub")
    yield pytest.param(forge(h, with_claims_text(base, '"score":NaN'), RSA), "malformed", id="NaN-claim")
    yield pytest.param(forge(h, with_claims_text(base, '"name":"\\ud800"'), RSA), "not_utf8", id="lone-surrogate")
    yield pytest.param(forge(h, {**base, "blob": "x" * 1_000_000}, RSA), "too_large", id="1-MB-token")
    yield pytest.param(forge(h, with_claims_text(base, '"d":' + "[" * 200 + "]" * 200), RSA), "malformed",
                       id="200-deep-nesting")
    for key in (RSA, EC, ED, HS):
        t = forge(header_for(key), base, key)
        padding = "=" * (-len(t.split(".")[2]) % 4)
        yield pytest.param(t + padding, "malformed", id=f"{key.alg}-padded-signature")


@pytest.mark.parametrize(("token", "reason"), list(dangerous_family()))
def test_plain_pyjwt_accepts_what_verify_token_rejects(token: str, reason: str) -> None:
    assert pyjwt_decode(token, _key_of(token))["iss"] == ISSUER  # the gap: a correctly signed, dangerous token passes
    assert_rejected(token, reason, now=int(time.time()))


def _key_of(token: str) -> Any:
    """The demo key named by a token's kid (a test helper: the verifier itself never trusts the header)."""
    header = jwt.get_unverified_header(token)
    return next(k for k in (RSA, PSS, EC, ED, HS) if k.kid == header.get("kid"))


def pyjwt_rejects_family() -> Iterator[Param]:
    base = wall_clock_claims()
    yield pytest.param(forge(header_for(RSA, crit=["exp"], exp=base["exp"]), base, RSA), "crit_unsupported", id="crit")
    yield pytest.param(forge(header_for(RSA, crit=["b64"], b64=False), base, RSA), "crit_unsupported", id="b64-false")
    t = forge(header_for(ED), base, ED)
    yield pytest.param(t[:-1] + B64_DIGITS[B64_DIGITS.index(t[-1]) ^ 1], "malformed", id="signature-unused-bits")
    deep = forge(header_for(RSA), with_claims_text(base, '"d":' + "[" * 100_000 + "]" * 100_000), RSA)
    yield pytest.param(deep, "too_large", id="100k-deep-nesting")


@pytest.mark.parametrize(("token", "reason"), list(pyjwt_rejects_family()))
def test_gaps_pyjwt_has_closed_stay_closed_in_verify_token(token: str, reason: str) -> None:
    # PyJWT 2.15 rejects these too (crit since 2.12, strict base64 padding, RecursionError caught):
    # pinned here so that the toolkit never regresses below its library.
    with pytest.raises(jwt.PyJWTError):
        pyjwt_decode(token, _key_of(token))
    assert_rejected(token, reason, now=int(time.time()))


# --- What must keep working -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ALL_KEYS, ids=lambda k: k.alg)
def test_honest_tokens_of_every_algorithm_verify(key: Any) -> None:
    claims = good_claims(scope="orders:read", roles={"admin": False})
    assert verify(forge(header_for(key), claims, key)) == claims
    assert verify(forge(header_for(key), claims, key).encode("ascii")) == claims  # bytes work too
    assert verify(forge(header_for(key), claims, key), key, algorithms=[key.alg]) == claims  # the demo key itself


def valid_family() -> Iterator[Param]:
    def signed(key: Any = RSA, header: dict[str, Any] | None = None, **change: Any) -> str:
        return forge(header or header_for(key), good_claims(**change), key)

    yield case(signed(aud=["billing-api", AUDIENCE]), "ok", "aud-list")
    yield case(signed(aud=[AUDIENCE]), "ok", "aud-list-of-one")
    yield case(signed(iat=NOW + 0.25, exp=NOW + 300.5, nbf=NOW - 0.5), "ok", "float-times")
    yield case(signed(iat=NOW - 400, exp=NOW - 59), "ok", "exp-one-second-inside-leeway")
    yield case(signed(iat=NOW - 400, exp=NOW - 59.999), "ok", "exp-a-millisecond-inside-leeway")
    yield case(signed(iat=NOW - 400, exp=NOW + 1), "ok", "exp-next-second-without-leeway", leeway=0)
    yield case(signed(nbf=NOW + 60), "ok", "nbf-exactly-at-leeway")
    yield case(signed(iat=NOW + 60, exp=NOW + 400), "ok", "iat-exactly-at-leeway")
    yield case(signed(nbf=NOW), "ok", "nbf-now-without-leeway", leeway=0)
    yield case(signed(exp=NOW + 300), "ok", "lifetime-exactly-max", max_lifetime=300)
    yield case(signed(header=header_for(RSA, typ="at+jwt")), "ok", "typ-at+jwt", typ="at+jwt")
    yield case(signed(header=header_for(RSA, typ="application/at+jwt")), "ok", "typ-application-at+jwt", typ="at+jwt")
    yield case(signed(header=header_for(RSA, typ="at+jwt")), "ok", "typ-expected-as-media-type",
               typ="application/at+jwt")
    yield case(signed(header=header_for(RSA, typ="AT+JWT")), "ok", "typ-case-insensitive", typ="at+jwt")
    yield case(signed(header={"alg": "RS256", "kid": RSA.kid}), "ok", "no-typ-when-not-required")
    yield case(signed(header={"alg": "RS256"}), "ok", "no-kid-tries-the-keys")
    yield case(signed(sub=None), "ok", "sub-optional-when-not-required", required=("exp", "iat", "iss", "aud"))
    yield case(signed(iss="https://any.example"), "ok", "issuer-check-off-for-diagnostics", issuer=None)
    exactly = good_token(HS, blob="")
    blob = "x" * (DEFAULT_MAX_SIZE - len(exactly))
    at_limit = good_token(HS, blob=blob)
    while len(at_limit) > DEFAULT_MAX_SIZE:  # base64 rounds up: trim until the token is exactly at the limit
        blob = blob[:-1]
        at_limit = good_token(HS, blob=blob)
    assert len(at_limit) in range(DEFAULT_MAX_SIZE - 3, DEFAULT_MAX_SIZE + 1)
    yield case(at_limit, "ok", "size-at-the-limit")


@pytest.mark.parametrize(("token", "reason", "options"), list(valid_family()))
def test_valid_tokens_pass(token: str, reason: str, options: dict[str, Any]) -> None:
    assert reason == "ok"
    claims = verify(token, **options)
    assert claims == json.loads(b64.decode(token.split(".")[1]))


def test_expiry_boundary_both_sides() -> None:
    token = good_token(RSA, iat=NOW - 1000, exp=NOW)
    for leeway in (0, 30, 60):
        assert verify(token, now=NOW + leeway - 1, leeway=leeway)["sub"] == "alice"
        assert_rejected(token, "expired", now=NOW + leeway, leeway=leeway)
    assert verify(token, now=NOW + 59.5)["sub"] == "alice"


def test_not_before_and_issued_at_boundaries_both_sides() -> None:
    nbf = good_token(RSA, nbf=NOW + 100)
    assert verify(nbf, now=NOW + 40)["nbf"] == NOW + 100
    assert_rejected(nbf, "not_yet_valid", now=NOW + 39)
    iat = good_token(RSA, iat=NOW + 100, exp=NOW + 1000)
    assert verify(iat, now=NOW + 40)["iat"] == NOW + 100
    assert_rejected(iat, "issued_in_future", now=NOW + 39.5)


def key_set_forms() -> Iterator[Param]:
    yield pytest.param(RSA, JWKS, id="jwks-dict")
    yield pytest.param(RSA, RSA.public_jwk(), id="single-jwk")
    yield pytest.param(RSA, KeySet(JWKS), id="prebuilt-key-set")
    yield pytest.param(RSA, RSA.public_key, id="key-object")
    yield pytest.param(RSA, RSA.private_key, id="private-key-object-public-half-used")
    yield pytest.param(RSA, RSA, id="demo-key")
    yield pytest.param(RSA, RSA.public_pem().decode("ascii"), id="pem-str")
    yield pytest.param(RSA, [ED.public_jwk(), RSA.public_key], id="list-of-mixed")
    yield pytest.param(RSA, jwt.PyJWKSet.from_dict(JWKS), id="pyjwt-jwk-set")
    yield pytest.param(RSA, jwt.PyJWK(RSA.public_jwk()), id="pyjwt-jwk")
    yield pytest.param(EC, keys.jwks(EC), id="ec-jwks")
    yield pytest.param(ED, ED.public_pem().decode("ascii"), id="ed25519-pem-str")
    yield pytest.param(HS, HS, id="demo-secret")
    yield pytest.param(HS, HS.secret, id="secret-bytes")
    yield pytest.param(HS, HS.public_jwk(), id="oct-jwk")
    yield pytest.param(HS, {"keys": [HS.public_jwk()]}, id="oct-jwks")


@pytest.mark.parametrize(("key", "key_set"), list(key_set_forms()))
def test_every_way_of_handing_over_keys_verifies(key: Any, key_set: Any) -> None:
    assert verify(good_token(key), key_set, algorithms=[key.alg])["sub"] == "alice"
    # ...and none of them turns into a different algorithm's key.
    wrong = forge({"alg": "HS256"}, good_claims(sub="admin"), key.public_pem() if key is not HS else b"x" * 32)
    with pytest.raises(TokenRejected):
        verify(wrong, key_set, algorithms=[key.alg, "HS256"])


def misconfigured_family() -> Iterator[Param]:
    options: dict[str, dict[str, Any]] = {
        "algorithms-str": {"algorithms": "RS256"}, "algorithms-empty": {"algorithms": []},
        "algorithms-none-only": {"algorithms": ["none"]}, "algorithms-unknown": {"algorithms": ["XS256"]},
        "algorithms-None": {"algorithms": None}, "algorithms-lower-case": {"algorithms": ["rs256"]},
        "issuer-empty": {"issuer": ""}, "issuer-number": {"issuer": 1}, "issuer-list": {"issuer": [ISSUER]},
        "audience-empty": {"audience": ""}, "audience-list": {"audience": [AUDIENCE]},
        "leeway-negative": {"leeway": -1}, "leeway-huge": {"leeway": 301}, "leeway-str": {"leeway": "60"},
        "leeway-bool": {"leeway": True}, "leeway-nan": {"leeway": float("nan")},
    }
    for name, option in options.items():
        yield pytest.param(TRUSTED, option, id=name)
    key_sets: dict[str, Any] = {
        "None": None, "empty-list": [], "empty-jwks": {"keys": []}, "jwks-not-a-list": {"keys": "x"},
        "empty-jwk": {}, "private-jwk": {**RSA.public_jwk(), "d": "AQAB"}, "unknown-kty": {"kty": "XYZ", "kid": "x"},
        "unsupported-jwk-alg": {**RSA.public_jwk(), "alg": "RSA-OAEP"}, "number": 42, "pem-bytes": RSA.public_pem(),
        "ssh-line": ED.public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "jwk-json-text": json.dumps(RSA.public_jwk()), "bad-pem-str": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        "jwk-kid-number": {**RSA.public_jwk(), "kid": 1},
    }
    for name, key_set in key_sets.items():
        yield pytest.param(key_set, {}, id=f"keys-{name}")


@pytest.mark.parametrize(("key_set", "options"), list(misconfigured_family()))
def test_bad_settings_are_misconfigured(key_set: Any, options: dict[str, Any]) -> None:
    assert_rejected(good_token(RSA), "misconfigured", key_set, **options)


def test_a_jwks_dict_changed_in_place_is_honoured_at_once() -> None:
    # verify_token reuses the KeySet of a dict passed on every call; rotation by editing the dict must show.
    jwks = keys.jwks(RSA)
    token = good_token(RSA)
    assert verify(token, jwks)["sub"] == "alice"
    jwks["keys"][0] = ED.public_jwk()  # the RSA key is withdrawn
    assert_rejected(token, "kid_unknown", jwks)
    jwks["keys"].append(RSA.public_jwk())  # ...and published again
    assert verify(token, jwks)["sub"] == "alice"
    jwks["keys"][1]["n"] = keys.rsa_key(2).public_jwk()["n"]  # same kid, another modulus: the old key is gone
    assert_rejected(token, "bad_signature", jwks)
    jwks["keys"][1] = {**RSA.public_jwk(), "d": "AQAB"}  # a private key slipped in: refused every time
    for _ in range(2):
        assert_rejected(token, "misconfigured", jwks)


def test_required_as_a_bare_string_is_a_misconfiguration() -> None:
    """`required="exp"` would otherwise demand the claims 'e', 'x' and 'p'."""
    with pytest.raises(TokenRejected) as caught:
        verify_token(good_token(ED), ED, issuer=ISSUER, audience=AUDIENCE, algorithms=["EdDSA"], required="exp", now=NOW)
    assert caught.value.reason == "misconfigured"
