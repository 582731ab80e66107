"""The decoder's token logic (decoder-core.js), run in headless Chromium and compared with jwtlab.

The page must reject what `jwtlab.verify_token` rejects, for the same reason: most tests here run the
same inputs through both and compare the answers, so a rule that drifts on either side fails a test.
Fast on purpose: one browser, one blank page, batched `evaluate` calls, no book build needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from decoder_browser_support import CORE_JS, launch_chromium

from jwtlab import b64, clock, keys
from jwtlab.reasons import REASONS
from jwtlab.verify import TokenRejected, parse_json_object, verify_token

pytestmark = pytest.mark.browser

NOW = clock.COURSE_NOW
ISS, AUD = clock.DEMO_ISSUER, clock.DEMO_AUDIENCE


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # A file:// page, not about:blank: WebCrypto exists only in secure contexts, and local files are one.
    blank = tmp_path_factory.mktemp("decoder") / "core.html"
    blank.write_text(f"<!doctype html><meta charset='utf-8'><script src='{CORE_JS.as_uri()}'></script>", encoding="utf-8")
    errors: list[str] = []
    for browser in launch_chromium():
        context = browser.new_context()
        pg = context.new_page()
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(blank.as_uri())
        assert pg.evaluate("typeof window.JwtDecoder === 'object' && !!crypto.subtle")
        yield pg
        assert errors == [], f"decoder-core.js raised in the page: {errors}"
        context.close()


def js(page: Any, body: str, arg: Any = None) -> Any:
    """Run `body` (a function body using `J` = JwtDecoder and `arg`) in the page."""
    return page.evaluate(f"async (arg) => {{ const J = window.JwtDecoder; {body} }}", arg)


def hs256(claims: Any, secret: bytes, header: dict[str, Any] | None = None) -> str:
    """Sign any JSON, even claims PyJWT refuses to encode (an iss list) or a 6-byte secret, with HMAC-SHA256."""
    signing_input = f"{b64.encode_json(header or {'alg': 'HS256', 'typ': 'JWT'})}.{b64.encode_json(claims)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64.encode(mac)}"


def py_reason(func: Any, *args: Any, **kwargs: Any) -> str | None:
    try:
        func(*args, **kwargs)
    except TokenRejected as exc:
        return exc.reason
    return None


# ----------------------------------------------------------------------------- base64url


def _b64_corpus() -> list[str]:
    rng = random.Random(7515)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= ."
    corpus = ["", "QQ", "QR", "QUE", "QUF", "QUJD", "QUJD=", "QQ==", "a+b/", "YWJj", "Y", "YW", "-_-_", "____", "AAAA"]
    corpus += [b64.encode(bytes(rng.randrange(256) for _ in range(n))) for n in range(0, 40)]
    corpus += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) for _ in range(300)]
    return corpus


def test_base64url_is_as_strict_as_the_toolkit(page: Any) -> None:
    corpus = _b64_corpus()
    answers = js(page, """
        return arg.map(t => { try { return Array.from(J.b64urlDecode(t)); } catch (e) { return e.reason + ':' + e.message; } });
    """, corpus)
    for text, answer in zip(corpus, answers, strict=True):
        try:
            expected: Any = list(b64.decode(text))
        except ValueError as exc:
            expected = f"malformed:{exc}"
        assert answer == expected, text


def test_base64url_encode_round_trips(page: Any) -> None:
    blobs = [list(bytes(range(n))) for n in range(0, 20)] + [[255] * 7, [0] * 5]
    encoded = js(page, "return arg.map(b => J.b64urlEncode(new Uint8Array(b)));", blobs)
    assert encoded == [b64.encode(bytes(b)) for b in blobs]


# ----------------------------------------------------------------------------- UTF-8 and JSON

JSON_CASES: list[bytes] = [
    b'{"sub":"alice"}',
    b' {"sub" : "alice" }\r\n',
    b'{"sub":"alice","sub":"admin"}',
    b'{"sub":"alice","s\\u0075b":"admin"}',
    b'{"a":{"x":1,"x":2}}',
    b'{"a":[{"k":1},{"k":2}]}',
    b'{"__proto__":{"admin":true}}',
    b'\xef\xbb\xbf{"sub":"alice"}',
    '{"sub":"alice"}'.encode("utf-16-le"),
    '{"sub":"alice"}'.encode("utf-32"),
    b'{"sub":"\xff"}',
    b'{"sub":"\xc0\xaf"}',
    b'{"sub":"\xed\xa0\x80"}',
    '{"sub":"åsa é 🙂"}'.encode(),
    b'{"sub":"\\ud83d\\ude42"}',
    b'{"sub":"\\ud83d"}',
    b'{"sub":"\\ude42x"}',
    b'{"exp":NaN}',
    b'{"exp":Infinity}',
    b'{"exp":-Infinity}',
    b'{"exp":1e400}',
    b'{"exp":01}',
    b'{"exp":1.}',
    b'{"exp":.5}',
    b'{"exp":-0}',
    b'{"exp":1E+2}',
    b'{"a":1,}',
    b"{'a':1}",
    b'{"a":"tab\there"}',
    b'{"a":"\\x41"}',
    b'{"a":true,"b":false,"c":null}',
    b'{"a":tru}',
    b'[1,2]',
    b'"text"',
    b'42',
    b'null',
    b'',
    b'{}',
    b'{"a":1} {"b":2}',
    b'{"a":1}x',
    b'[' * 2000 + b']' * 2000,
    b'{"a":' * 300 + b'1' + b'}' * 300,
    b'[' * 32 + b']' * 32,
    b'[' * 33 + b']' * 33,
    b'{"a":' * 31 + b'[]' + b'}' * 31,
    b'{"a":' * 32 + b'[]' + b'}' * 32,
]


def test_json_rules_match_the_toolkit(page: Any) -> None:
    answers = js(page, """
        return arg.map(b => {
          try { J.parseJsonObject(new Uint8Array(b), 'claims'); return 'ok'; }
          catch (e) { return e.reason || ('crash:' + e); }
        });
    """, [list(c) for c in JSON_CASES])
    for raw, answer in zip(JSON_CASES, answers, strict=True):
        expected = py_reason(parse_json_object, raw, "claims") or "ok"
        assert answer == expected, raw[:60]


def test_duplicate_names_are_named_in_the_message(page: Any) -> None:
    message = js(page, """
        try { J.parseJsonObject(new TextEncoder().encode('{"role":"user","role":"admin"}'), 'claims'); }
        catch (e) { return [e.reason, e.message]; }
    """)
    assert message == ["duplicate_name", 'The claims contains the member "role" twice.']


def test_proto_member_stays_an_ordinary_member(page: Any) -> None:
    result = js(page, """
        const v = J.parseJson('{"__proto__":{"admin":true},"sub":"a"}', 'claims').value;
        return [Object.keys(v), v.admin === undefined, Object.getPrototypeOf(v) === Object.prototype];
    """)
    assert result == [["__proto__", "sub"], True, True]


def test_pretty_printing_keeps_literals_exactly(page: Any) -> None:
    pretty = js(page, "return J.parseJson('{\"id\":12345678901234567890123,\"s\":\"a\\\\u0041\",\"l\":[1,{}],\"e\":[]}', 'x').pretty;")
    assert pretty == '{\n  "id": 12345678901234567890123,\n  "s": "a\\u0041",\n  "l": [\n    1,\n    {}\n  ],\n  "e": []\n}'


# ----------------------------------------------------------------------------- decoding


def test_decode_reads_header_claims_and_signature(page: Any) -> None:
    key = keys.hmac_secret()
    token = jwt.encode({"sub": "alice", "n": 1}, key.signing_key, algorithm="HS256", headers=key.headers())
    result = js(page, "const d = J.decode(arg); return [d.header, d.claims, d.signature.length, d.error, d.claimsError];", token)
    assert result == [{"alg": "HS256", "kid": key.kid, "typ": "JWT"}, {"sub": "alice", "n": 1}, 32, None, None]


@pytest.mark.parametrize(
    ("token", "reason", "fragment"),
    [
        ("", "malformed", "nothing to decode"),
        ("abc.def", "malformed", "this token has 2"),
        ("a.b.c.d.e", "malformed", "five-segment JWE"),
        ("a.b.c.d", "malformed", "this token has 4"),
        ("eyJhbGciOiJub25lIn0..", "malformed", "empty segment"),
        ("eyJhbGciOiJub25lIn0=.e30.", "malformed", "outside base64url"),
        ("eyJhbGciOiJub25lIn0.e30.a+b", "malformed", "outside base64url"),
        ("eyJhbGciOiJub25lIn1.e30.", "malformed", "non-zero unused bits"),
        ("e30x.e30.", "malformed", "not valid JSON"),
        ("W10.e30.", "malformed", "must be a JSON object"),
        (b64.encode(b'{"alg":"HS256","alg":"none"}') + ".e30.", "duplicate_name", '"alg" twice'),
        (b64.encode('{"alg":"none"}'.encode("utf-16")) + ".e30.", "not_utf8", "UTF-16/32"),
        ("a" * 8193, "too_large", "limit is 8192"),
        ("Bearer eyJhbGciOiJub25lIn0.e30.", "malformed", "Remove the \"Bearer \" prefix"),
    ],
)
def test_decode_rejects_malformed_tokens_with_reasons(page: Any, token: str, reason: str, fragment: str) -> None:
    error = js(page, "const e = J.decode(arg).error; return e && [e.reason, e.message];", token)
    assert error is not None and error[0] == reason and fragment in error[1], error


def test_decode_keeps_a_non_json_payload_apart(page: Any) -> None:
    result = js(page, "const d = J.decode(arg); return [d.error, d.claimsError && d.claimsError.reason, d.payloadText];",
                "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AA")
    assert result == [None, "malformed", "Payload"]


def test_decode_ignores_surrounding_whitespace_only(page: Any) -> None:
    result = js(page, "return [J.decode(' \\n' + arg + '\\n').trimmed, J.decode(arg.replace('.', '. ')).error.reason];",
                "eyJhbGciOiJub25lIn0.e30.")
    assert result == [True, "malformed"]


# ----------------------------------------------------------------------------- time

RELATIVE_DELTAS = [0, 0.4, -0.9, 1, -1, 5, 45, 59, 60, 61, 75, 90, 150, 599, 600, 3599, 3600, 5400, 37800, -37800,
                   7 * 3600 + 1800, 86399, 86400, 86400 * 1.25, 86400 * 2.5, 86400 * 10.5, 86400 * 11.5, -10 * 86400,
                   12 * 60, -3 * 3600, 3 * 60 + 15, 135, 165, 9.5 * 3600, 9.95 * 60, 10 ** 9]


def test_relative_wording_matches_the_course_clock(page: Any) -> None:
    answers = js(page, "return arg.map(d => J.relative(1767225600 + d, 1767225600));", RELATIVE_DELTAS)
    assert answers == [clock.relative(NOW + d, NOW) for d in RELATIVE_DELTAS]


def test_iso_matches_the_course_clock(page: Any) -> None:
    stamps = [0, NOW, NOW + 59, 1300819380, 253402300799]
    assert js(page, "return arg.map(J.iso);", stamps) == [clock.iso(t) for t in stamps]


def test_time_claims_are_described_in_words(page: Any) -> None:
    claims = {"iat": NOW - 3 * 3600, "nbf": NOW + 300, "exp": NOW + 12 * 60}
    rows = js(page, "return J.describeTimes(arg, 1767225600).map(r => [r.name, r.date, r.text]);", claims)
    assert rows == [
        ["iat", "2025-12-31T21:00:00Z", "issued 3 h ago"],
        ["nbf", "2026-01-01T00:05:00Z", "becomes valid in 5 min"],
        ["exp", "2026-01-01T00:12:00Z", "expires in 12 min"],
    ]
    expired = js(page, "return J.describeTimes({exp: 1767225600 - 3 * 3600, iat: 'x'}, 1767225600).map(r => r.text);")
    assert expired == ['not a NumericDate ("x")', "expired 3 h ago"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", NOW),
        ("2026-01-01 00:05Z", NOW + 300),
        ("2026-01-01T01:00:00+01:00", NOW),
        ("1767225600", NOW),
        ("2026-02-31T00:00:00Z", None),
        ("yesterday", None),
        ("2026-01-01T00:00:00", None),
    ],
)
def test_now_parsing_is_explicit_about_utc(page: Any, text: str, expected: int | None) -> None:
    assert js(page, "return J.parseNow(arg);", text) == expected


# ----------------------------------------------------------------------------- claim checks

CLAIM_CASES: list[dict[str, Any]] = [
    clock.claims(),
    {**clock.claims(), "exp": NOW - 30},
    {**clock.claims(), "exp": NOW - 60},
    {**clock.claims(), "exp": NOW - 61},
    {**clock.claims(), "exp": "1799999999"},
    {**clock.claims(), "exp": True},
    {**clock.claims(), "exp": None},
    {**clock.claims(), "exp": 1.5e300},
    {**clock.claims(), "exp": -5},
    {**clock.claims(), "exp": NOW + 0.5},
    {**clock.claims(), "exp": {"t": 1}},
    {k: v for k, v in clock.claims().items() if k != "exp"},
    {k: v for k, v in clock.claims().items() if k != "sub"},
    {k: v for k, v in clock.claims().items() if k not in ("aud", "iss")},
    {**clock.claims(), "nbf": NOW + 61},
    {**clock.claims(), "nbf": NOW + 60},
    {**clock.claims(), "iat": NOW + 120, "exp": NOW + 500},
    {**clock.claims(), "iss": ""},
    {**clock.claims(), "iss": ISS + "/"},
    {**clock.claims(), "iss": ISS.upper()},
    {**clock.claims(), "iss": ISS[:-1]},
    {**clock.claims(), "iss": [ISS]},
    {**clock.claims(), "sub": ""},
    {**clock.claims(), "sub": 42},
    {**clock.claims(), "jti": 7},
    {**clock.claims(), "aud": ["billing-api", AUD]},
    {**clock.claims(), "aud": ["billing-api"]},
    {**clock.claims(), "aud": []},
    {**clock.claims(), "aud": [""]},
    {**clock.claims(), "aud": [AUD, 1]},
    {**clock.claims(), "aud": "orders"},
    {**clock.claims(), "aud": AUD + "-v2"},
    {**clock.claims(), "aud": {"a": AUD}},
    {**clock.claims(), "iss": "https://evil.example", "exp": NOW - 1000},
    {**clock.claims(), "exp": NOW - 1000, "aud": "billing-api"},
]


def test_claim_checks_give_the_toolkits_first_reason(page: Any) -> None:
    secret = keys.hmac_secret()
    answers = js(page, """
        return arg.map(c => J.checkClaims(c, {issuer: arg_iss, audience: arg_aud, leeway: 60, now: 1767225600}).reason);
    """.replace("arg_iss", json.dumps(ISS)).replace("arg_aud", json.dumps(AUD)), CLAIM_CASES)
    for claims, answer in zip(CLAIM_CASES, answers, strict=True):
        token = hs256(claims, secret.secret)
        expected = py_reason(verify_token, token, secret.secret, issuer=ISS, audience=AUD, algorithms=["HS256"], now=NOW)
        assert answer == expected, claims


def test_every_claim_check_is_reported_with_a_fix(page: Any) -> None:
    claims = {**clock.claims(aud="billing-api"), "exp": NOW - 3 * 3600}
    checks = js(page, """
        return J.checkClaims(arg, {issuer: 'https://idp.course.example', audience: 'orders-api', now: 1767225600}).checks
          .map(c => [c.id, c.status, c.reason]);
    """, claims)
    assert checks == [
        ["required", "pass", None], ["types", "pass", None], ["issuer", "pass", None],
        ["audience", "fail", "audience"], ["exp", "fail", "expired"], ["nbf", "skip", None], ["iat", "pass", None],
    ]


def test_missing_expectations_are_skipped_not_passed(page: Any) -> None:
    statuses = js(page, "return J.checkClaims(arg, {now: 1767225600}).checks.filter(c => ['issuer','audience'].includes(c.id)).map(c => c.status);",
                  clock.claims())
    assert statuses == ["skip", "skip"]


def test_max_lifetime_rule(page: Any) -> None:
    reasons = js(page, """
        return [J.checkClaims(arg, {now: 1767225600, maxLifetime: 300}).reason,
                J.checkClaims(arg, {now: 1767225600, maxLifetime: 100}).reason];
    """, clock.claims(lifetime=300))
    assert reasons == [None, "lifetime_too_long"]


def test_reason_codes_and_fixes_are_the_toolkits(page: Any) -> None:
    codes = js(page, "return J.REASON_CODES;")
    assert set(codes) <= set(REASONS), set(codes) - set(REASONS)
    assert js(page, "return J.describe('expired').title;") == "expired", "without build data a code describes itself"


# ----------------------------------------------------------------------------- warnings


@pytest.mark.parametrize(
    ("header", "claims", "codes"),
    [
        ({"alg": "none"}, clock.claims(), ["alg_none"]),
        ({"alg": "nOnE"}, clock.claims(), ["alg_none"]),
        ({"alg": "HS256"}, clock.claims(), ["hmac"]),
        ({"alg": "RS256"}, {"sub": "a"}, ["no_exp"]),
        ({"alg": "RS256"}, clock.claims(lifetime=86400), ["long_lifetime"]),
        ({"alg": "RS256", "jku": "https://x.example/k", "x5u": "https://x.example/c"}, clock.claims(), ["key_in_header"]),
        ({"alg": "RS256", "jwk": {"kty": "oct"}}, clock.claims(), ["key_in_header"]),
        ({"alg": "RS256", "crit": ["exp"]}, clock.claims(), ["crit"]),
        ({"alg": "RS256", "kid": "../../dev/null"}, clock.claims(), ["kid_suspicious"]),
        ({"alg": "RS256", "kid": "x' UNION SELECT 'k"}, clock.claims(), ["kid_suspicious"]),
        ({"alg": "RS256", "kid": "2026-01"}, clock.claims(), []),
        ({"alg": "RSA256"}, clock.claims(), ["unknown_alg"]),
        ({"alg": "ES256", "typ": "dpop+jwt", "jwk": {"kty": "EC"}}, {"jti": "j", "htm": "GET", "iat": 1}, ["dpop_proof"]),
        ({"alg": "ES256", "typ": "JWT", "jwk": {"kty": "EC"}}, {"jti": "j"}, ["key_in_header", "no_exp"]),
        ({"alg": "ES256"}, clock.claims(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}), ["dpop_bound"]),
    ],
)
def test_warnings(page: Any, header: dict[str, Any], claims: dict[str, Any], codes: list[str]) -> None:
    token = f"{b64.encode_json(header)}.{b64.encode_json(claims)}.AAAA"
    found = js(page, "return J.warnings(J.decode(arg), {now: 1767225600}).map(w => w.code);", token)
    assert found == codes


# ----------------------------------------------------------------------------- keys


def _pem(key: Any) -> str:
    return key.public_pem().decode("ascii")


def test_key_kinds_decide_the_algorithm_family(page: Any) -> None:
    inputs = {
        "rsa-pem": (_pem(keys.rsa_key(0)), "utf8"),
        "ec-pem": (_pem(keys.p256_key()), "utf8"),
        "ed-pem": (_pem(keys.ed25519_key()), "utf8"),
        "rsa-jwk": (json.dumps(keys.rsa_key(0, "PS256").public_jwk()), "utf8"),
        "jwks": (json.dumps(keys.jwks(keys.rsa_key(0), keys.ed25519_key())), "utf8"),
        "oct-jwk": (json.dumps({"kty": "oct", "k": b64.encode(b"k" * 32)}), "utf8"),
        "secret": ("correct horse battery staple", "utf8"),
        "secret-b64": (b64.encode(keys.hmac_secret().secret), "base64url"),
    }
    answers = js(page, """
        const out = {};
        for (const [name, [text, enc]] of Object.entries(arg)) {
          const k = J.parseKey(text, {secretEncoding: enc});
          out[name] = [k.kind, J.allowedAlgorithms(k), k.description];
        }
        return out;
    """, inputs)
    assert answers["rsa-pem"][:2] == ["spki", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]]
    assert "2048 bits" in answers["rsa-pem"][2]
    assert answers["ec-pem"][:2] == ["spki", ["ES256"]]
    assert answers["ed-pem"][:2] == ["spki", ["EdDSA"]]
    assert answers["rsa-jwk"][:2] == ["jwk", ["PS256"]], "a JWK's alg pins exactly one algorithm"
    assert answers["jwks"][:2] == ["jwks", ["RS256", "EdDSA"]]
    assert answers["oct-jwk"][:2] == ["jwk", ["HS256", "HS384", "HS512"]]
    assert answers["secret"][:2] == ["secret", ["HS256", "HS384", "HS512"]] and "28 bytes" in answers["secret"][2]
    assert "32 bytes" in answers["secret-b64"][2]


def test_dangerous_or_unusable_keys_are_refused_with_a_reason(page: Any) -> None:
    rsa = keys.rsa_key(0)
    private_pem = rsa.private_pem().decode("ascii")
    pkcs1 = rsa.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode("ascii")
    ssh = rsa.public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")
    private_jwk = {**rsa.public_jwk(), "d": "AQAB"}
    inputs = {
        "private-pem": private_pem,
        "pkcs1": pkcs1,
        "ssh": ssh,
        "private-jwk": json.dumps(private_jwk),
        "empty": "   ",
        "empty-jwks": '{"keys":[]}',
        "bad-json": '{"kty":',
        "truncated-pem": "\n".join(_pem(rsa).splitlines()[:-1]),
        "bad-alg": json.dumps({**rsa.public_jwk(), "alg": "none"}),
        "ed448": json.dumps({"kty": "OKP", "crv": "Ed448", "x": "AAAA"}),
    }
    answers = js(page, """
        const out = {};
        for (const [name, text] of Object.entries(arg)) {
          try { J.parseKey(text); out[name] = 'accepted'; } catch (e) { out[name] = e.name + ': ' + e.message; }
        }
        return out;
    """, inputs)
    expected_fragments = {
        "private-pem": "private key never belongs in a web page",
        "pkcs1": "openssl rsa -RSAPublicKey_in",
        "ssh": "algorithm confusion",
        "private-jwk": "private key members",
        "empty": "Paste a key",
        "empty-jwks": "JWKS is empty",
        "bad-json": "not valid JSON",
        "truncated-pem": "incomplete",
        "bad-alg": 'alg "none" is not supported',
        "ed448": "not supported",
    }
    for name, fragment in expected_fragments.items():
        assert answers[name].startswith("KeyInputError: ") and fragment in answers[name], (name, answers[name])


# ----------------------------------------------------------------------------- signatures, against verify_token


def _token_corpus() -> list[tuple[str, str, Any, list[str]]]:
    """(name, token, key set, allowlist) for hostile and honest tokens; keys are public JWKS or secrets."""
    rsa, rsa_other, ed, ec = keys.rsa_key(0), keys.rsa_key(1), keys.ed25519_key(), keys.p256_key()
    ps = keys.rsa_key(0, "PS256")
    secret = keys.hmac_secret()
    jwks = keys.jwks(rsa, ed, ec)
    good = clock.claims()

    def sign(claims: Any, key: Any, alg: str, **headers: Any) -> str:
        return jwt.encode(claims, key.signing_key, algorithm=alg, headers=key.headers(**headers))

    valid = sign(good, rsa, "RS256")
    h, p, s = valid.split(".")
    es_valid = sign(good, ec, "ES256")
    eh, ep, _ = es_valid.split(".")
    confusion = jwt.encode(good, b"x" * 32, algorithm="HS256", headers={"kid": rsa.kid})
    all_algs = ["RS256", "PS256", "ES256", "EdDSA", "HS256"]
    duplicate = b64.encode(b'{"sub":"a","sub":"b"}')
    return [
        ("valid rs256", valid, jwks, all_algs),
        ("valid eddsa", sign(good, ed, "EdDSA"), jwks, all_algs),
        ("valid es256", es_valid, jwks, all_algs),
        ("valid ps256", sign(good, ps, "PS256"), keys.jwks(ps), all_algs),
        ("valid hs256", sign(good, secret, "HS256"), secret.public_jwk(), all_algs),
        ("rs256 not allowed", valid, jwks, ["EdDSA"]),
        ("ps256 token, rs256-bound key", sign(good, ps, "PS256"), jwks, all_algs),
        ("alg confusion hs256 with rsa kid", confusion, jwks, all_algs),
        ("alg none", f"{b64.encode_json({'alg': 'none'})}.{p}.", jwks, all_algs),
        ("alg NONE", f"{b64.encode_json({'alg': 'NONE', 'kid': rsa.kid})}.{p}.{s}", jwks, all_algs),
        ("tampered claims", f"{h}.{b64.encode_json({**good, 'sub': 'admin'})}.{s}", jwks, all_algs),
        ("stripped signature", f"{h}.{p}.", jwks, all_algs),
        ("truncated signature", f"{h}.{p}.{s[:-4]}", jwks, all_algs),
        ("padded signature", f"{h}.{p}.{s}=", jwks, all_algs),
        ("psychic signature", f"{eh}.{ep}.{b64.encode(bytes(64))}", jwks, all_algs),
        ("unknown kid", sign(good, rsa_other, "RS256"), jwks, all_algs),
        ("kid traversal", sign(good, rsa, "RS256", kid="../../dev/null"), jwks, all_algs),
        ("jku", sign(good, rsa, "RS256", jku="https://attacker.example/jwks"), jwks, all_algs),
        ("embedded jwk", sign(good, rsa, "RS256", jwk=rsa.public_jwk()), jwks, all_algs),
        ("crit", sign(good, rsa, "RS256", crit=["exp"]), jwks, all_algs),
        ("b64 false", sign(good, rsa, "RS256", b64=False), jwks, all_algs),
        ("weak hmac secret", hs256(good, b"secret"), "secret", all_algs),
        ("expired", sign({**good, "exp": NOW - 3600}, rsa, "RS256"), jwks, all_algs),
        ("wrong audience", sign({**good, "aud": "billing-api"}, rsa, "RS256"), jwks, all_algs),
        ("duplicate claims", f"{h}.{duplicate}.{s}", jwks, all_algs),
        ("jwe", "a.b.c.d.e", jwks, all_algs),
    ]


def _key_text(keyset: Any) -> str:
    return keyset if isinstance(keyset, str) else json.dumps(keyset)


def test_signature_and_claims_verdicts_match_verify_token(page: Any) -> None:
    corpus = _token_corpus()
    cases = [{"name": n, "token": t, "key": _key_text(k), "algorithms": a} for n, t, k, a in corpus]
    answers = js(page, """
        const out = [];
        for (const c of arg) {
          const r = await J.verify(c.token, c.key, {algorithms: c.algorithms, issuer: 'https://idp.course.example',
                                                      audience: 'orders-api', leeway: 60, now: 1767225600});
          out.push(r.keyError ? 'key:' + r.keyError : r.verdict.reason);
        }
        return out;
    """, cases)
    for (name, token, keyset, algs), answer in zip(corpus, answers, strict=True):
        py_keys = keyset.encode() if isinstance(keyset, str) else keyset
        expected = py_reason(verify_token, token, py_keys, issuer=ISS, audience=AUD, algorithms=algs, now=NOW)
        assert answer == expected, f"{name}: browser {answer!r}, verify_token {expected!r}"


def test_weak_secret_says_whether_it_would_have_matched(page: Any) -> None:
    token = hs256(clock.claims(), b"secret")
    message = js(page, "return (await J.verify(arg, 'secret', {now: 1767225600})).signature.message;", token)
    assert "shorter than 256 bits" in message and "does match this secret" in message


def test_verification_needs_the_key_not_the_tokens_word(page: Any) -> None:
    """An EdDSA token checked with an RSA key: the key decides, the token's alg is refused."""
    token = jwt.encode(clock.claims(), keys.ed25519_key().signing_key, algorithm="EdDSA")
    result = js(page, "const r = await J.verify(arg[0], arg[1], {now: 1767225600}); return [r.signature.reason, r.signature.message];",
                [token, _pem(keys.rsa_key(0))])
    assert result[0] == "alg_not_allowed" and "EdDSA" in result[1]


def test_rfc7515_a1_hmac_bytes(page: Any) -> None:
    """Cross-check the base64url layer on the RFC's own HS256 example: header bytes include CR LF."""
    token = json.loads((CORE_JS.parents[3] / "tests" / "data" / "rfc7515_browser" / "a1.json").read_text())["compact"]
    header = js(page, "return Array.from(J.b64urlDecode(arg.split('.')[0]));", token)
    assert bytes(header) == b'{"typ":"JWT",\r\n "alg":"HS256"}'
    assert base64.urlsafe_b64encode(bytes(header)).rstrip(b"=").decode() == token.split(".")[0]


def test_all_thirteen_algorithms_verify_and_detect_a_flipped_bit(page: Any) -> None:
    """HS/RS/PS/ES in every hash size, and EdDSA: WebCrypto with the right parameters for each."""
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_keys = {"ES256": keys.p256_key().private_key, "ES384": ec.generate_private_key(ec.SECP384R1()),
               "ES512": ec.generate_private_key(ec.SECP521R1())}
    cases = []
    for alg in ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                "ES256", "ES384", "ES512", "EdDSA"]:
        if alg.startswith("HS"):
            secret = bytes(range(64))
            signing, key_text, enc = secret, b64.encode(secret), "base64url"
        elif alg.startswith(("RS", "PS")):
            rsa = keys.rsa_key(1, alg)
            signing, key_text, enc = rsa.signing_key, json.dumps(rsa.public_jwk()), "utf8"
        elif alg == "EdDSA":
            signing, key_text, enc = keys.ed25519_key().signing_key, _pem(keys.ed25519_key()), "utf8"
        else:
            private = ec_keys[alg]
            signing = private
            key_text = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
            enc = "utf8"
        token = jwt.encode(clock.claims(), signing, algorithm=alg)
        head, body, sig = token.split(".")
        raw = bytearray(b64.decode(sig))
        raw[len(raw) // 2] ^= 0x01
        cases.append({"alg": alg, "token": token, "flipped": f"{head}.{body}.{b64.encode(bytes(raw))}", "key": key_text, "enc": enc})
    answers = js(page, """
        const out = {};
        for (const c of arg) {
          const opts = {secretEncoding: c.enc, now: 1767225600, issuer: 'https://idp.course.example', audience: 'orders-api'};
          const good = await J.verify(c.token, c.key, opts), bad = await J.verify(c.flipped, c.key, opts);
          out[c.alg] = [good.verdict.ok, good.signature.message.startsWith('The signature is valid: ' + c.alg), bad.verdict.reason];
        }
        return out;
    """, cases)
    assert answers == {c["alg"]: [True, True, "bad_signature"] for c in cases}
