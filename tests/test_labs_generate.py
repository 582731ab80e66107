"""The starter generator: malformed markers are clear errors, output is stable and valid Python."""

from __future__ import annotations

import ast
import textwrap

import pytest

from jwtlab.labs import manifest
from jwtlab.labs.generate import MarkerError, blocks, solution_text, starter

SOURCE = textwrap.dedent('''\
    def area(w, h):
        """Area of a rectangle."""
        # BEGIN SOLUTION area
        if w < 0 or h < 0:
            raise ValueError("negative")
        return w * h
        # END SOLUTION


    class Shape:
        def name(self):
            # BEGIN SOLUTION name
            return "shape"
            # STARTER: return ""
            # END SOLUTION
    ''')


def test_blocks_become_todo_and_raise_at_their_indentation() -> None:
    text = starter(SOURCE, tasks={"area", "name"}, titles={"area": "Compute the area"}, lab="demo")
    assert "    # TODO(area): Compute the area\n" in text
    assert '    raise NotImplementedError("area: write this part (jwtlab hint demo area)")\n' in text
    assert "w * h" not in text and "negative" not in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


def test_starter_lines_replace_the_raise() -> None:
    text = starter(SOURCE)
    assert '        # TODO(name):\n        return ""\n' in text
    assert "STARTER" not in text and '"shape"' not in text


def test_starter_is_valid_python_and_runs() -> None:
    namespace: dict[str, object] = {}
    exec(compile(starter(SOURCE), "starter.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="area"):
        namespace["area"](2, 3)  # type: ignore[operator]
    assert namespace["Shape"]().name() == ""  # type: ignore[operator]


def test_output_is_stable() -> None:
    assert starter(SOURCE, lab="demo") == starter(SOURCE, lab="demo")


def test_solution_text_drops_only_markers() -> None:
    text = solution_text(SOURCE)
    assert "return w * h" in text and 'return "shape"' in text
    assert "SOLUTION" not in text and "STARTER" not in text
    ast.parse(text)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    # BEGIN SOLUTION a\n    # BEGIN SOLUTION b\n    pass\n    # END SOLUTION\n", r"f\.py:3: .*cannot nest"),
        ("def f():\n    # BEGIN SOLUTION a\n    return 1\n", r"f\.py:2: BEGIN SOLUTION a is never closed"),
        ("def f():\n    return 1\n    # END SOLUTION\n", r"f\.py:3: END SOLUTION without a BEGIN"),
        ("def f():\n    # BEGIN SOLUTION zzz\n    return 1\n    # END SOLUTION\n", r"f\.py:2: unknown task 'zzz'"),
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", r"needs a task id"),
        ("def f():\n    # BEGIN SOLUTION Bad_Id\n    return 1\n    # END SOLUTION\n", r"not a task id"),
        ("# BEGIN SOLUTION a\nX = 1\n# END SOLUTION\n", r"module level"),
        ("def f():\n    # STARTER: return 1\n", r"STARTER line belongs inside"),
        ("def f():\n    # BEGIN SOLUTION a\n    # STARTER: return 1\n    return 2\n    # END SOLUTION\n", r"STARTER lines must come last"),
        ("def f():\n    x = 1  # END SOLUTION\n", r"a marker must be a comment on a line of its own"),
        ("def f(x):\n    # BEGIN SOLUTION a\n    if x:\n    # END SOLUTION\n        return 1\n", r"not valid Python"),
        ("class C:\n    # BEGIN SOLUTION a\n    X = 1\n    # END SOLUTION\n", r"f\.py:2: a solution block must sit inside a function body"),
        ("def f(:\n    # BEGIN SOLUTION a\n    pass\n    # END SOLUTION\n", r"the solution itself is not valid Python"),
    ],
)
def test_malformed_markers_are_clear_errors(source: str, message: str) -> None:
    with pytest.raises(MarkerError, match=message):
        starter(source, tasks={"a", "b"}, name="f.py")


def test_every_lab_generates_a_valid_stable_starter_with_a_todo_per_block() -> None:
    for lab in manifest.load().labs:
        tasks = {t.id for t in lab.tasks}
        for file in lab.files:
            source = (lab.solution_dir / file).read_text(encoding="utf-8")
            text = starter(source, tasks=tasks, titles=lab.titles, name=file, lab=lab.id)
            assert text == starter(source, tasks=tasks, titles=lab.titles, name=file, lab=lab.id)
            ast.parse(text, filename=file)
            for block in blocks(source, tasks=tasks, name=file):
                assert f"# TODO({block.task}): {lab.task(block.task).title}" in text
