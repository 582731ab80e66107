"""The labs guard: every reference solution passes every task with 100 % branch coverage from its own
checks, and every generated starter fails every task that has code to write.

A check that cannot fail is a defect: if the starter passed a task, that task's checks would prove
nothing. A solution branch no check reaches is code nobody has shown to be right.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jwtlab.labs import manifest
from jwtlab.labs.generate import generate_starter
from jwtlab.labs.runner import run_checks

pytestmark = [pytest.mark.network, pytest.mark.slow]

LABS = manifest.load().labs


def failures(run: object) -> str:
    return "\n".join(f"{t.task}: {'; '.join(t.failures[:3])}" for t in run.tasks if not t.passed)  # type: ignore[attr-defined]


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_solution_passes_every_task_with_full_branch_coverage(lab: manifest.Lab, tmp_path: Path) -> None:
    data_file = tmp_path / ".coverage"
    files = [str(lab.solution_dir / f) for f in lab.files]
    python = [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data_file}", f"--include={','.join(files)}"]
    run = run_checks(lab, lab.solution_dir, python=python)
    assert not run.error, run.error
    assert run.passed, f"the reference solution of {lab.id} fails:\n{failures(run)}"

    report = tmp_path / "coverage.json"
    subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data_file}", "-o", str(report), "-q"],
                   check=True, cwd=tmp_path)
    measured = json.loads(report.read_text())["files"]
    assert sorted(Path(f).name for f in measured) == sorted(lab.files), "coverage did not measure every solution file"
    gaps = {
        Path(name).name: {"lines": info["missing_lines"], "branches": info["missing_branches"]}
        for name, info in measured.items()
        if info["missing_lines"] or info["missing_branches"]
    }
    assert not gaps, f"solution code of {lab.id} that no check exercises: {gaps}"


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_generated_starter_fails_every_task_with_code(lab: manifest.Lab, tmp_path: Path) -> None:
    generate_starter(lab.solution_dir, tmp_path, lab.files, tasks={t.id for t in lab.tasks}, titles=lab.titles, lab=lab.id)
    run = run_checks(lab, tmp_path)
    assert not run.error, run.error
    passing = [t.task for t in run.tasks if t.passed and lab.task(t.task).code]
    assert not passing, f"the starter of {lab.id} already passes {passing}: those checks cannot fail"
    for result in run.tasks:
        assert result.failures, f"{result.task}: a failing task must say why"
