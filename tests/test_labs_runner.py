"""The check runner on a tiny synthetic lab: per-task verdicts in words, and broken checks reported as such."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jwtlab.labs import manifest
from jwtlab.labs.runner import run_checks

MANIFEST = '''
[[lab]]
id = "mini"
number = 1
title = "Mini"
folder = "mini"
minutes = 5
level = "beginner"
page = "book/intro"
files = ["mini.py"]
  [[lab.task]]
  id = "add"
  title = "Add"
  checks = "adds"
  hints = ["a", "b"]
  [[lab.task]]
  id = "halve"
  title = "Halve"
  checks = "halves"
  hints = ["a", "b"]
  [[lab.task]]
  id = "greet"
  title = "Greet"
  checks = "greets"
  hints = ["a", "b"]
'''

CHECKS = '''
from pathlib import Path

import pytest

from jwtlab.labs.target import lab_module

mini = lab_module("mini", Path(__file__).resolve().parents[1])


@pytest.mark.task("add")
def test_add():
    assert mini.add(2, 3) == 5, "add(2, 3) should be 5"


@pytest.mark.task("halve")
def test_halve():
    assert mini.halve(4) == 2, "halve(4) should be 2"


@pytest.mark.task("greet")
def test_greet():
    assert mini.greet("Ada") == "Hello, Ada", "greet must say hello"
'''


@pytest.fixture
def lab(tmp_path: Path) -> manifest.Lab:
    (tmp_path / "labs" / "mini" / "checks").mkdir(parents=True)
    (tmp_path / "labs" / "mini" / "solution").mkdir()
    (tmp_path / "labs" / "labs.toml").write_text(MANIFEST)
    (tmp_path / "labs" / "pytest.ini").write_text((Path(__file__).parents[1] / "labs" / "pytest.ini").read_text())
    (tmp_path / "labs" / "mini" / "checks" / "test_mini.py").write_text(CHECKS)
    return manifest.load(tmp_path).lab("mini")


def write(folder: Path, source: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "mini.py").write_text(textwrap.dedent(source))
    return folder


def test_each_task_gets_its_verdict_and_reason(lab: manifest.Lab, tmp_path: Path) -> None:
    code = write(tmp_path / "code", '''
        def add(a, b):
            return a - b

        def halve(n):
            return {}[n]

        def greeting(name):
            return "Hello, " + name
    ''')
    run = run_checks(lab, code)
    assert not run.error
    add, halve, greet = run.tasks
    assert not add.passed and add.failures == ["add(2, 3) should be 5"]
    assert not halve.passed and halve.failures == ["KeyError: 4 (raised at mini.py line 6)"]
    assert not greet.passed and greet.failures[0].startswith("missing function greet in mini.py — did you rename it?")
    assert run.first_failing == "add"


def test_passing_code_passes(lab: manifest.Lab, tmp_path: Path) -> None:
    code = write(tmp_path / "code", '''
        def add(a, b):
            return a + b

        def halve(n):
            return n // 2

        def greet(name):
            return f"Hello, {name}"
    ''')
    run = run_checks(lab, code)
    assert run.passed and [t.total for t in run.tasks] == [1, 1, 1]


def test_broken_checks_are_an_error_not_a_verdict(lab: manifest.Lab, tmp_path: Path) -> None:
    (lab.checks_dir / "test_mini.py").write_text(CHECKS + "\ndef broken(:\n")
    run = run_checks(lab, write(tmp_path / "code", "def add(a, b):\n    return a + b\n"))
    assert not run.passed and "the checks could not run" in run.error and "test_mini.py" in run.error


def test_a_check_naming_no_task_is_an_error(lab: manifest.Lab, tmp_path: Path) -> None:
    (lab.checks_dir / "test_mini.py").write_text(CHECKS.replace('task("greet")', 'task("gret")'))
    run = run_checks(lab, write(tmp_path / "code", "def add(a, b):\n    return a + b\n"))
    assert "names no task of this lab ('gret')" in run.error
    assert run.result("greet").failures == ["no check ran for this task"]
