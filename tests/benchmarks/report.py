"""What every benchmark here does at the end: print an aligned table, and keep its figures as JSON.

The figures go to `_build/figures/<name>.json` (git-ignored), where a maintainer, or a page being updated,
can read the last run's numbers without copying them off a terminal. Imported by the benchmark scripts as
a sibling module: they are run as `python tests/benchmarks/bench_….py`, so this folder is on `sys.path`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIGURES = Path(__file__).resolve().parents[2] / "_build" / "figures"


def write_figures(name: str, figures: dict[str, Any]) -> Path:
    """Write one benchmark's figures to `_build/figures/<name>.json`; return the path."""
    out = FIGURES / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return out


def print_table(rows: Sequence[Sequence[str]], right: set[int]) -> None:
    """Print rows (the first is the header) in aligned columns, numbers (`right`) right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = enumerate(zip(row, widths, strict=True))
        print("  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
