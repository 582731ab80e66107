"""Checks of lab 6 — Service identity. Each test belongs to one task of labs/labs.toml.

Real TLS handshakes on 127.0.0.1. Each task is judged on its own: your server settings are tested with
the toolkit's client contexts, your client context against a server configured by the toolkit, and your
peer and binding checks inside the given app served with the toolkit's settings.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from jwtlab import b64, mtls, pki, services
from jwtlab.labs.target import lab_module
from jwtlab.verify import TokenRejected

LAB = Path(__file__).resolve().parents[1]
lab = lab_module("identity", LAB)

CA = pki.course_ca()
NAMES = ("payments", "orders", "billing", "ledger")


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    CA.write(directory)
    for name in NAMES:
        CA.issue(name).write(directory)
    rogue = pki.CourseCA("rogue")
    rogue.write(directory)
    (directory / "rogue").mkdir()
    for name in ("orders", "payments"):
        rogue.issue(name).write(directory / "rogue")  # the same names and SPIFFE IDs, signed by another CA
    return directory


def files(directory: Path, name: str) -> pki.CertFiles:
    return pki.CertFiles(directory / f"{name}.crt", directory / f"{name}.key")


def toolkit_client(pki_dir: Path, name: str | None, directory: Path | None = None) -> httpx.Client:
    cert = files(directory or pki_dir, name) if name else None
    return httpx.Client(verify=mtls.client_ssl_context(pki_dir / "course-ca.crt", cert), timeout=5)


def echo_app() -> FastAPI:
    app = FastAPI(title="echo")

    @app.get("/peer")
    async def peer(request: Request) -> dict[str, Any]:
        der = mtls.peer_certificate(request)
        return {"spiffe_id": pki.spiffe_id_of(der) if der else None}

    return app


@pytest.fixture(scope="session")
def your_server(pki_dir: Path) -> Iterator[services.Service]:
    with lab.start_payments(pki_dir / "course-ca.crt", files(pki_dir, "payments")) as service:
        yield service


@pytest.fixture(scope="session")
def reference(pki_dir: Path) -> Iterator[dict[str, services.Service]]:
    ca = pki_dir / "course-ca.crt"
    payments = files(pki_dir, "payments")
    started = {
        "payments": services.start(lab.create_app(), name="payments", **mtls.server_ssl_config(ca, payments)),
        "optional": services.start(lab.create_app(), name="optional",
                                   **mtls.server_ssl_config(ca, payments, require_client_cert=False)),
        "echo": services.start(echo_app(), name="echo", **mtls.server_ssl_config(ca, payments)),
        "rogue": services.start(echo_app(), name="rogue",
                                **mtls.server_ssl_config(pki_dir / "rogue.crt", files(pki_dir / "rogue", "payments"))),
    }
    try:
        yield started
    finally:
        services.stop_all(started.values())


# --- server ---------------------------------------------------------------------------------------


@pytest.mark.task("server")
def test_server_settings_require_a_client_certificate(pki_dir: Path) -> None:
    config = lab.server_tls(pki_dir / "course-ca.crt", files(pki_dir, "payments"))
    assert config.get("ssl_cert_reqs") == ssl.CERT_REQUIRED, \
        "ssl_cert_reqs must be ssl.CERT_REQUIRED: CERT_OPTIONAL lets a caller without a certificate in"
    assert Path(config.get("ssl_ca_certs", "")).name == "course-ca.crt", "client certificates are checked against the course CA only"


@pytest.mark.task("server")
def test_your_server_admits_a_course_certificate(pki_dir: Path, your_server: services.Service) -> None:
    assert your_server.scheme == "https", "the server must speak TLS: give it ssl_certfile and ssl_keyfile"
    with toolkit_client(pki_dir, "orders") as http:
        resp = http.get(your_server.url + "/healthz")
    assert resp.status_code == 200, f"orders with a course certificate got {resp.status_code}"


@pytest.mark.task("server")
@pytest.mark.parametrize("who", ["other CA", "no certificate"])
def test_your_server_refuses_other_certificates(pki_dir: Path, your_server: services.Service, who: str) -> None:
    client = toolkit_client(pki_dir, "orders", pki_dir / "rogue") if who == "other CA" else toolkit_client(pki_dir, None)
    with client as http:
        try:
            resp = http.get(your_server.url + "/healthz")
        except httpx.HTTPError:
            return
    raise AssertionError(f"a client with {who} completed the handshake and got {resp.status_code}: require a course certificate")


# --- client ---------------------------------------------------------------------------------------


@pytest.mark.task("client")
def test_your_client_presents_its_certificate(pki_dir: Path, reference: dict[str, services.Service]) -> None:
    context = lab.client_context(pki_dir / "course-ca.crt", files(pki_dir, "orders"))
    assert isinstance(context, ssl.SSLContext), "client_context must return an ssl.SSLContext"
    with httpx.Client(verify=context, timeout=5) as http:
        resp = http.get(reference["echo"].url + "/peer")
    assert resp.status_code == 200 and resp.json() == {"spiffe_id": pki.spiffe_id("orders")}, \
        f"the server should see orders' SPIFFE ID, saw {resp.text[:120]}"


@pytest.mark.task("client")
def test_your_client_refuses_a_server_from_another_ca(pki_dir: Path, reference: dict[str, services.Service]) -> None:
    context = lab.client_context(pki_dir / "course-ca.crt", files(pki_dir, "orders"))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname, "the client must verify the server"
    with httpx.Client(verify=context, timeout=5) as http:
        try:
            http.get(reference["rogue"].url + "/peer")
        except httpx.ConnectError:
            return
    raise AssertionError("your client talked to a server whose certificate comes from another CA")


# --- peer -----------------------------------------------------------------------------------------


def refused(cert: bytes | None) -> tuple[int, str]:
    try:
        lab.authorise_peer(cert, lab.CALLERS)
    except lab.PeerRefused as exc:
        return exc.status, exc.reason
    raise AssertionError("authorise_peer let the caller in")


@pytest.mark.task("peer")
def test_authorise_peer_admits_the_listed_callers() -> None:
    for name in ("orders", "billing"):
        assert lab.authorise_peer(CA.issue(name).der, lab.CALLERS) == pki.spiffe_id(name), \
            f"{name}'s certificate must be admitted and its SPIFFE ID returned"


@pytest.mark.task("peer")
def test_authorise_peer_refuses_everyone_else() -> None:
    assert refused(None) == (401, "no_client_certificate"), "no certificate: PeerRefused(401, 'no_client_certificate')"
    foreign = pki.CourseCA("other", trust_domain="other.example").issue("orders").der
    assert refused(foreign) == (401, "no_spiffe_id"), "an ID outside the trust domain: PeerRefused(401, 'no_spiffe_id')"
    assert refused(CA.issue("ledger").der) == (403, "forbidden_peer"), \
        "a course certificate not on the list: PeerRefused(403, 'forbidden_peer') — authenticated is not authorised"


@pytest.mark.task("peer")
def test_peers_over_https(pki_dir: Path, reference: dict[str, services.Service]) -> None:
    with toolkit_client(pki_dir, "orders") as http:
        resp = http.get(reference["payments"].url + "/whoami")
    assert resp.status_code == 200 and resp.json()["spiffe_id"] == pki.spiffe_id("orders"), f"orders got {resp.status_code}"
    with toolkit_client(pki_dir, "ledger") as http:
        assert http.get(reference["payments"].url + "/whoami").status_code == 403, "ledger is not an allowed caller"
    with toolkit_client(pki_dir, None) as http:
        resp = http.get(reference["optional"].url + "/whoami")
    assert resp.status_code == 401, f"no certificate on a server that does not require one: expected 401, got {resp.status_code}"


# --- binding --------------------------------------------------------------------------------------


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": lab.ISSUER, "sub": "alice", "aud": lab.AUDIENCE, "iat": now, "exp": now + 300, **extra}


def mismatch(token_claims: dict[str, Any], cert: bytes | None) -> None:
    try:
        lab.check_binding(token_claims, cert)
    except TokenRejected as exc:
        assert exc.reason == "cnf_mismatch", f"the reason must be cnf_mismatch, was {exc.reason!r}"
        return
    raise AssertionError(f"check_binding accepted cnf={token_claims.get('cnf')!r}")


@pytest.mark.task("binding")
def test_binding_accepts_the_certificate_it_names() -> None:
    orders = CA.issue("orders")
    assert lab.check_binding(mtls.bind_to_certificate(claims(), orders.der), orders.der) is None


@pytest.mark.task("binding")
def test_binding_refuses_everything_else() -> None:
    orders, billing = CA.issue("orders"), CA.issue("billing")
    bound = mtls.bind_to_certificate(claims(), orders.der)
    mismatch(bound, billing.der)  # a stolen token, another client
    mismatch(bound, None)  # no certificate
    mismatch(claims(), orders.der)  # not bound at all: no fallback to bearer
    mismatch(claims(cnf="x"), orders.der)
    mismatch(claims(cnf={"x5t#S256": None}), orders.der)
    mismatch(claims(cnf={"x5t#S256": hashlib.sha256(orders.der).hexdigest()}), orders.der)  # hex, not base64url
    mismatch(claims(cnf={"x5t#S256": b64.encode(hashlib.sha256(orders.cert_pem()).digest())}), orders.der)  # of the PEM
    mismatch(claims(cnf={"x5t#S256": "é" + orders.x5t_s256[1:]}), orders.der)


@pytest.mark.task("binding")
def test_bound_tokens_over_https(pki_dir: Path, reference: dict[str, services.Service]) -> None:
    token = mtls.mint_bound_token(claims(), CA.issue("orders").der, lab.TOKEN_KEY)
    url = reference["payments"].url + "/pay"
    auth = {"Authorization": f"Bearer {token}"}
    with toolkit_client(pki_dir, "orders") as http:
        ok = http.post(url, headers=auth)
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        tampered = http.post(url, headers={"Authorization": f"Bearer {forged}"})
    assert ok.status_code == 200 and ok.json() == {"paid_for": "alice", "peer": pki.spiffe_id("orders")}, \
        f"a token bound to orders' certificate, from orders: expected 200, got {ok.status_code} {ok.text[:120]}"
    assert tampered.status_code == 401
    with toolkit_client(pki_dir, "billing") as http:
        stolen = http.post(url, headers=auth)
    assert stolen.status_code == 401 and stolen.json().get("reason") == "cnf_mismatch", \
        f"orders' token presented by billing: expected 401 cnf_mismatch, got {stolen.status_code} {stolen.text[:120]}"
    with toolkit_client(pki_dir, "ledger") as http:
        assert http.post(url, headers=auth).status_code == 403, "ledger may not call /pay at all"
