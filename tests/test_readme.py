"""The README shows real output: its `jwtlab inspect` session is the book's, which a test keeps fresh."""

from __future__ import annotations

from pathlib import Path


def test_readme_inspect_session_is_the_real_one(root: Path) -> None:
    readme = (root / "README.md").read_text(encoding="utf-8")
    session = (root / "book" / "errors" / "sessions" / "rejected.txt").read_text(encoding="utf-8")
    assert session.rstrip() in readme, "README's inspect session is stale: copy book/errors/sessions/rejected.txt"


def test_readme_names_the_two_commands_and_ci_runs_the_second(root: Path) -> None:
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "./course start" in readme and "./course test" in readme
    assert "exec ./course test" in (root / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_pictures_exist(root: Path) -> None:
    readme = (root / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        if line.startswith("!["):
            target = line.split("](", 1)[1].rstrip(")")
            assert (root / target).is_file(), target
