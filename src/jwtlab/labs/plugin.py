"""pytest plugin for lab checks: every check names its task, and results are written as JSON per test.

Checks carry `@pytest.mark.task("bearer")`. With `-p jwtlab.labs.plugin` and `$JWTLAB_LAB_RESULTS` set,
each test's outcome, task and a one-paragraph message (the assertion's own words, or the exception and
the learner's line it came from) is written there, so `jwtlab check` can report per task in words
instead of showing pytest's traceback wall.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from pathlib import Path
from typing import Any

import pytest

from .target import RESULTS_ENV

__all__ = ["RESULTS_ENV"]
_results: list[dict[str, Any]] = []
_errors: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(id): the lab task (from labs.toml) this check belongs to")


def _message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    exc = excinfo.value
    if isinstance(exc, NotImplementedError):
        hint = re.search(r"jwtlab hint [\w-]+(?: [\w-]+)?", str(exc))
        return f"not written yet — {hint.group(0)}" if hint else "not written yet"
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ", 1)[0].strip()
        return text or "a check failed without a message"
    code = os.environ.get("JWTLAB_LAB_CODE")
    where = ""
    if code:
        frames = [f for f in traceback.extract_tb(excinfo.tb) if Path(f.filename).resolve().parent == Path(code).resolve()]
        if frames:
            where = f" (raised at {Path(frames[-1].filename).name} line {frames[-1].lineno})"
    advice = ""
    if type(exc).__module__.startswith("jwt"):
        advice = " — a bad token must not escape as a library error: catch it and raise the lab's own rejection"
    elif type(exc).__module__.startswith(("httpx", "httpcore", "ssl")) or isinstance(exc, ConnectionError):
        advice = " — the service broke the connection while answering; fix the earlier tasks first"
    return f"{type(exc).__name__}: {exc}{where}{advice}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    marker = item.get_closest_marker("task")
    task = marker.args[0] if marker and marker.args else None
    if report.when == "call" or (report.when == "setup" and not report.passed):
        message = _message(call.excinfo) if call.excinfo is not None and not report.passed else ""
        _results.append({"test": item.name, "task": task, "outcome": report.outcome, "message": message})
    return report


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1] if report.longreprtext else 'failed'}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(RESULTS_ENV)
    if target:
        data = {"exitstatus": int(exitstatus), "tests": _results, "errors": _errors}
        Path(target).write_text(json.dumps(data, indent=1), encoding="utf-8")
