"""Checks of lab 1 — Protect an endpoint. Each test belongs to one task of labs/labs.toml.

The checks call your functions directly where they can (so each task is judged on its own) and drive
the whole service through FastAPI's TestClient for the end-to-end cases of FastAPI's own JWT tutorial,
plus the attacks a real service meets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi.testclient import TestClient

from jwtlab import clock, keys
from jwtlab.labs.target import lab_module

LAB = Path(__file__).resolve().parents[1]
protect = lab_module("protect", LAB)

ISSUER_KEY = keys.rsa_key(0)
OTHER_KEY = keys.rsa_key(1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str = "alice", *, lifetime: int = 300, issued: int = 0, drop: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    now = int(time.time()) + issued
    body = {"iss": clock.DEMO_ISSUER, "sub": sub, "aud": clock.DEMO_AUDIENCE, "iat": now, "exp": now + lifetime,
            "scope": "orders:read profile", **extra}
    return {k: v for k, v in body.items() if k not in drop}


def token(body: dict[str, Any] | None = None, *, key: Any = None, alg: str = "RS256", typ: str | None = "at+jwt",
          **headers: Any) -> str:
    header = {"kid": ISSUER_KEY.kid, **headers}
    if typ is not None:
        header["typ"] = typ
    return jwt.encode(body or claims(), key or ISSUER_KEY.private_key, algorithm=alg, headers=header)


def by_hand(header: dict[str, Any], body: dict[str, Any], key: bytes | None) -> str:
    """A token built without PyJWT, which rightly refuses to MAC with a public key or to sign 'none'."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def signed_bytes(header: bytes, body: bytes) -> str:
    """A token correctly signed by the issuer's key over exactly these header and claims bytes: what a
    compromised or buggy issuer component, or a confused parser upstream, could hand the service."""
    signing_input = f"{b64(header)}.{b64(body)}"
    signature = ISSUER_KEY.signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


GOOD_HEADER = json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": ISSUER_KEY.kid}).encode()


def body_bytes(**extra: Any) -> bytes:
    return json.dumps(claims(**extra)).encode()


def alg_none(alg: str = "none") -> str:
    return by_hand({"alg": alg, "typ": "at+jwt"}, claims(), None)


def confusion(pem: bytes | None = None) -> str:
    """HS256 MACed with the issuer's *public* key (algorithm confusion)."""
    return by_hand({"alg": "HS256", "typ": "at+jwt", "kid": ISSUER_KEY.kid}, claims(), pem or ISSUER_KEY.public_pem())


def rejects(fn: Any, *args: Any) -> str:
    """Call `fn`; it must raise InvalidToken. Returns its reason, or "" when `fn` accepted the input,
    so that the caller's `assert rejects(...), "what was accepted and why it must not be"` is what the
    learner reads."""
    try:
        fn(*args)
    except protect.InvalidToken as exc:
        return exc.reason or "rejected"
    except protect.AuthError as exc:
        raise AssertionError(f"{fn.__name__} raised {type(exc).__name__}; a bad token needs InvalidToken") from None
    return ""


@pytest.fixture
def client() -> TestClient:
    return TestClient(protect.create_app(), raise_server_exceptions=False)


# --- bearer -----------------------------------------------------------------------------------------


@pytest.mark.task("bearer")
@pytest.mark.parametrize("value", [[], [""], ["Bearer"], ["Bearer "], ["Basic YWxpY2U6c2VjcmV0"], ["Token abc"]])
def test_no_bearer_token_is_no_token(value: list[str]) -> None:
    try:
        protect.bearer_token(value)
    except protect.NoToken:
        return
    except protect.AuthError as exc:
        raise AssertionError(f"bearer_token({value!r}) raised {type(exc).__name__}; without a bearer token it is NoToken") from None
    raise AssertionError(f"bearer_token({value!r}) returned a token; without a bearer token it must raise NoToken")


@pytest.mark.task("bearer")
def test_bearer_token_is_returned() -> None:
    assert protect.bearer_token(["Bearer abc.def.ghi"]) == "abc.def.ghi", "bearer_token must return the token itself"
    assert protect.bearer_token(["bearer abc.def.ghi"]) == "abc.def.ghi", "the scheme name is case-insensitive (RFC 7235)"


@pytest.mark.task("bearer")
def test_two_authorization_headers_are_an_invalid_request() -> None:
    try:
        protect.bearer_token(["Bearer a.b.c", "Bearer d.e.f"])
    except protect.InvalidRequest:
        return
    except protect.AuthError as exc:
        raise AssertionError(f"two Authorization headers raised {type(exc).__name__}; expected InvalidRequest") from None
    raise AssertionError("two Authorization headers were accepted; which one did the gateway check? raise InvalidRequest")


@pytest.mark.task("bearer")
def test_oversized_token_is_refused_before_decoding() -> None:
    huge = "a" * 20_000 + ".b.c"
    assert rejects(protect.bearer_token, [f"Bearer {huge}"]), "a 20 kB token must be refused as InvalidToken"
    just_fits = "a" * (protect.MAX_TOKEN_CHARS - 4) + ".b.c"
    assert protect.bearer_token([f"Bearer {just_fits}"]) == just_fits, "a token of exactly MAX_TOKEN_CHARS is allowed"


# --- header -----------------------------------------------------------------------------------------


@pytest.mark.task("header")
def test_good_header_is_returned() -> None:
    header = protect.read_header(token())
    assert header.get("alg") == "RS256" and header.get("typ") == "at+jwt", "read_header must return the header it read"


@pytest.mark.task("header")
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "ES256"])
def test_algorithm_outside_the_allowlist_is_refused(alg: str) -> None:
    forged = alg_none(alg) if alg.lower() == "none" else confusion() if alg == "HS256" else \
        by_hand({"alg": alg, "typ": "at+jwt"}, claims(), b"x")
    assert rejects(protect.read_header, forged), f"a token with alg {alg!r} must be refused (allowlist: RS256)"


@pytest.mark.task("header")
@pytest.mark.parametrize("typ", ["JWT", None, "id_token+jwt"])
def test_wrong_token_type_is_refused(typ: str | None) -> None:
    assert rejects(protect.read_header, token(typ=typ)), f"typ {typ!r} is not an access token (expected at+jwt)"


@pytest.mark.task("header")
@pytest.mark.parametrize("name", ["jwk", "jku", "x5u"])
def test_key_carrying_header_is_refused(name: str) -> None:
    value = OTHER_KEY.public_jwk() if name == "jwk" else "http://127.0.0.1:9/keys.json"
    assert rejects(protect.read_header, token(**{name: value})), f"a token carrying its own key ({name}) must be refused"


@pytest.mark.task("header")
@pytest.mark.parametrize("junk", ["abc", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9", "e30.e30.", "🙂.🙂.🙂"])
def test_junk_is_invalid_token_not_a_crash(junk: str) -> None:
    assert rejects(protect.read_header, junk), f"junk {junk!r} must become InvalidToken"


STRICT_HEADERS = {
    "alg given twice": b'{"alg": "RS256", "typ": "at+jwt", "alg": "RS256"}',
    "typ given twice (JWT, then at+jwt)": b'{"alg": "RS256", "typ": "JWT", "typ": "at+jwt"}',
    "UTF-16 header": json.dumps({"alg": "RS256", "typ": "at+jwt"}).encode("utf-16"),
    "header with a byte-order mark": b"\xef\xbb\xbf" + GOOD_HEADER,
}


@pytest.mark.task("header")
@pytest.mark.parametrize("case", list(STRICT_HEADERS))
def test_header_must_be_strict_json(case: str) -> None:
    forged = signed_bytes(STRICT_HEADERS[case], body_bytes())
    assert rejects(protect.read_header, forged), (
        f"{case}: a header that is not strict UTF-8 JSON was accepted; read_header must start with strict_json"
    )


# --- claims -----------------------------------------------------------------------------------------


@pytest.mark.task("claims")
def test_valid_token_gives_its_claims() -> None:
    body = claims("alice")
    assert protect.decode_claims(token(body)) == body, "decode_claims must return the token's claims"


@pytest.mark.task("claims")
def test_signature_by_another_key_is_refused() -> None:
    assert rejects(protect.decode_claims, token(key=OTHER_KEY.private_key)), "a token signed by another key was accepted"


@pytest.mark.task("claims")
def test_algorithm_confusion_is_refused() -> None:
    assert rejects(protect.decode_claims, confusion()), "HS256 MACed with the public key was accepted (algorithm confusion)"


@pytest.mark.task("claims")
def test_tampered_claims_are_refused() -> None:
    header, _, signature = token().split(".")
    tampered = f"{header}.{b64(json.dumps(claims('bob')).encode())}.{signature}"
    assert rejects(protect.decode_claims, tampered), "claims changed after signing were accepted"


@pytest.mark.task("claims")
@pytest.mark.parametrize("iss", ["https://idp.course.example.evil", "https://idp.course.example/", "https://idp.course",
                                 "HTTPS://IDP.COURSE.EXAMPLE", ""])
def test_issuer_must_match_exactly(iss: str) -> None:
    assert rejects(protect.decode_claims, token(claims(iss=iss))), f"issuer {iss!r} was accepted; only the exact issuer may pass"


@pytest.mark.task("claims")
@pytest.mark.parametrize("aud", ["billing-api", "orders", ["billing-api"], "orders-api-2"])
def test_audience_must_name_this_service(aud: Any) -> None:
    assert rejects(protect.decode_claims, token(claims(aud=aud))), f"audience {aud!r} was accepted; this service is orders-api"


@pytest.mark.task("claims")
def test_audience_list_naming_this_service_is_accepted() -> None:
    body = claims(aud=["billing-api", clock.DEMO_AUDIENCE])
    assert protect.decode_claims(token(body))["sub"] == "alice", "a token for several audiences including orders-api is fine"


@pytest.mark.task("claims")
@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub"])
def test_required_claims(missing: str) -> None:
    assert rejects(protect.decode_claims, token(claims(drop=(missing,)))), f"a token without {missing!r} was accepted"


@pytest.mark.task("claims")
def test_expired_token_is_refused_and_leeway_is_small() -> None:
    assert rejects(protect.decode_claims, token(claims(issued=-3600))), "a token that expired 55 minutes ago was accepted"
    assert rejects(protect.decode_claims, token(claims(issued=-361))), "a token that expired 61 s ago was accepted: leeway must be at most 60 s"
    recent = token(claims(issued=-310))  # expired 10 s ago
    assert protect.decode_claims(recent)["sub"] == "alice", "a token that expired 10 s ago should pass with a leeway for clock skew"


@pytest.mark.task("claims")
def test_token_from_the_future_is_refused() -> None:
    assert rejects(protect.decode_claims, token(claims(issued=3600))), "a token issued an hour in the future was accepted"


STRICT_CLAIMS = {
    "sub given twice (alice, then administrator)": body_bytes()[:-1] + b', "sub": "administrator"}',
    "UTF-16 claims": json.dumps(claims()).encode("utf-16"),
    "UTF-32 claims": json.dumps(claims()).encode("utf-32"),
    "claims with a byte-order mark": b"\xef\xbb\xbf" + body_bytes(),
}


@pytest.mark.task("claims")
@pytest.mark.parametrize("case", list(STRICT_CLAIMS))
def test_claims_must_be_strict_json(case: str) -> None:
    forged = signed_bytes(GOOD_HEADER, STRICT_CLAIMS[case])
    assert protect.decode_claims(signed_bytes(GOOD_HEADER, body_bytes()))["sub"] == "alice", (
        "decode_claims must return the claims of a valid token"
    )
    assert rejects(protect.decode_claims, forged), (
        f"{case}: correctly signed, but not strict UTF-8 JSON, and it was accepted; decode_claims must start with strict_json"
    )


@pytest.mark.task("claims")
def test_too_few_segments_are_malformed() -> None:
    assert rejects(protect.decode_claims, "abc") == "malformed", "a token without a claims segment must be InvalidToken('malformed')"


@pytest.mark.task("claims")
@pytest.mark.parametrize("name", ["exp", "iat"])
def test_time_claims_must_be_numbers(name: str) -> None:
    body = claims()
    forged = token({**body, name: str(body[name])})
    assert rejects(protect.decode_claims, forged), (
        f"{name} as the string {str(body[name])!r} was accepted: PyJWT converts it; a NumericDate is a number, refuse anything else"
    )


@pytest.mark.task("claims")
def test_lifetime_is_capped() -> None:
    assert rejects(protect.decode_claims, token(claims(lifetime=10 * 365 * 86400))), (
        "a token valid for 10 years was accepted; refuse exp - iat over MAX_LIFETIME"
    )
    assert rejects(protect.decode_claims, token(claims(lifetime=protect.MAX_LIFETIME + 1))), (
        "a token living one second longer than MAX_LIFETIME was accepted"
    )
    assert protect.decode_claims(token(claims(lifetime=protect.MAX_LIFETIME)))["sub"] == "alice", (
        "a token living exactly MAX_LIFETIME is allowed"
    )


# --- user -------------------------------------------------------------------------------------------


@pytest.mark.task("user")
def test_known_user_is_loaded() -> None:
    user = protect.load_user(claims("alice"))
    assert user.sub == "alice", "load_user must return the user named by sub"


@pytest.mark.task("user")
@pytest.mark.parametrize("sub", ["eve", "mallory", ""])
def test_unknown_or_disabled_user_is_refused(sub: str) -> None:
    assert rejects(protect.load_user, claims(sub)), f"user {sub!r} must not get in (unknown or disabled)"


# --- scope ------------------------------------------------------------------------------------------


def principal(scope: Any) -> Any:
    body = claims(scope=scope)
    return protect.Principal(protect.USERS["alice"], protect.scopes_of(body), body)


@pytest.mark.task("scope")
def test_granted_scope_passes() -> None:
    assert protect.require_scope(principal("profile orders:read"), "orders:read") is None


@pytest.mark.task("scope")
@pytest.mark.parametrize("scope", ["profile", "orders:readonly", "", None, ["orders:read"]])
def test_missing_scope_is_insufficient_scope(scope: Any) -> None:
    try:
        protect.require_scope(principal(scope), "orders:read")
    except protect.InsufficientScope as exc:
        assert exc.scope == "orders:read", "InsufficientScope must name the scope that was needed"
        return
    raise AssertionError(f"scope {scope!r} was enough for orders:read")


# --- responses ---------------------------------------------------------------------------------------


@pytest.mark.task("responses")
def test_rfc6750_no_token_response() -> None:
    resp = protect.rfc6750_response(None, protect.NoToken())
    assert resp.status_code == 401, "no token → 401"
    assert resp.headers.get("www-authenticate") == 'Bearer realm="orders"', (
        "no token → WWW-Authenticate: Bearer realm=\"orders\" and no error code (RFC 6750 §3.1)"
    )


@pytest.mark.task("responses")
def test_rfc6750_invalid_token_response() -> None:
    resp = protect.rfc6750_response(None, protect.InvalidToken("expired"))
    challenge = resp.headers.get("www-authenticate", "")
    assert resp.status_code == 401, "bad token → 401"
    assert challenge.startswith('Bearer realm="orders"') and 'error="invalid_token"' in challenge, (
        f"bad token → WWW-Authenticate: Bearer realm=\"orders\", error=\"invalid_token\" (got {challenge!r})"
    )
    assert json.loads(resp.body).get("reason") == "expired", "the body should name the reason code"


@pytest.mark.task("responses")
def test_rfc6750_invalid_request_response() -> None:
    resp = protect.rfc6750_response(None, protect.InvalidRequest())
    challenge = resp.headers.get("www-authenticate", "")
    assert resp.status_code == 400, f"a malformed request (two tokens) → 400, got {resp.status_code}"
    assert 'error="invalid_request"' in challenge, f"a malformed request → error=\"invalid_request\" (got {challenge!r})"


@pytest.mark.task("responses")
def test_rfc6750_insufficient_scope_response() -> None:
    resp = protect.rfc6750_response(None, protect.InsufficientScope("orders:read"))
    challenge = resp.headers.get("www-authenticate", "")
    assert resp.status_code == 403, "missing scope → 403"
    assert 'error="insufficient_scope"' in challenge and 'scope="orders:read"' in challenge, (
        f"missing scope → error=\"insufficient_scope\" and scope=\"orders:read\" in the challenge (got {challenge!r})"
    )


# --- fail-closed ------------------------------------------------------------------------------------

HOSTILE = {
    "junk": "not-a-token",
    "five segments (JWE)": "a.b.c.d.e",
    "bad base64": "e30.e30.!!!",
    "non-ASCII": "ü.ü.ü",
    "deeply nested JSON": f"{b64(b'[' * 50_00 + b']' * 50_00)}.e30.",
    "alg none": alg_none(),
    "alg nOnE": alg_none("nOnE"),
    "algorithm confusion": confusion(),
    "oversized": "a" * 100_000,
}


@pytest.mark.task("fail-closed")
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_401_never_500(client: TestClient, case: str) -> None:
    resp = client.get("/me", headers={"Authorization": f"Bearer {HOSTILE[case]}".encode()})
    assert resp.status_code == 401, f"{case}: got {resp.status_code}, expected 401 invalid_token"
    assert 'error="invalid_token"' in resp.headers.get("www-authenticate", ""), f"{case}: the 401 must say invalid_token"


@pytest.mark.task("fail-closed")
def test_unforeseen_exception_is_401(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(token: str) -> dict[str, Any]:
        raise TypeError("a library bug")

    module = protect._load()
    monkeypatch.setattr(module, "decode_claims", broken)
    resp = client.get("/me", headers={"Authorization": f"Bearer {token()}"})
    assert resp.status_code == 401, f"an unexpected exception during verification gave {resp.status_code}; fail closed with 401"


@pytest.mark.task("fail-closed")
def test_token_never_in_logs_but_reason_is(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    samples = [token(), token(claims(issued=-3600)), confusion(), token(claims("eve"))]
    with caplog.at_level(logging.DEBUG):
        for sample in samples:
            client.get("/me", headers={"Authorization": f"Bearer {sample}"})
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for sample in samples:
        for part in [sample, *[p for p in sample.split(".") if len(p) > 16]]:
            assert part not in text, "a token (or part of one) appeared in the log: log the reason, never the token"
    assert "expired" in text, "log why a request was refused (e.g. reason=expired) so operators can see it"


# --- end-to-end: FastAPI's JWT-tutorial cases and the attacks, over HTTP ----------------------------------


def call(client: TestClient, path: str, value: str | list[str] | None) -> Any:
    values = [] if value is None else [value] if isinstance(value, str) else value
    return client.get(path, headers=[("Authorization", v) for v in values])


E2E = [
    ("public route needs no token", "/health", None, 200, None),
    ("valid token", "/me", f"Bearer {token()}", 200, None),
    ("no token", "/me", None, 401, 'Bearer realm="orders"'),
    ("wrong scheme (Basic)", "/me", "Basic YWxpY2U6c2VjcmV0", 401, 'Bearer realm="orders"'),
    ("bad token", "/me", "Bearer abc.def.ghi", 401, 'error="invalid_token"'),
    ("wrong token type (typ JWT)", "/me", f"Bearer {token(typ='JWT')}", 401, 'error="invalid_token"'),
    ("no sub", "/me", f"Bearer {token(claims(drop=('sub',)))}", 401, 'error="invalid_token"'),
    ("unknown user", "/me", f"Bearer {token(claims('eve'))}", 401, 'error="invalid_token"'),
    ("disabled user", "/me", f"Bearer {token(claims('mallory'))}", 401, 'error="invalid_token"'),
    ("expired", "/me", f"Bearer {token(claims(issued=-3600))}", 401, 'error="invalid_token"'),
    ("wrong audience", "/me", f"Bearer {token(claims(aud='billing-api'))}", 401, 'error="invalid_token"'),
    ("wrong issuer", "/me", f"Bearer {token(claims(iss='https://idp.course.example.evil'))}", 401, 'error="invalid_token"'),
    ("alg none", "/me", f"Bearer {alg_none()}", 401, 'error="invalid_token"'),
    ("algorithm confusion", "/me", f"Bearer {confusion()}", 401, 'error="invalid_token"'),
    ("oversized token", "/me", "Bearer " + "a" * 50_000, 401, 'error="invalid_token"'),
    ("sub given twice (alice, then administrator)", "/me",
     "Bearer " + signed_bytes(GOOD_HEADER, body_bytes()[:-1] + b', "sub": "bob"}'), 401, 'error="invalid_token"'),
    ("claims in UTF-16", "/me", f"Bearer {signed_bytes(GOOD_HEADER, json.dumps(claims()).encode('utf-16'))}", 401,
     'error="invalid_token"'),
    ("exp as a string", "/me", f"Bearer {token({**claims(), 'exp': str(claims()['exp'])})}", 401, 'error="invalid_token"'),
    ("valid for 10 years", "/me", f"Bearer {token(claims(lifetime=10 * 365 * 86400))}", 401, 'error="invalid_token"'),
    ("two Authorization headers", "/me", [f"Bearer {token()}", f"Bearer {token(claims('bob'))}"], 400,
     'error="invalid_request"'),
    ("scope granted", "/orders", f"Bearer {token()}", 200, None),
    ("scope missing", "/orders", f"Bearer {token(claims(scope='profile'))}", 403, 'error="insufficient_scope"'),
]


@pytest.mark.task("end-to-end")
@pytest.mark.parametrize(("case", "path", "value", "status", "challenge"), E2E, ids=[c[0] for c in E2E])
def test_end_to_end(client: TestClient, case: str, path: str, value: Any, status: int, challenge: str | None) -> None:
    resp = call(client, path, value)
    assert resp.status_code == status, f"{case}: {path} answered {resp.status_code}, expected {status}"
    if challenge:
        assert challenge in resp.headers.get("www-authenticate", ""), f"{case}: WWW-Authenticate should contain {challenge}"
    if status == 200 and path == "/me":
        assert resp.json() == {"sub": "alice", "name": "Alice"}, "/me should describe the caller"
