"""Build-time data for the decoder page: example tokens, the demo JWKS and the reason catalogue.

Why generate at build time: the examples are signed with the course's demo keys (`jwtlab.keys`) at the
course's fixed moment (`jwtlab.clock.COURSE_NOW`), so the page can never show a token made with a key
that no longer exists or an outdated claim layout, and every build produces the same bytes (RS256,
EdDSA and HS256 sign deterministically). The page sets its "now" to the course clock when a reader
loads an example, which is why "valid" stays valid forever and "expired" stays expired.

The output is a script (`_static/decoder/data.js`), not JSON: a page opened from a file:// URL may run
scripts but may not fetch files, and the decoder must work offline from the built HTML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
from sphinx.application import Sphinx

from jwtlab import b64, clock, keys
from jwtlab.reasons import REASONS

#: Where the data lands, relative to the HTML output directory.
OUTPUT = Path("_static") / "decoder" / "data.js"


def _sign(claims: dict[str, Any], key: Any, alg: str, **headers: Any) -> str:
    return jwt.encode(claims, key.signing_key, algorithm=alg, headers={"typ": "JWT", **key.headers(**headers)})


def _unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token: header and claims, and an empty signature (checklist B.1)."""
    return f"{b64.encode_json({'alg': 'none', 'typ': 'JWT'})}.{b64.encode_json(claims)}."


def _tampered(token: str, **changes: Any) -> str:
    """The same signature over edited claims, as an attacker would try (checklist B.8)."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64.decode(payload))
    return f"{header}.{b64.encode_json({**claims, **changes})}.{signature}"


def build_data() -> dict[str, Any]:
    """Everything the page needs besides its code; deterministic for a given jwtlab version."""
    rsa, ed, secret, other = keys.rsa_key(0), keys.ed25519_key(), keys.hmac_secret(), keys.rsa_key(1)
    jwks = keys.jwks(rsa, ed, keys.p256_key())
    jwks_text = json.dumps(jwks, indent=2)
    now = clock.now()
    base = clock.claims("alice", lifetime=900, scope="orders:read")
    valid = _sign(base, rsa, "RS256")

    def example(ident: str, title: str, token: str, expect: str | None, about: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": ident,
            "title": title,
            "token": token,
            "key": extra.get("key", jwks_text),
            "secretEncoding": extra.get("secret_encoding", "utf8"),
            "issuer": clock.DEMO_ISSUER,
            "audience": clock.DEMO_AUDIENCE,
            "now": now,
            "expect": expect,
            "about": about,
        }

    examples = [
        example("valid", "Valid (RS256)", valid, None,
                "Signed by the demo identity provider's RSA key, for orders-api, expires in 15 min."),
        example("valid-eddsa", "Valid (EdDSA)", _sign(base, ed, "EdDSA"), None,
                "The same claims signed with the demo Ed25519 key."),
        example("valid-hs256", "Valid (HS256)", _sign(base, secret, "HS256"), None,
                "Signed with the demo HMAC secret: valid, but note the shared-secret warning.",
                key=b64.encode(secret.secret), secret_encoding="base64url"),
        example("expired", "Expired", _sign(clock.claims("alice", issued=-3600, lifetime=900), rsa, "RS256"), "expired",
                "Issued an hour before the course's now and valid for 15 min."),
        example("wrong-audience", "Wrong audience", _sign(clock.claims("alice", aud="billing-api", lifetime=900), rsa, "RS256"),
                "audience", "A genuine token, but for billing-api: orders-api must refuse it (cross-service replay)."),
        example("alg-none", "alg none", _unsigned(base), "alg_not_allowed",
                "No signature at all. Decoding works; verification never does."),
        example("tampered", "Tampered", _tampered(valid, sub="admin"), "bad_signature",
                "The valid token with sub changed to admin, keeping the original signature."),
        example("unknown-kid", "Unknown key", _sign(base, other, "RS256"), "kid_unknown",
                "Signed with a key the verifier's JWKS does not contain."),
        example("jku", "jku header", _sign(base, rsa, "RS256", jku="https://attacker.example/jwks.json"), "forbidden_header",
                "Correctly signed, but the header points at a key URL; a verifier never follows it."),
    ]
    return {
        "warning": keys.DEMO_WARNING,
        "courseNow": now,
        "courseNowIso": clock.iso(now),
        "issuer": clock.DEMO_ISSUER,
        "audience": clock.DEMO_AUDIENCE,
        "jwks": jwks,
        "hmacSecretB64url": b64.encode(secret.secret),
        "reasons": {code: {"title": r.title, "fix": r.fix} for code, r in REASONS.items()},
        "examples": examples,
    }


def render() -> str:
    data = json.dumps(build_data(), indent=1, ensure_ascii=True, sort_keys=True)
    return (
        "/* Generated by book/_ext/decoder_examples.py on every book build; do not edit.\n"
        f" * {keys.DEMO_WARNING}. */\n"
        f"window.JwtDecoderData = {data};\n"
    )


def parse_rendered(text: str) -> dict[str, Any]:
    """The data inside a rendered data.js (tests compare the built file with `build_data()`)."""
    start = text.index("window.JwtDecoderData = ") + len("window.JwtDecoderData = ")
    return json.loads(text[start:].rstrip().rstrip(";"))


DOCNAME = "book/tools/decoder"
STATIC = Path(__file__).resolve().parents[1] / "_static" / "decoder"


def _write(app: Sphinx) -> None:
    """Write data.js on every HTML build, including builds where Sphinx finds no page out of date."""
    if app.builder.format == "html":
        target = Path(app.outdir) / OUTPUT
        target.parent.mkdir(parents=True, exist_ok=True)
        text = render()
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def _outdated(app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Rebuild the decoder page when its script or stylesheet changed.

    Sphinx copies static files only when some page is rebuilt; without this, an edit to decoder.js
    alone would leave the old copy in the built book.
    """
    built = Path(app.outdir) / "_static" / "decoder"
    for source in STATIC.iterdir():
        copy = built / source.name
        if source.is_file() and (not copy.exists() or copy.read_bytes() != source.read_bytes()):
            return [DOCNAME] if DOCNAME in env.found_docs else []
    return []


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _write)
    app.connect("env-get-outdated", _outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
