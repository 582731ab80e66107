"""`jwtlab up` starts the Part IV stack, checks it end to end and stops cleanly."""

from __future__ import annotations

import pytest

from jwtlab.cli import main

pytestmark = pytest.mark.network


def test_up_runs_checks_itself_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "self-check: token 200, alice → gateway → orders 200" in out
    assert "gateway            http://127.0.0.1:" in out
    assert "curl -s http://127.0.0.1:" in out
