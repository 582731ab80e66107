"""Checks of lab 8 — Sender-constrained tokens. Each test belongs to one task of labs/labs.toml.

Your gateway runs on 127.0.0.1 under uvicorn (`jwtlab.services`), on a frozen `jwtlab.clock.Clock`.
The checks play two parts. Alice's client holds the DEMO key CLIENT; its access tokens are bound to
it (`cnf.jkt`) and each request carries a fresh proof made by `jwtlab.dpop.make_proof`. A thief
holds a copy of alice's token — and nothing else: it sends the token as Bearer, without a proof, with
a proof by its own key, with proofs it captured, and with hand-signed hostile proofs (alg none,
HS256, a private jwk, someone else's signature). Each failure says what still reached /orders.

Each task's refusals go over HTTP; what a task accepts is checked by calling your function, so a task
passes once its own code is right, whatever the later tasks still lack.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import ECAlgorithm

from jwtlab import b64, keys
from jwtlab.clock import Clock
from jwtlab.dpop import ath_of, jkt_of, make_proof
from jwtlab.keys import public_jwk_of
from jwtlab.labs.target import lab_module
from jwtlab.services import Service, start, stop_all

LAB = Path(__file__).resolve().parents[1]
gw = lab_module("dpop_gateway", LAB)

CLIENT = keys.p256_key("lab8-client")  # demo key: alice's client, the one her tokens are bound to
CLIENT_ED = keys.ed25519_key("lab8-client-ed")  # demo key: a client that signs its proofs with EdDSA
THIEF = keys.p256_key("lab8-thief")  # demo key: the thief's own key


@dataclass
class Gateway:
    clock: Clock
    service: Service
    app: Any
    http: httpx.Client

    @property
    def url(self) -> str:
        return f"{self.service.url}/orders"

    def now(self) -> int:
        return int(self.clock.now())

    def token(self, key: keys.DemoKey | None = CLIENT, sub: str = "alice", **claims: Any) -> str:
        """An access token from the issuer (its DEMO key), bound to `key` (None: unbound)."""
        body: dict[str, Any] = {"iss": gw.ISSUER, "aud": gw.AUDIENCE, "sub": sub, "scope": "orders:read",
                                "iat": self.now(), "exp": self.now() + 300, "jti": secrets.token_urlsafe(8)}
        if key is not None:
            body["cnf"] = {"jkt": jkt_of(key.public_key)}
        body.update(claims)
        return jwt.encode(body, gw.TOKEN_KEY.signing_key, algorithm="ES256",
                          headers={"kid": gw.TOKEN_KEY.kid, "typ": "at+jwt"})

    def proof(self, token: str | None, key: keys.DemoKey = CLIENT, method: str = "GET", url: str | None = None,
              **kw: Any) -> str:
        """A proper proof for one request, by `key`."""
        kw.setdefault("now", self.now())
        return make_proof(key, method, url or self.url, access_token=token, **kw)

    def claims(self, token: str | None = None, **extra: Any) -> dict[str, Any]:
        """The claims of a proper proof, to change one of them and sign by hand."""
        body = {"jti": secrets.token_urlsafe(12), "htm": "GET", "htu": self.url, "iat": self.now()}
        if token is not None:
            body["ath"] = ath_of(token)
        body.update(extra)
        return body

    def send(self, token: str | None, proofs: list[str] | str | None, method: str = "GET", scheme: str = "DPoP",
             query: str = "") -> httpx.Response:
        headers: list[tuple[str, str | bytes]] = []
        if token is not None:
            headers.append(("Authorization", f"{scheme} {token}".strip().encode()))
        for proof in [proofs] if isinstance(proofs, str) else proofs or []:
            headers.append(("DPoP", proof.encode()))
        return self.http.request(method, self.url + query, headers=headers)

    def fresh(self, token: str, method: str = "GET") -> httpx.Response:
        """Alice's client, doing it right."""
        return self.send(token, self.proof(token, method=method), method)


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    clock = Clock()
    app = gw.create_app(clock=clock.now)
    started = [start(app, name="dpop-gateway")]
    try:
        app.state.public_url = started[0].url
        with httpx.Client(timeout=10) as http:
            yield Gateway(clock, started[0], app, http)
    finally:
        stop_all(started)


def signed(header: dict[str, Any], claims: dict[str, Any], key: keys.DemoKey = CLIENT) -> str:
    """Sign exactly this header and these claims (PyJWT would add or change members): a hostile client."""
    head, body = b64.encode_json(header), b64.encode_json(claims)
    signature = jwt.get_algorithm_by_name(key.alg).sign(f"{head}.{body}".encode(), key.signing_key)
    return f"{head}.{body}.{b64.encode(signature)}"


def header_of(key: keys.DemoKey = CLIENT, **extra: Any) -> dict[str, Any]:
    return {"typ": "dpop+jwt", "alg": key.alg, "jwk": public_jwk_of(key.public_key), **extra}


def said(resp: httpx.Response) -> str:
    """What became of a request, as a failure message words it."""
    try:
        body = resp.json()
    except ValueError:
        body = {"text": resp.text[:80]}
    body = body if isinstance(body, dict) else {}
    if resp.status_code == 200:
        return f"reached /orders as {body.get('sub')!r}"
    if resp.status_code == 501:
        return f"got 501: not written yet ({body.get('todo', '')})"
    return f"got {resp.status_code} ({body.get('reason', body.get('error', ''))})"


def refused(resp: httpx.Response, error: str | None = None) -> bool:
    """401 with a DPoP challenge naming `error` (RFC 9449 §7.1)."""
    challenge = resp.headers.get("www-authenticate", "")
    return (resp.status_code == 401 and challenge.startswith("DPoP")
            and (error is None or f'error="{error}"' in challenge))


def through(gateway: Gateway, cases: dict[str, tuple[str | None, Any]], error: str | None,
            method: str = "GET", scheme: str = "DPoP") -> list[str]:
    """The cases (name → (token, proofs)) that were not refused with `error`, and what became of them."""
    return [f"{name}: {said(resp)}" for name, (token, proofs) in cases.items()
            if not refused(resp := gateway.send(token, proofs, method, scheme), error)]


def listed(found: list[str], most: int = 4) -> str:
    """The first few of what got through, and how many more: enough to act on, short enough to read."""
    more = f"; and {len(found) - most} more" if len(found) > most else ""
    return "; ".join(found[:most]) + more


def raises_refused(call: Any, *args: Any) -> Any:
    with pytest.raises(gw.Refused) as info:
        call(*args)
    return info.value


# --- scheme ---------------------------------------------------------------------------------------


@pytest.mark.task("scheme")
def test_the_dpop_scheme_and_one_proof_are_read() -> None:
    assert gw.access_token(["DPoP eyJ.a.b"]) == "eyJ.a.b", "access_token must return the token after 'DPoP '"
    assert gw.access_token(["dpop  eyJ.a.b "]) == "eyJ.a.b", "the scheme is case-insensitive; strip the token"
    assert gw.proof_header(["eyJ.p.q"]) == "eyJ.p.q", "proof_header must return the one DPoP header's value"


@pytest.mark.task("scheme")
def test_a_stolen_token_as_bearer_or_without_a_proof_is_401(gateway: Gateway) -> None:
    token = gateway.token()
    proof = gateway.proof(token)
    found = through(gateway, {"alice's token as Bearer, with a good proof": (token, proof)}, "invalid_token",
                    scheme="Bearer")
    found += through(gateway, {"alice's token as Basic": (token, proof)}, "invalid_token", scheme="Basic")
    found += through(gateway, {"the DPoP scheme without a token": ("", proof)}, "invalid_token")
    found += through(gateway, {"alice's token without any DPoP header": (token, None),
                               "alice's token with two DPoP headers": (token, [proof, gateway.proof(token)]),
                               "a DPoP header of 5000 characters": (token, "e" * 5000)}, "invalid_dpop_proof")
    resp = gateway.send(None, proof)
    if not refused(resp):
        found.append(f"no Authorization header: {said(resp)}")
    assert not found, (
        "a bearer token works for whoever holds it; this gateway must accept the token only with the DPoP "
        "scheme and exactly one proof (401, WWW-Authenticate: DPoP error=\"invalid_token\" for the token, "
        "\"invalid_dpop_proof\" for the proof): " + listed(found)
    )


@pytest.mark.task("scheme")
def test_two_authorization_headers_are_refused() -> None:
    error = raises_refused(gw.access_token, ["DPoP a.b.c", "DPoP d.e.f"])
    assert error.error == "invalid_token", f"two Authorization headers: error must be invalid_token, got {error.error}"
    raises_refused(gw.access_token, [])
    raises_refused(gw.proof_header, [])


# --- proof ----------------------------------------------------------------------------------------


@pytest.mark.task("proof")
def test_a_proper_proof_gives_its_claims_and_public_key(gateway: Gateway) -> None:
    for key in (CLIENT, CLIENT_ED):
        claims, jwk = gw.verify_proof(gateway.proof("t", key))
        assert claims["htm"] == "GET" and claims["htu"] == gateway.url, (
            f"verify_proof of a proper {key.alg} proof must return its claims, got {claims}"
        )
        assert jkt_of(key.public_key) == keys.thumbprint(jwk) and "d" not in jwk, (
            f"verify_proof must return the proof's public jwk (its header's), got {jwk}"
        )


@pytest.mark.task("proof")
def test_a_proof_that_proves_nothing_is_401(gateway: Gateway) -> None:
    token = gateway.token()
    claims = gateway.claims(token)
    head, body = b64.encode_json({"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk_of(CLIENT.public_key)}), \
        b64.encode_json(claims)
    secret = b"thief-knows-this"
    oct_jwk = {"kty": "oct", "k": b64.encode(secret)}
    hs_head = b64.encode_json({"typ": "dpop+jwt", "alg": "HS256", "jwk": oct_jwk})
    hs_mac = hmac.new(secret, f"{hs_head}.{body}".encode(), hashlib.sha256).digest()
    private_jwk = ECAlgorithm.to_jwk(CLIENT.signing_key, as_dict=True)
    cases = {
        "alg none, no signature": (token, f"{head}.{body}."),
        "HS256 with a secret in the jwk": (token, f"{hs_head}.{body}.{b64.encode(hs_mac)}"),
        "a private jwk (the key has leaked)": (token, signed({**header_of(), "jwk": private_jwk}, claims)),
        "alice's jwk, signed by the thief": (token, signed(header_of(CLIENT), claims, THIEF)),
        "typ JWT": (token, signed(header_of(typ="JWT"), claims)),
        "no typ": (token, signed({k: v for k, v in header_of().items() if k != "typ"}, claims)),
        "no jwk, a kid instead": (token, signed({"typ": "dpop+jwt", "alg": "ES256", "kid": "alice"}, claims)),
        "alg EdDSA over an EC jwk": (token, signed(header_of(CLIENT, alg="EdDSA"), claims, CLIENT_ED)),
        "a proof without htm": (token, signed(header_of(), {k: v for k, v in claims.items() if k != "htm"})),
        "junk 'abc'": (token, "abc"),
        "junk 'a.b.c'": (token, "a.b.c"),
    }
    found = through(gateway, cases, "invalid_dpop_proof")
    assert not found, (
        "a proof must be a dpop+jwt, signed with an asymmetric alg (PROOF_ALGORITHMS) by the public jwk in its "
        "own header; these reached further than 401 invalid_dpop_proof: " + listed(found)
    )


# --- request --------------------------------------------------------------------------------------


@pytest.mark.task("request")
def test_a_proof_for_this_request_passes(gateway: Gateway) -> None:
    now = gateway.now()
    for name, claims in {
        "a proof for GET /orders": gateway.claims(),
        "htu with a query (ignored)": gateway.claims(htu=gateway.url + "?page=2"),
        "htu with a fragment (ignored)": gateway.claims(htu=gateway.url + "#top"),
        f"a proof {gw.MAX_AGE - 1} s old": gateway.claims(iat=now - gw.MAX_AGE + 1),
        f"a clock {gw.LEEWAY} s ahead": gateway.claims(iat=now + gw.LEEWAY),
    }.items():
        try:
            gw.check_request(claims, "GET", gateway.url, now)
        except gw.Refused as exc:
            raise AssertionError(f"{name} must pass check_request, it was refused: {exc.reason}") from None


@pytest.mark.task("request")
def test_a_proof_for_another_request_or_time_is_401(gateway: Gateway) -> None:
    token = gateway.token()
    now = gateway.now()
    other = gateway.url.replace("127.0.0.1", "localhost")
    port = gateway.service.url.rsplit(":", 1)[1]
    cases = {
        "a POST proof on GET": dict(htm="POST"),
        "htm 'get' (the method is case-sensitive)": dict(htm="get"),
        "htu /admin": dict(htu=f"{gateway.service.url}/admin"),
        "htu on another host": dict(htu=other),
        "htu on another port": dict(htu=gateway.url.replace(f":{port}/", ":1/")),
        "htu https": dict(htu=gateway.url.replace("http://", "https://")),
        "htu a number": dict(htu=8),
        f"iat {gw.MAX_AGE + 1} s ago": dict(iat=now - gw.MAX_AGE - 1),
        f"iat {gw.LEEWAY + 10} s ahead": dict(iat=now + gw.LEEWAY + 10),
        "iat a string": dict(iat=str(now)),
    }
    found = through(gateway, {name: (token, signed(header_of(), gateway.claims(token, **change)))
                              for name, change in cases.items()}, "invalid_dpop_proof")
    assert not found, (
        "a proof names one request (htm, htu without query) at one moment (iat within "
        f"[now - {gw.MAX_AGE}, now + {gw.LEEWAY}]); these captured proofs would be good elsewhere or later, "
        "yet were not refused: " + listed(found)
    )


@pytest.mark.task("request")
def test_iat_as_a_string_is_refused_not_compared(gateway: Gateway) -> None:
    now = gateway.now()
    try:
        gw.check_request(gateway.claims(iat=str(now)), "GET", gateway.url, now)
    except gw.Refused:
        return
    except TypeError:
        raise AssertionError("iat as a string made check_request crash (TypeError): refuse it (Refused) "
                             "before comparing: `type(iat) is not int`") from None
    raise AssertionError("iat as a string passed check_request; PyJWT reads \"1767225600\" as a number, "
                         "the proof check must not")


# --- binding --------------------------------------------------------------------------------------


@pytest.mark.task("binding")
def test_a_proof_for_this_token_and_key_passes(gateway: Gateway) -> None:
    token = gateway.token()
    claims = gateway.claims(token)
    bound = {"sub": "alice", "cnf": {"jkt": jkt_of(CLIENT.public_key)}}
    try:
        gw.check_binding(claims, public_jwk_of(CLIENT.public_key), token, bound)
    except gw.Refused as exc:
        raise AssertionError(f"alice's proof for alice's token must pass check_binding: {exc.reason}") from None


@pytest.mark.task("binding")
def test_a_stolen_token_with_the_thiefs_own_proof_is_401(gateway: Gateway) -> None:
    token = gateway.token()
    unbound, thiefs, odd = gateway.token(None), gateway.token(THIEF), gateway.token(None, cnf="jkt")
    found = through(gateway, {
        "the stolen token, a proof by the thief's key": (token, gateway.proof(token, THIEF)),
        "an unbound token (no cnf)": (unbound, gateway.proof(unbound)),
        "alice's proof, a token bound to the thief's key": (thiefs, gateway.proof(thiefs)),
        "a token whose cnf is a string": (odd, gateway.proof(odd)),
    }, "invalid_token")
    assert not found, (
        "the token is bound to alice's key (cnf.jkt = its RFC 7638 thumbprint): a proof by any other key, or "
        "a token without that binding, must be 401 invalid_token: " + listed(found)
    )


@pytest.mark.task("binding")
def test_a_proof_for_another_token_is_401(gateway: Gateway) -> None:
    token, other = gateway.token(), gateway.token()
    hex_ath = hashlib.sha256(token.encode()).hexdigest()
    cases = {
        "a proof without ath": gateway.claims(None),
        "ath of alice's other token": gateway.claims(other),
        "ath as a hex digest": gateway.claims(None, ath=hex_ath),
        "ath a number": gateway.claims(None, ath=1),
    }
    found = through(gateway, {name: (token, signed(header_of(), claims)) for name, claims in cases.items()},
                    "invalid_dpop_proof")
    assert not found, (
        "ath = base64url(SHA-256(the access token)) ties a proof to one token: a proof made for another token "
        "(or for none) must be 401 invalid_dpop_proof: " + listed(found)
    )


# --- replay ---------------------------------------------------------------------------------------


@pytest.mark.task("replay")
def test_the_cache_remembers_each_jti_for_its_window() -> None:
    cache = gw.JtiCache(window=65, max_entries=100)
    cache.remember("j-1", 1000, 1000)
    error = raises_refused(cache.remember, "j-1", 1000, 1010)
    assert error.error == "invalid_dpop_proof", f"a replay must be invalid_dpop_proof, got {error.error}"
    cache.remember("j-2", 1010, 1010)
    assert len(cache) == 2, f"two proofs accepted, the cache must hold two jtis, it holds {len(cache)}"
    cache.remember("j-3", 1070, 1070)
    assert len(cache) == 2, (
        f"65 s after its iat a jti can no longer pass the iat check: the cache must forget it (bounded in "
        f"time), it still holds {len(cache)} jtis"
    )


@pytest.mark.task("replay")
def test_a_flood_of_jtis_stays_bounded_and_replays_stay_refused() -> None:
    cache = gw.JtiCache(window=65, max_entries=50)
    cache.remember("first", 1000, 1000)
    for i in range(500):
        with contextlib.suppress(gw.Refused):  # refusing part of a flood is allowed
            cache.remember(f"flood-{i}", 1001 + i // 100, 1001 + i // 100)
    assert len(cache) <= 50, f"500 unique jtis: the cache must stay at max_entries (50), it holds {len(cache)}"
    with pytest.raises(gw.Refused):
        cache.remember("first", 1000, 1005)
        raise AssertionError("after a flood pushed it out, the first proof's jti was accepted a second time")


@pytest.mark.task("replay")
def test_a_replayed_proof_is_401(gateway: Gateway) -> None:
    token = gateway.token()
    proof = gateway.proof(token)
    first = gateway.send(token, proof)
    assert first.status_code == 200, f"alice's first request with a fresh proof must pass: it {said(first)}"
    again = gateway.send(token, proof)
    assert refused(again, "invalid_dpop_proof"), (
        f"the same proof a second time (captured in transit) must be 401 invalid_dpop_proof: "
        f"a replayed proof {said(again)}"
    )


@pytest.mark.task("replay")
def test_a_flood_over_http_keeps_the_cache_bounded(gateway: Gateway) -> None:
    saved = gateway.app.state.replay_cache
    gateway.app.state.replay_cache = cache = gw.JtiCache(max_entries=50)
    try:
        token = gateway.token(exp=gateway.now() + 600)
        captured = gateway.proof(token)
        assert gateway.send(token, captured).status_code == 200, "alice's fresh proof must pass"
        gateway.clock.advance(1)
        statuses = {gateway.fresh(token).status_code for _ in range(120)}
        assert statuses <= {200, 401}, f"a flood of fresh proofs got {sorted(statuses)}: never a 500"
        assert len(cache) <= 50, (
            f"120 proofs with unique jtis: the gateway's cache (max_entries 50) holds {len(cache)} jtis; an "
            "unbounded cache lets a client fill the gateway's memory"
        )
        replay = gateway.send(token, captured)
        assert refused(replay), f"after the flood, a replayed proof {said(replay)}"
        gateway.clock.advance(gw.REPLAY_WINDOW + 1)
        resp = gateway.fresh(token)
        assert resp.status_code == 200 and len(cache) == 1, (
            f"{gw.REPLAY_WINDOW} s later every flooded jti has expired: a fresh proof must pass ({said(resp)}) "
            f"and the cache hold only its jti (it holds {len(cache)})"
        )
    finally:
        gateway.app.state.replay_cache = saved


# --- end-to-end -----------------------------------------------------------------------------------


@pytest.mark.task("end-to-end")
def test_alice_gets_through_and_the_thief_does_not(gateway: Gateway) -> None:
    token = gateway.token()
    for method in ("GET", "POST"):
        resp = gateway.fresh(token, method)
        assert resp.status_code == 200 and resp.json().get("sub") == "alice", (
            f"alice's client on {method} /orders with a fresh proof must pass (a gateway that refuses everything "
            f"protects nothing): it {said(resp)}"
        )
    resp = gateway.send(token, gateway.proof(token), query="?page=2")
    assert resp.status_code == 200, f"GET /orders?page=2, htu without the query, must pass: it {said(resp)}"
    captured = gateway.proof(token, method="GET")
    assert gateway.send(token, captured).status_code == 200
    late = gateway.proof(token)
    gateway.clock.advance(gw.MAX_AGE + 1)
    thief = {
        "the token as Bearer": gateway.send(token, None, scheme="Bearer"),
        "the token, no proof": gateway.send(token, None),
        "the token, the thief's own proof": gateway.send(token, gateway.proof(token, THIEF)),
        "the token, a captured proof replayed": gateway.send(token, captured),
        "the token, a captured GET proof on POST": gateway.send(token, gateway.proof(token), "POST"),
        f"a proof captured {gw.MAX_AGE + 1} s ago, never used": gateway.send(token, late),
        "junk token": gateway.send("é.é.é", gateway.proof("x")),
        "junk proof": gateway.send(token, "eyJhbGciOiJub25lIn0..."),
    }
    found = [f"{name}: {said(resp)}" for name, resp in thief.items() if not refused(resp)]
    assert not found, (
        "a thief holds a copy of alice's token but not her key; with every check in place nothing it can "
        "send reaches /orders (401, WWW-Authenticate: DPoP, never 500): " + listed(found)
    )


@pytest.mark.task("end-to-end")
def test_an_unfinished_or_failing_step_is_never_a_500(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    module = gw._load()

    def todo(*args: Any) -> Any:
        raise NotImplementedError("binding: write this part (jwtlab hint sender-constrained binding)")

    def broken(*args: Any) -> Any:
        raise KeyError("cnf")

    token = gateway.token()
    monkeypatch.setattr(module, "check_binding", todo)
    resp = gateway.fresh(token)
    assert resp.status_code == 501 and "binding" in resp.json().get("todo", ""), (
        f"while check_binding is a TODO the gateway must answer 501 naming the task: it {said(resp)}"
    )
    monkeypatch.setattr(module, "check_binding", broken)
    resp = gateway.fresh(token)
    assert refused(resp, "invalid_dpop_proof") and "cnf" not in resp.text, (
        f"an unforeseen exception must be a 401 (fail closed), never a 500 or a 200: it {said(resp)}"
    )
