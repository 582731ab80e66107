"""Re-execute notebooks in place so their stored outputs are fresh, byte-stable and timing-free.

Strict nbval compares every stored output with a fresh run, so a notebook is committed exactly as this
tool leaves it: executed top to bottom in its own folder by the `python3` kernel, without execution
timing metadata (`record_timing=False`) and with each run of printed text stored as one output, so that
running it twice changes nothing.

    python tools/execute_notebooks.py                 # every notebook under notebooks/
    python tools/execute_notebooks.py notebooks/x.ipynb
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 30


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks into one output.

    The kernel sends what a cell prints in chunks whose boundaries depend on timing (a busy machine
    flushes mid-line), so without this the same run can be stored as one output or as three.
    """
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and output.output_type == "stream"
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started = time.monotonic()
    NotebookClient(
        nb, timeout=120, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    elapsed = time.monotonic() - started
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("**/*.ipynb"))
    slow = []
    for path in paths:
        if "_build" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        elapsed = execute(path)
        print(f"{elapsed:6.1f} s  {path.relative_to(ROOT) if path.is_absolute() else path}")
        if elapsed > BUDGET_SECONDS:
            slow.append(path)
    if slow:
        print(f"over the {BUDGET_SECONDS} s budget: {', '.join(map(str, slow))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
