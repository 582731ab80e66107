"""The course CA: service certificates with SPIFFE-style identities, for mTLS and certificate-bound tokens.

DEMO ONLY. Every key here comes from `jwtlab.keys` (published seeds), so anyone can impersonate any
course service; that is fine for loopback demos and fatal anywhere else.

Why these choices:
- Ed25519 keys and signatures are deterministic, so a service's certificate — and therefore its
  `x5t#S256` thumbprint — is byte-for-byte the same on every run and machine (notebook outputs stay
  stable). P-256 would make every certificate different, because ECDSA signatures are randomised.
- TLS stacks check certificates against the *wall* clock, not the course clock, so validity is a fixed
  window (2025-01-01 to 2035-01-01) that covers both the course's `COURSE_NOW` (2026-01-01) and today.
- The identity lives in a URI SAN `spiffe://course.example/svc/<name>` (the SPIFFE X.509-SVID rule:
  exactly one URI SAN), not in the Common Name, which browsers and SPIFFE ignore. `DNS:localhost` and
  `IP:127.0.0.1` SANs let the same certificate serve TLS on loopback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import b64
from .keys import DemoKey, ed25519_key

__all__ = [
    "TRUST_DOMAIN", "NOT_BEFORE", "NOT_AFTER", "CertFiles", "ServiceCert", "CourseCA",
    "spiffe_id", "spiffe_id_of", "x5t_s256", "load_certificate", "course_ca",
]

#: The course's SPIFFE trust domain.
TRUST_DOMAIN = "course.example"
#: Fixed validity window: covers the course clock (2026-01-01) and the real date TLS checks against.
NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)


def spiffe_id(service: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """The SPIFFE ID of a course service: `spiffe://course.example/svc/<service>`."""
    if not service or "/" in service or not service.isascii():
        raise ValueError(f"a service name is one ASCII path segment, not {service!r}")
    return f"spiffe://{trust_domain}/svc/{service}"


def _serial(label: str) -> int:
    """A deterministic, positive serial number below 2^159 (RFC 5280 allows at most 20 octets)."""
    return int.from_bytes(hashlib.sha256(b"jwtlab serial: " + label.encode()).digest()[:19], "big") | 1


def load_certificate(cert: x509.Certificate | bytes | str) -> x509.Certificate:
    """A certificate object from an object, DER bytes or PEM text/bytes."""
    if isinstance(cert, x509.Certificate):
        return cert
    data = cert.encode("ascii") if isinstance(cert, str) else cert
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def x5t_s256(cert: x509.Certificate | bytes | str) -> str:
    """RFC 8705 / RFC 7515 `x5t#S256`: base64url (no padding) of SHA-256 over the DER certificate.

    It hashes the whole certificate, not the public key: a re-issued certificate with the same key gets
    a new thumbprint, so tokens bound to the old one stop working — that is RFC 8705's choice.
    """
    der = load_certificate(cert).public_bytes(serialization.Encoding.DER)
    return b64.encode(hashlib.sha256(der).digest())


def spiffe_id_of(cert: x509.Certificate | bytes | str, trust_domain: str | None = TRUST_DOMAIN) -> str:
    """The SPIFFE ID in a certificate's URI SAN; ValueError unless there is exactly one, in `trust_domain`.

    An X.509-SVID carries exactly one URI SAN. Accepting "the first spiffe:// URI" of several would let
    a CA mistake (or a crafted CSR) smuggle in a second identity, so more than one is an error.
    """
    certificate = load_certificate(cert)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValueError("the certificate has no subjectAltName, so no SPIFFE ID") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1 or not uris[0].startswith("spiffe://"):
        raise ValueError(f"an X.509-SVID has exactly one spiffe:// URI SAN; this certificate has {uris!r}")
    if trust_domain is not None and not uris[0].startswith(f"spiffe://{trust_domain}/"):
        raise ValueError(f"{uris[0]!r} is not in the trust domain {trust_domain!r}")
    return uris[0]


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertFiles:
    """PEM files as uvicorn and `ssl.SSLContext.load_cert_chain` take them."""

    certfile: Path
    keyfile: Path


@dataclass(frozen=True)
class ServiceCert:
    """A service's certificate and (demo) private key."""

    name: str
    spiffe_id: str
    certificate: x509.Certificate
    key: DemoKey = field(repr=False)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def x5t_s256(self) -> str:
        """The thumbprint a certificate-bound token carries in `cnf`."""
        return x5t_s256(self.certificate)

    def cert_pem(self) -> bytes:
        return _pem(self.certificate)

    def key_pem(self) -> bytes:
        return self.key.private_pem()

    def write(self, directory: str | Path) -> CertFiles:
        """Write `<name>.crt` and `<name>.key` (mode 0600) into `directory`, e.g. a temporary one."""
        directory = Path(directory)
        certfile, keyfile = directory / f"{self.name}.crt", directory / f"{self.name}.key"
        certfile.write_bytes(self.cert_pem())
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(self.key_pem())
        return CertFiles(certfile, keyfile)


class CourseCA:
    """A one-level CA that signs service certificates. `CourseCA("rogue")` is a second, untrusted CA.

    The root key is the demo key `ed25519_key("ca/<name>")`; service keys are `ed25519_key("svc/<name>")`
    (a rogue CA's services get keys of their own, so its certificates share nothing with the course's).
    """

    def __init__(self, name: str = "course-ca", *, trust_domain: str = TRUST_DOMAIN) -> None:
        self.name = name
        self.trust_domain = trust_domain
        self.key = ed25519_key(f"ca/{name}")
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JWT in Microservices (DEMO CA)"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ])
        public = self.key.public_key
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(_serial(f"ca/{name}"))
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key.private_key, None)
        )

    def cert_pem(self) -> bytes:
        return _pem(self.certificate)

    def write(self, directory: str | Path) -> Path:
        """Write the CA certificate (the trust anchor peers load with `ssl_ca_certs`) into `directory`."""
        path = Path(directory) / f"{self.name}.crt"
        path.write_bytes(self.cert_pem())
        return path

    def issue(self, service: str) -> ServiceCert:
        """A certificate for `service` valid for TLS server and client use on loopback."""
        key = ed25519_key(f"svc/{service}" if self.name == "course-ca" else f"svc/{self.name}/{service}")
        ident = spiffe_id(service, self.trust_domain)
        public: ed25519.Ed25519PublicKey = key.public_key
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(_serial(f"{self.name}/svc/{service}"))
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
            .add_extension(
                x509.SubjectAlternativeName([
                    x509.UniformResourceIdentifier(ident),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key), critical=False
            )
            .sign(self.key.private_key, None)
        )
        return ServiceCert(service, ident, cert, key)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    flags: dict[str, Any] = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only",
         "decipher_only"),
        False,
    )
    return x509.KeyUsage(digital_signature=not cert_sign, key_cert_sign=cert_sign, crl_sign=cert_sign, **flags)


@cache
def course_ca() -> CourseCA:
    """The course's CA (built once per process; it is deterministic anyway)."""
    return CourseCA()

