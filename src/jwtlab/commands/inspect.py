"""`jwtlab inspect`: decode a token, warn, verify it with a key, and explain every failing check.

    jwtlab inspect TOKEN                          decode + warnings (no key: never called valid)
    pbpaste | jwtlab inspect                      the token from stdin (also `-`)
    jwtlab inspect TOKEN --jwks jwks.json --iss https://idp.example --aud orders-api --alg RS256

Exit codes: 0 valid, 1 invalid or unverified, 2 usage error. The logic lives in `jwtlab.inspect`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

from ..inspect import (
    ALGORITHMS,
    MAX_INPUT_BYTES,
    InspectUsageError,
    fetch_jwks,
    inspect_token,
    load_jwks_file,
    load_key_file,
    parse_now,
    secret_from_b64,
)
from ..verify import DEFAULT_REQUIRED_CLAIMS

USAGE_ERROR = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="decode, verify and explain a JWT",
        description="Decode a JWT, warn about risky contents, verify its signature with a key you give, check its "
        "claims, and explain every failing check with its fix. Signature validity and claim validity are "
        "reported separately. Exit code: 0 valid, 1 invalid or not verified, 2 usage error.",
    )
    parser.add_argument("token", nargs="?", default="-", help="the token, or - (default) to read it from stdin")
    keys = parser.add_argument_group("keys (any combination; without one the token is only decoded)")
    keys.add_argument("--secret", action="append", default=[], metavar="TEXT", help="HMAC secret as text")
    keys.add_argument("--secret-b64", action="append", default=[], metavar="B64",
                      help="HMAC secret as base64 or base64url (e.g. a JWK's k)")
    keys.add_argument("--key", action="append", default=[], metavar="FILE",
                      help="PEM public key, private key or certificate, or a JWK / JWK Set in JSON")
    keys.add_argument("--jwks", action="append", default=[], metavar="FILE|URL",
                      help="JWK Set file, or an http(s) URL fetched once (only when given)")
    keys.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a --jwks URL (default 5)")
    rules = parser.add_argument_group("rules (as jwtlab.verify_token applies them)")
    rules.add_argument("--alg", action="append", default=[], choices=ALGORITHMS, metavar="ALG",
                       help="allowed algorithm, repeatable (default: any, each key bound to its own type)")
    rules.add_argument("--iss", help="the exact issuer to require")
    rules.add_argument("--aud", help="this service's audience value to require")
    rules.add_argument("--typ", help="the header typ to require, e.g. at+jwt")
    rules.add_argument("--require", action="append", metavar="CLAIM",
                       help=f"required claim, repeatable (default: {' '.join(DEFAULT_REQUIRED_CLAIMS)}); --require none for none")
    rules.add_argument("--leeway", type=float, default=60.0, help="seconds of clock skew tolerated, 0-300 (default 60)")
    rules.add_argument("--now", help="check at this time instead of the clock: seconds since 1970 or ISO 8601")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object for machines")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour: auto (default) = only on a terminal and without NO_COLOR")
    parser.set_defaults(func=run)


def _read_token(arg: str) -> str:
    if arg != "-":
        return arg
    if sys.stdin is None or sys.stdin.isatty():
        raise InspectUsageError("give a token as an argument or pipe one in (jwtlab inspect - < token.txt)")
    data = sys.stdin.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InspectUsageError(f"the input is larger than {MAX_INPUT_BYTES} characters; that is no token")
    return data


def _collect_keys(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """Every key option → one list for `KeySet` (it accepts secrets, key objects, PEM text, JWKs and JWKS)."""
    keys: list[Any] = []
    labels: list[str] = []
    for text in args.secret:
        if text.lstrip().startswith(("-----BEGIN", "{", "ssh-")):
            raise InspectUsageError("--secret looks like a public key or JWK, not an HMAC secret: use --key")
        keys.append(text.encode("utf-8"))
        labels.append(f"--secret: HMAC secret of {len(keys[-1])} bytes")
    for text in args.secret_b64:
        keys.append(secret_from_b64(text))
        labels.append(f"--secret-b64: HMAC secret of {len(keys[-1])} bytes")
    for path in args.key:
        key, key_labels = load_key_file(path)
        keys.append(key)
        labels += key_labels
    for source in args.jwks:
        if "://" in source:
            key, key_labels = fetch_jwks(source, timeout=args.timeout)
        else:
            key, key_labels = load_jwks_file(source)
        keys.append(key)
        labels += key_labels
    return (keys or None), labels


def _width() -> int:
    """Wrap to the terminal (or to COLUMNS when set); a pipe gets one line per finding, for grep."""
    if os.environ.get("COLUMNS", "").isdigit():
        return max(40, int(os.environ["COLUMNS"]))
    return max(40, shutil.get_terminal_size().columns) if sys.stdout.isatty() else 0


def _use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def run(args: argparse.Namespace) -> int:
    try:
        if not 0 <= args.leeway <= 300:
            raise InspectUsageError("--leeway must be between 0 and 300 seconds (fix clocks, not the leeway)")
        if args.timeout <= 0 or args.timeout > 60:
            raise InspectUsageError("--timeout must be between 0 and 60 seconds")
        for name, value in (("--iss", args.iss), ("--aud", args.aud), ("--typ", args.typ)):
            if value is not None and not value:
                raise InspectUsageError(f"{name} must not be empty")
        now = parse_now(args.now) if args.now is not None else None
        required = DEFAULT_REQUIRED_CLAIMS if args.require is None else tuple(c for c in args.require if c != "none")
        token = _read_token(args.token)
        if not token.strip():
            raise InspectUsageError("the token is empty")
        keys, labels = _collect_keys(args)
    except InspectUsageError as exc:
        print(f"jwtlab inspect: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    report = inspect_token(token, keys, algorithms=args.alg or None, issuer=args.iss, audience=args.aud,
                           leeway=args.leeway, required=required, typ=args.typ, now=now, key_labels=labels)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=False))
    else:
        sys.stdout.write(report.render(color=_use_color(args.color), width=_width()))
    return report.exit_code
