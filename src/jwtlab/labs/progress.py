"""The learner's side of a lab: the working copy and the progress file.

Working copies live in `labs/<folder>/work/` (git-ignored) unless `$JWTLAB_WORK_DIR` names another
place; progress is a small JSON file, `.jwtlab/progress.json` (git-ignored), or `$JWTLAB_STATE_DIR`.
Both can move so that tests (and a learner who wants a scratch attempt) never touch the real ones.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .generate import generate_starter
from .manifest import Lab

__all__ = ["Progress", "work_dir", "starter_files", "edited_files", "write_starter"]


def work_dir(lab: Lab) -> Path:
    env = os.environ.get("JWTLAB_WORK_DIR")
    return (Path(env) / lab.folder) if env else lab.path / "work"


def starter_files(lab: Lab) -> dict[str, str]:
    return generate_starter(lab.solution_dir, None, lab.files, tasks={t.id for t in lab.tasks}, titles=lab.titles,
                            lab=lab.id)


def edited_files(lab: Lab) -> list[str]:
    """Learner files that exist and differ from the starter (the edits `start` must not overwrite)."""
    folder = work_dir(lab)
    fresh = starter_files(lab)
    return [name for name, text in fresh.items()
            if (folder / name).exists() and (folder / name).read_text(encoding="utf-8") != text]


def write_starter(lab: Lab, folder: Path | None = None) -> Path:
    """Write the generated starter files into `folder` (default: the learner's working copy)."""
    folder = folder or work_dir(lab)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in starter_files(lab).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@dataclass
class Progress:
    """`{"labs": {lab id: {"started": ts, "passed": ts, "tasks": {task: bool}, "hints": {task: tier}}}}`."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Progress:
        env = os.environ.get("JWTLAB_STATE_DIR")
        path = (Path(env) if env else root / ".jwtlab") / "progress.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("labs"), dict):
                raise ValueError("not a progress file")
        except FileNotFoundError:
            data = {"labs": {}}
        except ValueError:  # a damaged file is set aside, not fatal: progress is a convenience
            path.replace(path.with_suffix(".damaged.json"))
            data = {"labs": {}}
        return cls(path, data)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def lab(self, lab_id: str) -> dict[str, Any]:
        return self.data["labs"].setdefault(lab_id, {})

    def status(self, lab: Lab) -> str:
        entry = self.data["labs"].get(lab.id, {})
        if entry.get("passed"):
            return "passed"
        if entry.get("started") or work_dir(lab).exists():
            return "in progress"
        return "not started"

    def mark_started(self, lab: Lab) -> None:
        self.lab(lab.id).setdefault("started", int(time.time()))

    def record(self, lab: Lab, tasks: dict[str, bool]) -> None:
        entry = self.lab(lab.id)
        entry.setdefault("started", int(time.time()))
        entry["tasks"] = tasks
        if tasks and all(tasks.values()):
            entry.setdefault("passed", int(time.time()))

    def next_hint_tier(self, lab: Lab, task: str) -> int:
        """0-based tier of the next hint for `task`, advancing the stored counter (capped at the last tier)."""
        hints = self.lab(lab.id).setdefault("hints", {})
        tier = int(hints.get(task, 0))
        hints[task] = min(tier + 1, len(lab.task(task).hints))
        return min(tier, len(lab.task(task).hints) - 1)

    def first_failing(self, lab: Lab) -> str | None:
        tasks = self.data["labs"].get(lab.id, {}).get("tasks")
        if not tasks:
            return None
        return next((t.id for t in lab.tasks if not tasks.get(t.id, False)), None)
