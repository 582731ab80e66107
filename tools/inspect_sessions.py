"""Regenerate the `jwtlab inspect` sessions shown in the book (book/errors/sessions/*.txt).

The pages show real terminal output, never a hand-written imitation: each session below is run through the
real command (`jwtlab.cli.main`) with demo keys and a fixed `--now`, and a test fails when a stored session
no longer matches what the command prints.

    python tools/inspect_sessions.py
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

import jwt

from jwtlab import clock, keys
from jwtlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "book" / "errors" / "sessions"
NOW = "2026-01-01T00:00:00Z"
#: The book shows code blocks up to this many columns without scrolling.
WIDTH = 88


def _token(claims: dict) -> str:
    key = keys.rsa_key(0)
    return jwt.encode(claims, key.signing_key, algorithm="RS256", headers=key.headers(typ="at+jwt"))


def _sessions() -> dict[str, tuple[str, list[str]]]:
    """name → (the token, the arguments after `jwtlab inspect "$TOKEN"`)."""
    verify = ["--jwks", "jwks.json", "--alg", "RS256", "--iss", clock.DEMO_ISSUER, "--aud", clock.DEMO_AUDIENCE]
    return {
        "valid": (_token(clock.claims("alice", scope="orders:read")), [*verify, "--now", NOW]),
        "rejected": (
            _token(clock.claims("alice", aud="billing-api", issued=-1200, email="alice@example.com")),
            [*verify, "--now", NOW],
        ),
        "skew": (_token(clock.claims("alice", issued=150)), ["--now", NOW]),
    }


def _command_lines(args: list[str]) -> str:
    """The command as typed, continued with backslashes so that no line is wider than the book's column."""
    lines, line = [], '$ jwtlab inspect "$TOKEN"'
    words = [" ".join(map(shlex.quote, args[i:i + 2])) for i in range(0, len(args), 2)]
    for word in words:
        if len(line) + len(word) + 3 > WIDTH:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line += " " + word
    return "\n".join([*lines, line])


def render(name: str) -> str:
    """Run one session in a scratch folder holding the demo JWKS and return it as a terminal transcript."""
    token, args = _sessions()[name]
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "jwks.json").write_text(json.dumps(keys.jwks(keys.rsa_key(0))), encoding="utf-8")
        cwd = os.getcwd()
        os.chdir(tmp)
        os.environ["COLUMNS"] = str(WIDTH)
        try:
            with contextlib.redirect_stdout(out):
                code = main(["inspect", token, *args])
        finally:
            os.chdir(cwd)
            os.environ.pop("COLUMNS", None)
    return f"{_command_lines(args)}\n{out.getvalue()}$ echo $?\n{code}\n"


def names() -> list[str]:
    return list(_sessions())


def write() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name in names():
        (OUTPUT / f"{name}.txt").write_text(render(name), encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(ROOT) / (name + '.txt')}")


if __name__ == "__main__":
    write()
    sys.exit(0)
