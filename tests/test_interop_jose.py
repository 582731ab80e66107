"""Cross-verification with JOSE libraries nobody here wrote: npm jose, joserfc, jwcrypto, authlib.

Both directions for every algorithm of the course (HS256, RS256, PS256, ES256/384/512, EdDSA):
jwtlab signs (PyJWT with the demo keys, as the course does) and the peer verifies; the peer signs and
`verify_token` verifies. In each direction a tampered token (one claim changed, signature kept) must be
refused by the verifier. The matrix is written to `_build/figures/interop.json`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from interop_peers import ALGORITHMS, PYTHON_PEERS, JosePeer, KeyPair, key_pairs, tamper

from jwtlab.verify import TokenRejected, verify_token

ISSUER = "https://interop.jwtlab.test"
AUDIENCE = "interop-api"
PEERS = ("jose", *PYTHON_PEERS)
FIGURES = Path(__file__).resolve().parents[1] / "_build" / "figures" / "interop.json"


@pytest.fixture(scope="module")
def pairs() -> dict[str, KeyPair]:
    return key_pairs()


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, "scope": "orders:read"}


def record(peer: str, alg: str, direction: str, result: str) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data.setdefault(f"cross-verification with {peer}", {})[f"{alg} {direction}"] = result
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def peer_sign(peer: str, pair: KeyPair, body: dict[str, Any], jose: JosePeer) -> str:
    if peer == "jose":
        answer = jose.call(op="sign", alg=pair.alg, jwk=pair.private_jwk,
                           header={"kid": pair.kid, "typ": "JWT"}, claims=body)
        assert "token" in answer, answer
        return answer["token"]
    return PYTHON_PEERS[peer][0](pair, body)


def peer_verify(peer: str, pair: KeyPair, token: str, jose: JosePeer) -> dict[str, Any] | str:
    """The claims if the peer accepts the token, else the name of its error."""
    if peer == "jose":
        answer = jose.call(op="verify", alg=pair.alg, jwk=pair.public_jwk, token=token,
                           issuer=ISSUER, audience=AUDIENCE)
        return answer["claims"] if answer.get("ok") else str(answer.get("code") or answer)
    try:
        return PYTHON_PEERS[peer][1](pair, token, ISSUER, AUDIENCE)
    except Exception as exc:  # noqa: BLE001 - each library has its own exception types; any refusal counts
        return type(exc).__name__


def jwtlab_keys(pair: KeyPair) -> Any:
    """What a verifying service holds: the HMAC secret, or the public JWK from a JWKS."""
    return pair.verifying_key if pair.alg == "HS256" else pair.public_jwk


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("peer", PEERS)
def test_jwtlab_signs_the_peer_verifies(peer: str, alg: str, pairs: dict[str, KeyPair], jose: JosePeer) -> None:
    pair = pairs[alg]
    body = claims()
    token = jwt.encode(body, pair.signing_key, alg, headers={"kid": pair.kid, "typ": "JWT"})
    accepted = peer_verify(peer, pair, token, jose)
    assert isinstance(accepted, dict), f"{peer} refused a token jwtlab signed with {alg}: {accepted}"
    assert accepted["sub"] == "alice" and accepted["aud"] == AUDIENCE
    refused = peer_verify(peer, pair, tamper(token), jose)
    assert isinstance(refused, str), f"{peer} accepted a tampered {alg} token"
    record(peer, alg, "jwtlab->peer", f"ok, tampered: {refused}")


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("peer", PEERS)
def test_the_peer_signs_verify_token_verifies(peer: str, alg: str, pairs: dict[str, KeyPair],
                                               jose: JosePeer) -> None:
    pair = pairs[alg]
    token = peer_sign(peer, pair, claims(), jose)
    got = verify_token(token, jwtlab_keys(pair), issuer=ISSUER, audience=AUDIENCE, algorithms=[alg])
    assert got["sub"] == "alice" and got["scope"] == "orders:read"
    with pytest.raises(TokenRejected) as refused:
        verify_token(tamper(token), jwtlab_keys(pair), issuer=ISSUER, audience=AUDIENCE, algorithms=[alg])
    assert refused.value.reason == "bad_signature"
    record(peer, alg, "peer->jwtlab", f"ok, tampered: {refused.value.reason}")


def test_an_algorithm_the_verifier_did_not_allow_is_refused_both_ways(pairs: dict[str, KeyPair],
                                                                      jose: JosePeer) -> None:
    """A PS256 token checked with an RS256-only allowlist (same RSA key type) is refused on both sides."""
    rsa = pairs["PS256"]
    token = jwt.encode(claims(), rsa.signing_key, "PS256", headers={"kid": rsa.kid})
    as_rs256 = KeyPair("RS256", rsa.signing_key, rsa.verifying_key, rsa.private_jwk,
                       {**rsa.public_jwk, "alg": "RS256"}, rsa.kid)
    for peer in PEERS:
        assert isinstance(peer_verify(peer, as_rs256, token, jose), str), f"{peer} ignored its allowlist"
    with pytest.raises(TokenRejected):
        verify_token(token, rsa.verifying_key, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"])


def test_joserfc_warns_that_eddsa_is_deprecated(pairs: dict[str, KeyPair]) -> None:
    """RFC 9864 deprecates the polymorphic `EdDSA` name (for `Ed25519`); joserfc says so, the course still uses it."""
    from joserfc import jwt as joserfc_jwt
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import import_key

    pair = pairs["EdDSA"]
    with pytest.warns(SecurityWarning, match="RFC 9864"):
        joserfc_jwt.encode({"alg": "EdDSA"}, claims(), import_key(pair.private_jwk), algorithms=["EdDSA"])


def test_the_node_helper_is_one_process(jose: JosePeer) -> None:
    """The whole matrix costs one Node.js start: the helper answers many requests on one stdin."""
    versions = jose.call(op="versions")
    assert versions["jose"].startswith("6.") and versions["node"].startswith("v")
    assert jose.proc.poll() is None


def test_without_node_the_interop_tests_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI never skips the interop tests: without Node.js they fail and say what to install."""
    import interop_peers

    monkeypatch.setattr(interop_peers.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("JWTLAB_SKIP_INTEROP", "1")  # ignored in CI
    with pytest.raises(pytest.fail.Exception, match="Node.js 20 or newer is not installed"):
        interop_peers.node_or_fail()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        interop_peers.node_or_fail()
