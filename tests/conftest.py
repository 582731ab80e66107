"""Shared fixtures: the course's demo keys and clock, and a verifier preset for the demo issuer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
