"""The built decoder page in real headless Chromium: what a reader sees and clicks.

Drives `_build/html/book/tools/decoder.html` (build the book first; CI does) served from 127.0.0.1 and
from file://. Tokens are made here with the course's demo keys and PyJWT, the RFC 7515 Appendix A
vectors come from `tests/data/rfc7515_browser/`, and every request the page makes is recorded: the page
may load its own files and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import decoder_examples
import jwt
import pytest
from decoder_browser_support import (
    BUILT_DATA,
    BUILT_HTML,
    BUILT_PAGE,
    ROOT,
    StaticServer,
    launch_chromium,
    require_built_page,
)

from jwtlab import b64, clock, keys
from jwtlab.verify import TokenRejected, verify_signature, verify_token

pytestmark = [pytest.mark.browser, pytest.mark.network]

NOW = clock.COURSE_NOW
NOW_ISO = clock.iso(NOW)
ISS, AUD = clock.DEMO_ISSUER, clock.DEMO_AUDIENCE
RFC_DIR = ROOT / "tests" / "data" / "rfc7515_browser"
PAGE_PATH = "/book/tools/decoder.html"


@dataclass
class Session:
    """One browser page plus everything it requested and every script error it raised."""

    page: Any
    allowed_prefix: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.allowed_prefix)]


def open_session(browser: Any, url: str, allowed_prefix: str, **context_args: Any) -> Session:
    context = browser.new_context(**context_args)
    page = context.new_page()
    session = Session(page, allowed_prefix)
    page.on("request", lambda request: session.requests.append(request.url))
    page.on("pageerror", lambda exc: session.errors.append(str(exc)))
    page.goto(url)
    return session


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_built_page()
    yield from launch_chromium()


@pytest.fixture(scope="module")
def site() -> Iterator[StaticServer]:
    require_built_page()
    server = StaticServer(BUILT_HTML)
    yield server
    server.close()


@pytest.fixture(scope="module")
def theme_errors(browser: Any, site: StaticServer) -> set[str]:
    """Script errors every book page raises (from the book theme), so the decoder is judged on its own."""
    session = open_session(browser, site.origin + "/glossary.html", site.origin + "/")
    session.page.wait_for_load_state("load")
    session.page.context.close()
    return set(session.errors)


@pytest.fixture(scope="module")
def module_session(browser: Any, site: StaticServer) -> Iterator[Session]:
    session = open_session(browser, site.origin + PAGE_PATH, site.origin + "/")
    session.page.wait_for_selector("#jwtd[data-state=ready]")
    yield session
    session.page.context.close()


@pytest.fixture
def decoder(module_session: Session, theme_errors: set[str]) -> Iterator[Session]:
    """The decoder page; after each test: no request left the machine and no new script error appeared."""
    module_session.requests.clear()
    module_session.errors.clear()
    yield module_session
    assert module_session.foreign_requests() == [], "the decoder page made a network request"
    assert set(module_session.errors) <= theme_errors, module_session.errors


def verify_in_page(
    session: Session,
    token: str,
    key: str,
    *,
    iss: str = ISS,
    aud: str = AUD,
    now: str = NOW_ISO,
    alg: str = "",
    encoding: str = "utf8",
    required: str = "exp, iat, iss, aud, sub",
    leeway: str = "60",
) -> dict[str, Any]:
    """Fill the form like a reader, press Verify, and read the verdicts back from the page."""
    page = session.page
    page.fill("#jwtd-token", token)
    page.fill("#jwtd-key", key)
    page.check("#jwtd-secret-b64" if encoding == "base64url" else "#jwtd-secret-utf8")
    page.select_option("#jwtd-alg", alg)
    page.fill("#jwtd-iss", iss)
    page.fill("#jwtd-aud", aud)
    page.fill("#jwtd-required", required)
    page.fill("#jwtd-leeway", leeway)
    page.fill("#jwtd-now", now)
    page.click("#jwtd-verify")
    return read_result(session)


def read_result(session: Session) -> dict[str, Any]:
    page = session.page
    page.wait_for_selector("#jwtd-verdict:is([data-state=done], [data-state=key-error], [data-state=invalid-settings])")
    return page.evaluate("""() => {
        const v = document.getElementById('jwtd-verdict'), s = document.getElementById('jwtd-signature');
        const checks = {};
        for (const li of document.querySelectorAll('#jwtd-checks li[data-check]')) {
          checks[li.dataset.check] = [li.dataset.status, li.dataset.reason || null, li.textContent];
        }
        return {state: v.dataset.state, ok: v.dataset.ok === 'true', reason: v.dataset.reason || null, text: v.textContent,
                sigOk: s.dataset.ok === 'true', sigReason: s.dataset.reason || null, sigText: s.textContent, checks};
    }""")


# ----------------------------------------------------------------------------- decoding


def test_pasted_token_is_decoded_coloured_and_dated(decoder: Session) -> None:
    key = keys.rsa_key(0)
    token = jwt.encode(clock.claims("alice", lifetime=12 * 60, issued=-60), key.signing_key, algorithm="RS256", headers=key.headers())
    page = decoder.page
    page.click("#jwtd-now-course")
    page.fill("#jwtd-token", token)
    header = json.loads(page.inner_text("#jwtd-header"))
    claims = json.loads(page.inner_text("#jwtd-claims"))
    assert header == {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    assert claims["sub"] == "alice" and claims["aud"] == AUD
    assert page.eval_on_selector_all("#jwtd-colored span:not(.jwtd-dot)", "s => s.map(x => x.className + ':' + x.textContent)") == [
        f"jwtd-seg-{cls}:{part}" for cls, part in zip("hps", token.split("."), strict=True)
    ]
    times = page.eval_on_selector_all("#jwtd-times tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))")
    assert times == [["iat", "2025-12-31T23:59:00Z", "issued 1 min ago"], ["exp", "2026-01-01T00:11:00Z", "expires in 11 min"]]
    assert "Nothing is verified yet" in page.inner_text("#jwtd-decode-status")
    assert page.inner_text("#jwtd-warnings") == "None."
    assert page.get_attribute("#jwtd-verdict", "data-state") == "idle", "decoding alone never shows a verdict"


def test_decoding_warns_about_dangerous_headers_and_lifetimes(decoder: Session) -> None:
    header = {"alg": "HS256", "jku": "https://attacker.example/jwks.json", "kid": "../../dev/null"}
    token = f"{b64.encode_json(header)}.{b64.encode_json({'sub': 'alice'})}.AAAA"
    page = decoder.page
    page.fill("#jwtd-token", token)
    codes = page.eval_on_selector_all("#jwtd-warnings li", "li => li.map(x => x.dataset.code)")
    assert codes == ["hmac", "key_in_header", "kid_suspicious", "no_exp"]
    page.fill("#jwtd-token", f"{b64.encode_json({'alg': 'none'})}.{b64.encode_json(clock.claims(lifetime=7 * 86400))}.")
    codes = page.eval_on_selector_all("#jwtd-warnings li", "li => li.map(x => x.dataset.code)")
    assert codes == ["alg_none", "long_lifetime"]
    assert "7 d" in page.inner_text("#jwtd-warnings")


def test_undecodable_tokens_are_explained(decoder: Session) -> None:
    page = decoder.page
    page.fill("#jwtd-token", "not-a-token")
    assert page.get_attribute("#jwtd-decode-status", "data-reason") == "malformed"
    assert "three segments" in page.inner_text("#jwtd-decode-status")
    page.fill("#jwtd-token", b64.encode(b'{"alg":"RS256","alg":"none"}') + ".e30.AAAA")
    assert page.get_attribute("#jwtd-decode-status", "data-reason") == "duplicate_name"
    page.fill("#jwtd-token", "eyJhbGciOiJIUzI1NiJ9." + "A" * 20000 + ".AAAA")
    assert page.get_attribute("#jwtd-decode-status", "data-reason") == "too_large"
    assert len(page.inner_text("#jwtd-colored")) <= 2001, "an oversized paste is shown truncated"


# ----------------------------------------------------------------------------- verification per algorithm


def _pem(key: Any) -> str:
    return key.public_pem().decode("ascii")


ALGORITHM_CASES = {
    # alg: (signing key, matching key as pasted, its encoding, a wrong key of the same family)
    "HS256": (keys.hmac_secret(), b64.encode(keys.hmac_secret().secret), "base64url", b64.encode(keys.hmac_secret("other").secret)),
    "RS256": (keys.rsa_key(0), _pem(keys.rsa_key(0)), "utf8", _pem(keys.rsa_key(1))),
    "PS256": (keys.rsa_key(2, "PS256"), json.dumps(keys.rsa_key(2, "PS256").public_jwk()), "utf8", _pem(keys.rsa_key(3, "PS256"))),
    "ES256": (keys.p256_key(), json.dumps(keys.jwks(keys.p256_key())), "utf8", _pem(keys.p256_key("other"))),
    "EdDSA": (keys.ed25519_key(), _pem(keys.ed25519_key()), "utf8", _pem(keys.ed25519_key("other"))),
}


@pytest.mark.parametrize("alg", list(ALGORITHM_CASES))
def test_each_algorithm_verifies_with_its_key_and_fails_with_another(decoder: Session, alg: str) -> None:
    signer, good_key, encoding, wrong_key = ALGORITHM_CASES[alg]
    token = jwt.encode(clock.claims(), signer.signing_key, algorithm=alg, headers=signer.headers())

    good = verify_in_page(decoder, token, good_key, encoding=encoding)
    assert (good["ok"], good["sigOk"], good["reason"]) == (True, True, None), good["text"]
    assert "Accepted" in good["text"]
    assert all(status in ("pass", "skip") for status, _, _ in good["checks"].values())

    bad = verify_in_page(decoder, token, wrong_key, encoding=encoding)
    assert (bad["ok"], bad["sigOk"], bad["reason"], bad["sigReason"]) == (False, False, "bad_signature", "bad_signature")
    assert "Fix: The token was altered or signed with another key" in bad["sigText"]


def test_pinned_algorithm_refuses_a_token_claiming_another(decoder: Session) -> None:
    signer = keys.rsa_key(0, "PS256")
    token = jwt.encode(clock.claims(), signer.signing_key, algorithm="PS256")
    result = verify_in_page(decoder, token, _pem(signer), alg="RS256")
    assert (result["reason"], result["sigReason"]) == ("alg_not_allowed", "alg_not_allowed")


def test_public_key_used_as_hmac_secret_is_refused(decoder: Session) -> None:
    """Algorithm confusion: an HS256 token MACed with the RSA public key never verifies here."""
    rsa = keys.rsa_key(0)
    signing_input = f"{b64.encode_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64.encode_json(clock.claims())}"
    mac = hmac.new(rsa.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64.encode(mac)}"
    result = verify_in_page(decoder, token, _pem(rsa))
    assert result["reason"] == "alg_not_allowed", result["text"]


# ----------------------------------------------------------------------------- RFC 7515 Appendix A

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


def rfc_vector(name: str) -> dict[str, Any]:
    return json.loads((RFC_DIR / f"{name}.json").read_text(encoding="utf-8"))


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}


@pytest.mark.parametrize("name", ["a1", "a2", "a3", "a4"])
def test_rfc7515_examples_verify_with_their_published_keys(decoder: Session, name: str) -> None:
    vector = rfc_vector(name)
    key = public_jwk(vector["jwk"])
    # The data file is exact: the Python toolkit verifies the same signature first.
    verify_signature(vector["compact"], key, algorithms=[vector["alg"]])

    result = verify_in_page(decoder, vector["compact"], json.dumps(key), iss="joe", aud="", required="exp, iss",
                            now="2011-03-22T18:00:00Z")
    assert result["sigOk"], f"{vector['section']}: {result['sigText']}"
    assert vector["alg"] in result["sigText"]
    if name == "a4":  # the A.4 payload is the text "Payload", not a claims set
        assert result["reason"] == "malformed" and "JSON" in result["text"]
    else:
        assert result["ok"], result["text"]
        late = verify_in_page(decoder, vector["compact"], json.dumps(key), iss="joe", aud="", required="exp, iss")
        assert (late["sigOk"], late["reason"]) == (True, "expired"), "the RFC's tokens expired in 2011"


@pytest.mark.parametrize("key_from", ["a1", "a2"])
def test_rfc7515_unsecured_example_is_refused(decoder: Session, key_from: str) -> None:
    vector = rfc_vector("a5")
    with pytest.raises(TokenRejected) as rejected:
        verify_signature(vector["compact"], public_jwk(rfc_vector(key_from)["jwk"]), algorithms=["HS256", "RS256"])
    assert rejected.value.reason == "alg_not_allowed"
    result = verify_in_page(decoder, vector["compact"], json.dumps(public_jwk(rfc_vector(key_from)["jwk"])),
                            iss="joe", aud="", required="exp, iss", now="2011-03-22T18:00:00Z")
    assert (result["ok"], result["sigReason"], result["reason"]) == (False, "alg_not_allowed", "alg_not_allowed")
    assert "never accepted" in result["sigText"]


def test_rfc7515_private_jwk_is_refused(decoder: Session) -> None:
    vector = rfc_vector("a2")
    result = verify_in_page(decoder, vector["compact"], json.dumps(vector["jwk"]), iss="joe", aud="")
    assert result["state"] == "key-error" and not result["ok"]
    assert "private key" in result["text"]


# ----------------------------------------------------------------------------- claim failures


def test_wrong_audience_expired_and_tampered_tokens_fail_with_their_reasons(decoder: Session) -> None:
    rsa = keys.rsa_key(0)
    jwks = json.dumps(keys.jwks(rsa))

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, rsa.signing_key, algorithm="RS256", headers=rsa.headers())

    wrong_aud = verify_in_page(decoder, sign(clock.claims(aud="billing-api")), jwks)
    assert (wrong_aud["sigOk"], wrong_aud["reason"]) == (True, "audience")
    assert wrong_aud["checks"]["audience"][:2] == ["fail", "audience"]
    assert "Request a token whose aud names this service" in wrong_aud["checks"]["audience"][2]

    expired = verify_in_page(decoder, sign(clock.claims(issued=-3 * 3600, lifetime=300)), jwks)
    assert (expired["sigOk"], expired["reason"]) == (True, "expired")
    assert expired["checks"]["exp"][:2] == ["fail", "expired"]
    assert "expired 2.9 h ago" in expired["checks"]["exp"][2]

    within_leeway = verify_in_page(decoder, sign(clock.claims(issued=-330, lifetime=300)), jwks)
    assert within_leeway["ok"], "30 s past exp is inside the 60 s leeway"
    no_leeway = verify_in_page(decoder, sign(clock.claims(issued=-330, lifetime=300)), jwks, leeway="0")
    assert no_leeway["reason"] == "expired"

    header, payload, signature = sign(clock.claims()).split(".")
    tampered = f"{header}.{b64.encode_json({**clock.claims(), 'sub': 'admin'})}.{signature}"
    result = verify_in_page(decoder, tampered, jwks)
    assert (result["ok"], result["sigOk"], result["reason"]) == (False, False, "bad_signature")
    assert result["checks"]["required"][0] == "pass", "claims are still listed, for learning"
    assert "shown for learning only" in decoder.page.inner_text("#jwtd-checks")


def test_invalid_settings_are_reported_not_guessed(decoder: Session) -> None:
    token = jwt.encode(clock.claims(), keys.hmac_secret().secret, algorithm="HS256")
    result = verify_in_page(decoder, token, b64.encode(keys.hmac_secret().secret), encoding="base64url", now="soon")
    assert result["state"] == "invalid-settings" and "Now" in result["text"]
    result = verify_in_page(decoder, token, b64.encode(keys.hmac_secret().secret), encoding="base64url", leeway="3600")
    assert result["state"] == "invalid-settings" and "leeway" in result["text"]


def test_hostile_token_content_is_shown_as_text_only(decoder: Session) -> None:
    claims = {**clock.claims(), "name": "<img src=x onerror=\"window.__pwned=1\">", "sub": "<script>window.__pwned=2</script>"}
    header = {"alg": "HS256", "kid": "<b>bold</b>"}
    token = jwt.encode(claims, keys.hmac_secret().secret, algorithm="HS256", headers=header)
    result = verify_in_page(decoder, token, b64.encode(keys.hmac_secret().secret), encoding="base64url")
    assert result["ok"]
    page = decoder.page
    assert page.evaluate("window.__pwned === undefined")
    assert page.eval_on_selector_all("#jwtd img, #jwtd script, #jwtd b", "x => x.length") == 0
    assert "<img src=x" in page.inner_text("#jwtd-claims")


# ----------------------------------------------------------------------------- build-time examples


def test_examples_are_fresh_from_this_build() -> None:
    require_built_page()
    built = decoder_examples.parse_rendered(BUILT_DATA.read_text(encoding="utf-8"))
    assert built == json.loads(json.dumps(decoder_examples.build_data())), "data.js is stale: rebuild the book"
    assert {e["id"] for e in built["examples"]} >= {"valid", "expired", "wrong-audience", "alg-none", "tampered"}


def test_decoder_assets_load_on_the_decoder_page_only() -> None:
    require_built_page()
    others = [p for p in BUILT_HTML.rglob("*.html") if p != BUILT_PAGE]
    assert others, "the built book has other pages"
    for page in others:
        assert "_static/decoder/" not in page.read_text(encoding="utf-8"), page.relative_to(BUILT_HTML)
    html = BUILT_PAGE.read_text(encoding="utf-8")
    for name in ("data.js", "decoder-core.js", "decoder.js", "decoder.css"):
        assert f'"../../_static/decoder/{name}"' in html


def test_examples_get_the_same_verdict_from_verify_token() -> None:
    data = decoder_examples.build_data()
    for example in data["examples"]:
        key: Any = b64.decode(example["key"]) if example["secretEncoding"] == "base64url" else json.loads(example["key"])
        try:
            verify_token(example["token"], key, issuer=example["issuer"], audience=example["audience"],
                         algorithms=["RS256", "EdDSA", "ES256", "HS256"], now=example["now"])
            reason = None
        except TokenRejected as exc:
            reason = exc.reason
        assert reason == example["expect"], example["id"]


def test_every_example_loads_with_one_click_and_gets_its_verdict(decoder: Session) -> None:
    data = decoder_examples.build_data()
    page = decoder.page
    for example in data["examples"]:
        page.click(f"[data-example={example['id']}]")
        result = read_result(decoder)
        assert result["reason"] == example["expect"], (example["id"], result["text"])
        assert page.input_value("#jwtd-now") == NOW_ISO, "examples are judged at the course's now"
        assert example["title"] in page.inner_text("#jwtd-example-note")
    page.click("[data-example=valid]")
    read_result(decoder)
    page.click("#jwtd-now-real")
    assert page.get_attribute("#jwtd-verdict", "data-state") == "idle"
    page.click("#jwtd-verify")
    assert read_result(decoder)["reason"] == "expired", "on the real clock the course's tokens have expired"


# ----------------------------------------------------------------------------- offline, keyboard, phone


def test_page_works_from_file_url_without_any_request(browser: Any, theme_errors: set[str]) -> None:
    require_built_page()
    session = open_session(browser, BUILT_PAGE.as_uri(), "file://")
    try:
        session.page.wait_for_selector("#jwtd[data-state=ready]")
        session.page.click("[data-example=valid-eddsa]")
        result = read_result(session)
        assert result["ok"], result["text"]
        assert any(url.endswith("/_static/decoder/decoder-core.js") for url in session.requests)
        assert session.foreign_requests() == []
        assert set(session.errors) <= theme_errors
    finally:
        session.page.context.close()


def test_page_loads_only_its_own_files_over_http(decoder: Session, site: StaticServer) -> None:
    decoder.page.reload()
    decoder.page.wait_for_selector("#jwtd[data-state=ready]")
    for name in ("data.js", "decoder-core.js", "decoder.js", "decoder.css"):
        assert f"{site.origin}/_static/decoder/{name}" in decoder.requests
    decoder.page.click("[data-example=valid]")
    assert read_result(decoder)["ok"]


def test_keyboard_labels_focus_order_and_live_regions(decoder: Session) -> None:
    page = decoder.page
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('#jwtd input, #jwtd textarea, #jwtd select')]
        .filter(e => !e.labels || e.labels.length === 0).map(e => e.id)""")
    assert unlabelled == []
    assert page.evaluate("() => [...document.querySelectorAll('#jwtd [tabindex]')].every(e => e.tabIndex <= 0)")
    # Short status lines are announced, not the whole decoded JSON on every keystroke.
    for region in ("#jwtd-verdict", "#jwtd-decode-status", "#jwtd-key-info", "#jwtd-example-note"):
        assert page.get_attribute(region, "aria-live") == "polite"

    page.focus("#jwtd-token")
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.value"))
    assert order[:4] == ["jwtd-key", "jwtd-secret-utf8", "jwtd-alg", "jwtd-iss"], order

    secret = keys.hmac_secret()
    token = jwt.encode(clock.claims(), secret.secret, algorithm="HS256")
    page.fill("#jwtd-token", token)
    page.fill("#jwtd-key", b64.encode(secret.secret))
    page.focus("#jwtd-secret-utf8")
    page.keyboard.press("ArrowRight")  # radio groups move with the arrow keys
    assert page.is_checked("#jwtd-secret-b64")
    page.fill("#jwtd-now", NOW_ISO)
    page.focus("#jwtd-aud")
    page.keyboard.press("Enter")
    assert read_result(decoder)["ok"]


def test_readable_on_a_phone(browser: Any, site: StaticServer) -> None:
    session = open_session(browser, site.origin + PAGE_PATH, site.origin + "/",
                           viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = session.page
        page.wait_for_selector("#jwtd[data-state=ready]")
        page.click("[data-example=expired]")
        assert read_result(session)["reason"] == "expired"
        layout = page.evaluate("""() => {
            const panels = [...document.querySelectorAll('#jwtd .jwtd-panel')].map(p => p.getBoundingClientRect());
            const tool = document.getElementById('jwtd').getBoundingClientRect();
            return {lefts: panels.map(r => Math.round(r.left)), maxRight: Math.max(...panels.map(r => r.right)),
                    toolRight: tool.right, width: window.innerWidth};
        }""")
        assert len(set(layout["lefts"])) == 1, "on a phone the panels stack in one column"
        assert layout["maxRight"] <= layout["width"] + 1 and layout["toolRight"] <= layout["width"] + 1, layout
        assert session.foreign_requests() == []
    finally:
        session.page.context.close()


def test_missing_chromium_fails_with_install_instructions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JWTLAB_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        next(launch_chromium())
