"""Checks of lab 2 — Forge, then fix. Each test belongs to one task of labs/labs.toml.

Part A runs your forgeries over real HTTP against the seven vulnerable services (uvicorn on 127.0.0.1)
and requires each to open /admin. Part B calls your check_header and decode directly, then runs your
Part A forgeries and a set of further forgeries you did not write against your hardened service, and
requires a 401 for every one of them while a legitimate administrator still gets in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi import FastAPI

from jwtlab import b64, keys
from jwtlab.labs.target import lab_module
from jwtlab.services import Service, serve, start, stop_all

LAB = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(LAB))
import vulnerable  # noqa: E402  (the lab's target service, next to this folder)

forge = lab_module("forge", LAB)
hardened = lab_module("hardened", LAB)

ATTACKER = keys.rsa_key(3)  # the key forge.ATTACKER_KEY is: the checks serve its public half for jku
STRANGER = keys.rsa_key(2)  # another key nobody trusts, for the forgeries you did not write


def attacker_app() -> FastAPI:
    app = FastAPI(title="attacker")

    @app.get("/jwks.json")
    def jwks() -> dict[str, Any]:
        return keys.jwks(ATTACKER)

    return app


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, Service]]:
    apps = [vulnerable.vulnerable_app(flaw) for flaw in vulnerable.FLAWS] + [attacker_app()]
    started = [start(app) for app in apps]
    try:
        yield {**dict(zip(vulnerable.FLAWS, started, strict=False)), "attacker": started[-1]}
    finally:  # ask every server to stop at once, then wait: far quicker than one after another
        stop_all(started)


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def login(http: httpx.Client, service: Service, user: str = "wiener") -> str:
    resp = http.get(f"{service.url}/login", params={"user": user})
    assert resp.status_code == 200, f"login as {user} failed ({resp.status_code})"
    return resp.json()["token"]


def admin(http: httpx.Client, service: Service, token: str) -> int:
    return http.get(f"{service.url}/admin", headers={"Authorization": f"Bearer {token}".encode()}).status_code


def forgery(flaw: str, http: httpx.Client, services: dict[str, Service]) -> str:
    """Your Part A forgery for `flaw`, made from a wiener token of that flaw's service."""
    user_token = login(http, services[flaw])
    if flaw == "unverified-signature":
        return forge.forge_unverified(user_token)
    if flaw == "alg-none":
        return forge.forge_alg_none(user_token)
    if flaw == "weak-secret":
        return forge.forge_weak_secret(user_token)
    if flaw == "jwk":
        return forge.forge_jwk(user_token)
    if flaw == "jku":
        return forge.forge_jku(user_token, f"{services['attacker'].url}/jwks.json")
    if flaw == "kid":
        return forge.forge_kid(user_token)
    jwks = http.get(f"{services[flaw].url}/.well-known/jwks.json").json()
    return forge.forge_confusion(user_token, jwks)


def forged_reaches_admin(flaw: str, http: httpx.Client, services: dict[str, Service]) -> None:
    service = services[flaw]
    assert admin(http, service, login(http, service)) == 403, "control: wiener's own token must get 403 at /admin"
    token = forgery(flaw, http, services)
    assert isinstance(token, str) and token.count(".") == 2, f"the {flaw} forgery must return a compact token string"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims.get("sub") == vulnerable.ADMIN, f"the forged token's sub must be {vulnerable.ADMIN!r}"
    status = admin(http, service, token)
    assert status == 200, f"the {flaw} service answered {status} to your forged token; it should have let you in"


# --- Part A -----------------------------------------------------------------------------------------


@pytest.mark.task("forge-unverified")
def test_forge_unverified(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("unverified-signature", http, services)
    user_token = login(http, services["unverified-signature"])
    forged = forge.forge_unverified(user_token)
    assert forged.split(".")[2] == user_token.split(".")[2], "keep the original signature: only the claims change"


@pytest.mark.task("forge-alg-none")
def test_forge_alg_none(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("alg-none", http, services)
    forged = forge.forge_alg_none(login(http, services["alg-none"]))
    assert forged.endswith("."), "an alg none token has an empty signature segment"


@pytest.mark.task("forge-weak-secret")
def test_crack_secret(http: httpx.Client, services: dict[str, Service]) -> None:
    words = keys.weak_secret_wordlist()
    assert forge.crack_secret(login(http, services["weak-secret"]), words) == vulnerable.WEAK_SECRET, (
        "crack_secret did not find the service's secret in the wordlist"
    )
    strong = vulnerable.hmac_sign({"alg": "HS256"}, {"sub": "x"}, keys.hmac_secret().secret)
    assert forge.crack_secret(strong, words) is None, "crack_secret must return None when no word matches"


@pytest.mark.task("forge-weak-secret")
def test_forge_weak_secret(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("weak-secret", http, services)


@pytest.mark.task("forge-jwk")
def test_forge_jwk(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("jwk", http, services)


@pytest.mark.task("forge-jku")
def test_forge_jku(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("jku", http, services)


@pytest.mark.task("forge-kid")
def test_forge_kid(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("kid", http, services)


@pytest.mark.task("forge-confusion")
def test_forge_confusion(http: httpx.Client, services: dict[str, Service]) -> None:
    forged_reaches_admin("confusion", http, services)


# --- Part B: the forgeries you did not write -----------------------------------------------------


def unsigned(alg: str, **header: Any) -> str:
    return f"{b64.encode_json({'alg': alg, 'typ': 'JWT', **header})}.{b64.encode_json(vulnerable.user_claims('administrator'))}."


def signed_by(key: keys.DemoKey, **header: Any) -> str:
    return jwt.encode(vulnerable.user_claims("administrator"), key.private_key, algorithm="RS256", headers=header)


def hs256(key: bytes, **header: Any) -> str:
    return vulnerable.hmac_sign({"alg": "HS256", "typ": "JWT", **header}, vulnerable.user_claims("administrator"), key)


def legit(**claims: Any) -> str:
    return vulnerable.issue_token("administrator", **claims)


def tampered() -> str:
    header, _, signature = vulnerable.issue_token("wiener").split(".")
    return f"{header}.{b64.encode_json(vulnerable.user_claims('administrator'))}.{signature}"


def stripped() -> str:
    return legit().rsplit(".", 1)[0] + "."


def without_exp() -> str:
    body = {k: v for k, v in vulnerable.user_claims("administrator").items() if k != "exp"}
    return jwt.encode(body, vulnerable.SIGNING_KEY.private_key, algorithm="RS256", headers={"kid": vulnerable.SIGNING_KEY.kid})


KID = vulnerable.SIGNING_KEY.kid
GOOD_HEADER = json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID}).encode()


def signed_bytes(header: bytes, body: bytes) -> str:
    """Correctly signed by the service's own key over exactly these bytes: the signature is fine, the JSON is not."""
    signing_input = f"{b64.encode(header)}.{b64.encode(body)}"
    signature = vulnerable.SIGNING_KEY.signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64.encode(signature)}"


def admin_bytes(**claims: Any) -> bytes:
    return json.dumps(vulnerable.user_claims("administrator", **claims)).encode()


def wiener_then_administrator() -> str:
    body = json.dumps(vulnerable.user_claims("wiener")).encode()
    return signed_bytes(GOOD_HEADER, body[:-1] + b', "sub": "administrator"}')


def as_string(name: str) -> str:
    body = vulnerable.user_claims("administrator")
    return signed_bytes(GOOD_HEADER, json.dumps({**body, name: str(body[name])}).encode())


HEADER_FORGERIES: dict[str, Callable[[], str]] = {
    "alg none": lambda: unsigned("none"),
    "alg None": lambda: unsigned("None"),
    "alg NONE": lambda: unsigned("NONE", kid=KID),
    "alg nOnE": lambda: unsigned("nOnE"),
    "HS256 with the public key (PEM)": lambda: hs256(vulnerable.SIGNING_KEY.public_pem(), kid=KID),
    "HS256 with the public key (PEM, no final newline)": lambda: hs256(vulnerable.SIGNING_KEY.public_pem().strip(), kid=KID),
    "HS256 with the weak secret": lambda: hs256(vulnerable.WEAK_SECRET.encode(), kid=KID),
    "jwk header with another key": lambda: signed_by(STRANGER, jwk=STRANGER.public_jwk(), kid=STRANGER.kid),
    "jwk header with another key, our kid": lambda: signed_by(STRANGER, jwk=STRANGER.public_jwk(), kid=KID),
    "jku to the attacker": lambda: signed_by(ATTACKER, jku="http://127.0.0.1:9/jwks.json", kid=KID),
    "x5u to the attacker": lambda: signed_by(ATTACKER, x5u="http://127.0.0.1:9/cert.pem", kid=KID),
    "kid path traversal": lambda: hs256(b"", kid="../../../../../../../../dev/null"),
    "kid absolute path": lambda: hs256(b"", kid="/dev/null"),
    "kid SQL injection": lambda: hs256(b"key", kid="x' UNION SELECT 'key' -- "),
    "kid SQL tautology": lambda: hs256(b"", kid="' OR '1'='1"),
    "unknown kid": lambda: signed_by(STRANGER, kid="rotated-2019"),
    "oversized (legitimately signed, 10 kB)": lambda: legit(padding="x" * 10_000),
    "alg given twice": lambda: signed_bytes(GOOD_HEADER[:-1] + b', "alg": "RS256"}', admin_bytes()),
    "typ given twice": lambda: signed_bytes(b'{"alg": "RS256", "typ": "at+jwt", "kid": "%s", "typ": "JWT"}' % KID.encode(),
                                            admin_bytes()),
    "UTF-16 header": lambda: signed_bytes(GOOD_HEADER.decode().encode("utf-16"), admin_bytes()),
    "header with a byte-order mark": lambda: signed_bytes(b"\xef\xbb\xbf" + GOOD_HEADER, admin_bytes()),
    "header not base64url": lambda: "e30!." + legit().split(".", 1)[1],
}
CLAIM_FORGERIES: dict[str, Callable[[], str]] = {
    "signed by another key, our kid": lambda: signed_by(STRANGER, kid=KID),
    "claims changed under the original signature": tampered,
    "signature stripped": stripped,
    "HS256 with the public key (PEM)": lambda: hs256(vulnerable.SIGNING_KEY.public_pem(), kid=KID),
    "expired admin token": lambda: legit(issued=-3600),
    "admin token for another audience": lambda: legit(aud="billing-api"),
    "admin token from another issuer": lambda: legit(iss="https://idp.course.example.evil"),
    "admin token without exp": without_exp,
    "sub given twice (wiener, then administrator)": wiener_then_administrator,
    "UTF-16 claims": lambda: signed_bytes(GOOD_HEADER, admin_bytes().decode().encode("utf-16")),
    "UTF-32 claims": lambda: signed_bytes(GOOD_HEADER, admin_bytes().decode().encode("utf-32")),
    "claims with a byte-order mark": lambda: signed_bytes(GOOD_HEADER, b"\xef\xbb\xbf" + admin_bytes()),
    "exp as a numeric string": lambda: as_string("exp"),
    "iat as a numeric string": lambda: as_string("iat"),
    "valid for 10 years": lambda: legit(lifetime=10 * 365 * 86400),
    "empty sub": lambda: signed_bytes(GOOD_HEADER, json.dumps(vulnerable.user_claims("")).encode()),
    "no claims segment": lambda: GOOD_HEADER.hex(),
}


def refused(fn: Callable[[str], Any], token: str, case: str) -> None:
    try:
        fn(token)
    except jwt.InvalidTokenError:
        return
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(f"{case}: {fn.__name__} raised {type(exc).__name__}; refuse with jwt.InvalidTokenError") from None
    raise AssertionError(f"{case}: {fn.__name__} accepted it")


@pytest.mark.task("harden-header")
@pytest.mark.parametrize("case", list(HEADER_FORGERIES))
def test_check_header_refuses(case: str) -> None:
    refused(hardened.check_header, HEADER_FORGERIES[case](), case)


@pytest.mark.task("harden-header")
def test_check_header_accepts_a_legitimate_token() -> None:
    header = hardened.check_header(legit())
    assert header.get("kid") == KID, "check_header must return the header of a legitimate token"


@pytest.mark.task("harden-decode")
@pytest.mark.parametrize("case", list(CLAIM_FORGERIES))
def test_decode_refuses(case: str) -> None:
    refused(hardened.decode, CLAIM_FORGERIES[case](), case)


@pytest.mark.task("harden-decode")
def test_decode_accepts_a_legitimate_admin_token() -> None:
    assert hardened.decode(legit())["sub"] == vulnerable.ADMIN, "decode must return the claims of a legitimate token"


@pytest.fixture(scope="session")
def hardened_service() -> Iterator[Service]:
    with serve(hardened.hardened_app()) as (service,):
        yield service


@pytest.mark.task("harden-service")
def test_hardened_service_refuses_every_forgery(http: httpx.Client, services: dict[str, Service],
                                                hardened_service: Service) -> None:
    assert admin(http, hardened_service, legit()) == 200, "a legitimate administrator token must still open /admin"
    assert admin(http, hardened_service, login(http, hardened_service)) == 403, "wiener's own token must get 403"
    made: dict[str, str] = {}
    for flaw in vulnerable.FLAWS:
        try:
            made[f"your {flaw} forgery"] = forgery(flaw, http, services)
        except Exception:  # an unfinished Part A task is reported by its own check
            continue
    made.update({name: make() for name, make in {**HEADER_FORGERIES, **CLAIM_FORGERIES}.items()})
    made["junk"] = "not.a.token"
    made["nested JSON"] = f"{b64.encode(b'[' * 3000 + b']' * 3000)}.e30."
    got_in = [f"{name} → {status}" for name, token in made.items()
              if (status := admin(http, hardened_service, token)) != 401]
    assert not got_in, "the hardened service must answer 401 to every forgery; these were not refused:\n" + "\n".join(got_in)
