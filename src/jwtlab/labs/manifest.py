"""`labs/labs.toml` as data: the labs, their tasks and tiered hints, and where a course checkout keeps them.

The manifest drives everything: the `jwtlab` lab commands, the guard test and the book's lab pages all
read it, so a lab exists in exactly one place. `problems()` lists everything wrong with it (duplicate
ids, missing folders, unknown prerequisites, too few hints) so a test can insist on an empty list.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Task", "Lab", "Manifest", "course_root", "load", "problems"]

LEVELS = ("beginner", "intermediate", "advanced")


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    checks: str
    hints: tuple[str, ...]
    #: False for a task with nothing new to write (its checks run the code of earlier tasks).
    code: bool = True


@dataclass(frozen=True)
class Lab:
    id: str
    number: int
    title: str
    folder: str
    minutes: int
    level: str
    page: str
    files: tuple[str, ...]
    tasks: tuple[Task, ...]
    prerequisites: tuple[str, ...] = ()
    root: Path = field(default=Path("."), compare=False, repr=False)

    @property
    def path(self) -> Path:
        return self.root / "labs" / self.folder

    @property
    def solution_dir(self) -> Path:
        return self.path / "solution"

    @property
    def checks_dir(self) -> Path:
        return self.path / "checks"

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"lab {self.id!r} has no task {task_id!r}; its tasks: {', '.join(t.id for t in self.tasks)}")

    @property
    def titles(self) -> dict[str, str]:
        return {t.id: t.title for t in self.tasks}


@dataclass(frozen=True)
class Manifest:
    root: Path
    labs: tuple[Lab, ...]

    def lab(self, name: str) -> Lab:
        """A lab by id, folder or number ("protect-endpoint", "1")."""
        for lab in self.labs:
            if name in (lab.id, lab.folder, str(lab.number)):
                return lab
        known = ", ".join(f"{lab.number} ({lab.id})" for lab in self.labs)
        raise KeyError(f"no lab {name!r}; the labs are {known}")


def packaged_labs() -> Path | None:
    """The labs folder this installation carries: `jwtlab/_labs` in a wheel, else the checkout's labs/."""
    shipped = Path(__file__).resolve().parents[1] / "_labs"
    if (shipped / "labs.toml").is_file():
        return shipped
    checkout = Path(__file__).resolve().parents[3] / "labs"
    return checkout if (checkout / "labs.toml").is_file() else None


def course_root(start: Path | None = None) -> Path:
    """The course checkout: $JWTLAB_COURSE_ROOT, else the nearest folder above `start` (default: cwd)
    holding `labs/labs.toml`, else the checkout this package is installed from."""
    env = os.environ.get("JWTLAB_COURSE_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "labs" / "labs.toml").is_file():
            return folder
    installed = Path(__file__).resolve().parents[3]
    if (installed / "labs" / "labs.toml").is_file():
        return installed
    raise FileNotFoundError(
        "no labs/labs.toml here or above: run jwtlab from inside the course folder, or `jwtlab init DIR` first"
    )


def load(root: Path | None = None) -> Manifest:
    root = root or course_root()
    data = tomllib.loads((root / "labs" / "labs.toml").read_text(encoding="utf-8"))
    labs = []
    for raw in data.get("lab", []):
        tasks = tuple(
            Task(id=t["id"], title=t["title"], checks=t["checks"], hints=tuple(t.get("hints", ())), code=t.get("code", True))
            for t in raw.get("task", [])
        )
        labs.append(
            Lab(
                id=raw["id"], number=raw["number"], title=raw["title"], folder=raw["folder"],
                minutes=raw["minutes"], level=raw["level"], page=raw["page"], files=tuple(raw["files"]),
                tasks=tasks, prerequisites=tuple(raw.get("prerequisites", ())), root=root,
            )
        )
    return Manifest(root, tuple(sorted(labs, key=lambda lab: lab.number)))


def problems(manifest: Manifest, book_pages: set[str]) -> list[str]:
    """Everything wrong with the manifest; `book_pages` are the docnames of the book."""
    issues: list[str] = []
    ids = [lab.id for lab in manifest.labs]
    numbers = [lab.number for lab in manifest.labs]
    for name, values in (("id", ids), ("number", numbers), ("folder", [lab.folder for lab in manifest.labs])):
        duplicates = sorted({str(v) for v in values if values.count(v) > 1})
        if duplicates:
            issues.append(f"lab {name}s must be unique: {', '.join(duplicates)} repeated")
    order = {lab.id: lab.number for lab in manifest.labs}
    for lab in manifest.labs:
        where = f"lab {lab.id}"
        if not lab.path.is_dir():
            issues.append(f"{where}: folder labs/{lab.folder} does not exist")
        for file in lab.files:
            if not (lab.solution_dir / file).is_file():
                issues.append(f"{where}: solution file labs/{lab.folder}/solution/{file} does not exist")
        if not lab.checks_dir.is_dir():
            issues.append(f"{where}: checks folder labs/{lab.folder}/checks does not exist")
        if lab.level not in LEVELS:
            issues.append(f"{where}: level must be one of {', '.join(LEVELS)}")
        if lab.minutes <= 0:
            issues.append(f"{where}: minutes must be positive")
        if lab.page not in book_pages:
            issues.append(f"{where}: page {lab.page!r} is not a page of the book")
        for prereq in lab.prerequisites:
            if prereq.startswith("lab:"):
                other = prereq[4:]
                if other not in order:
                    issues.append(f"{where}: prerequisite {prereq!r} names no lab")
                elif order[other] >= lab.number:
                    issues.append(f"{where}: prerequisite {prereq!r} does not come earlier")
            elif prereq not in book_pages:
                issues.append(f"{where}: prerequisite {prereq!r} is not a page of the book")
        task_ids = [t.id for t in lab.tasks]
        if not task_ids:
            issues.append(f"{where}: no tasks")
        if len(set(task_ids)) != len(task_ids):
            issues.append(f"{where}: task ids must be unique")
        for task in lab.tasks:
            if len(task.hints) < 2:
                issues.append(f"{where}: task {task.id} needs at least 2 hint tiers")
            if not task.title or not task.checks:
                issues.append(f"{where}: task {task.id} needs a title and a description of what it checks")
    return issues
