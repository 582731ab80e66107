"""The tasks-and-hints section of each lab's book page, generated from `labs/labs.toml`.

The manifest is the one place a task or a hint is written; the book includes the generated
`book/labs/generated/<lab>-tasks.md`, and a test fails when a file is stale. Regenerate with
`python -m jwtlab.labs.book`.
"""

from __future__ import annotations

from pathlib import Path

from . import manifest
from .manifest import Lab

HEADER = "<!-- Generated from labs/labs.toml by `python -m jwtlab.labs.book`: edit the manifest, not this file. -->"


def render(lab: Lab) -> str:
    lines = [HEADER, ""]
    for number, task in enumerate(lab.tasks, start=1):
        lines += [f"### Task {number}: {task.title}", "", f"Task id `{task.id}`. **Checked:** {task.checks}", ""]
        if not task.code:
            lines += ["Nothing new to write: this task passes once the earlier ones are right.", ""]
        for tier, hint in enumerate(task.hints, start=1):
            lines += [f":::{{dropdown}} Hint {tier} of {len(task.hints)}", hint, ":::", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def output(lab: Lab) -> Path:
    return lab.root / "book" / "labs" / "generated" / f"{lab.id}-tasks.md"


def write(root: Path | None = None) -> list[Path]:
    written = []
    for lab in manifest.load(root).labs:
        path = output(lab)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(lab), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}")
