"""The package as a learner installs it: a wheel in a fresh environment, without the course extra.

Builds the wheel from this checkout, installs it (dependencies pinned by requirements.lock) into a new
virtual environment, and runs the CLI from an empty folder: `--help`, `python -m jwtlab`, `inspect` on an
RFC 7515 example, then `init`, `labs`, `start` and `check` on the starter. Nothing here may need pytest
imported by the CLI itself, the course extra, or a checkout next to the working folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(UV is None, reason="needs uv to build and install")]


def run(*cmd: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh environment holding only the wheel and its runtime dependencies."""
    base = tmp_path_factory.mktemp("pkg")
    assert UV is not None
    run(UV, "build", "--wheel", "--no-build-isolation", "--python", sys.executable, "-o", base / "dist", cwd=ROOT)
    (wheel,) = (base / "dist").glob("jwtlab-*.whl")
    run(UV, "venv", "-q", "--python", sys.executable, base / "venv", cwd=base)
    python = base / "venv" / "bin" / "python"
    run(UV, "pip", "install", "-q", "--python", python, wheel, "-c", ROOT / "requirements.lock", cwd=base)
    installed_names = run(UV, "pip", "freeze", "--python", python, cwd=base).stdout.lower()
    assert "jupyterlab" not in installed_names and "ruff" not in installed_names  # no course extra
    return base / "venv" / "bin"


def test_help_and_module_entry_point(installed: Path, tmp_path: Path) -> None:
    out = run(installed / "jwtlab", "--help", cwd=tmp_path).stdout
    for command in ("inspect", "init", "labs", "start", "check", "hint", "reset", "solution", "pki", "up"):
        assert command in out
    assert "usage: jwtlab" in run(installed / "python", "-m", "jwtlab", "--help", cwd=tmp_path).stdout


def test_inspect_an_rfc_7515_example(installed: Path, tmp_path: Path) -> None:
    examples = json.loads((ROOT / "tests" / "data" / "rfc-examples.json").read_text(encoding="utf-8"))["examples"]
    example = next(e for e in examples if e["id"] == "rfc7515-a1")
    result = run(installed / "jwtlab", "inspect", "--color", "never", example["token"], cwd=tmp_path, check=False)
    assert "Traceback" not in result.stderr
    assert "HS256" in result.stdout and "joe" in result.stdout


def test_init_then_check_the_starter(installed: Path, tmp_path: Path) -> None:
    jwtlab = installed / "jwtlab"
    assert "wrote the labs" in run(jwtlab, "init", "ws", cwd=tmp_path).stdout
    workspace = tmp_path / "ws"
    assert "Protect an endpoint" in run(jwtlab, "labs", cwd=workspace).stdout
    run(jwtlab, "start", "protect-endpoint", cwd=workspace)
    result = run(jwtlab, "check", "protect-endpoint", cwd=workspace, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "0 of 8 tasks pass" in result.stdout
