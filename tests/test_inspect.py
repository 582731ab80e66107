"""`jwtlab inspect` against the RFCs' own example tokens and keys, plus warnings, usage errors and output.

The examples (tests/data/rfc-examples.json) are copied from RFC 7515 Appendix A, RFC 7520 Section 4 and
RFC 8037 Appendix A.4. Their ECDSA and PSS signatures cannot be re-created (randomised), so a signature
that verifies here proves the strings were copied exactly and that the verifier agrees with the RFCs.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI

from jwtlab import clock, keys
from jwtlab.cli import main
from jwtlab.dpop import jkt_of, make_proof
from jwtlab.inspect import inspect_token, parse_now, secret_from_b64
from jwtlab.reasons import REASONS

DATA = Path(__file__).parent / "data" / "rfc-examples.json"
EXAMPLES = {e["id"]: e for e in json.loads(DATA.read_text(encoding="utf-8"))["examples"]}
SIGNED = [e for e in EXAMPLES.values() if e["key"] is not None]
#: 2026-01-01T00:00:00Z: fifteen years after the RFC 7515 examples expired (exp 1300819380, March 2011).
NOW = "2026-01-01T00:00:00Z"
JWTLAB = Path(sys.executable).parent / "jwtlab"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["inspect", *argv])
    return code, capsys.readouterr().out


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out = run(capsys, *argv, "--json")
    return code, json.loads(out)


def key_options(example: dict[str, Any], tmp_path: Path) -> list[str]:
    """Each example exercises another way of passing a key: base64 secret, JWK, JWKS, PEM."""
    jwk = example["key"]
    if example["id"] == "rfc7515-a1":
        return ["--secret-b64", jwk["k"]]
    if example["id"] in ("rfc7515-a3", "rfc7520-4.1"):
        pem = jwt.PyJWK(jwk).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        path = tmp_path / "key.pem"
        path.write_bytes(pem)
        return ["--key", str(path)]
    if example["id"] in ("rfc7515-a4", "rfc8037-a4", "rfc7520-4.3"):
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        return ["--jwks", str(path)]
    path = tmp_path / "key.jwk"
    path.write_text(json.dumps(jwk))
    return ["--key", str(path)]


@pytest.mark.parametrize("example", SIGNED, ids=[e["id"] for e in SIGNED])
def test_published_examples_verify_and_claims_are_judged_separately(
    example: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(capsys, example["token"], *key_options(example, tmp_path), "--alg", example["alg"], "--now", NOW)
    assert report["signature"] == {"status": "valid", "alg": example["alg"], "kid": report["header"].get("kid"), "failure": None}
    if example["payload"] == "claims":
        # RFC 7515's examples expired in 2011: a claim failure, never a signature failure.
        assert report["claims_check"]["status"] == "invalid"
        assert "expired" in [f["code"] for f in report["claims_check"]["failures"]]
        assert report["times"]["exp"] == {"value": 1300819380, "iso": "2011-03-22T18:43:00Z", "relative": "expired 5398 d ago"}
        assert (report["verdict"], code) == ("invalid", 1)
    else:
        assert report["payload_kind"] == "text" and report["claims"] is None
        assert report["summary"] == "signature valid; payload is not a JWT claims set"
        assert (report["verdict"], code) == ("valid", 0)


def test_rfc7515_example_is_valid_before_it_expired(capsys: pytest.CaptureFixture[str]) -> None:
    example = EXAMPLES["rfc7515-a2"]
    key = jwt.PyJWK(example["key"]).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    before = 1300819380 - 3600
    report = inspect_token(example["token"], key, algorithms=["RS256"], issuer="joe", required=["exp", "iss"], now=before)
    assert (report.verdict, report.exit_code, report.claim_failures) == ("valid", 0, [])
    assert report.times()["exp"]["relative"] == "expires in 1 h"
    late = inspect_token(example["token"], key, algorithms=["RS256"], issuer="joe", required=["exp", "iss"], now=before + 7200)
    assert [f.code for f in late.claim_failures] == ["expired"] and late.signature_status == "valid"
    assert late.server_reason == "expired"


def test_rfc7515_a5_alg_none_is_rejected_and_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    token = EXAMPLES["rfc7515-a5"]["token"]
    code, report = run_json(capsys, token, "--secret-b64", EXAMPLES["rfc7515-a1"]["key"]["k"], "--now", NOW)
    assert code == 1
    assert report["signature"]["status"] == "invalid"
    assert report["signature"]["failure"]["code"] == "alg_not_allowed"
    assert report["signature"]["failure"]["fix"] == REASONS["alg_not_allowed"].fix
    assert report["server_reason"] == "alg_not_allowed"
    assert "alg_none" in [w["code"] for w in report["warnings"]]
    code, report = run_json(capsys, token, "--now", NOW)  # without a key: warned, never called valid
    assert code == 1 and report["signature"]["status"] == "not_checked"


def test_tampered_signature_is_a_signature_failure_and_claims_still_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    example = EXAMPLES["rfc7515-a2"]
    head, body, sig = example["token"].split(".")
    tampered = f"{head}.{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    code, report = run_json(capsys, tampered, *key_options(example, tmp_path), "--now", NOW)
    assert code == 1
    assert report["signature"]["failure"]["code"] == "bad_signature"
    assert report["claims_check"]["status"] == "invalid"
    assert report["server_reason"] == "bad_signature"  # a service checks the signature first


def test_wrong_key_and_wrong_key_type(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rsa_7515 = tmp_path / "a2.jwk"
    rsa_7515.write_text(json.dumps(EXAMPLES["rfc7515-a2"]["key"]))
    code, report = run_json(capsys, EXAMPLES["rfc7520-4.1"]["token"], "--key", str(rsa_7515))
    assert (code, report["signature"]["failure"]["code"]) == (1, "bad_signature")
    # An HS256 token and an RSA key: the key is bound to RSA, so no algorithm confusion is possible.
    code, report = run_json(capsys, EXAMPLES["rfc7515-a1"]["token"], "--key", str(rsa_7515))
    assert (code, report["signature"]["failure"]["code"]) == (1, "alg_not_allowed")


def test_private_jwk_is_reduced_to_its_public_half(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    demo = keys.ed25519_key()
    token = jwt.encode({"sub": "alice"}, demo.signing_key, algorithm="EdDSA")
    private_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(demo.private_key))
    path = tmp_path / "private.jwk"
    path.write_text(json.dumps(private_jwk))
    code, out = run(capsys, token, "--key", str(path), "--require", "sub")
    assert code == 0
    assert "only its public half is used" in out


def test_private_pem_and_colour_on_request(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    demo = keys.rsa_key(0)
    path = tmp_path / "private.pem"
    path.write_bytes(demo.private_pem())
    token = jwt.encode(clock.claims("alice"), demo.signing_key, algorithm="RS256", headers=demo.headers())
    code, out = run(capsys, token, "--key", str(path), "--iss", clock.DEMO_ISSUER, "--aud", clock.DEMO_AUDIENCE,
                    "--now", str(clock.now()), "--color", "always")
    assert code == 0
    assert "\x1b[32;1mVALID\x1b[0m" in out and "only its public half is used" in out


def demo_token(claims: dict[str, Any], headers: dict[str, Any] | None = None, alg: str = "RS256") -> str:
    key = keys.hmac_secret() if alg == "HS256" else keys.rsa_key(0)
    return jwt.encode(claims, key.signing_key, algorithm=alg, headers={**key.headers(), **(headers or {})})


def test_clean_course_token_is_valid_with_no_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks(keys.rsa_key(0))))
    token = demo_token(clock.claims("alice"))
    code, report = run_json(capsys, token, "--jwks", str(jwks), "--alg", "RS256", "--iss", clock.DEMO_ISSUER,
                            "--aud", clock.DEMO_AUDIENCE, "--now", str(clock.now() + 60))
    assert (code, report["verdict"], report["warnings"]) == (0, "valid", [])
    assert report["times"]["exp"]["relative"] == "expires in 4 min"
    assert report["times"]["iat"]["relative"] == "issued 1 min ago"
    assert report["signature"]["kid"] == keys.rsa_key(0).kid


def test_every_failing_claim_is_explained_with_its_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks(keys.rsa_key(0))))
    token = demo_token(clock.claims("alice", iss="https://idp.course.example/", aud="billing-api", lifetime=300, issued=-3 * 3600))
    code, report = run_json(capsys, token, "--jwks", str(jwks), "--iss", clock.DEMO_ISSUER, "--aud", clock.DEMO_AUDIENCE,
                            "--now", str(clock.now()))
    failures = report["claims_check"]["failures"]
    assert [f["code"] for f in failures] == ["issuer", "audience", "expired"]
    assert all(f["fix"] == REASONS[f["code"]].fix for f in failures)
    assert report["signature"]["status"] == "valid" and code == 1
    assert report["times"]["exp"]["relative"] == "expired 2.9 h ago"


def test_warnings_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    claims = clock.claims("alice", aud=["orders-api", "billing-api"], lifetime=8 * 3600, email="alice@example.com",
                          phone_number="+44 20 7946 0958", password="hunter2", card="4111 1111 1111 1111")
    token = demo_token(claims, headers={"jku": "https://attacker.example/jwks.json", "crit": ["exp"]}, alg="HS256")
    code, report = run_json(capsys, token, "--now", str(clock.now()))
    codes = [w["code"] for w in report["warnings"]]
    assert codes == ["key_in_header", "crit", "long_lifetime", "secret_in_payload", "personal_data", "card_number",
                     "hmac_between_services"]
    assert all(w["message"] and w["fix"] for w in report["warnings"])
    assert "hunter2" not in json.dumps(report["warnings"])  # warnings name claims, never echo secrets
    assert (code, report["verdict"]) == (1, "unverified")
    no_exp = demo_token({"sub": "alice", "iss": clock.DEMO_ISSUER, "kid": "../../dev/null"})
    report = inspect_token(no_exp)
    assert [w.code for w in report.warnings] == ["no_exp"]
    suspicious = jwt.encode({"exp": 1}, "x" * 32, algorithm="HS256", headers={"kid": "../../dev/null"})
    assert "suspicious_kid" in [w.code for w in inspect_token(suspicious).warnings]


def test_stdin_input_and_bearer_prefix(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    example = EXAMPLES["rfc8037-a4"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"Bearer {example['token']}\n"))
    code, out = run(capsys, "-", "--secret", "not-the-key-but-long-enough-32-bytes!")
    assert code == 1 and "Signature: INVALID" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO(example["token"]))
    code, out = run(capsys)
    assert "Example of Ed25519 signing" in out and "not a JWT claims set" in out


@pytest.mark.parametrize("argv", [
    ["--alg", "none", "x.y.z"],
    ["--leeway", "nope", "x.y.z"],
    ["--no-such-option", "x.y.z"],
])
def test_argument_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["inspect", *argv])
    assert exc.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (["--leeway", "3600"], "--leeway must be between 0 and 300"),
    (["--now", "yesterday"], "--now 'yesterday'"),
    (["--key", "no-such-file.pem"], "cannot read"),
    (["--secret", "-----BEGIN PUBLIC KEY-----"], "use --key"),
    (["--secret-b64", "%%%"], "not base64"),
    (["--iss", ""], "--iss must not be empty"),
    (["--jwks", "ftp://example.com/jwks"], "only http(s)"),
])
def test_usage_errors_exit_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", EXAMPLES["rfc7515-a1"]["token"], *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_unusable_key_files_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello")
    empty_jwks = tmp_path / "jwks.json"
    empty_jwks.write_text('{"keys": []}')
    for argv in (["--key", str(not_a_key)], ["--jwks", str(empty_jwks)]):
        assert main(["inspect", EXAMPLES["rfc7515-a1"]["token"], *argv]) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("   \n"))
    assert main(["inspect"]) == 2
    assert "error" in capsys.readouterr().err


def test_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    _, report = run_json(capsys, EXAMPLES["rfc7515-a1"]["token"], "--secret-b64", EXAMPLES["rfc7515-a1"]["key"]["k"], "--now", NOW)
    assert list(report) == ["verdict", "summary", "exit_code", "now", "now_iso", "header", "payload_kind", "claims",
                            "payload_text", "times", "warnings", "decode_problems", "keys", "signature", "claims_check",
                            "server_reason"]
    assert report["now"] == clock.COURSE_NOW and report["now_iso"] == NOW
    assert list(report["signature"]) == ["status", "alg", "kid", "failure"]
    assert list(report["claims_check"]) == ["status", "failures", "not_checked"]
    assert report["claims_check"]["not_checked"] == ["iss (give --iss)", "aud (give --aud)"]
    assert report["header"] == {"typ": "JWT", "alg": "HS256"}
    assert report["keys"] == ["--secret-b64: HMAC secret of 64 bytes"]


def test_hostile_input_never_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    for token in ("not a token", "a.b", "a.b.c.d.e", "x" * 20000, "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.W10.", "%%.%%.%%",
                  "eyJhbGciOiJIUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AA"):
        code, report = run_json(capsys, token, "--secret", "s" * 32)
        assert code == 1 and report["verdict"] == "invalid"
    code, report = run_json(capsys, "eyJhbGciOiJIUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AA")
    assert report["decode_problems"][0]["code"] == "duplicate_name"


def test_terminal_escape_codes_in_a_token_are_neutralised() -> None:
    token = jwt.encode({"sub": "\x1b[2J\x9b31m\u202eevil", "exp": 1}, "k" * 32, algorithm="HS256")
    text = inspect_token(token, now=0).render(color=False)
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert "\\u009b" in text and "\\u202e" in text


@pytest.mark.network
def test_jwks_url_is_fetched_when_given(capsys: pytest.CaptureFixture[str]) -> None:
    from jwtlab.services import serve

    app = FastAPI()

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return keys.jwks(keys.ed25519_key())

    token = jwt.encode(clock.claims("alice"), keys.ed25519_key().signing_key, algorithm="EdDSA",
                       headers=keys.ed25519_key().headers())
    with serve(app) as (idp,):
        url = idp.url + "/.well-known/jwks.json"
        code, report = run_json(capsys, token, "--jwks", url, "--iss", clock.DEMO_ISSUER, "--aud", clock.DEMO_AUDIENCE,
                                "--now", str(clock.now()))
        assert (code, report["verdict"], report["signature"]["alg"]) == (0, "valid", "EdDSA")
        assert main(["inspect", token, "--jwks", idp.url + "/missing"]) == 2
    started = time.monotonic()
    assert main(["inspect", token, "--jwks", url, "--timeout", "2"]) == 2  # the server is gone
    assert time.monotonic() - started < 5
    assert "cannot fetch the JWKS" in capsys.readouterr().err


def test_installed_script_reads_stdin_and_prints_no_ansi_when_not_a_terminal() -> None:
    example = EXAMPLES["rfc7515-a2"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    result = subprocess.run([str(JWTLAB), "inspect", "-", "--now", NOW, "--require", "exp"], input=example["token"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "\x1b[" not in result.stdout
    assert "expired: The token expired" in result.stdout
    assert "Verdict: invalid: a service would answer 401 invalid_token (reason expired)" in result.stdout


def _run_on_a_terminal(argv: list[str], env: dict[str, str]) -> str:
    """Run the script with its stdout on a pseudo-terminal and return what it printed (bounded in time)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(JWTLAB), *argv], stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    token = EXAMPLES["rfc7515-a5"]["token"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[" in _run_on_a_terminal(["inspect", token], env)
    plain = _run_on_a_terminal(["inspect", token], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and "alg_none" in plain


def test_inputs_parse() -> None:
    assert parse_now("1767225600") == clock.COURSE_NOW
    assert parse_now("2026-01-01T00:00:00Z") == parse_now("2026-01-01T00:00:00") == parse_now("2026-01-01T01:00:00+01:00")
    assert secret_from_b64("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")[:2] == b"\x03#"
    assert secret_from_b64("aGVsbG8=") == secret_from_b64("aGVsbG8") == b"hello"


def test_book_sessions_are_real_and_fresh(root: Path) -> None:
    """The transcripts in book/errors/sessions/ are what the command prints today (tools/inspect_sessions.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("inspect_sessions", root / "tools" / "inspect_sessions.py")
    assert spec and spec.loader
    sessions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sessions)
    for name in sessions.names():
        stored = (root / "book" / "errors" / "sessions" / f"{name}.txt").read_text(encoding="utf-8")
        assert stored == sessions.render(name), f"{name}.txt is stale: run python tools/inspect_sessions.py"


@pytest.mark.parametrize("claims, reason", [
    (clock.claims("alice"), None),
    (clock.claims("alice", issued=-3600), "expired"),
    (clock.claims("alice", nbf=clock.now() + 600), "not_yet_valid"),
    (clock.claims("alice", issued=600), "issued_in_future"),
    (clock.claims("alice", iss="https://idp.course.example/"), "issuer"),
    (clock.claims("alice", aud=["billing-api"]), "audience"),
    ({k: v for k, v in clock.claims("alice").items() if k != "sub"}, "missing_claim"),
    ({**clock.claims("alice"), "exp": "1767225900"}, "bad_claim_type"),
    ({**clock.claims("alice"), "sub": ""}, "bad_claim_type"),
])
def test_check_claims_applies_exactly_verify_tokens_rules(claims: dict[str, Any], reason: str | None) -> None:
    """`inspect` reports claims with `check_claims`; it must agree with `verify_token` on a validly signed token."""
    from jwtlab.verify import TokenRejected, check_claims, verify_token

    settings = {"issuer": clock.DEMO_ISSUER, "audience": clock.DEMO_AUDIENCE, "now": clock.now()}
    outcomes = []
    for check in (lambda: verify_token(demo_token(claims), keys.jwks(keys.rsa_key(0)), algorithms=["RS256"], **settings),
                  lambda: check_claims(claims, **settings)):
        try:
            check()
            outcomes.append(None)
        except TokenRejected as exc:
            outcomes.append(exc.reason)
    assert outcomes == [reason, reason]
    report = inspect_token(demo_token(claims), keys.jwks(keys.rsa_key(0)), algorithms=["RS256"], **settings)
    assert report.server_reason == reason and report.signature_status == "valid"


def test_findings_wrap_to_the_terminal_width_and_stay_whole_in_a_pipe(monkeypatch, capsys) -> None:
    """A narrow terminal gets wrapped findings; a pipe (scripts, grep) keeps one line per finding."""
    token = jwt.encode({"sub": "alice", "email": "alice@example.com"}, "k" * 32, algorithm="HS256")
    monkeypatch.setenv("COLUMNS", "60")
    main(["inspect", token])
    wrapped = capsys.readouterr().out
    assert max(len(line) for line in wrapped.splitlines() if "WARN" in line or line.startswith("     ")) <= 60
    assert "WARN personal_data:" in wrapped
    monkeypatch.delenv("COLUMNS")
    main(["inspect", token])
    whole = capsys.readouterr().out
    warning = next(line for line in whole.splitlines() if "WARN personal_data" in line)
    assert warning.endswith("can read it."), "piped output keeps each finding on one line"


def test_a_dpop_proof_and_a_dpop_bound_token_are_named_as_such() -> None:
    client = keys.p256_key("dpop-alice")  # demo key
    proof = make_proof(client, "GET", "https://api.example/orders", now=clock.now(), jti="j-1")
    codes = [w.code for w in inspect_token(proof).warnings]
    assert codes == ["dpop_proof"]  # its jwk and missing exp are what a proof should have
    bound = demo_token(clock.claims("alice", cnf={"jkt": jkt_of(client.public_key)}))
    assert "dpop_bound" in [w.code for w in inspect_token(bound).warnings]
