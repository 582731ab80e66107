"""Contract tests for every hop: what each service expects of a token, checked live, plus the attack corpus.

Why a table instead of one test per service: every hop of Part IV — gateway, the services behind it, the
services of a chain — makes the same promises (its own `aud`, its issuer, `typ: at+jwt`, unexpired, its
scope), so one table of cases run against a list of `HopContract`s shows at a glance which hop breaks
which promise. A hop that forgets a check fails exactly one row.

`attack_corpus(...)` turns the forgeries of `jwtlab.attacks` into tokens addressed to a given hop; every
one must be refused with a 401 and a reason, never accepted and never a 500.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from . import attacks, clock
from .keys import DemoKey, ed25519_key, p256_key

__all__ = ["HopContract", "ContractCase", "CONTRACT_CASES", "Outcome", "run_contract", "attack_corpus", "send"]

#: A key no issuer of the course uses: tokens it signs are genuine-looking and worthless.
INTRUDER = ed25519_key("intruder")


@dataclass(frozen=True)
class HopContract:
    """What one hop promises to accept: tokens from `issuer` signed by `key`, for `audience`, with `scope`.

    `required_scope` is the one scope the hop insists on (None: the hop checks no scope). `key` is a demo
    key of the issuer, so the harness can mint genuine tokens — that is what makes negative cases meaningful:
    each differs from an accepted token in exactly one respect.
    """

    name: str
    url: str
    method: str
    key: DemoKey
    issuer: str
    audience: str
    scope: str = ""
    required_scope: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()  #: further claims a genuine token carries here, e.g. (("act", {...}),)

    def claims(self, **changes: Any) -> dict[str, Any]:
        base = clock.claims("alice", iss=self.issuer, aud=self.audience, scope=self.scope, client_id="contract-test",
                            jti=secrets.token_urlsafe(8), **dict(self.extra))
        return {k: v for k, v in {**base, **changes}.items() if v is not None}

    def token(self, *, key: DemoKey | None = None, typ: str = "at+jwt", **changes: Any) -> str:
        signer = key or self.key
        return jwt.encode(self.claims(**changes), signer.signing_key, algorithm=signer.alg,
                          headers=signer.headers(typ=typ))


@dataclass(frozen=True)
class ContractCase:
    """One row of the contract: how to make the token (None: send none) and the answer every hop must give."""

    name: str
    make: Callable[[HopContract], str | None]
    status: int
    reason: str | None
    needs_scope: bool = False  # only for hops that check a scope


CONTRACT_CASES: tuple[ContractCase, ...] = (
    ContractCase("a genuine token", lambda h: h.token(), 200, None),
    ContractCase("no token", lambda h: None, 401, "no_token"),
    ContractCase("for another service", lambda h: h.token(aud="billing-api"), 401, "audience"),
    ContractCase("from another issuer", lambda h: h.token(iss="https://idp.attacker.example"), 401, "issuer"),
    ContractCase("expired an hour ago", lambda h: h.token(iat=clock.now() - 3900, exp=clock.now() - 3600), 401, "expired"),
    ContractCase("typ JWT (an ID token?)", lambda h: h.token(typ="JWT"), 401, "typ"),
    ContractCase("signed by an unknown key", lambda h: h.token(key=INTRUDER), 401, "kid_unknown"),
    ContractCase("without the required scope",
                 lambda h: h.token(scope=" ".join(s for s in h.scope.split() if s != h.required_scope) or "profile"),
                 403, "insufficient_scope", needs_scope=True),
)


@dataclass(frozen=True)
class Outcome:
    hop: str
    case: str
    status: int
    reason: str | None
    expected: tuple[int, str | None]

    @property
    def ok(self) -> bool:
        return (self.status, self.reason) == self.expected


def send(http: httpx.Client, hop: HopContract, token: str | None) -> tuple[int, str | None]:
    """One request to `hop`; the status and the reason code from the body (None when absent or on 200)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    resp = http.request(hop.method, hop.url, headers=headers)
    if resp.status_code == 200:
        return 200, None
    try:
        body = resp.json()
    except ValueError:
        return resp.status_code, None
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is None and isinstance(body, dict) and isinstance(body.get("detail"), dict):
        reason = body["detail"].get("reason")
    return resp.status_code, reason


def run_contract(http: httpx.Client, hops: list[HopContract],
                 cases: tuple[ContractCase, ...] = CONTRACT_CASES) -> list[Outcome]:
    """Every case against every hop (scope cases only where the hop checks a scope)."""
    outcomes = []
    for hop in hops:
        for case in cases:
            if case.needs_scope and hop.required_scope is None:
                continue
            status, reason = send(http, hop, case.make(hop))
            outcomes.append(Outcome(hop.name, case.name, status, reason, (case.status, case.reason)))
    return outcomes


def attack_corpus(hop: HopContract) -> dict[str, str]:
    """The forgeries of `jwtlab.attacks`, each carrying claims this hop would accept if it were fooled."""
    claims = hop.claims(sub="admin", role="admin")
    genuine = hop.token()
    attacker = ed25519_key("attacker")  # the attacker's own key pair, of the very algorithm the hop allows
    corpus = {f"alg {variant}": attacks.forge_alg_none(claims, variant, typ="at+jwt")
              for variant in attacks.ALG_NONE_VARIANTS}
    corpus["alg none, old signature kept"] = attacks.forge_alg_none(claims, signature=genuine.rsplit(".", 1)[1], typ="at+jwt")
    corpus["signature stripped"] = attacks.strip_signature(genuine)
    corpus["claims tampered (sub=admin)"] = attacks.tamper(genuine, sub="admin")
    for form, key_bytes in attacks.public_key_forms(hop.key.public_key).items():
        corpus[f"HS256 with the public key ({form})"] = attacks.forge_hs_with_key(claims, key_bytes, kid=hop.key.kid,
                                                                                  typ="at+jwt")
    corpus["HS256 with an empty key"] = attacks.forge_hs_with_key(claims, b"", kid=hop.key.kid, typ="at+jwt")
    corpus["embedded jwk"] = attacks.forge_embedded_jwk(claims, attacker)
    corpus["x5c self-signed"] = attacks.forge_x5c(claims, p256_key("attacker"))  # Ed25519 cannot sign it here
    corpus["jku to the attacker"] = attacks.forge_jku(claims, attacker, "http://127.0.0.1:9/jwks.json")
    corpus["x5u to the attacker"] = attacks.forge_x5u(claims, attacker, "http://127.0.0.1:9/cert.pem")
    corpus["kid path traversal"] = attacks.forge_hs_with_key(claims, b"", kid=attacks.PATH_TRAVERSAL_KID, typ="at+jwt")
    corpus["kid SQL injection"] = attacks.forge_hs_with_key(claims, attacks.SQL_INJECTION_KEY, kid=attacks.SQL_INJECTION_KID,
                                                            typ="at+jwt")
    corpus["psychic signature (ES256 r=s=0)"] = attacks.forge_psychic_signature(claims, kid=hop.key.kid)
    corpus["duplicate sub"] = attacks.forge_duplicate_claims(
        [*((k, v) for k, v in hop.claims().items()), ("sub", "admin")], hop.key, typ="at+jwt")
    corpus["oversized (100 kB)"] = genuine + "A" * 100_000
    return corpus
