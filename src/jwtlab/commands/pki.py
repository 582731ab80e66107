"""`jwtlab pki`: write the course CA and service certificates (DEMO keys) into a directory.

    jwtlab pki certs/                          the CA plus orders, payments, ledger, gateway, sts
    jwtlab pki certs/ orders payments          the CA plus the named services

Prints each service's SPIFFE ID and `x5t#S256` thumbprint. The files are what uvicorn takes
(`ssl_certfile`, `ssl_keyfile`, `ssl_ca_certs`); the logic lives in `jwtlab.pki`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_SERVICES = ("orders", "payments", "ledger", "gateway", "sts")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pki",
        help="write the course CA and service certificates (demo keys) into a directory",
        description="Write the course CA certificate and, per service, a certificate with a SPIFFE-style URI SAN "
        "(spiffe://course.example/svc/NAME) and its DEMO private key. Never use these keys for anything real.",
    )
    parser.add_argument("directory", type=Path, help="where to write NAME.crt / NAME.key (created if missing)")
    parser.add_argument("services", nargs="*", default=list(DEFAULT_SERVICES), help="service names")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pki import course_ca

    directory: Path = args.directory
    directory.mkdir(parents=True, exist_ok=True)
    ca = course_ca()
    print(f"CA certificate: {ca.write(directory).name}  (DEMO CA, trust it on loopback only)")
    for name in args.services:
        try:
            cert = ca.issue(name)
        except ValueError as exc:
            print(f"error: {exc}")
            return 2
        files = cert.write(directory)
        print(f"{cert.spiffe_id}  x5t#S256={cert.x5t_s256}  {files.certfile.name} {files.keyfile.name}")
    return 0
