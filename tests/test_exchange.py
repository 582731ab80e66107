"""Token exchange (RFC 8693): every rule with its error code, scope never widens, `act` across three hops.

Rules are tested on `SecurityTokenService.exchange/handle` directly (fast, no sockets); the error shapes,
the three-hop delegation chain and the caller cache run over real HTTP on loopback.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import FastAPI, Header, HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtlab import clock, pki, services
from jwtlab.client_auth import CLIENT_ASSERTION_TYPE, build_client_assertion
from jwtlab.exchange import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    Client,
    ExchangedTokenCache,
    ExchangeError,
    ExchangeRequest,
    SecurityTokenService,
    TargetService,
    actor_chain,
    create_sts_app,
    exchange_claims,
    http_exchanger,
    issued_scope,
)
from jwtlab.keys import ed25519_key
from jwtlab.verify import TokenRejected, verify_token

IDP = clock.DEMO_ISSUER
IDP_KEY = ed25519_key("idp")
STS = "https://sts.course.example"
STS_KEY = ed25519_key("sts")
SECRETS = {"orders": "orders-demo-secret", "payments": "payments-demo-secret", "ledger": "ledger-demo-secret"}
REPORTS_KEY = ed25519_key("client/reports")
TARGETS = {
    "orders": TargetService("orders", frozenset({"orders:read", "orders:write"}), "https://orders.course.example/"),
    # A service's allowed scopes include what it passes on downstream: exchange only ever narrows, hop by hop.
    "payments": TargetService("payments", frozenset({"payments:charge", "payments:read", "ledger:write"}),
                              "https://payments.course.example/"),
    "ledger": TargetService("ledger", frozenset({"ledger:write", "ledger:read"}), "https://ledger.course.example/"),
}
USER_SCOPE = "orders:read payments:charge ledger:write"


def make_sts(**overrides: Any) -> SecurityTokenService:
    clients = {cid: Client(cid, secret=secret, spiffe_id=pki.spiffe_id(cid)) for cid, secret in SECRETS.items()}
    clients["reports"] = Client("reports", jwk=REPORTS_KEY.public_jwk())
    settings_ = {
        "issuer": STS, "clients": clients, "targets": TARGETS, "trusted_issuers": {IDP: IDP_KEY},
        "clock": clock.Clock(), "lifetime": 300,
    }
    return SecurityTokenService(**{**settings_, **overrides})


def user_token(aud: str | list[str] = "orders", *, scope: str = USER_SCOPE, key: Any = IDP_KEY, typ: str = "at+jwt",
               iss: str = IDP, kid: str | None = None, **extra: Any) -> str:
    claims = clock.claims("alice", iss=iss, aud=aud, scope=scope, jti="user-jti-1", **extra)
    return jwt.encode(claims, key.signing_key, algorithm=key.alg, headers={"kid": kid or key.kid, "typ": typ})


def form(token: str, **params: Any) -> dict[str, list[str]]:
    out = {"grant_type": [TOKEN_EXCHANGE_GRANT], "subject_token": [token],
           "subject_token_type": [ACCESS_TOKEN_TYPE], "audience": ["payments"]}
    for name, value in params.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value if isinstance(value, list) else [value]
    return out


def error_of(call: Any) -> ExchangeError:
    with pytest.raises(ExchangeError) as info:
        call()
    return info.value


def claims_of(token: str) -> dict[str, Any]:
    return verify_token(token, STS_KEY, issuer=STS, audience=None, algorithms=["EdDSA"], typ="at+jwt", now=clock.now())


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


FORM_TYPE = "application/x-www-form-urlencoded"


# --- the response --------------------------------------------------------------------------------------
def test_a_successful_exchange_has_the_rfc_8693_response_and_token() -> None:
    body = make_sts().exchange(form(user_token(), scope="payments:charge"), "orders")
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in"}  # no refresh_token
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "EdDSA", "kid": STS_KEY.kid, "typ": "at+jwt"}
    claims = claims_of(body["access_token"])
    assert claims["iss"] == STS and claims["aud"] == "payments" and claims["sub"] == "alice"
    assert claims["scope"] == "payments:charge" and claims["client_id"] == "orders"
    assert claims["act"] == {"sub": "orders"}
    assert claims["jti"] != "user-jti-1"
    again = claims_of(make_sts().exchange(form(user_token(), scope="payments:charge"), "orders")["access_token"])
    assert again["jti"] != claims["jti"]  # a new jti per issued token


def test_scope_is_in_the_response_only_when_narrowed() -> None:
    body = make_sts().exchange(form(user_token(), scope="payments:charge payments:read"), "orders")
    assert body["scope"] == "payments:charge"  # payments:read was never the user's
    body = make_sts().exchange(form(user_token()), "orders")  # no scope requested: the subject's, narrowed
    assert body["scope"] == "ledger:write payments:charge"
    body = make_sts().exchange(form(user_token(scope="payments:charge")), "orders")  # nothing narrowed
    assert "scope" not in body


def test_issued_exp_never_outlives_the_subject_token() -> None:
    short = user_token(lifetime=60)  # the user's token has 60 s left
    body = make_sts().exchange(form(short), "orders")
    assert body["expires_in"] == 60 and claims_of(body["access_token"])["exp"] == clock.now() + 60
    long = user_token(lifetime=3600)
    assert make_sts(lifetime=120).exchange(form(long), "orders")["expires_in"] == 120


# --- client authentication -----------------------------------------------------------------------------
def body_of(**params: Any) -> bytes:
    return httpx.QueryParams({k: v for k, v in params.items() if v is not None}).__str__().encode()


def test_only_authenticated_confidential_clients_exchange() -> None:
    sts = make_sts()
    raw = body_of(grant_type=TOKEN_EXCHANGE_GRANT, subject_token=user_token(), subject_token_type=ACCESS_TOKEN_TYPE,
                  audience="payments")
    assert "access_token" in sts.handle(basic("orders", SECRETS["orders"]), FORM_TYPE, raw)
    for authorization, extra in [
        (None, b""),  # a public client: no authentication at all
        (basic("orders", "wrong"), b""),
        (basic("stranger", "x"), b""),
        ("Basic !!!", b""),
        (None, b"&client_id=orders&client_secret=orders-demo-secret"),  # client_secret_post is refused
        (None, b"&client_assertion_type=" + CLIENT_ASSERTION_TYPE.encode() + b"&client_assertion=x.y.z"),
    ]:
        exc = error_of(lambda a=authorization, e=extra: sts.handle(a, FORM_TYPE, raw + e))
        assert (exc.error, exc.status) == ("invalid_client", 401)
    with pytest.raises(ValueError, match="confidential"):
        Client("public-spa")


def test_private_key_jwt_authenticates_a_client_at_the_sts() -> None:
    sts = make_sts()
    subject = user_token(aud=["orders", "reports"])
    assertion = build_client_assertion("reports", sts.token_endpoint, REPORTS_KEY, now=clock.now())
    raw = body_of(grant_type=TOKEN_EXCHANGE_GRANT, subject_token=subject, subject_token_type=ACCESS_TOKEN_TYPE,
                  audience="ledger", client_assertion_type=CLIENT_ASSERTION_TYPE, client_assertion=assertion)
    claims = claims_of(sts.handle(None, FORM_TYPE, raw)["access_token"])
    assert claims["client_id"] == "reports" and claims["act"] == {"sub": "reports"}
    replay = error_of(lambda: sts.handle(None, FORM_TYPE, raw))
    assert (replay.error, replay.reason) == ("invalid_client", "replayed")
    both = error_of(lambda: sts.handle(basic("orders", SECRETS["orders"]), FORM_TYPE, raw))
    assert both.error == "invalid_request"


def test_tls_client_auth_and_certificate_bound_exchanged_tokens() -> None:
    """RFC 8705: a client over mTLS authenticates with its certificate and gets a token bound to it."""
    sts, ca = make_sts(), pki.course_ca()
    orders, ledger = ca.issue("orders"), ca.issue("ledger")
    raw = body_of(grant_type=TOKEN_EXCHANGE_GRANT, subject_token=user_token(), subject_token_type=ACCESS_TOKEN_TYPE,
                  audience="payments")
    body = sts.handle(None, FORM_TYPE, raw + b"&client_id=orders", orders.der)
    claims = claims_of(body["access_token"])
    assert claims["client_id"] == "orders" and claims["cnf"] == {"x5t#S256": orders.x5t_s256}
    # Authenticated by secret but over mTLS: still bound to the certificate on the connection.
    assert claims_of(sts.handle(basic("orders", SECRETS["orders"]), FORM_TYPE, raw, orders.der)["access_token"])["cnf"]
    # Without a certificate: a plain bearer token.
    assert "cnf" not in claims_of(sts.handle(basic("orders", SECRETS["orders"]), FORM_TYPE, raw)["access_token"])
    for client_id, cert in [(b"orders", ledger.der), (b"", orders.der), (b"stranger", orders.der),
                            (b"orders", pki.CourseCA("other", trust_domain="other.example").issue("orders").der)]:
        extra = b"&client_id=" + client_id if client_id else b""
        exc = error_of(lambda e=extra, c=cert: sts.handle(None, FORM_TYPE, raw + e, c))
        assert (exc.error, exc.status) == ("invalid_client", 401)


# --- the subject token ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("token", "reason"), [
    (lambda: user_token(iss="https://evil.example"), "issuer"),
    (lambda: user_token(typ="JWT"), "typ"),
    (lambda: user_token(lifetime=10, issued=-600), "expired"),
    (lambda: user_token(key=ed25519_key("attacker"), kid=IDP_KEY.kid), "bad_signature"),
    (lambda: user_token(aud="payments"), "audience"),  # orders is not an audience of the subject token
    (lambda: "not-a-jwt", "malformed"),
])
def test_the_subject_token_is_verified_for_the_requesting_client(token: Any, reason: str) -> None:
    exc = error_of(lambda: make_sts().exchange(form(token()), "orders"))
    assert (exc.error, exc.reason, exc.status) == ("invalid_request", reason, 400)


def test_sts_tokens_are_accepted_as_subject_tokens_but_other_issuers_keys_are_not() -> None:
    sts = make_sts()
    hop1 = sts.exchange(form(user_token()), "orders")["access_token"]
    assert claims_of(sts.exchange(form(hop1, audience="ledger"), "payments")["access_token"])["aud"] == "ledger"
    # A scope dropped at one hop cannot be regained at the next.
    narrow = sts.exchange(form(user_token(), scope="payments:charge"), "orders")["access_token"]
    assert error_of(lambda: sts.exchange(form(narrow, audience="ledger"), "payments")).error == "invalid_scope"
    # A token claiming to be from the identity provider but signed with the STS key: issuer-key pinning holds.
    forged = user_token(key=STS_KEY)
    assert error_of(lambda: sts.exchange(form(forged), "orders")).reason == "kid_unknown"


# --- the request ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "error"), [
    ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ({"subject_token": None}, "invalid_request"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request"),
    ({"actor_token": "x"}, "invalid_request"),
    ({"audience": "billing"}, "invalid_target"),
    ({"audience": None, "resource": "https://evil.example/"}, "invalid_target"),
    ({"audience": ["payments", "ledger"]}, "invalid_target"),
    ({"audience": None}, "invalid_target"),
    ({"scope": "admin"}, "invalid_scope"),
    ({"audience": "ledger", "scope": "payments:charge"}, "invalid_scope"),  # the user has it; ledger does not accept it
    ({"audience": "orders", "scope": "orders:write"}, "invalid_scope"),  # payments/orders accept it; user lacks it
])
def test_each_rule_has_its_error_code(params: dict[str, Any], error: str) -> None:
    exc = error_of(lambda: make_sts().exchange(form(user_token(), **params), "orders"))
    assert (exc.error, exc.status) == (error, 400)


def test_resource_names_a_target_and_must_agree_with_audience() -> None:
    sts = make_sts()
    body = sts.exchange(form(user_token(), audience=None, resource="https://ledger.course.example/"), "orders")
    assert claims_of(body["access_token"])["aud"] == "ledger"
    exc = error_of(lambda: sts.exchange(form(user_token(), resource="https://ledger.course.example/"), "orders"))
    assert exc.error == "invalid_target"


def test_the_form_is_parsed_strictly() -> None:
    sts = make_sts()
    auth = basic("orders", SECRETS["orders"])
    good = body_of(grant_type=TOKEN_EXCHANGE_GRANT, subject_token=user_token(), subject_token_type=ACCESS_TOKEN_TYPE,
                   audience="payments")
    assert error_of(lambda: sts.handle(auth, "application/json", good)).error == "invalid_request"
    assert error_of(lambda: sts.handle(auth, FORM_TYPE, good + b"&scope=a&scope=b")).error == "invalid_request"
    assert error_of(lambda: sts.handle(auth, FORM_TYPE, good + b"&x=" + b"a" * 20_000)).error == "invalid_request"
    assert error_of(lambda: sts.handle(auth, FORM_TYPE, b"\xff\xfe")).error == "invalid_request"


@settings(derandomize=True, max_examples=100, deadline=None)
@given(authorization=st.none() | st.text(max_size=40).map(lambda t: "Basic " + t) | st.sampled_from(
           [basic("orders", SECRETS["orders"]), "Basic", "Basic Og==", "basic b3JkZXJz"]),
       raw=st.binary(max_size=200) | st.lists(st.sampled_from([
           b"grant_type=" + TOKEN_EXCHANGE_GRANT.encode(), b"subject_token=a.b.c", b"audience=payments",
           b"subject_token_type=" + ACCESS_TOKEN_TYPE.encode(), b"scope=%ff", b"client_assertion=x", b"&", b"=",
           b"resource=", b"may_act=1"]), max_size=8).map(b"&".join))
def test_hostile_requests_get_an_oauth_error_never_a_crash(authorization: str | None, raw: bytes) -> None:
    with pytest.raises(ExchangeError) as info:
        STS_FOR_FUZZ.handle(authorization, FORM_TYPE, raw)
    assert info.value.status in (400, 401) and info.value.error in (
        "invalid_request", "invalid_client", "unsupported_grant_type")


STS_FOR_FUZZ = make_sts()


# --- the pure rules: act, may_act, scope ---------------------------------------------------------------
def subject_claims(**extra: Any) -> dict[str, Any]:
    return {**clock.claims("alice", iss=IDP, aud="payments", scope=USER_SCOPE, jti="s1"), **extra}


def test_act_nests_earlier_actors() -> None:
    first = exchange_claims(subject_claims(), ExchangeRequest("payments", ("ledger",)), targets=TARGETS, issuer=STS,
                            now=clock.now())
    assert first["act"] == {"sub": "payments"}
    earlier = {"sub": "orders", "act": {"sub": "gateway"}}
    second = exchange_claims(subject_claims(act=earlier), ExchangeRequest("payments", ("ledger",)), targets=TARGETS,
                             issuer=STS, now=clock.now())
    assert second["act"] == {"sub": "payments", "act": {"sub": "orders", "act": {"sub": "gateway"}}}


def test_malformed_or_endless_act_chains_are_refused() -> None:
    request = ExchangeRequest("payments", ("ledger",))
    deep: dict[str, Any] = {"sub": "s0"}
    for i in range(1, 8):
        deep = {"sub": f"s{i}", "act": deep}
    assert actor_chain({"act": deep}) == [f"s{i}" for i in range(7, -1, -1)]
    for act in ("orders", {"act": {"sub": "x"}}, {"sub": ""}, {"sub": "a", "act": "b"}, {"sub": "s8", "act": deep}):
        exc = error_of(lambda a=act: exchange_claims(subject_claims(act=a), request, targets=TARGETS, issuer=STS,
                                                     now=clock.now()))
        assert (exc.error, exc.reason) == ("invalid_request", "act")


def test_may_act_is_enforced_when_present() -> None:
    request = ExchangeRequest("payments", ("ledger",))
    allowed = exchange_claims(subject_claims(may_act={"sub": "payments"}), request, targets=TARGETS, issuer=STS,
                              now=clock.now())
    assert "may_act" not in allowed and allowed["act"] == {"sub": "payments"}
    for may_act in ({"sub": "orders"}, {}, "payments", ["payments"]):
        exc = error_of(lambda m=may_act: exchange_claims(subject_claims(may_act=m), request, targets=TARGETS,
                                                         issuer=STS, now=clock.now()))
        assert (exc.error, exc.reason) == ("invalid_request", "may_act")


SCOPES = st.frozensets(st.sampled_from(["a", "b", "c", "d", "e", "admin"]))


@settings(derandomize=True, max_examples=100, deadline=None)
@given(requested=st.none() | SCOPES, subject=SCOPES, allowed=SCOPES)
def test_issued_scope_never_widens(requested: frozenset[str] | None, subject: frozenset[str],
                                   allowed: frozenset[str]) -> None:
    targets = {"t": TargetService("t", allowed)}
    claims = subject_claims(scope=" ".join(sorted(subject)))
    request = ExchangeRequest("payments", ("t",), scope=None if requested is None else " ".join(sorted(requested)))
    bound = (subject if requested is None else requested) & subject & allowed
    assert issued_scope(requested, subject, allowed) == bound
    try:
        issued = exchange_claims(claims, request, targets=targets, issuer=STS, now=clock.now())
    except ExchangeError as exc:
        assert exc.error == "invalid_scope" and not bound
        return
    got = frozenset(issued["scope"].split())
    assert got and got == bound and got <= subject and got <= allowed
    assert requested is None or got <= requested


# --- audience isolation --------------------------------------------------------------------------------
def test_a_token_for_one_service_is_rejected_by_every_other() -> None:
    sts = make_sts()
    subject = user_token(aud=["orders"], scope="orders:read payments:charge ledger:write")
    for target in TARGETS:
        token = sts.exchange(form(subject, audience=target), "orders")["access_token"]
        for service in TARGETS:
            if service == target:
                assert verify_token(token, STS_KEY, issuer=STS, audience=service, algorithms=["EdDSA"], typ="at+jwt",
                                    now=clock.now())["aud"] == service
                continue
            with pytest.raises(TokenRejected) as info:
                verify_token(token, STS_KEY, issuer=STS, audience=service, algorithms=["EdDSA"], typ="at+jwt",
                             now=clock.now())
            assert info.value.reason == "audience"


# --- the caller's cache --------------------------------------------------------------------------------
def test_the_cache_reuses_a_token_until_shortly_before_expiry() -> None:
    moving = clock.Clock()
    calls: list[tuple[str, str | None]] = []

    def fetch(subject_token: str, target: str, scope: str | None) -> Mapping[str, Any]:
        calls.append((target, scope))
        return {"access_token": f"token-{len(calls)}", "expires_in": 300}

    cache = ExchangedTokenCache(fetch, now=moving.now, margin=30)
    subject = {"jti": "s1"}
    assert cache.token_for("t", subject, "payments", "a b") == "token-1"
    assert cache.token_for("t", subject, "payments", "b a") == "token-1"  # same scope set
    assert cache.token_for("t", subject, "ledger", "a b") == "token-2"  # another target
    assert cache.token_for("t", subject, "payments", "a") == "token-3"  # another scope
    assert cache.token_for("t", {"jti": "s2"}, "payments", "a b") == "token-4"  # another subject token
    moving.advance(269)
    assert cache.token_for("t", subject, "payments", "a b") == "token-1"
    moving.advance(1)  # 30 s before expiry: refresh
    assert cache.token_for("t", subject, "payments", "a b") == "token-5"
    assert cache.fetches == 5


# --- over HTTP: error shapes and the three-hop chain ---------------------------------------------------
VERIFY_KEYS = {IDP: IDP_KEY, STS: STS_KEY}


def hop_app(name: str, issuer: str, sts_url: dict[str, str], next_hop: dict[str, str],
            caches: dict[str, ExchangedTokenCache]) -> FastAPI:
    """A course service: verifies the token it receives, exchanges it for the next hop, calls the next hop."""
    app = FastAPI(title=name)

    def fetch(subject_token: str, target: str, scope: str | None) -> Mapping[str, Any]:
        with httpx.Client(timeout=5) as http:
            return http_exchanger(http, sts_url["url"] + "/token", name, secret=SECRETS[name])(subject_token, target, scope)

    caches[name] = ExchangedTokenCache(fetch, now=clock.now)

    @app.get("/work")
    def work(authorization: Annotated[str, Header()]) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ")
        try:
            claims = verify_token(token, VERIFY_KEYS[issuer], issuer=issuer, audience=name, algorithms=["EdDSA"],
                                  typ="at+jwt", now=clock.now())
        except TokenRejected as exc:
            raise HTTPException(401, {"error": "invalid_token", "reason": exc.reason}) from None
        result: dict[str, Any] = {"service": name, "sub": claims["sub"], "act": claims.get("act"),
                                  "scope": claims.get("scope")}
        if next_hop:
            downstream = caches[name].token_for(token, claims, next_hop["name"])
            with httpx.Client(timeout=5) as http:
                resp = http.get(next_hop["url"] + "/work", headers={"Authorization": "Bearer " + downstream})
            result["downstream"] = resp.json()
        return result

    return app


@pytest.fixture(scope="module")
def chain() -> Iterator[dict[str, Any]]:
    sts_url: dict[str, str] = {}
    caches: dict[str, ExchangedTokenCache] = {}
    ledger_hop: dict[str, str] = {"name": "ledger"}
    payments_hop: dict[str, str] = {"name": "payments"}
    apps = [
        create_sts_app(make_sts()),
        hop_app("ledger", STS, sts_url, {}, caches),
        hop_app("payments", STS, sts_url, ledger_hop, caches),
        hop_app("orders", IDP, sts_url, payments_hop, caches),
    ]
    with services.serve(*apps) as (sts, ledger, payments, orders):
        sts_url["url"], ledger_hop["url"], payments_hop["url"] = sts.url, ledger.url, payments.url
        yield {"sts": sts, "orders": orders, "payments": payments, "ledger": ledger, "caches": caches}


@pytest.mark.network
def test_act_chain_across_three_hops_over_http(chain: dict[str, Any]) -> None:
    with httpx.Client(timeout=10) as http:
        resp = http.get(chain["orders"].url + "/work", headers={"Authorization": "Bearer " + user_token()})
        assert resp.status_code == 200, resp.text
        orders = resp.json()
        again = http.get(chain["orders"].url + "/work", headers={"Authorization": "Bearer " + user_token()})
    assert orders["act"] is None and orders["sub"] == "alice"
    payments = orders["downstream"]
    assert payments == {**payments, "service": "payments", "sub": "alice", "act": {"sub": "orders"},
                        "scope": "ledger:write payments:charge"}
    ledger = payments["downstream"]
    assert ledger == {"service": "ledger", "sub": "alice", "act": {"sub": "payments", "act": {"sub": "orders"}},
                      "scope": "ledger:write"}
    assert again.json() == orders
    # The second request reused both exchanged tokens: one exchange per hop, not per request.
    assert chain["caches"]["orders"].fetches == 1 and chain["caches"]["payments"].fetches == 1


@pytest.mark.network
def test_http_error_shapes(chain: dict[str, Any]) -> None:
    url = chain["sts"].url
    data = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": user_token(), "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": "payments"}
    with httpx.Client(timeout=5) as http:
        resp = http.post(url + "/token", data=data)
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
        assert resp.headers["www-authenticate"].startswith("Basic")
        resp = http.post(url + "/token", data={**data, "audience": "billing"}, auth=("orders", SECRETS["orders"]))
        assert resp.status_code == 400 and set(resp.json()) == {"error", "error_description"}
        assert resp.json()["error"] == "invalid_target" and resp.headers["cache-control"] == "no-store"
        resp = http.post(url + "/token", data=data, auth=("orders", SECRETS["orders"]))
        assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
        assert http.get(url + "/jwks.json").json() == {"keys": [STS_KEY.public_jwk()]}
        meta = http.get(url + "/.well-known/oauth-authorization-server").json()
        assert meta["grant_types_supported"] == [TOKEN_EXCHANGE_GRANT]
        assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
        # A token for payments, replayed at ledger: rejected with reason audience.
        token = resp.json()["access_token"]
        resp = http.get(chain["ledger"].url + "/work", headers={"Authorization": "Bearer " + token})
        assert resp.status_code == 401 and resp.json()["detail"]["reason"] == "audience"


@pytest.mark.network
def test_http_exchanger_with_private_key_jwt_and_its_errors(chain: dict[str, Any]) -> None:
    url = chain["sts"].url + "/token"
    subject = user_token(aud=["orders", "reports"])
    with httpx.Client(timeout=5) as http:
        # The STS expects assertions addressed to its configured token endpoint (its issuer + /token).
        fetch = http_exchanger(http, url, "reports", key=REPORTS_KEY, assertion_audience=STS + "/token", now=clock.now)
        body = fetch(subject, "ledger", "ledger:write")
        assert claims_of(body["access_token"])["act"] == {"sub": "reports"}
        assert fetch(subject, "ledger", None)["access_token"] != body["access_token"]  # a fresh assertion each time
        wrong_aud = http_exchanger(http, url, "reports", key=REPORTS_KEY, now=clock.now)  # aud = the loopback URL
        exc = error_of(lambda: wrong_aud(subject, "ledger", None))
        assert (exc.error, exc.status, exc.reason) == ("invalid_client", 401, "audience")
        exc = error_of(lambda: http_exchanger(http, url, "orders", secret=SECRETS["orders"])(subject, "billing", None))
        assert (exc.error, exc.status) == ("invalid_target", 400)
    with httpx.Client() as http, pytest.raises(ValueError, match="one client authentication"):
        http_exchanger(http, url, "x", secret="s", key=REPORTS_KEY)


HTTP_SCOPES = st.frozensets(st.sampled_from(["orders:read", "orders:write", "payments:charge", "ledger:write", "admin"]),
                            min_size=1)


@pytest.mark.network
@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requested=st.none() | HTTP_SCOPES, subject=HTTP_SCOPES, target=st.sampled_from(sorted(TARGETS)))
def test_scope_never_widens_over_http(chain: dict[str, Any], requested: frozenset[str] | None,
                                      subject: frozenset[str], target: str) -> None:
    """The same property as above, through the token service's real HTTP endpoint on loopback."""
    data = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": user_token(["orders"], scope=" ".join(sorted(subject))),
            "subject_token_type": ACCESS_TOKEN_TYPE, "audience": target}
    if requested is not None:
        data["scope"] = " ".join(sorted(requested))
    resp = httpx.post(chain["sts"].url + "/token", auth=("orders", SECRETS["orders"]), data=data, timeout=5)
    bound = (subject if requested is None else requested) & subject & TARGETS[target].allowed_scopes
    if not bound:
        assert (resp.status_code, resp.json()["error"]) == (400, "invalid_scope"), resp.text
        return
    assert resp.status_code == 200, resp.text
    issued = verify_token(resp.json()["access_token"], STS_KEY, issuer=STS, audience=target, algorithms=["EdDSA"],
                          typ="at+jwt", now=clock.now())
    assert frozenset(issued["scope"].split()) == bound
