"""mTLS between course services: the verified client certificate inside FastAPI, and RFC 8705 bound tokens.

The problem: uvicorn (0.54 here) verifies a client certificate when started with
`ssl_cert_reqs=ssl.CERT_REQUIRED`, but does not hand it to the application — the ASGI TLS extension
(`scope["extensions"]["tls"]`) is specified, yet uvicorn's pull requests for it are still open. The
certificate is only on the connection: `transport.get_extra_info("ssl_object").getpeercert(binary_form=True)`.

The fix here: a subclass of uvicorn's own HTTP protocol class (passed as `http=` to uvicorn) that, once per
connection, reads the peer certificate from the TLS object and adds the ASGI TLS extension to every
request scope on that connection. The application reads the standard extension only, so when uvicorn
ships it natively the protocol class can simply be dropped (an extension uvicorn already set is never
overwritten). Why not a header such as `X-Client-Cert`? Anything in a header can be sent by the client;
this module never reads one (a proxy that terminates TLS must strip and re-set it, see the gateway).

A certificate only reaches the app after the TLS handshake verified it against `ssl_ca_certs`: a
certificate from another CA, or none at all, fails the handshake under CERT_REQUIRED; under CERT_NONE
no certificate is requested, and the extension then carries an empty chain.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from fastapi import HTTPException, Request
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from . import pki
from .keys import DemoKey
from .pki import CertFiles
from .verify import TokenRejected, verify_token

__all__ = [
    "tls_scope_protocol", "server_ssl_config", "client_ssl_context", "Peer", "peer_certificate",
    "require_peer", "allow_peers", "bind_to_certificate", "mint_bound_token", "check_certificate_binding",
    "bound_token_dependency",
]


def _tls_extension(transport: Any) -> dict[str, Any] | None:
    """The ASGI TLS extension (spec 0.2) for one connection, or None on a plain-HTTP connection."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    # Under CERT_NONE a client is never asked for a certificate; never report an unverified one anyway.
    verified = ssl_object.context.verify_mode != ssl.CERT_NONE
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der and verified else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,  # the leaf only: Python < 3.13 cannot return the verified chain
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


class _TLSScopeApp:
    """Wraps the app for one connection, adding the connection's TLS extension to each scope."""

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault("extensions", {}).setdefault("tls", self.tls)
        await self.app(scope, receive, send)


@cache
def tls_scope_protocol(base: type = AutoHTTPProtocol) -> type:
    """uvicorn's HTTP protocol class `base`, extended to publish the ASGI TLS extension per connection.

    Pass it as `http=` to uvicorn (`server_ssl_config` does). Subclassing keeps every uvicorn behaviour
    (keep-alive, limits, shutdown); only `connection_made` changes, once per connection.
    """

    class TLSScopeProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            tls = _tls_extension(transport)
            if tls is not None:
                self.app = _TLSScopeApp(self.app, tls)

    TLSScopeProtocol.__name__ = TLSScopeProtocol.__qualname__ = f"TLSScope{base.__name__}"
    return TLSScopeProtocol


def server_ssl_config(ca_file: str | Path, files: CertFiles, *, require_client_cert: bool = True) -> dict[str, Any]:
    """Keyword arguments for `jwtlab.services.start` / `uvicorn.Config`: TLS with client certificates.

    `require_client_cert=False` asks for a certificate but lets the app decide (CERT_OPTIONAL), which is
    how the 401 answers for a missing certificate can be shown; mTLS proper uses CERT_REQUIRED.
    """
    return {
        "ssl_certfile": str(files.certfile),
        "ssl_keyfile": str(files.keyfile),
        "ssl_ca_certs": str(ca_file),
        "ssl_cert_reqs": ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL,
        "http": tls_scope_protocol(),
    }


def client_ssl_context(ca_file: str | Path, files: CertFiles | None = None) -> ssl.SSLContext:
    """A client context trusting only the course CA, presenting `files` as the client certificate.

    Give it to `httpx.Client(verify=...)`. Only `ca_file` is trusted (no system roots): a service
    certificate from any other CA is refused, which is the point of a private trust domain.
    """
    context = ssl.create_default_context(cafile=str(ca_file))
    if files is not None:
        context.load_cert_chain(str(files.certfile), str(files.keyfile))
    return context


@dataclass(frozen=True)
class Peer:
    """The verified caller of this request: its DER certificate, SPIFFE ID and `x5t#S256` thumbprint."""

    der: bytes
    spiffe_id: str
    x5t_s256: str


def peer_certificate(request: Request) -> bytes | None:
    """The DER client certificate the TLS handshake verified for this request, or None."""
    tls = (request.scope.get("extensions") or {}).get("tls")
    if not tls or not tls.get("client_cert_chain"):
        return None
    return ssl.PEM_cert_to_DER_cert(tls["client_cert_chain"][0])


def _unauthorized(error: str, description: str, reason: str | None = None, challenge: str | None = None) -> HTTPException:
    detail: dict[str, Any] = {"error": error, "error_description": description}
    if reason is not None:
        detail["reason"] = reason
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return HTTPException(status_code=401, detail=detail, headers=headers)


async def require_peer(request: Request) -> Peer:
    """FastAPI dependency: the verified peer, or 401 when no certificate / no SPIFFE ID was presented."""
    der = peer_certificate(request)
    if der is None:
        raise _unauthorized("invalid_client", "A verified client certificate is required.", "no_client_certificate")
    try:
        ident = pki.spiffe_id_of(der)
    except ValueError:
        raise _unauthorized("invalid_client", "The client certificate carries no usable SPIFFE ID.", "no_spiffe_id") from None
    return Peer(der, ident, pki.x5t_s256(der))


def allow_peers(*spiffe_ids: str) -> Callable[[Request], Awaitable[Peer]]:
    """A dependency that admits only these SPIFFE IDs (403 for any other verified peer).

    Authenticating the peer (the CA signed it) is not authorising it: every course service holds a
    certificate from the same CA, so each endpoint names the callers it serves.
    """
    allowed = frozenset(spiffe_ids)

    async def dependency(request: Request) -> Peer:
        peer = await require_peer(request)
        if peer.spiffe_id not in allowed:
            raise HTTPException(status_code=403, detail={"error": "forbidden_peer", "peer": peer.spiffe_id})
        return peer

    return dependency


def bind_to_certificate(claims: dict[str, Any], cert: Any) -> dict[str, Any]:
    """`claims` plus `cnf: {"x5t#S256": ...}` (RFC 8705 §3.1) for the certificate `cert` (object/DER/PEM)."""
    return {**claims, "cnf": {"x5t#S256": pki.x5t_s256(cert)}}


def mint_bound_token(claims: dict[str, Any], cert: Any, key: DemoKey, *, typ: str = "at+jwt") -> str:
    """Sign an access token bound to `cert`: only a client presenting that certificate may use it."""
    return jwt.encode(bind_to_certificate(claims, cert), key.signing_key, algorithm=key.alg, headers=key.headers(typ=typ))


def check_certificate_binding(claims: dict[str, Any], cert_der: bytes | None) -> None:
    """RFC 8705 §3: `cnf.x5t#S256` must equal SHA-256 of the certificate presented on this connection.

    Raises `TokenRejected("cnf_mismatch")` when the token is bound and the certificate is missing or
    another one, and also when the token is not bound at all: an endpoint that demands bound tokens
    must not fall back to bearer semantics, or a stolen unbound token would still work.
    """
    cnf = claims.get("cnf")
    expected = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if not isinstance(expected, str) or not expected:
        raise TokenRejected("cnf_mismatch", "The token is not bound to a certificate (no cnf.x5t#S256).", claims=claims)
    if cert_der is None:
        raise TokenRejected("cnf_mismatch", "The token is certificate-bound, but no client certificate was presented.",
                            claims=claims)
    if not hmac.compare_digest(expected.encode("ascii", "replace"), pki.x5t_s256(cert_der).encode("ascii")):
        raise TokenRejected("cnf_mismatch", "The token is bound to another certificate than the one presented.",
                            claims=claims)


def _bearer(request: Request, realm: str) -> str:
    values = request.headers.getlist("authorization")
    if not values:
        raise _unauthorized("invalid_request", "No access token.", challenge=f'Bearer realm="{realm}"')
    scheme, _, token = values[0].partition(" ")
    if len(values) > 1 or scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise HTTPException(status_code=400, detail={"error": "invalid_request", "error_description": "Send one Bearer token."})
    return token.strip()


def bound_token_dependency(
    keys: Any,
    *,
    issuer: str,
    audience: str,
    algorithms: Collection[str] = ("EdDSA",),
    now: Callable[[], float] | None = None,
    realm: str | None = None,
) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """A FastAPI dependency returning the claims of a valid access token bound to the caller's certificate.

    Every failure — bad token, wrong certificate, no certificate — is a 401 `invalid_token` with a reason
    code in the body and in the challenge (RFC 6750 §3, RFC 8705 §3); the token is never echoed.
    """
    realm = realm or audience

    async def dependency(request: Request) -> dict[str, Any]:
        token = _bearer(request, realm)
        try:
            claims = verify_token(token, keys, issuer=issuer, audience=audience, algorithms=algorithms,
                                  typ="at+jwt", now=now() if now is not None else None)
            check_certificate_binding(claims, peer_certificate(request))
        except TokenRejected as exc:
            raise _unauthorized(
                "invalid_token", exc.message, exc.reason,
                challenge=f'Bearer realm="{realm}", error="invalid_token", error_description="{exc.reason}"',
            ) from None
        return claims

    return dependency
