"""Decode, check and explain one token: the logic behind `jwtlab inspect`, importable from notebooks.

A rejected token usually has one of a dozen causes, and the 401 a service answers names only the
first one it met. `inspect_token` looks at everything at once and reports it in three separate parts,
because they answer different questions:

- **warnings** need no key: `alg: none`, no `exp`, a long lifetime, key material in the header,
  personal data or secrets in a payload that anyone can decode, HMAC shared between services;
- **the signature** (with a key): `jwtlab.verify.verify_signature`, the same code a course service runs;
- **the claims**: `jwtlab.verify.check_claims`, the claim rules of `verify_token`, applied rule by rule
  so that *every* failing claim is reported, each with its reason code and fix (`jwtlab.reasons`).

A token whose signature was not checked is never called valid: decoding proves nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import textwrap
import time
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from . import b64, clock
from .reasons import REASONS
from .verify import (
    _FAMILY,
    DEFAULT_MAX_SIZE,
    DEFAULT_REQUIRED_CLAIMS,
    KeySet,
    TokenRejected,
    check_claims,
    parse_json_object,
    verify_signature,
)

__all__ = [
    "ALGORITHMS", "Finding", "Report", "inspect_token", "parse_now", "secret_from_b64", "load_key_file",
    "load_jwks", "load_jwks_file", "fetch_jwks", "InspectUsageError",
]

#: Every algorithm `verify_signature` implements. Without `--alg`, each key still only verifies its own
#: algorithm family (an RSA key never verifies HS256), so algorithm confusion stays impossible.
ALGORITHMS: tuple[str, ...] = tuple(sorted(_FAMILY))
#: An access token that lives longer than this earns a warning (checklist: short-lived bearer tokens).
LONG_LIFETIME = 3600
#: The most a key file, JWKS or token read from stdin may weigh: a diagnostic tool is fed hostile input too.
MAX_INPUT_BYTES = 1_000_000
_TIME_CLAIMS = ("iat", "nbf", "exp")
_REGISTERED = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti")
#: The order in which `verify_token` meets claim problems; reports list failures in the same order.
_CLAIM_ORDER = ("malformed", "not_utf8", "duplicate_name", "missing_claim", "bad_claim_type", "issuer", "audience",
                "expired", "not_yet_valid", "issued_in_future", "lifetime_too_long")
_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")


class InspectUsageError(ValueError):
    """The command was given something unusable (a key file that is not a key, a bad --now): exit code 2."""


@dataclass(frozen=True)
class Finding:
    """One warning or one failed check: a stable code, one sentence saying what is wrong, one with the fix."""

    code: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "fix": self.fix}


def _failure(exc: TokenRejected) -> Finding:
    return Finding(exc.reason, exc.message, REASONS[exc.reason].fix)


@dataclass
class Report:
    """Everything `inspect_token` found. `verdict` is valid / invalid / unverified; `exit_code` 0 only for valid."""

    now: float
    header: dict[str, Any] | None = None
    payload_kind: str | None = None  # "claims", "text", "binary" or None when the payload could not be decoded
    claims: dict[str, Any] | None = None
    payload_text: str | None = None
    payload_bytes: int | None = None
    decode_problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    signature_status: str = "not_checked"  # valid | invalid | not_checked
    signature_failure: Finding | None = None
    signature_alg: str | None = None
    signature_kid: str | None = None
    claims_status: str = "not_checked"  # valid | invalid | not_a_claims_set | not_checked
    claim_failures: list[Finding] = field(default_factory=list)
    claims_first: Finding | None = None
    not_checked: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.decode_problems or self.signature_status == "invalid" or self.claims_status == "invalid":
            return "invalid"
        if self.signature_status == "valid":
            return "valid"
        return "unverified"

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "valid" else 1

    @property
    def server_reason(self) -> str | None:
        """The reason code a course service (`verify_token`) would put in its 401: the first check that fails."""
        if self.signature_failure is not None:
            return self.signature_failure.code
        if self.decode_problems:
            return self.decode_problems[0].code
        if self.claims_first is not None:
            return self.claims_first.code
        return None

    @property
    def summary(self) -> str:
        if self.verdict == "valid":
            if self.claims_status == "not_a_claims_set":
                return "signature valid; payload is not a JWT claims set"
            return "signature valid; claims valid"
        if self.verdict == "unverified":
            return "not verified: decoding proves nothing (give --secret, --key or --jwks to check the signature)"
        return f"invalid: a service would answer 401 invalid_token (reason {self.server_reason})"

    def times(self) -> dict[str, dict[str, Any]]:
        """`iat`, `nbf`, `exp` as ISO 8601 and in words relative to `now` ('expired 3 h ago')."""
        out: dict[str, dict[str, Any]] = {}
        for name in _TIME_CLAIMS:
            value = (self.claims or {}).get(name)
            if type(value) not in (int, float) or not 0 <= value <= 253_402_300_799:
                continue
            out[name] = {"value": value, "iso": clock.iso(value), "relative": _time_words(name, value, self.now)}
        return out

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape: stable keys, no token, no key material."""
        return {
            "verdict": self.verdict,
            "summary": self.summary,
            "exit_code": self.exit_code,
            "now": self.now,
            "now_iso": clock.iso(self.now),
            "header": self.header,
            "payload_kind": self.payload_kind,
            "claims": self.claims,
            "payload_text": self.payload_text,
            "times": self.times(),
            "warnings": [w.to_dict() for w in self.warnings],
            "decode_problems": [p.to_dict() for p in self.decode_problems],
            "keys": self.keys,
            "signature": {
                "status": self.signature_status,
                "alg": self.signature_alg,
                "kid": self.signature_kid,
                "failure": self.signature_failure.to_dict() if self.signature_failure else None,
            },
            "claims_check": {
                "status": self.claims_status,
                "failures": [f.to_dict() for f in self.claim_failures],
                "not_checked": self.not_checked,
            },
            "server_reason": self.server_reason,
        }

    def render(self, color: bool = False, width: int = 0) -> str:
        """Human-readable report; ANSI colours only when `color` (the CLI decides: a terminal, no NO_COLOR).

        `width` > 0 wraps each finding's explanation and fix to that many columns, so that a report read
        in a narrow terminal (or in the book) does not run off the right edge; 0 keeps one line per item,
        which is what scripts that grep the output expect.
        """
        return "\n".join(_render_lines(self, color, width)) + "\n"


def _time_words(name: str, value: float, now: float) -> str:
    rel = clock.relative(value, now)
    past = value <= now
    if name == "exp":
        return "expires now" if rel == "now" else (f"expired {rel}" if past else f"expires {rel}")
    if name == "nbf":
        return f"valid since {rel}" if past else f"not valid yet: valid {rel}"
    return f"issued {rel}" if past else f"issued {rel}: in the future"


# --- decoding ---------------------------------------------------------------------------------------


def _lenient_b64(segment: str) -> bytes | None:
    """Best-effort decoding for display only (padding, +/ alphabet); the strict check reports the problem."""
    try:
        return base64.urlsafe_b64decode(segment.replace("+", "-").replace("/", "_").rstrip("=") + "=" * (-len(segment.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


def _decode_segment(segment: str, what: str, problems: list[Finding]) -> bytes | None:
    try:
        return b64.decode(segment)
    except ValueError as exc:
        problems.append(Finding("malformed", f"The {what} segment is {exc}.", REASONS["malformed"].fix))
        return _lenient_b64(segment)


def _decode(token: str, report: Report) -> None:
    problems = report.decode_problems
    segments = token.split(".")
    if len(token) > DEFAULT_MAX_SIZE:
        problems.append(Finding("too_large", f"The token is {len(token)} characters; course verifiers stop at {DEFAULT_MAX_SIZE}.",
                                REASONS["too_large"].fix))
    if len(segments) == 5:
        problems.append(Finding("malformed", "This is a five-segment JWE (encrypted), not a signed JWT; its payload cannot be read without the decryption key.",
                                REASONS["malformed"].fix))
    elif len(segments) != 3:
        problems.append(Finding("malformed", f"A compact JWS has three segments separated by dots; this input has {len(segments)}.",
                                REASONS["malformed"].fix))
        return
    raw_header = _decode_segment(segments[0], "header", problems)
    if raw_header is not None:
        try:
            report.header = parse_json_object(raw_header, "header")
        except TokenRejected as exc:
            problems.append(_failure(exc))
    if len(segments) != 3:
        return
    raw = _decode_segment(segments[1], "payload", problems)
    if raw is None:
        return
    report.payload_bytes = len(raw)
    try:
        report.claims = parse_json_object(raw, "claims", report.header)
        report.payload_kind = "claims"
    except TokenRejected as exc:
        if exc.reason == "malformed" and not raw.lstrip().startswith(b"{"):
            try:
                report.payload_text = raw.decode("utf-8")
                report.payload_kind = "text"
            except UnicodeDecodeError:
                report.payload_kind = "binary"
        else:  # it was meant to be a claims set and is a broken one (duplicates, UTF-16, bad JSON)
            report.claim_failures.append(_failure(exc))
            report.claims_status = "invalid"


# --- warnings (no key needed) -----------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?$|^pwd$|secret|api[_-]?key|private[_-]?key|credential|^ssn$|social[_-]?security|"
    r"^cvv$|^cvc$|card[_-]?(number|no)|^pan$|^iban$)", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}\Z")
_PHONE = re.compile(r"\+[0-9][0-9 ().-]{6,20}[0-9]\Z")
_CARD = re.compile(r"(?:\d[ -]?){12,18}\d\Z")
_SERVICE_AUD = re.compile(r"(api|svc|service|backend|internal|worker|spiffe:)", re.IGNORECASE)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _walk(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str, Any]]:
    """(path, last name, value) of every member, bounded in depth and count (hostile payloads are deep)."""
    if depth > 6:
        return
    if isinstance(value, dict):
        for i, (name, item) in enumerate(value.items()):
            if i >= 200:
                return
            sub = f"{path}.{name}" if path else str(name)
            yield sub, str(name), item
            yield from _walk(item, sub, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value[:200]):
            yield f"{path}[{i}]", "", item
            yield from _walk(item, f"{path}[{i}]", depth + 1)


def _sensitive(claims: dict[str, Any]) -> list[Finding]:
    found: dict[str, list[str]] = {"secret_in_payload": [], "personal_data": [], "card_number": []}
    for path, name, value in _walk(claims, ""):
        if name and _SECRET_NAME.search(name):
            found["secret_in_payload"].append(path)
            continue
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        if text is None or len(text) > 320:
            continue
        if name.lower() in ("email", "mail", "upn", "preferred_username") and "@" in text or _EMAIL.match(text):
            found["personal_data"].append(f"{path} (e-mail address)")
        elif "phone" in name.lower() or _PHONE.match(text):
            found["personal_data"].append(f"{path} (phone number)")
        elif _CARD.match(text) and _luhn(re.sub(r"[ -]", "", text)):
            found["card_number"].append(path)
    findings = []
    if found["secret_in_payload"]:
        findings.append(Finding(
            "secret_in_payload", f"Claims named like secrets: {', '.join(found['secret_in_payload'][:5])}; the payload is only base64url, anyone holding the token reads them.",
            "Never put passwords, secrets or keys in a token; keep them server-side and reference them by id."))
    if found["personal_data"]:
        findings.append(Finding(
            "personal_data", f"Personal data in the payload: {', '.join(found['personal_data'][:5])}; every service, proxy and log that sees the token can read it.",
            "Carry an opaque `sub` and let the services that need contact details look them up (data minimisation)."))
    if found["card_number"]:
        findings.append(Finding(
            "card_number", f"A payment-card-like number (Luhn-valid digits) in {', '.join(found['card_number'][:5])}.",
            "Never put card numbers in a token; use a payment provider's token or an internal reference."))
    return findings


def _warnings(report: Report) -> list[Finding]:
    header, claims = report.header or {}, report.claims
    out: list[Finding] = []
    alg = header.get("alg")
    if isinstance(alg, str) and alg.lower() == "none":
        out.append(Finding("alg_none", f"The header says alg {alg!r}: the token is unsigned and anyone can write one.",
                           "Verifiers must reject it in any spelling; sign tokens with RS256, ES256 or EdDSA."))
    typ = header.get("typ")
    proof = isinstance(typ, str) and typ.lower() == "dpop+jwt"
    if proof:
        out.append(Finding("dpop_proof", "This is a DPoP proof (RFC 9449), not an access token: it names one request "
                           "(htm, htu, iat, jti) and carries the client's public key as jwk.",
                           "Send it in the DPoP header beside the bound token; never as a bearer token, never twice."))
    in_header = [name for name in ("jku", "jwk", "x5u", "x5c") if name in header and not (proof and name == "jwk")]
    if in_header:
        out.append(Finding("key_in_header", f"The header carries {', '.join(in_header)}: a key or key location chosen by whoever made the token.",
                           REASONS["forbidden_header"].fix))
    if "crit" in header or "b64" in header:
        out.append(Finding("crit", "The header lists critical extensions (crit/b64) that verifiers must understand or reject.",
                           REASONS["crit_unsupported"].fix))
    kid = header.get("kid")
    if isinstance(kid, str) and re.search(r"\.\.|[/\\'\";|`$]", kid):
        out.append(Finding("suspicious_kid", f"The kid {kid[:60]!r} looks like a path, query or command, not a key id.",
                           "Treat kid as an opaque lookup key into a fixed key set; never as a file path, SQL or URL."))
    if claims is None:
        return out
    cnf = claims.get("cnf")
    if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str):
        out.append(Finding("dpop_bound", "The token is DPoP-bound (cnf.jkt): it is accepted only with a fresh proof "
                           "signed by the key with that thumbprint, so a copy without the key is useless.",
                           "Send it as 'Authorization: DPoP <token>' with a DPoP header; see jwtlab.dpop.make_proof."))
    if "exp" not in claims and not proof:
        out.append(Finding("no_exp", "The token has no exp: it never expires, so a leaked copy works forever.",
                           "Issue tokens with an exp a few minutes ahead and refresh them."))
    start = claims.get("iat", claims.get("nbf"))
    exp = claims.get("exp")
    id_token_like = any(k in claims for k in ("nonce", "at_hash", "c_hash"))
    if type(start) in (int, float) and type(exp) in (int, float) and exp - start > LONG_LIFETIME and not id_token_like:
        out.append(Finding("long_lifetime", f"The token lives {_duration(exp - start)}; an access token should live minutes, at most 1 h.",
                           "Issue short-lived access tokens (5-15 min) and use refresh tokens for long sessions."))
    out.extend(_sensitive(claims))
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []
    if isinstance(alg, str) and alg.upper().startswith("HS") and auds and (len(auds) > 1 or any(_SERVICE_AUD.search(a) for a in auds)):
        out.append(Finding("hmac_between_services", f"{alg} with aud {auds[:3]}: every service that verifies holds the shared secret and can mint tokens for all the others.",
                           "Between services use an asymmetric algorithm (RS256, ES256, EdDSA) and publish only public keys in a JWKS."))
    return out


def _duration(seconds: float) -> str:
    return clock.relative(seconds, 0).removeprefix("in ")


# --- claims, rule by rule ---------------------------------------------------------------------------


def _check_claim_rules(report: Report, *, issuer: str | None, audience: str | None, leeway: float,
                       required: Collection[str], now: float) -> None:
    """Each claim rule of `verify_token`, applied on its own (a projection of the claims), so all failures show."""
    claims = report.claims or {}
    header = report.header or {}
    seen: set[tuple[str, str]] = set()
    failures: list[Finding] = []
    for name in dict.fromkeys([*required, *_REGISTERED]):
        part = {name: claims[name]} if name in claims else {}
        try:
            check_claims(part, header, issuer=issuer if name == "iss" else None,
                         audience=audience if name == "aud" else None, leeway=leeway,
                         required=[name] if name in required else [], now=now)
        except TokenRejected as exc:
            if (exc.reason, exc.message) not in seen:
                seen.add((exc.reason, exc.message))
                failures.append(_failure(exc))
    try:
        check_claims(claims, header, issuer=issuer, audience=audience, leeway=leeway, required=required, now=now)
    except TokenRejected as exc:
        report.claims_first = _failure(exc)
        if (exc.reason, exc.message) not in seen:
            failures.append(report.claims_first)
    failures.sort(key=lambda f: _CLAIM_ORDER.index(f.code) if f.code in _CLAIM_ORDER else len(_CLAIM_ORDER))
    report.claim_failures.extend(failures)
    report.claims_status = "invalid" if report.claim_failures else "valid"


# --- the entry point --------------------------------------------------------------------------------


def inspect_token(
    token: str,
    keys: Any = None,
    *,
    algorithms: Collection[str] | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    leeway: float = 60,
    required: Collection[str] = DEFAULT_REQUIRED_CLAIMS,
    typ: str | None = None,
    now: float | None = None,
    key_labels: list[str] | None = None,
) -> Report:
    """Decode `token`, warn about what needs no key, check the signature (if `keys`) and the claims.

    `keys`: anything `jwtlab.verify.KeySet` accepts, or None to decode only. `algorithms`: the allowlist
    (default: every supported algorithm, each key still bound to its own family). The other settings are
    those of `verify_token`. Never raises for a bad token: everything wrong with it is in the report.
    """
    report = Report(now=time.time() if now is None else float(now))
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    _decode(token, report)
    report.warnings = _warnings(report)
    report.keys = list(key_labels or [])
    if keys is not None:
        try:
            signed = verify_signature(token, keys, algorithms=algorithms or ALGORITHMS, typ=typ)
        except TokenRejected as exc:
            report.signature_status = "invalid"
            report.signature_failure = _failure(exc)
        else:
            report.signature_status = "valid"
            report.signature_alg, report.signature_kid = signed.alg, signed.kid
    if report.payload_kind == "claims":
        _check_claim_rules(report, issuer=issuer, audience=audience, leeway=leeway, required=required, now=report.now)
        report.not_checked = [f"{name} (give --{opt})" for name, opt, value in
                              (("iss", "iss", issuer), ("aud", "aud", audience)) if value is None]
    elif report.payload_kind in ("text", "binary"):
        report.claims_status = "not_a_claims_set"
        if issuer is not None or audience is not None:
            report.claims_status = "invalid"
            report.claim_failures.append(Finding(
                "malformed", "The payload is not a JWT claims set, so it has no iss or aud to match.",
                REASONS["malformed"].fix))
    return report


# --- inputs: time, secrets, key files, JWKS ---------------------------------------------------------


def parse_now(text: str) -> float:
    """`--now`: seconds since 1970 (`1767225600`) or ISO 8601 (`2026-01-01T00:00:00Z`, naive = UTC)."""
    try:
        return float(text) if re.fullmatch(r"\d+(\.\d+)?", text.strip()) else _iso(text)
    except ValueError:
        raise InspectUsageError(f"--now {text!r} is neither seconds since 1970 nor an ISO 8601 time") from None


def _iso(text: str) -> float:
    moment = dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def secret_from_b64(text: str) -> bytes:
    """`--secret-b64`: base64url or base64, padding optional (secrets are published both ways, e.g. JWK `k`)."""
    cleaned = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InspectUsageError("--secret-b64 is not base64 or base64url text") from None


def _read_limited(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InspectUsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InspectUsageError(f"{path} is larger than {MAX_INPUT_BYTES} bytes; that is no key file")
    return data


def _public_jwk(jwk: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    if jwk.get("kty") != "oct" and any(m in jwk for m in _PRIVATE_JWK_MEMBERS):
        notes.append("the key file holds a private key; only its public half is used (a verifier needs nothing more)")
        return {k: v for k, v in jwk.items() if k not in _PRIVATE_JWK_MEMBERS}
    return jwk


def _labels(source: str, keys: Any) -> list[str]:
    """Validate keys by parsing them once, and describe each for the report (never the key material)."""
    try:
        key_set = KeySet(keys)
    except (ValueError, TypeError, KeyError) as exc:
        raise InspectUsageError(f"{source}: unusable key: {str(exc)[:120]}") from None
    return [f"{source}: {e.family}" + (f" kid={e.kid}" if e.kid else "") + (f" alg={e.alg}" if e.alg else "")
            for e in key_set.entries] + [
        f"{source}: skipped" + (f" kid={kid}" if kid else "") + f": {reason} (RFC 7517 §5: ignored, never used)"
        for kid, reason in key_set.skipped
    ]


def load_jwks(data: bytes, source: str) -> tuple[Any, list[str]]:
    """A JWK or JWK Set from JSON bytes → (keys for `KeySet`, labels). Private members are dropped."""
    notes: list[str] = []
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InspectUsageError(f"{source} is not JSON (expected a JWK or a JWK Set)") from None
    if isinstance(obj, dict) and isinstance(obj.get("keys"), list):
        keys: Any = {"keys": [_public_jwk(k, notes) if isinstance(k, dict) else k for k in obj["keys"]]}
    elif isinstance(obj, dict) and "kty" in obj:
        keys = _public_jwk(obj, notes)
    else:
        raise InspectUsageError(f"{source} is JSON but neither a JWK nor a JWK Set")
    return keys, _labels(source, keys) + sorted(set(notes))


def load_jwks_file(path: str | Path) -> tuple[Any, list[str]]:
    """`--jwks FILE`."""
    path = Path(path)
    return load_jwks(_read_limited(path), path.name)


def load_key_file(path: str | Path) -> tuple[Any, list[str]]:
    """`--key FILE`: a PEM public key, private key or certificate, or a JWK / JWK Set (JSON)."""
    path = Path(path)
    data = _read_limited(path)
    text = data.lstrip()
    if text.startswith(b"{"):
        return load_jwks(data, path.name)
    if b"-----BEGIN" not in text:
        raise InspectUsageError(f"{path.name} is neither PEM nor JSON (a JWK)")
    note = ""
    try:
        if b"CERTIFICATE-----" in text:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
            note = "public key of the certificate (its chain and dates are not checked)"
        elif b"PRIVATE KEY-----" in text:
            key = load_pem_private_key(data, password=None).public_key()
            note = "the key file holds a private key; only its public half is used (a verifier needs nothing more)"
        else:
            key = data.decode("ascii")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InspectUsageError(f"{path.name}: unusable PEM key: {str(exc)[:120]}") from None
    return key, _labels(path.name, key) + ([note] if note else [])


def fetch_jwks(url: str, timeout: float = 5.0) -> tuple[Any, list[str]]:
    """`--jwks URL`: fetch a JWK Set once (only because the user named the URL), with a timeout and a size cap."""
    import httpx  # imported here: only this option needs the network stack

    if not url.startswith(("https://", "http://")):
        raise InspectUsageError(f"--jwks {url!r}: only http(s) URLs or local files")
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise InspectUsageError(f"fetching the JWKS answered HTTP {resp.status_code}")
            body = b""
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_INPUT_BYTES:
                    raise InspectUsageError(f"the JWKS is larger than {MAX_INPUT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise InspectUsageError(f"cannot fetch the JWKS ({type(exc).__name__}): {str(exc)[:120]}") from None
    return load_jwks(body, "JWKS from the URL")


# --- text output ------------------------------------------------------------------------------------

_COLORS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def _safe(text: str) -> str:
    """Neutralise control and bidi characters: a token is hostile input, and terminals obey escape codes."""
    out = []
    for ch in text:
        if ch == "\n" or (unicodedata.category(ch) not in ("Cc", "Cf") and ch not in "\u2028\u2029"):
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def _wrapped(first: str, rest: str, text: str, width: int) -> list[str]:
    """`text` after the prefix `first`, continued under `rest`; one line when width is 0."""
    if width <= 0:
        return [first + text]
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first]


def _render_lines(report: Report, color: bool, width: int = 0) -> Iterator[str]:
    def paint(text: str, *styles: str) -> str:
        if not color:
            return text
        codes = ";".join(_COLORS[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def block(obj: Any) -> Iterator[str]:
        for line in _safe(json.dumps(obj, indent=2, ensure_ascii=False)).splitlines():
            yield "  " + line

    def finding(tag: str, style: str, item: Finding) -> Iterator[str]:
        message = _wrapped(f"  {tag} {item.code}: ", "       ", _safe(item.message), width)
        yield message[0].replace(tag, paint(tag, style, "bold"), 1)
        yield from message[1:]
        for line in _wrapped("       fix: ", "            ", item.fix, width):
            yield "       " + paint(line[7:], "dim")

    yield paint("Header", "bold")
    yield from block(report.header) if report.header is not None else iter(["  (not decodable)"])
    if report.payload_kind == "claims":
        yield paint("Claims", "bold") + ("" if report.signature_status == "valid" else " (unverified)")
        yield from block(report.claims)
    elif report.payload_kind == "text":
        yield paint("Payload", "bold") + f" (not JSON: {report.payload_bytes} bytes of text, not a JWT claims set)"
        text = report.payload_text or ""
        yield "  " + _safe(text[:500] + ("..." if len(text) > 500 else ""))
    elif report.payload_kind == "binary":
        yield paint("Payload", "bold") + f" ({report.payload_bytes} bytes, not UTF-8 text, not a JWT claims set)"
    times = report.times()
    if times:
        yield paint("Times", "bold") + f" (now = {clock.iso(report.now)})"
        for name, info in times.items():
            yield f"  {name}  {info['value']:<12} {info['iso']}  {info['relative']}"
    for problem in report.decode_problems:
        yield from finding("FAIL", "red", problem)
    if report.warnings:
        yield paint("Warnings", "bold")
        for warning in report.warnings:
            yield from finding("WARN", "yellow", warning)
    if report.keys:
        yield paint("Keys", "bold")
        for label in report.keys:
            yield f"  {_safe(label)}"
    if report.signature_status == "valid":
        kid = f", kid {report.signature_kid}" if report.signature_kid else ""
        yield f"{paint('Signature', 'bold')}: {paint('VALID', 'green', 'bold')} ({report.signature_alg}{_safe(kid)})"
    elif report.signature_status == "invalid":
        yield f"{paint('Signature', 'bold')}: {paint('INVALID', 'red', 'bold')}"
        assert report.signature_failure is not None
        yield from finding("FAIL", "red", report.signature_failure)
    else:
        yield f"{paint('Signature', 'bold')}: not checked (give --secret, --secret-b64, --key or --jwks)"
    label = {"valid": paint("VALID", "green", "bold"), "invalid": paint("INVALID", "red", "bold"),
             "not_a_claims_set": "not applicable (the payload is not a JWT claims set)",
             "not_checked": "not checked"}[report.claims_status]
    yield f"{paint('Claims', 'bold')}: {label}"
    for failure in report.claim_failures:
        yield from finding("FAIL", "red", failure)
    if report.not_checked and report.payload_kind == "claims":
        yield f"  not checked: {', '.join(report.not_checked)}"
    style = {"valid": "green", "invalid": "red", "unverified": "yellow"}[report.verdict]
    yield f"{paint('Verdict', 'bold')}: {paint(report.summary, style, 'bold')}"
