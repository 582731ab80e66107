"""What a lab's checks import: the learner's code, the reference solution or the generated starter.

One set of checks serves all three. `$JWTLAB_LAB_CODE` names the folder holding the code under test
(`jwtlab check` points it at the learner's working copy, the guard test at the solution or at a freshly
generated starter); without it the checks test the lab's own `solution/` folder.

Checks never `import protect` directly: they use `lab_module("protect")`, a lazy stand-in that loads
the module on first use and turns the usual Python failures into sentences a learner can act on —
a renamed function becomes "missing function X — did you rename it?", a syntax error names its line.
These are `AssertionError`s, so they fail the task that needed the code rather than the whole run.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["LabCodeError", "MissingFunction", "code_dir", "lab_module"]

ENV = "JWTLAB_LAB_CODE"
#: Where the pytest plugin writes per-check results; here, not in the plugin, so the CLI need not import pytest.
RESULTS_ENV = "JWTLAB_LAB_RESULTS"


class LabCodeError(AssertionError):
    """The code under test cannot be loaded (syntax error, failing import)."""


class MissingFunction(LabCodeError):
    """The code under test lacks a name the checks need."""


def code_dir(lab_dir: Path) -> Path:
    """The folder the checks test: $JWTLAB_LAB_CODE, or the lab's reference solution."""
    env = os.environ.get(ENV)
    return Path(env).resolve() if env else (lab_dir / "solution").resolve()


class LabModule:
    """A learner module, loaded on first attribute access from the code folder (see module doc)."""

    def __init__(self, name: str, lab_dir: Path) -> None:
        self._name = name
        self._lab_dir = Path(lab_dir).resolve()
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is not None:
            return self._module
        folder = code_dir(self._lab_dir)
        file = folder / f"{self._name}.py"
        if not file.is_file():
            raise LabCodeError(f"{file.name} is missing from {folder.name}/ — run `jwtlab start` (or `jwtlab reset`) to get it back")
        for path in (str(self._lab_dir), str(folder)):
            if path in sys.path:
                sys.path.remove(path)
            sys.path.insert(0, path)
        sys.modules.pop(self._name, None)
        try:
            self._module = importlib.import_module(self._name)
        except SyntaxError as exc:
            raise LabCodeError(f"{file.name} is not valid Python: line {exc.lineno}: {exc.msg}") from None
        except Exception as exc:  # the learner's module failed while importing
            line = _learner_line(exc, folder)
            raise LabCodeError(f"{file.name} fails when imported{line}: {type(exc).__name__}: {exc}") from None
        loaded = Path(getattr(self._module, "__file__", "") or "").resolve()
        if loaded != file.resolve():  # pragma: no cover - another module of that name shadowed the lab's
            raise LabCodeError(f"imported {loaded} instead of {file}; rename the other {self._name}.py")
        return self._module

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        module = self._load()
        try:
            return getattr(module, attribute)
        except AttributeError:
            raise MissingFunction(
                f"missing function {attribute} in {self._name}.py — did you rename it? The checks call it by that name."
            ) from None


def lab_module(name: str, lab_dir: Path) -> Any:
    """The module `name` of the code under test, e.g. `protect = lab_module("protect", LAB_DIR)`."""
    return LabModule(name, lab_dir)


def _learner_line(exc: BaseException, folder: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve().parent == folder]
    return f" ({Path(frames[-1].filename).name} line {frames[-1].lineno})" if frames else ""
