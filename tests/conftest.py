"""Shared fixtures: the course's demo keys and clock, and a verifier preset for the demo issuer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


_FIGURES = ROOT / "_build" / "figures"
_session_started = 0.0


def pytest_sessionstart(session: pytest.Session) -> None:
    global _session_started
    import time

    _session_started = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show the figures the fault and load tests measured in this run (requests, failures, fetches)."""
    import json

    for path in sorted(_FIGURES.glob("*.json")) if _FIGURES.is_dir() else []:
        if path.stat().st_mtime < _session_started:
            continue
        terminalreporter.section(f"figures measured in this run ({path.stem})")
        for name, figures in json.loads(path.read_text(encoding="utf-8")).items():
            terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# -- the interop peers (tests/interop_peers.py), one per test module that asks for them --------------


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """oidc-provider on 127.0.0.1, stopped when the module's tests are done."""
    from interop_peers import OidcProvider

    op = OidcProvider(tmp_path_factory.mktemp("provider") / "provider.log")
    try:
        yield op
    finally:
        op.close()


@pytest.fixture(scope="module")
def jose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """npm jose in one long-lived Node.js process."""
    from interop_peers import JosePeer

    peer = JosePeer(tmp_path_factory.mktemp("jose") / "jose.log")
    try:
        yield peer
    finally:
        peer.close()
