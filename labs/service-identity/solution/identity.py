"""Lab 6 — Service identity: mTLS between two services, SPIFFE IDs, and certificate-bound tokens.

`payments` accepts calls from `orders` (and `billing`) only. A bearer token alone is not enough: anyone
who copies it can use it. Here every connection is mutual TLS — both sides present a certificate from
the course CA — and the service decides who may call by the peer's SPIFFE ID
(`spiffe://course.example/svc/<name>`), not by a header anyone can send. Tokens are bound to the
caller's certificate (RFC 8705): `cnf.x5t#S256` is the SHA-256 of the certificate, so a token copied by
another service is useless without that service's private key.

You write the TLS settings of both sides, the peer check and the binding check. The app is given. The
course toolkit's full versions are `jwtlab.mtls` and `jwtlab.pki`; read them after the lab.

The CA, the certificates and the token key are DEMO material published with the course.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from jwtlab import b64, keys, mtls, pki, services
from jwtlab.verify import TokenRejected, verify_token

ISSUER = "https://sts.course.example"
AUDIENCE = "payments"
TOKEN_KEY = keys.ed25519_key("sts")  # DEMO key of the STS that issues bound tokens
#: Who may call payments: its SPIFFE-ID allowlist.
CALLERS = (pki.spiffe_id("orders"), pki.spiffe_id("billing"))


class PeerRefused(Exception):
    """The caller is not let in: `status` 401 (no usable identity) or 403 (an identity not on the list)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- yours ------------------------------------------------------------------------------------------


def server_tls(ca_file: Path, files: pki.CertFiles) -> dict[str, Any]:
    """uvicorn's TLS settings for a server that *requires* a client certificate issued by the CA in `ca_file`.

    Keys: ssl_certfile, ssl_keyfile (the server's own certificate and key), ssl_ca_certs (whom to
    trust for client certificates) and ssl_cert_reqs.
    """
    # BEGIN SOLUTION server
    return {
        "ssl_certfile": str(files.certfile),
        "ssl_keyfile": str(files.keyfile),
        "ssl_ca_certs": str(ca_file),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    # END SOLUTION


def client_context(ca_file: Path, files: pki.CertFiles) -> ssl.SSLContext:
    """A client TLS context that trusts only the CA in `ca_file` and presents `files` as its certificate."""
    # BEGIN SOLUTION client
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(files.certfile), str(files.keyfile))
    return context
    # END SOLUTION


def authorise_peer(cert_der: bytes | None, allowed: Collection[str]) -> str:
    """The caller's SPIFFE ID if it is in `allowed`; else PeerRefused(401, ...) or PeerRefused(403, ...).

    `cert_der` is the certificate the TLS handshake verified (None when there was none).
    """
    # BEGIN SOLUTION peer
    if cert_der is None:
        raise PeerRefused(401, "no_client_certificate")
    try:
        ident = pki.spiffe_id_of(cert_der)
    except ValueError:
        raise PeerRefused(401, "no_spiffe_id") from None
    if ident not in allowed:
        raise PeerRefused(403, "forbidden_peer")
    return ident
    # END SOLUTION


def check_binding(claims: dict[str, Any], cert_der: bytes | None) -> None:
    """RFC 8705 §3: `cnf.x5t#S256` must be base64url(SHA-256(DER certificate presented on this connection)).

    Raise TokenRejected("cnf_mismatch", ...) for an unbound token, a missing certificate or another one.
    """
    # BEGIN SOLUTION binding
    cnf = claims.get("cnf")
    expected = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if not isinstance(expected, str) or cert_der is None:
        raise TokenRejected("cnf_mismatch", "The token is not bound, or no client certificate was presented.")
    presented = b64.encode(hashlib.sha256(cert_der).digest())
    if not hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8")):
        raise TokenRejected("cnf_mismatch", "The token is bound to another certificate.")
    # END SOLUTION


# --- given ------------------------------------------------------------------------------------------


def create_app() -> FastAPI:
    """payments: /healthz for anyone who completed the handshake,
    /whoami and /pay for allowed callers only."""
    app = FastAPI(title="payments", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/whoami")
    async def whoami(request: Request) -> JSONResponse:
        try:
            spiffe_id = authorise_peer(mtls.peer_certificate(request), CALLERS)
            return JSONResponse({"spiffe_id": spiffe_id})
        except PeerRefused as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.post("/pay")
    async def pay(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        cert = mtls.peer_certificate(request)
        header = authorization or ""
        token = header[7:] if header[:7].lower() == "bearer " else ""
        try:
            peer = authorise_peer(cert, CALLERS)
            claims = verify_token(
                token,
                TOKEN_KEY,
                issuer=ISSUER,
                audience=AUDIENCE,
                algorithms=["EdDSA"],
                typ="at+jwt",
            )
            check_binding(claims, cert)
        except PeerRefused as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        except TokenRejected as exc:
            challenge = (
                'Bearer realm="payments", error="invalid_token", '
                f'error_description="{exc.reason}"'
            )
            return JSONResponse(
                {"error": "invalid_token", "reason": exc.reason},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        return JSONResponse({"paid_for": claims["sub"], "peer": peer})

    return app


def start_payments(ca_file: Path, files: pki.CertFiles) -> services.Service:
    """payments on 127.0.0.1 with your TLS settings; the protocol class hands the
    peer certificate to the app."""
    return services.start(
        create_app(),
        name="payments",
        http=mtls.tls_scope_protocol(),
        **server_tls(ca_file, files),
    )
