"""Peers written by other people, for the interoperability tests: Node.js processes and Python JOSE libraries.

Why: `verify_token` and the course's IdP were written together, so a shared misreading of RFC 7515/7518
would pass every other test. Here tokens cross the boundary both ways: jwtlab signs and each peer
verifies; each peer signs and `verify_token` verifies; a tampered token is refused by both.

The Node.js peers (`tests/interop/`: oidc-provider and jose, pinned by `package-lock.json`) are installed
by `./course test` (`npm ci`). Without Node.js 20+ or the installed packages the tests fail with a message
saying what to do; only a local run may skip them, with `JWTLAB_SKIP_INTEROP=1` (never in CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from jwtlab import attacks
from jwtlab import keys as demo

INTEROP_DIR = Path(__file__).resolve().parent / "interop"
NODE_MAJOR = 20
#: Every answer from a Node.js peer must arrive within this many seconds.
ANSWER_TIMEOUT = 15.0

#: The algorithms of the cross-verification matrix.
ALGORITHMS = ("HS256", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA")


def node_or_fail() -> str:
    """The `node` executable, after checking the version and the installed packages; else fail (or skip locally)."""
    problem = None
    node = shutil.which("node")
    if node is None:
        problem = f"Node.js {NODE_MAJOR} or newer is not installed (the interop tests need `node` and `npm`)."
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        major = int(version.lstrip("v").split(".")[0] or 0)
        if major < NODE_MAJOR:
            problem = f"Node.js {version} is too old: the interop tests need Node.js {NODE_MAJOR} or newer."
        elif not (INTEROP_DIR / "node_modules" / ".package-lock.json").is_file():
            problem = ("The Node.js peers are not installed: run `./course test`, or "
                       "`npm ci` in tests/interop.")
    if problem is None:
        assert node is not None
        return node
    if os.environ.get("JWTLAB_SKIP_INTEROP") == "1" and not os.environ.get("CI"):
        pytest.skip(problem + " (skipped: JWTLAB_SKIP_INTEROP=1)")
    pytest.fail(problem + " Locally, JWTLAB_SKIP_INTEROP=1 skips these tests; CI always runs them.", pytrace=False)


class NodeProcess:
    """A Node.js script that answers one JSON line per request line; stopped by `close()`.

    stdout is read by a thread into a queue, so a peer that hangs fails the test after `ANSWER_TIMEOUT`
    instead of blocking it. stderr goes to a file the failure message quotes.
    """

    def __init__(self, script: str, log: Path) -> None:
        node = node_or_fail()
        self._log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [node, script], cwd=INTEROP_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"node:{script}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def answer(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no answer within {ANSWER_TIMEOUT:g} s; log: {self.log_text()}") from None
        if line is None:
            raise AssertionError(f"the Node.js peer exited ({self.proc.poll()}); log: {self.log_text()}")
        return json.loads(line)

    def send(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.answer()

    def log_text(self) -> str:
        self._log.flush()
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-2000:]

    def close(self) -> None:
        """Close stdin (the peers exit on end of input), then wait; kill only if that does not work."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a peer that ignores end of input
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


class JosePeer(NodeProcess):
    """npm jose in one long-lived process (`jose_peer.mjs`)."""

    def __init__(self, log: Path) -> None:
        super().__init__("jose_peer.mjs", log)
        self.requests = 0

    def call(self, **request: Any) -> dict[str, Any]:
        self.requests += 1
        return self.send(json.dumps(request))


class OidcProvider(NodeProcess):
    """oidc-provider on 127.0.0.1 (`provider.mjs`): a client credentials client, JWT access tokens."""

    CLIENT = ("interop-client", "interop-client-secret-test-only-0123456789")
    SCOPE = "orders:read"
    ALGORITHMS = ("RS256", "ES256", "EdDSA")

    def __init__(self, log: Path) -> None:
        super().__init__("provider.mjs", log)
        hello = self.answer()
        self.issuer: str = hello["issuer"]
        self.kids: dict[str, str] = hello["kids"]
        assert self.issuer.startswith("http://127.0.0.1:"), "the provider must listen on loopback only"
        self.jwks_url = self.issuer + "/jwks"

    @staticmethod
    def resource(alg: str) -> str:
        """The resource indicator (and so the token's `aud`) of the resource server signing with `alg`."""
        return f"urn:jwtlab:interop:{alg.lower()}"

    def token(self, alg: str, dpop: str | None = None) -> str:
        """An access token from the token endpoint (client credentials grant, RFC 8707 resource); with a
        DPoP proof for the token endpoint, a token bound to the proof's key (RFC 9449 §5)."""
        r = httpx.post(self.issuer + "/token", auth=self.CLIENT, timeout=10, data={
            "grant_type": "client_credentials", "scope": self.SCOPE, "resource": self.resource(alg)},
            headers={"DPoP": dpop} if dpop else {})
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json()["token_type"] == ("DPoP" if dpop else "Bearer"), r.json()["token_type"]
        return r.json()["access_token"]

    def rotate(self) -> dict[str, Any]:
        """New signing keys at the provider (same process, same port); the previous ones stay published."""
        answer = self.send("rotate")
        assert answer.get("rotated"), answer
        self.kids = answer["kids"]
        return answer


# -- keys --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    """One algorithm's key: what PyJWT/jwtlab signs with, and the JWKs the peers import."""

    alg: str
    signing_key: Any  #: for jwt.encode
    verifying_key: Any  #: for verify_token
    private_jwk: dict[str, Any]
    public_jwk: dict[str, Any]
    kid: str


def _pair(alg: str, private: Any, kid: str) -> KeyPair:
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key = jwcrypto_jwk.JWK.from_pem(pem)
    private_jwk = {**json.loads(key.export_private()), "kid": kid, "alg": alg}
    public_jwk = {**json.loads(key.export_public()), "kid": kid, "alg": alg}
    return KeyPair(alg, private, private.public_key(), private_jwk, public_jwk, kid)


def key_pairs() -> dict[str, KeyPair]:
    """A key per algorithm: the course's demo keys, and P-384/P-521 keys made here (no demo key exists)."""
    pairs: dict[str, KeyPair] = {}
    secret = demo.hmac_secret()
    oct_jwk = secret.public_jwk()
    pairs["HS256"] = KeyPair("HS256", secret.secret, secret.secret, oct_jwk, oct_jwk, secret.kid)
    for alg, key in (("RS256", demo.rsa_key(0, "RS256")), ("PS256", demo.rsa_key(1, "PS256")),
                     ("ES256", demo.p256_key()), ("EdDSA", demo.ed25519_key())):
        pairs[alg] = _pair(alg, key.private_key, key.kid)
    for alg, curve in (("ES384", ec.SECP384R1()), ("ES512", ec.SECP521R1())):
        private = ec.generate_private_key(curve)
        pairs[alg] = _pair(alg, private, f"test-{alg.lower()}")
    return pairs


# -- the Python peers: sign(alg, pair, claims) -> token, verify(alg, pair, token, iss, aud) -> claims or raise


def _joserfc_key(jwk: dict[str, Any]) -> Any:
    from joserfc.jwk import import_key

    return import_key(jwk)


@contextlib.contextmanager
def _quiet_joserfc(alg: str) -> Iterator[None]:
    """joserfc warns that `EdDSA` is deprecated by RFC 9864 (in favour of `Ed25519`); the token is the same."""
    from joserfc.errors import SecurityWarning

    with warnings.catch_warnings():
        if alg == "EdDSA":
            warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        yield


def joserfc_sign(pair: KeyPair, claims: dict[str, Any]) -> str:
    from joserfc import jwt

    with _quiet_joserfc(pair.alg):
        return jwt.encode({"alg": pair.alg, "kid": pair.kid, "typ": "JWT"}, claims,
                          _joserfc_key(pair.private_jwk), algorithms=[pair.alg])


def joserfc_verify(pair: KeyPair, token: str, issuer: str, audience: str) -> dict[str, Any]:
    from joserfc import jwt

    with _quiet_joserfc(pair.alg):
        decoded = jwt.decode(token, _joserfc_key(pair.public_jwk), algorithms=[pair.alg])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                          aud={"essential": True, "value": audience},
                          exp={"essential": True}).validate(decoded.claims)
    return dict(decoded.claims)


def jwcrypto_sign(pair: KeyPair, claims: dict[str, Any]) -> str:
    token = jwcrypto_jwt.JWT(header={"alg": pair.alg, "kid": pair.kid, "typ": "JWT"}, claims=claims)
    token.make_signed_token(jwcrypto_jwk.JWK(**pair.private_jwk))
    return token.serialize()


def jwcrypto_verify(pair: KeyPair, token: str, issuer: str, audience: str) -> dict[str, Any]:
    checked = jwcrypto_jwt.JWT(jwt=token, key=jwcrypto_jwk.JWK(**pair.public_jwk), algs=[pair.alg],
                               check_claims={"iss": issuer, "aud": audience, "exp": None})
    return json.loads(checked.claims)


def _authlib() -> Any:
    """authlib.jose is deprecated in favour of joserfc (warning at import) but still its own implementation."""
    from authlib.deprecate import AuthlibDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AuthlibDeprecationWarning)
        import authlib.jose

    return authlib.jose


def authlib_sign(pair: KeyPair, claims: dict[str, Any]) -> str:
    jose = _authlib()
    key = jose.JsonWebKey.import_key(pair.private_jwk)
    token = jose.JsonWebToken([pair.alg]).encode({"alg": pair.alg, "kid": pair.kid, "typ": "JWT"}, claims, key)
    return token.decode("ascii")


def authlib_verify(pair: KeyPair, token: str, issuer: str, audience: str) -> dict[str, Any]:
    jose = _authlib()
    key = jose.JsonWebKey.import_key(pair.public_jwk)
    claims = jose.JsonWebToken([pair.alg]).decode(token, key, claims_options={
        "iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": audience},
        "exp": {"essential": True}})
    claims.validate()
    return dict(claims)


PYTHON_PEERS: dict[str, tuple[Callable[..., str], Callable[..., dict[str, Any]]]] = {
    "joserfc": (joserfc_sign, joserfc_verify),
    "jwcrypto": (jwcrypto_sign, jwcrypto_verify),
    "authlib": (authlib_sign, authlib_verify),
}


def tamper(token: str) -> str:
    """One claim changed (`sub` becomes `mallory`), header and signature kept: `jwtlab.attacks.tamper`."""
    return attacks.tamper(token, sub="mallory")
