"""labs/labs.toml: unique ids, real folders and prerequisites, hints, and tasks that match the code."""

from __future__ import annotations

import re
from pathlib import Path

import learning_path

from jwtlab.labs import manifest
from jwtlab.labs.generate import blocks


def book_pages() -> set[str]:
    return {docname for _, docname in learning_path.toc_entries()}


def test_manifest_has_no_problems() -> None:
    assert manifest.problems(manifest.load(), book_pages()) == []


def test_every_task_with_code_has_a_block_and_every_task_has_checks() -> None:
    for lab in manifest.load().labs:
        tasks = {t.id for t in lab.tasks}
        marked = {b.task for f in lab.files for b in blocks((lab.solution_dir / f).read_text(), tasks=tasks, name=f)}
        assert marked == {t.id for t in lab.tasks if t.code}, f"{lab.id}: tasks with code must match the solution's blocks"
        checked = {m for p in lab.checks_dir.glob("test_*.py") for m in re.findall(r'mark\.task\("([^"]+)"\)', p.read_text())}
        assert checked == tasks, f"{lab.id}: every task needs checks, and checks may only name declared tasks"


def test_problems_are_found(tmp_path: Path) -> None:
    (tmp_path / "labs" / "one" / "solution").mkdir(parents=True)
    (tmp_path / "labs" / "labs.toml").write_text('''
[[lab]]
id = "one"
number = 1
title = "One"
folder = "one"
minutes = 0
level = "expert"
page = "book/nowhere"
prerequisites = ["lab:two", "book/missing"]
files = ["one.py"]
  [[lab.task]]
  id = "t"
  title = "T"
  checks = "c"
  hints = ["only one"]
  [[lab.task]]
  id = "t"
  title = "T again"
  checks = "c"
  hints = ["a", "b"]

[[lab]]
id = "one"
number = 2
title = "Two"
folder = "absent"
minutes = 5
level = "beginner"
page = "book/intro"
prerequisites = ["lab:one"]
files = []
''')
    found = manifest.problems(manifest.load(tmp_path), {"book/intro"})
    expected = [
        "lab ids must be unique: one repeated",
        "lab one: solution file labs/one/solution/one.py does not exist",
        "lab one: checks folder labs/one/checks does not exist",
        "lab one: level must be one of beginner, intermediate, advanced",
        "lab one: minutes must be positive",
        "lab one: page 'book/nowhere' is not a page of the book",
        "lab one: prerequisite 'lab:two' names no lab",
        "lab one: prerequisite 'book/missing' is not a page of the book",
        "lab one: task ids must be unique",
        "lab one: task t needs at least 2 hint tiers",
        "lab one: folder labs/absent does not exist",
    ]
    for problem in expected:
        assert problem in found, problem


def test_lab_lookup_by_id_folder_or_number() -> None:
    labs = manifest.load()
    assert labs.lab("1") is labs.lab("protect-endpoint")
    try:
        labs.lab("nine")
    except KeyError as exc:
        assert "no lab 'nine'" in exc.args[0]
    else:
        raise AssertionError("an unknown lab must be a KeyError naming the labs")


def test_lab_pages_include_their_generated_tasks_and_hints() -> None:
    from jwtlab.labs import book

    for lab in manifest.load().labs:
        assert book.output(lab).read_text(encoding="utf-8") == book.render(lab), (
            f"{book.output(lab).name} is stale: run `python -m jwtlab.labs.book`"
        )
        page = (lab.root / f"{lab.page}.md").read_text(encoding="utf-8")
        assert f"generated/{lab.id}-tasks.md" in page, f"{lab.page} must include its generated tasks"
        for block in page.split("```{literalinclude}")[1:]:  # only the given code, never a solution block
            target, rest = block.split("\n", 1)
            if "/solution/" in target:
                name = rest.split(":pyobject:", 1)[1].split()[0]
                source = (lab.root / "book" / "labs" / target.strip()).resolve().read_text(encoding="utf-8")
                body = source.split(f"def {name}(", 1)[-1].split(f"class {name}(", 1)[-1].split("\n\n\n", 1)[0]
                assert "BEGIN SOLUTION" not in body, f"{lab.page} shows solution code ({name})"
