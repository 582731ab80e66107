"""The doors a learner uses besides a clone: Colab, Binder, the published book, a devcontainer.

None of them can be opened from a test (they are other people's machines), so this checks what each one
reads: the first cell of every notebook (Colab installs the toolkit there and only there), the single
repository setting that the buttons and those cells share, Binder's Python, and the publish workflow's
triggers and gates.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import repository  # noqa: E402

COLAB_CELL = '''# On Google Colab this cell installs the course toolkit; anywhere else it does nothing.
import subprocess
import sys

COURSE_REPOSITORY = "{url}"
if "google.colab" in sys.modules:
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"jwtlab @ git+{{COURSE_REPOSITORY}}"], check=True)'''


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_the_toolkit_on_colab_only(path: Path) -> None:
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    assert first["cell_type"] == "code"
    assert "".join(first["source"]).strip() == COLAB_CELL.format(url=repository.configured())
    assert "remove-cell" in first["metadata"].get("tags", []), "the book should not show the install cell"
    assert first["outputs"] == [], "outside Colab the cell must print nothing"


def test_the_colab_cell_does_nothing_here() -> None:
    """Run the cell's code in a fresh interpreter: without google.colab it must not call pip."""
    code = COLAB_CELL.format(url=repository.configured()).replace(
        "import subprocess", "import subprocess\nsubprocess.run = lambda *a, **k: (_ for _ in ()).throw(SystemExit(3))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_every_place_agrees_with_the_one_repository_setting() -> None:
    assert repository.problems() == []


def test_publishing_refuses_the_placeholder_and_a_different_repository() -> None:
    url = repository.configured()
    assert repository.problems(expect=url) == []
    other = "https://github.com/someone-else/fork"
    assert any("tools/repository.py set" in p for p in repository.problems(expect=other))


def test_binder_uses_a_python_the_lock_supports() -> None:
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    major, minor = map(int, re.fullmatch(r"python-(\d+)\.(\d+)", runtime).groups())
    assert (major, minor) >= (3, 11)
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "-r ../requirements.lock" in requirements


def _workflow(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads a bare `on:` as True
    return data


def test_publishing_runs_on_main_and_by_hand_only_and_is_gated_by_the_tests() -> None:
    flow = _workflow("publish.yml")
    assert set(flow["on"]) == {"push", "workflow_dispatch"}
    assert flow["on"]["push"] == {"branches": ["main"]}, "tags are refused by the github-pages environment"
    jobs = flow["jobs"]
    assert jobs["build"]["needs"] == "test" and jobs["deploy"]["needs"] == "build"
    assert any("bash .ci/run" in step.get("run", "") for step in jobs["test"]["steps"])
    assert any("tools/repository.py check --expect" in step.get("run", "") for step in jobs["build"]["steps"])
    assert any("./course book" in step.get("run", "") for step in jobs["build"]["steps"])
    for job in jobs.values():
        assert job.get("timeout-minutes"), "every job has a timeout"


@pytest.mark.parametrize("name", ["publish.yml", "test.yml"])
def test_workflows_use_current_actions_and_the_locked_python(name: str) -> None:
    flow = _workflow(name)
    minimum = {"actions/checkout": 5, "actions/setup-python": 6, "actions/cache": 5, "actions/setup-node": 5,
               "actions/upload-pages-artifact": 4, "actions/deploy-pages": 5}
    pythons = set()
    for job in flow["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                action, version = step["uses"].split("@")
                assert int(version.lstrip("v").split(".")[0]) >= minimum[action], step["uses"]
                if action == "actions/setup-python":
                    pythons.add(step["with"]["python-version"])
    assert "3.11" in pythons, "the lock file targets Python 3.11"
    assert (flow.get("env", {}).get("JWTLAB_PYTHON") or all(
        j.get("env", {}).get("JWTLAB_PYTHON") for j in flow["jobs"].values()
    )), "./course must use the Python the workflow set up (JWTLAB_PYTHON)"


def test_notebooks_also_run_on_python_3_13_in_the_workflow() -> None:
    job = _workflow("test.yml")["jobs"]["notebooks-python-3-13"]
    assert job["env"]["JWTLAB_PYTHON"] == "python3.13"
    assert any("--nbval" in step.get("run", "") for step in job["steps"])


def test_devcontainer_has_the_locked_environment_and_chromium() -> None:
    config = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert "./course setup" in config["postCreateCommand"]
    assert {8765, 8888} <= set(config["forwardPorts"])
    dockerfile = (ROOT / ".devcontainer" / "Dockerfile").read_text()
    assert "chromium" in dockerfile and "python:3.11" in dockerfile
