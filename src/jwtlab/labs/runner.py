"""Run a lab's checks with pytest in a subprocess and summarise them per task.

A subprocess, because the learner's code is imported fresh on every run (an edited module must never be
served from a stale import) and because a learner's infinite loop or crash must not take the CLI down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import Lab
from .target import ENV as CODE_ENV
from .target import RESULTS_ENV

__all__ = ["TaskResult", "CheckRun", "run_checks", "pytest_command"]

#: A whole check run may take at most this long before it is stopped (seconds).
RUN_TIMEOUT = 180


@dataclass
class TaskResult:
    task: str
    passed: bool
    total: int
    failures: list[str] = field(default_factory=list)  # one worded reason per failing check


@dataclass
class CheckRun:
    lab: Lab
    tasks: list[TaskResult]
    error: str = ""  # the checks could not run at all (collection error, timeout)

    @property
    def passed(self) -> bool:
        return not self.error and all(t.passed for t in self.tasks)

    @property
    def first_failing(self) -> str | None:
        return next((t.task for t in self.tasks if not t.passed), None)

    def result(self, task: str) -> TaskResult:
        return next(t for t in self.tasks if t.task == task)


def pytest_command(lab: Lab, extra: Sequence[str] = ()) -> list[str]:
    """The pytest invocation for a lab's checks (its own ini file, the task plugin, quiet, no cache)."""
    return [
        "-m", "pytest", str(lab.checks_dir), "-c", str(lab.root / "labs" / "pytest.ini"),
        "--rootdir", str(lab.path), "-p", "jwtlab.labs.plugin", "-p", "pytest_timeout", "-q", "--no-header", "-rN", "--tb=no",
        "--assert=plain",
        *extra,
    ]


def run_checks(lab: Lab, code: Path, *, python: Sequence[str] | None = None, timeout: float = RUN_TIMEOUT) -> CheckRun:
    """Run every check of `lab` against the code in folder `code`.

    `python`: the interpreter prefix (default: this one); the guard test passes `coverage run` here.
    """
    with tempfile.TemporaryDirectory(prefix="jwtlab-check-") as tmp:
        results_file = Path(tmp) / "results.json"
        env = {**os.environ, CODE_ENV: str(Path(code).resolve()), RESULTS_ENV: str(results_file),
               # Only the plugins the checks use: auto-loading every installed plugin triples the start-up time.
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        command = [*(python or [sys.executable]), *pytest_command(lab)]
        try:
            proc = subprocess.run(command, cwd=lab.path, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return CheckRun(lab, [TaskResult(t.id, False, 0, ["the checks did not finish in time"]) for t in lab.tasks],
                            error=f"the checks did not finish within {timeout:g} s (an endless loop?)")
        if not results_file.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            return CheckRun(lab, [TaskResult(t.id, False, 0) for t in lab.tasks],
                            error=f"the checks could not run:\n{tail}")
        data = json.loads(results_file.read_text(encoding="utf-8"))
    trouble = "\n".join(data.get("errors", [])) or (proc.stdout + proc.stderr if data["exitstatus"] not in (0, 1) else "")
    return summarise(lab, data["tests"], trouble)


def summarise(lab: Lab, tests: list[dict[str, str]], trouble: str = "") -> CheckRun:
    by_task: dict[str, TaskResult] = {t.id: TaskResult(t.id, True, 0) for t in lab.tasks}
    error = ""
    for test in tests:
        task = test.get("task")
        if task not in by_task:
            error = f"check {test['test']} names no task of this lab ({task!r})"
            continue
        result = by_task[task]
        result.total += 1
        if test["outcome"] != "passed":
            result.passed = False
            result.failures.append(test["message"])
    for result in by_task.values():
        if result.total == 0:
            result.passed = False
            result.failures.append("no check ran for this task")
    if trouble and not error:
        tail = "\n".join(trouble.strip().splitlines()[-15:])
        error = f"the checks could not run:\n{tail}"
    return CheckRun(lab, list(by_task.values()), error)
