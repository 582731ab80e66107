"""Every chapter and notebook ends with exercises, each with its solution, and no label is used twice.

A page in the table of contents (other than the home page, the learning path and the glossary) and every
notebook in notebooks/ needs at least two `{exercise}` directives; each exercise's label must have a
`{solution}` or a `{solution-start}` naming it. Labels are unique across the whole book, because
sphinx-exercise resolves them globally and a duplicate silently points a solution at the wrong exercise.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import learning_path
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXEMPT = {"book/intro", "book/learning-path", "glossary"}
MIN_EXERCISES = 2

# ```{exercise} Title   followed by option lines, one of them   :label: name
EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise(?:-start)?\}[^\n]*\n((?:[ \t]*:[\w-]+:[^\n]*\n)*)", re.MULTILINE)
LABEL = re.compile(r"^[ \t]*:label:[ \t]*(\S+)", re.MULTILINE)
SOLUTION = re.compile(r"^(?:`{3,}|:{3,})\{solution(?:-start)?\}[ \t]+(\S+)", re.MULTILINE)


def source_text(path: Path) -> str:
    """The Markdown a page is written in: the file itself, or a notebook's markdown cells."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) + "\n" for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def exercises(text: str) -> list[str | None]:
    """The label of each exercise directive in the text (None for an exercise without a label)."""
    found = []
    for match in EXERCISE.finditer(text):
        label = LABEL.search(match.group(2))
        found.append(label.group(1) if label else None)
    return found


def pages() -> list[Path]:
    docnames = [doc for _, doc in learning_path.toc_entries() if doc not in EXEMPT]
    paths = {learning_path.source_of(doc, ROOT) for doc in docnames}
    paths |= set((ROOT / "notebooks").glob("*.ipynb"))
    return sorted(paths)


@pytest.mark.parametrize("path", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_has_exercises_each_with_a_solution(path: Path) -> None:
    text = source_text(path)
    labels = exercises(text)
    assert len(labels) >= MIN_EXERCISES, f"{len(labels)} exercise(s); every page ends with at least {MIN_EXERCISES}"
    assert None not in labels, "every exercise needs a :label:"
    solved = set(SOLUTION.findall(text))
    missing = [label for label in labels if label not in solved]
    assert not missing, f"exercises without a solution: {missing}"


def test_exercise_labels_are_unique_across_the_book() -> None:
    counts = Counter(label for path in pages() for label in exercises(source_text(path)) if label)
    assert [label for label, n in counts.items() if n > 1] == []


def test_the_checker_reads_both_solution_forms() -> None:
    text = (
        "```{exercise} A\n:label: ex-a-1\n\nQ\n```\n\n```{solution} ex-a-1\n:class: dropdown\n\nA\n```\n"
        "```{exercise} B\n:label: ex-a-2\n```\n\n```{solution-start} ex-a-2\n:class: dropdown\n```\n"
        "```{exercise} C\n:class: x\n```\n"
    )
    assert exercises(text) == ["ex-a-1", "ex-a-2", None]
    assert SOLUTION.findall(text) == ["ex-a-1", "ex-a-2"]
