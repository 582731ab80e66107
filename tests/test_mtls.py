"""mTLS between two course services on loopback, SPIFFE identities, and certificate-bound tokens (RFC 8705).

Real uvicorn servers with `ssl_cert_reqs=CERT_REQUIRED` and real TLS handshakes: the service sees the
caller's SPIFFE ID, a certificate from another CA or no certificate never gets in, and a bound token
works only from the client whose certificate it names.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from cryptography import x509
from fastapi import Depends, FastAPI

from jwtlab import clock, mtls, pki, services
from jwtlab.keys import ed25519_key
from jwtlab.verify import TokenRejected

pytestmark = pytest.mark.network

STS_KEY = ed25519_key("sts")
ISSUER = "https://sts.course.example"
# Module level: with postponed annotations FastAPI resolves `Annotated[..., Depends(x)]` in module globals.
bound = mtls.bound_token_dependency(STS_KEY, issuer=ISSUER, audience="payments", now=clock.now)
orders_only_peer = mtls.allow_peers(pki.spiffe_id("orders"))


def payments_app() -> FastAPI:
    app = FastAPI(title="payments")

    @app.get("/whoami")
    async def whoami(peer: Annotated[mtls.Peer, Depends(mtls.require_peer)]) -> dict[str, Any]:
        return {"spiffe_id": peer.spiffe_id, "x5t#S256": peer.x5t_s256}

    @app.get("/orders-only")
    async def orders_only(peer: Annotated[mtls.Peer, Depends(orders_only_peer)]) -> dict[str, str]:
        return {"hello": peer.spiffe_id}

    @app.get("/pay")
    async def pay(claims: Annotated[dict[str, Any], Depends(bound)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    return app


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    ca = pki.course_ca()
    ca.write(directory)
    for name in ("payments", "orders", "ledger"):
        ca.issue(name).write(directory)
    rogue = pki.CourseCA("rogue")
    rogue.write(directory)
    (directory / "rogue").mkdir()
    rogue.issue("orders").write(directory / "rogue")  # same name and SPIFFE ID, wrong CA
    return directory


def files(directory: Path, name: str) -> pki.CertFiles:
    return pki.CertFiles(directory / f"{name}.crt", directory / f"{name}.key")


@pytest.fixture(scope="module")
def payments(pki_dir: Path) -> Iterator[services.Service]:
    config = mtls.server_ssl_config(pki_dir / "course-ca.crt", files(pki_dir, "payments"))
    with services.start(payments_app(), name="payments", **config) as service:
        yield service


@pytest.fixture(scope="module")
def optional_payments(pki_dir: Path) -> Iterator[services.Service]:
    """The same app asking for, but not requiring, a client certificate: the app's own 401s become visible."""
    config = mtls.server_ssl_config(pki_dir / "course-ca.crt", files(pki_dir, "payments"), require_client_cert=False)
    with services.start(payments_app(), name="payments-optional", **config) as service:
        yield service


def client(pki_dir: Path, name: str | None, *, directory: Path | None = None) -> httpx.Client:
    cert = files(directory or pki_dir, name) if name else None
    return httpx.Client(verify=mtls.client_ssl_context(pki_dir / "course-ca.crt", cert), timeout=5)


def test_certificates_carry_one_spiffe_id_and_loopback_names() -> None:
    cert = pki.course_ca().issue("orders")
    assert cert.spiffe_id == "spiffe://course.example/svc/orders"
    assert pki.spiffe_id_of(cert.der) == pki.spiffe_id_of(cert.cert_pem()) == cert.spiffe_id
    san = cert.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    # Deterministic (Ed25519): the same certificate, hence the same thumbprint, on every run.
    assert pki.CourseCA().issue("orders").der == cert.der
    assert (cert.certificate.not_valid_before_utc, cert.certificate.not_valid_after_utc) == (pki.NOT_BEFORE, pki.NOT_AFTER)
    assert cert.certificate.not_valid_before_utc.timestamp() < clock.COURSE_NOW < cert.certificate.not_valid_after_utc.timestamp()


def test_thumbprint_is_base64url_sha256_of_the_der_certificate() -> None:
    import base64
    import hashlib

    cert = pki.course_ca().issue("orders")
    expected = base64.urlsafe_b64encode(hashlib.sha256(cert.der).digest()).rstrip(b"=").decode()
    assert pki.x5t_s256(cert.der) == pki.x5t_s256(cert.certificate) == cert.x5t_s256 == expected
    assert pki.x5t_s256(pki.course_ca().issue("ledger").der) != expected


def test_spiffe_id_outside_the_trust_domain_is_refused() -> None:
    foreign = pki.CourseCA("other", trust_domain="other.example").issue("orders")
    with pytest.raises(ValueError, match="trust domain"):
        pki.spiffe_id_of(foreign.der)
    assert pki.spiffe_id_of(foreign.der, trust_domain=None) == "spiffe://other.example/svc/orders"
    with pytest.raises(ValueError, match="subjectAltName"):
        pki.spiffe_id_of(pki.course_ca().certificate)


def test_the_service_sees_the_callers_spiffe_id(pki_dir: Path, payments: services.Service) -> None:
    with client(pki_dir, "orders") as http:
        resp = http.get(payments.url + "/whoami")
    assert resp.status_code == 200
    assert resp.json() == {"spiffe_id": "spiffe://course.example/svc/orders",
                           "x5t#S256": pki.course_ca().issue("orders").x5t_s256}


def test_services_authorise_the_peer_not_just_authenticate_it(pki_dir: Path, payments: services.Service) -> None:
    with client(pki_dir, "orders") as http:
        assert http.get(payments.url + "/orders-only").status_code == 200
    with client(pki_dir, "ledger") as http:
        resp = http.get(payments.url + "/orders-only")
    assert resp.status_code == 403
    assert resp.json()["detail"]["peer"] == "spiffe://course.example/svc/ledger"


def test_a_certificate_from_another_ca_fails_the_handshake(pki_dir: Path, payments: services.Service) -> None:
    with client(pki_dir, "orders", directory=pki_dir / "rogue") as http, pytest.raises(httpx.HTTPError):
        http.get(payments.url + "/whoami")


def test_no_client_certificate_fails_the_handshake(pki_dir: Path, payments: services.Service) -> None:
    with client(pki_dir, None) as http, pytest.raises(httpx.HTTPError):
        http.get(payments.url + "/whoami")


def test_the_client_refuses_a_server_from_another_ca(pki_dir: Path) -> None:
    rogue_dir = pki_dir / "rogue"
    config = mtls.server_ssl_config(pki_dir / "rogue.crt", files(rogue_dir, "orders"))
    with (services.start(payments_app(), name="rogue", **config) as rogue, client(pki_dir, "orders") as http,
          pytest.raises(httpx.ConnectError) as info):
        http.get(rogue.url + "/whoami")
    assert isinstance(info.value.__context__ or info.value.__cause__, ssl.SSLCertVerificationError) or \
        "CERTIFICATE_VERIFY_FAILED" in str(info.value)


def test_without_a_certificate_the_app_answers_401(pki_dir: Path, optional_payments: services.Service) -> None:
    with client(pki_dir, None) as http:
        resp = http.get(optional_payments.url + "/whoami")
    assert resp.status_code == 401
    assert resp.json()["detail"]["reason"] == "no_client_certificate"
    with client(pki_dir, "orders") as http:
        assert http.get(optional_payments.url + "/whoami").json()["spiffe_id"].endswith("/svc/orders")
    # "Optional" means the client may send none; a certificate it does send must still verify.
    with client(pki_dir, "orders", directory=pki_dir / "rogue") as http, pytest.raises(httpx.HTTPError):
        http.get(optional_payments.url + "/whoami")


def bound_token(holder: str, audience: str = "payments") -> str:
    claims = clock.claims("alice", iss=ISSUER, aud=audience, jti=f"bound-{holder}", client_id=holder)
    return mtls.mint_bound_token(claims, pki.course_ca().issue(holder).certificate, STS_KEY)


def test_a_bound_token_works_with_its_certificate(pki_dir: Path, payments: services.Service) -> None:
    with client(pki_dir, "orders") as http:
        resp = http.get(payments.url + "/pay", headers={"Authorization": "Bearer " + bound_token("orders")})
    assert resp.status_code == 200 and resp.json() == {"sub": "alice"}


def test_a_stolen_bound_token_fails_from_another_client(pki_dir: Path, payments: services.Service) -> None:
    stolen = bound_token("orders")
    with client(pki_dir, "ledger") as http:
        resp = http.get(payments.url + "/pay", headers={"Authorization": "Bearer " + stolen})
    assert resp.status_code == 401
    assert resp.json()["detail"]["reason"] == "cnf_mismatch"
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert stolen not in resp.text


def test_bound_token_endpoint_rejects_missing_certificate_and_unbound_tokens(
    pki_dir: Path, optional_payments: services.Service
) -> None:
    with client(pki_dir, None) as http:
        resp = http.get(optional_payments.url + "/pay", headers={"Authorization": "Bearer " + bound_token("orders")})
    assert resp.status_code == 401 and resp.json()["detail"]["reason"] == "cnf_mismatch"
    import jwt

    unbound = jwt.encode(clock.claims("alice", iss=ISSUER, aud="payments"), STS_KEY.signing_key, algorithm="EdDSA",
                         headers=STS_KEY.headers(typ="at+jwt"))
    with client(pki_dir, "orders") as http:
        resp = http.get(optional_payments.url + "/pay", headers={"Authorization": "Bearer " + unbound})
        assert resp.status_code == 401 and resp.json()["detail"]["reason"] == "cnf_mismatch"
        resp = http.get(optional_payments.url + "/pay")
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == 'Bearer realm="payments"'
        resp = http.get(optional_payments.url + "/pay", headers={"Authorization": "Bearer " + bound_token("orders", "ledger")})
        assert resp.status_code == 401 and resp.json()["detail"]["reason"] == "audience"


def test_check_certificate_binding_compares_the_whole_certificate() -> None:
    orders = pki.course_ca().issue("orders")
    claims = mtls.bind_to_certificate({"sub": "alice"}, orders.certificate)
    assert claims["cnf"] == {"x5t#S256": orders.x5t_s256}
    mtls.check_certificate_binding(claims, orders.der)
    for presented in (None, pki.course_ca().issue("ledger").der, pki.CourseCA("rogue").issue("orders").der):
        with pytest.raises(TokenRejected) as info:
            mtls.check_certificate_binding(claims, presented)
        assert info.value.reason == "cnf_mismatch"
    for cnf in (None, {}, {"x5t#S256": ""}, {"x5t#S256": 5}, "x", {"jkt": orders.x5t_s256}):
        with pytest.raises(TokenRejected, match="not bound"):
            mtls.check_certificate_binding({"sub": "alice", "cnf": cnf}, orders.der)


def test_plain_http_carries_no_tls_extension_so_no_peer() -> None:
    """Without TLS there is no certificate to trust, and no header can stand in for one."""
    app = payments_app()
    with services.start(app, name="plain", http=mtls.tls_scope_protocol()) as plain, httpx.Client(timeout=5) as http:
        forwarded = pki.course_ca().issue("orders").cert_pem().decode().strip().replace("\n", " ")
        resp = http.get(plain.url + "/whoami", headers={"X-Client-Cert": forwarded})
    assert resp.status_code == 401 and resp.json()["detail"]["reason"] == "no_client_certificate"


def test_sts_over_mtls_issues_a_token_only_its_client_can_use(pki_dir: Path, payments: services.Service) -> None:
    """tls_client_auth at the STS, then the bound token at payments: from orders it works, from ledger it does not."""
    import jwt

    from jwtlab.exchange import (
        ACCESS_TOKEN_TYPE,
        TOKEN_EXCHANGE_GRANT,
        Client,
        SecurityTokenService,
        TargetService,
        create_sts_app,
    )

    pki.course_ca().issue("sts").write(pki_dir)
    idp = ed25519_key("idp")
    sts = SecurityTokenService(
        issuer=ISSUER, clients={"orders": Client("orders", spiffe_id=pki.spiffe_id("orders"))},
        targets={"payments": TargetService("payments", frozenset({"payments:charge"}))},
        trusted_issuers={clock.DEMO_ISSUER: idp}, clock=clock.Clock(),
    )
    user = jwt.encode(clock.claims("alice", aud="orders", scope="payments:charge"), idp.signing_key, algorithm="EdDSA",
                      headers=idp.headers(typ="at+jwt"))
    config = mtls.server_ssl_config(pki_dir / "course-ca.crt", files(pki_dir, "sts"), require_client_cert=False)
    data = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": user, "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": "payments", "client_id": "orders"}
    with services.start(create_sts_app(sts), name="sts", **config) as sts_service:
        with client(pki_dir, "orders") as http:
            resp = http.post(sts_service.url + "/token", data=data)
            assert resp.status_code == 200, resp.text
            token = resp.json()["access_token"]
            assert http.get(payments.url + "/pay", headers={"Authorization": "Bearer " + token}).status_code == 200
        with client(pki_dir, "ledger") as http:
            stolen = http.get(payments.url + "/pay", headers={"Authorization": "Bearer " + token})
            assert stolen.status_code == 401 and stolen.json()["detail"]["reason"] == "cnf_mismatch"
            # ledger cannot get such a token either: its certificate is not orders'.
            assert http.post(sts_service.url + "/token", data=data).status_code == 401
        with client(pki_dir, None) as http:
            assert http.post(sts_service.url + "/token", data=data).json()["error"] == "invalid_client"


def test_jwtlab_pki_writes_the_ca_and_service_certificates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jwtlab.cli import main

    assert main(["pki", str(tmp_path / "certs"), "orders", "payments"]) == 0
    out = capsys.readouterr().out
    assert "spiffe://course.example/svc/orders" in out and pki.course_ca().issue("orders").x5t_s256 in out
    written = sorted(p.name for p in (tmp_path / "certs").iterdir())
    assert written == ["course-ca.crt", "orders.crt", "orders.key", "payments.crt", "payments.key"]
    assert (tmp_path / "certs" / "orders.key").stat().st_mode & 0o077 == 0  # private key readable by the owner only
    assert pki.spiffe_id_of((tmp_path / "certs" / "payments.crt").read_bytes()).endswith("/svc/payments")
    assert main(["pki", str(tmp_path / "bad"), "a/b"]) == 2
