"""Every forgery in `jwtlab.attacks` works against its naive verifier and fails against `verify_token`.

Both halves matter: if a forgery stopped fooling its naive verifier, the notebooks would teach nothing;
if `verify_token` stopped rejecting it with the expected reason, the course's defence would have regressed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from jwtlab import attacks, clock, keys, naive
from jwtlab.services import serve
from jwtlab.verify import TokenRejected, verify_token

ISSUER = keys.rsa_key(0)
ATTACKER = keys.rsa_key(3)
ALICE = attacks.legit_token()


def defended(token: str, key: Any = ISSUER, algorithms: tuple[str, ...] = ("RS256",), **kw: Any) -> dict[str, Any]:
    return verify_token(token, key, issuer=clock.DEMO_ISSUER, audience=clock.DEMO_AUDIENCE,
                        algorithms=algorithms, now=clock.now(), **kw)


def reason_of(token: str, **kw: Any) -> str:
    with pytest.raises(TokenRejected) as info:
        defended(token, **kw)
    return info.value.reason


def test_legit_token_passes_both_kinds_of_verifier() -> None:
    assert defended(ALICE)["sub"] == "alice"
    assert naive.verify_with_header_alg(ALICE, ISSUER.public_pem())["sub"] == "alice"
    assert naive.ignore_audience(ALICE, ISSUER.public_key)["sub"] == "alice"


def test_unverified_signature() -> None:
    forged = attacks.tamper(ALICE, sub="admin", role="admin")
    assert naive.decode_without_verifying(forged)["sub"] == "admin"
    assert naive.decode_without_verifying(attacks.strip_signature(forged))["sub"] == "admin"
    assert reason_of(forged) == "bad_signature"
    assert reason_of(attacks.strip_signature(forged)) == "bad_signature"


@pytest.mark.parametrize("variant", attacks.ALG_NONE_VARIANTS)
@pytest.mark.parametrize("keep_signature", [False, True])
def test_alg_none_variants(variant: str, keep_signature: bool) -> None:
    signature = ALICE.rsplit(".", 1)[1] if keep_signature else ""
    forged = attacks.forge_alg_none(attacks.admin_claims(), variant, signature=signature)
    if variant == "none":
        assert naive.verify_with_header_alg(forged, ISSUER.public_pem())["sub"] == "admin"
        with pytest.raises(naive.NaiveRejected):
            naive.blocklist_exact_none(forged, ISSUER.public_key)
    else:
        assert naive.blocklist_exact_none(forged, ISSUER.public_key)["sub"] == "admin"
    assert reason_of(forged) == "alg_not_allowed"


def test_claim_tampering_under_a_cached_signature() -> None:
    cache: dict[str, bool] = {}
    assert naive.cache_keyed_by_signature(ALICE, ISSUER.public_key, cache)["sub"] == "alice"
    forged = attacks.tamper(ALICE, sub="admin", role="admin")
    assert naive.cache_keyed_by_signature(forged, ISSUER.public_key, cache)["role"] == "admin"
    with pytest.raises(naive.NaiveRejected):  # without the warm cache the naive check itself holds
        naive.cache_keyed_by_signature(forged, ISSUER.public_key, {})
    assert reason_of(forged) == "bad_signature"


def test_weak_hmac_secret_is_cracked_and_reused() -> None:
    weak = b"supersecret"
    issued = attacks.forge_hs_with_key(clock.claims("alice", role="user"), weak)
    cracked = attacks.crack_hmac(issued, keys.weak_secret_wordlist())
    assert cracked == "supersecret"
    forged = attacks.forge_hs_with_key(attacks.admin_claims(), cracked.encode())
    assert naive.hmac_any_secret(forged, weak)["sub"] == "admin"
    assert reason_of(forged, key=weak, algorithms=("HS256",)) == "weak_key"
    strong = keys.hmac_secret()
    assert attacks.crack_hmac(attacks.forge_hs_with_key(clock.claims("alice"), strong.secret),
                              keys.weak_secret_wordlist()) is None
    assert reason_of(forged, key=strong, algorithms=("HS256",)) == "bad_signature"


def test_crack_refuses_non_hmac_tokens() -> None:
    with pytest.raises(ValueError, match="only HMAC"):
        attacks.crack_hmac(ALICE, ["secret"])


def test_embedded_jwk() -> None:
    forged = attacks.forge_embedded_jwk(attacks.admin_claims(), ATTACKER)
    assert naive.trust_embedded_jwk(forged)["sub"] == "admin"
    assert reason_of(forged) == "forbidden_header"


def test_embedded_self_signed_x5c() -> None:
    forged = attacks.forge_x5c(attacks.admin_claims(), ATTACKER)
    assert naive.trust_embedded_x5c(forged)["sub"] == "admin"
    assert reason_of(forged) == "forbidden_header"


@pytest.mark.network
def test_jku_and_x5u_fetch_the_attackers_keys_over_loopback() -> None:
    app = attacks.attacker_app(ATTACKER)
    with serve(app) as (site,):
        jku = attacks.forge_jku(attacks.admin_claims(), ATTACKER, site.url + "/jwks.json")
        x5u = attacks.forge_x5u(attacks.admin_claims(), ATTACKER, site.url + "/cert.pem")
        assert naive.fetch_jku(jku)["sub"] == "admin"
        assert naive.fetch_x5u(x5u)["sub"] == "admin"
        with pytest.raises(naive.NaiveRejected, match="allowlist"):
            naive.fetch_jku(jku, allowed_prefix="http://127.0.0.1:1")
        # prefix allowlist without a trailing slash: userinfo makes the prefix match another port
        trusted = "http://127.0.0.1:1"
        bypass = f"{trusted}@{site.url.removeprefix('http://')}/jwks.json"
        sneaky = attacks.forge_jku(attacks.admin_claims(), ATTACKER, bypass)
        assert naive.fetch_jku(sneaky, allowed_prefix=trusted)["sub"] == "admin"
        assert app.state.fetched == ["/jwks.json", "/cert.pem", "/jwks.json"]
        for token in (jku, x5u, sneaky):
            assert reason_of(token) == "forbidden_header"
        assert app.state.fetched == ["/jwks.json", "/cert.pem", "/jwks.json"], "verify_token must never fetch"


def test_naive_fetchers_refuse_non_loopback_hosts() -> None:
    forged = attacks.forge_jku(attacks.admin_claims(), ATTACKER, "https://attacker.example/jwks.json")
    with pytest.raises(naive.NaiveRejected, match="loopback"):
        naive.fetch_jku(forged)


def test_prefix_allowlist_bypasses_match_the_prefix_but_reach_the_attacker() -> None:
    trusted = "https://idp.course.example"
    bypasses = attacks.prefix_allowlist_bypasses(trusted)
    assert len(bypasses) == 3
    for url in bypasses.values():
        assert url.startswith(trusted)
    reached = {name: attacks.reach(url) for name, url in bypasses.items()}
    assert reached["subdomain"] == "idp.course.example.attacker.example/jwks.json"
    assert reached["userinfo (@)"] == "attacker.example/jwks.json"
    assert reached["path traversal to an open redirect"] == "idp.course.example/redirect"


def test_kid_path_traversal(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / "k1").write_bytes(keys.hmac_secret().secret)
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "robots.txt").write_bytes(b"User-agent: *\nDisallow:\n")
    empty = attacks.forge_hs_with_key(attacks.admin_claims(), b"", kid=attacks.PATH_TRAVERSAL_KID)
    known = attacks.forge_hs_with_key(attacks.admin_claims(), b"User-agent: *\nDisallow:\n", kid="../public/robots.txt")
    assert naive.kid_as_file_path(empty, key_dir)["sub"] == "admin"
    assert naive.kid_as_file_path(known, key_dir)["sub"] == "admin"
    for token in (empty, known):
        assert reason_of(token, key=keys.hmac_secret(), algorithms=("HS256",)) == "kid_unknown"


def test_kid_sql_injection() -> None:
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, secret TEXT)")
        db.execute("INSERT INTO signing_keys VALUES (?, ?)", ("k1", keys.hmac_secret().secret.hex()))
        forged = attacks.forge_hs_with_key(attacks.admin_claims(), attacks.SQL_INJECTION_KEY, kid=attacks.SQL_INJECTION_KID)
        assert naive.kid_in_sql_query(forged, db)["sub"] == "admin"
        assert reason_of(forged, key=keys.hmac_secret(), algorithms=("HS256",)) == "kid_unknown"
    finally:
        db.close()


def test_cross_service_replay() -> None:
    wiki_token = attacks.legit_token(clock.claims("alice", aud="wiki-api", role="admin"))
    assert naive.ignore_audience(wiki_token, ISSUER.public_key)["role"] == "admin"
    assert reason_of(wiki_token) == "audience"


def test_duplicate_claim_names_split_gateway_and_service() -> None:
    token = naive.issue_with_string_template("eve", 'Eve","sub":"admin', ISSUER.private_key, ISSUER.kid)
    assert naive.first_wins_claims(token, ISSUER.public_key)["sub"] == "eve"
    assert naive.last_wins_claims(token, ISSUER.public_key)["sub"] == "admin"
    assert reason_of(token) == "duplicate_name"
    built = attacks.forge_duplicate_claims([*clock.claims("eve").items(), ("sub", "admin")], ISSUER)
    assert naive.last_wins_claims(built, ISSUER.public_key)["sub"] == "admin"
    assert reason_of(built) == "duplicate_name"


@pytest.mark.parametrize("form", list(attacks.public_key_forms(ISSUER.public_key)))
def test_algorithm_confusion_with_every_public_key_form(form: str) -> None:
    material = attacks.public_key_forms(ISSUER.public_key)[form]
    assert naive.verify_with_header_alg(ALICE, material)["sub"] == "alice"  # the server's key, in this form
    forged = attacks.forge_hs_with_key(attacks.admin_claims(), material, kid=ISSUER.kid)
    assert naive.verify_with_header_alg(forged, material)["sub"] == "admin"
    assert reason_of(forged) == "alg_not_allowed"
    assert reason_of(forged, key=ISSUER.public_jwk(), algorithms=("RS256", "HS256")) == "alg_not_allowed"


@pytest.mark.parametrize("form", ["PEM (SubjectPublicKeyInfo)", "OpenSSH line", "JWK JSON"])
def test_public_key_text_is_refused_as_an_hmac_secret(form: str) -> None:
    text = attacks.public_key_forms(ISSUER.public_key)[form]
    forged = attacks.forge_hs_with_key(attacks.admin_claims(), text)
    assert reason_of(forged, key=text, algorithms=("HS256",)) == "misconfigured"


@pytest.mark.parametrize("form", list(attacks.public_key_forms(keys.ed25519_key().public_key)))
def test_algorithm_confusion_with_an_ed25519_key(form: str) -> None:
    ed = keys.ed25519_key()
    material = attacks.public_key_forms(ed.public_key)[form]
    genuine = jwt.encode(clock.claims("alice"), ed.signing_key, algorithm="EdDSA", headers=ed.headers())
    assert naive.verify_with_header_alg(genuine, material)["sub"] == "alice"
    forged = attacks.forge_hs_with_key(attacks.admin_claims(), material, kid=ed.kid)
    assert naive.verify_with_header_alg(forged, material)["sub"] == "admin"
    assert reason_of(forged, key=ed, algorithms=("EdDSA", "HS256")) == "alg_not_allowed"


def test_rsa_public_key_recovery_from_two_tokens() -> None:
    issuer = attacks.small_exponent_demo_key()
    t1 = attacks.legit_token(clock.claims("alice"), key=issuer)
    t2 = attacks.legit_token(clock.claims("bob"), key=issuer)
    recovered = attacks.recover_rsa_public_key(t1, t2, e=3)
    assert recovered.public_numbers() == issuer.public_key.public_numbers()
    pem = attacks.public_key_forms(recovered)["PEM (SubjectPublicKeyInfo)"]
    forged = attacks.forge_hs_with_key(attacks.admin_claims(), pem, kid=issuer.kid)
    assert naive.verify_with_header_alg(forged, issuer.public_pem())["sub"] == "admin"
    assert reason_of(forged, key=issuer) == "alg_not_allowed"


def test_recovery_refuses_numbers_too_large_for_pure_python() -> None:
    with pytest.raises(ValueError, match="134,219,776 bits"):
        attacks.recover_rsa_public_key(ALICE, attacks.legit_token(clock.claims("bob")))


def test_recovery_rejects_tokens_from_different_keys() -> None:
    issuer = attacks.small_exponent_demo_key()
    other = attacks.legit_token(clock.claims("bob"), key=ISSUER)
    with pytest.raises(ValueError):
        attacks.recover_rsa_public_key(attacks.legit_token(key=issuer), other, e=3)


def test_psychic_signature() -> None:
    p256 = keys.p256_key()
    genuine = jwt.encode(clock.claims("alice"), p256.signing_key, algorithm="ES256", headers=p256.headers())
    assert naive.ecdsa_without_range_checks(genuine, p256.public_key)["sub"] == "alice"
    with pytest.raises(naive.NaiveRejected):
        naive.ecdsa_without_range_checks(attacks.tamper(genuine, sub="admin"), p256.public_key)
    forged = attacks.forge_psychic_signature(attacks.admin_claims(), p256.kid)
    assert naive.ecdsa_without_range_checks(forged, p256.public_key)["sub"] == "admin"
    with pytest.raises(InvalidSignature):
        p256.public_key.verify(encode_dss_signature(0, 0), b"anything", ec.ECDSA(hashes.SHA256()))
    assert reason_of(forged, key=p256, algorithms=("ES256",)) == "bad_signature"


def test_rejected_with_fails_on_acceptance_and_on_the_wrong_reason() -> None:
    with pytest.raises(AssertionError, match="accepted"), attacks.rejected_with("bad_signature"):
        defended(ALICE)
    with pytest.raises(AssertionError, match="expected 'bad_signature'"), attacks.rejected_with("bad_signature"):
        defended(attacks.forge_alg_none(attacks.admin_claims()))


def test_expired_tokens_fail_even_naive_verifiers() -> None:
    old = attacks.legit_token(clock.claims("alice", issued=-3600))
    with pytest.raises(naive.NaiveRejected, match="expired"):
        naive.decode_without_verifying(old)
