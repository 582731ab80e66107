"""Stored notebooks follow the house rules that strict nbval alone does not check.

nbval proves that a fresh run reproduces the stored outputs. It does not notice a notebook that was
executed out of order, a failing cell someone forgot to tag (or a tag left on a cell that no longer
fails), timing metadata that makes every re-run a diff, or a machine's paths in the outputs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
#: Home, temp and work folders of any machine, and loopback addresses with a port (ports vary per run).
MACHINE_SPECIFIC = re.compile(r"(/(home|root|tmp|work|Users)/|[A-Z]:\\\\Users|127\.0\.0\.1:\d+|\[::1\]:\d+)")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def output_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.extend("".join(v) if isinstance(v, list) else str(v) for v in output.get("data", {}).values())
        parts.extend(output.get("traceback", []))
        parts.append(str(output.get("evalue", "")))
    return "\n".join(parts)


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_and_course_metadata(path: Path) -> None:
    meta = load(path)["metadata"]
    assert meta.get("kernelspec", {}).get("name") == "python3", "kernelspec must be python3"
    course = meta.get("course", {})
    assert course.get("minutes", 0) > 0 and course.get("level") and course.get("objectives"), (
        "notebook metadata needs course: {minutes, level, prerequisites, objectives}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_once_top_to_bottom_without_timing(path: Path) -> None:
    cells = code_cells(load(path))
    counts = [cell["execution_count"] for cell in cells if cell["source"]]
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts {counts}: re-run with tools/execute_notebooks.py"
    )
    timed = [i for i, cell in enumerate(cells) if "execution" in cell.get("metadata", {})]
    assert not timed, "timing metadata present: execute with tools/execute_notebooks.py (record_timing=False)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_errors_only_where_tagged_and_tags_only_where_errors(path: Path) -> None:
    for index, cell in enumerate(code_cells(load(path))):
        tagged = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        failed = any(output["output_type"] == "error" for output in cell.get("outputs", []))
        assert tagged == failed, (
            f"code cell {index}: {'tagged raises-exception but does not fail' if tagged else 'fails without the raises-exception tag'}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_have_no_machine_paths_or_ports(path: Path) -> None:
    for index, cell in enumerate(code_cells(load(path))):
        found = MACHINE_SPECIFIC.search(output_text(cell))
        assert not found, f"code cell {index} output contains {found.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_printed_text_is_stored_in_one_piece(path: Path) -> None:
    """Split stream chunks depend on timing; tools/execute_notebooks.py joins them so re-runs are byte-stable."""
    for index, cell in enumerate(code_cells(load(path))):
        kinds = [(o["output_type"], o.get("name")) for o in cell.get("outputs", [])]
        split = [k for a, k in zip(kinds, kinds[1:], strict=False) if a == k and k[0] == "stream"]
        assert not split, f"code cell {index}: consecutive {split[0][1]} chunks; re-run tools/execute_notebooks.py"


#: The book shows this many columns of code without a sideways scroll at 1280 px (book/_static/code-width.css).
CODE_COLUMNS = 88


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_book_column(path: Path) -> None:
    wide = [
        f"cell {n}: {len(line)} columns: {line.strip()[:50]}"
        for n, cell in enumerate(load(path)["cells"])
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > CODE_COLUMNS
    ]
    assert wide == [], f"code lines over {CODE_COLUMNS} columns scroll sideways in the book"


def test_executor_joins_stream_chunks() -> None:
    import nbformat

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from execute_notebooks import merge_streams
    finally:
        sys.path.remove(str(ROOT / "tools"))
    out = nbformat.v4.new_output
    outputs = [out("stream", name="stdout", text="Exception reporting mode:"), out("stream", name="stdout", text=" Minimal\n"),
               out("stream", name="stderr", text="warn\n"), out("stream", name="stdout", text="after\n")]
    merged = merge_streams(outputs)
    assert [(o.name, o.text) for o in merged] == [
        ("stdout", "Exception reporting mode: Minimal\n"), ("stderr", "warn\n"), ("stdout", "after\n")
    ]


def test_the_checks_can_fail() -> None:
    """The helpers above see what they are meant to see, so a passing run means something."""
    cell = {"outputs": [{"output_type": "stream", "text": ["served at http://127.0.0.1:41234\n"]}]}
    assert MACHINE_SPECIFIC.search(output_text(cell))
    cell = {"outputs": [{"output_type": "error", "ename": "E", "evalue": "", "traceback": ["File /home/x/y.py"]}]}
    assert MACHINE_SPECIFIC.search(output_text(cell))
    assert not MACHINE_SPECIFIC.search("issuer https://idp.course.example, 401 invalid_token")
