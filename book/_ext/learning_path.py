"""The learning path as data: every page's front matter, read in table-of-contents order.

Each page declares `minutes`, `level`, `prerequisites` (docnames of other pages, e.g.
`book/basics/anatomy`) and `objectives` — Markdown pages in their YAML front matter, notebooks in
their `metadata.course`. `render()` turns that into the learning-path page, so the path can never
disagree with the pages, and `problems()` lists every prerequisite that names no real page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOC = ROOT / "book" / "_toc.yml"
OUTPUT = ROOT / "book" / "learning-path.md"
#: Pages that describe the path itself rather than teach; they carry no front matter.
UNTRACKED = {"book/intro", "book/learning-path", "glossary"}
LEVELS = ("beginner", "intermediate", "advanced")


@dataclass
class Page:
    docname: str
    part: str
    title: str
    minutes: int
    level: str
    prerequisites: list[str] = field(default_factory=list)
    objectives: list[str] = field(default_factory=list)


def toc_entries(toc_path: Path = TOC) -> list[tuple[str, str]]:
    """(part caption, docname) for every file in the table of contents, in reading order."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    entries: list[tuple[str, str]] = [("", toc["root"])]

    def walk(items: list[dict[str, Any]], part: str) -> None:
        for item in items:
            if "file" in item:
                entries.append((part, item["file"]))
            for key in ("sections", "chapters"):
                walk(item.get(key, []), part)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption", ""))
    return entries


def source_of(docname: str, root: Path = ROOT) -> Path:
    for suffix in (".md", ".ipynb"):
        path = root / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no page {docname}.md or {docname}.ipynb")


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    """(metadata, title) of a Markdown page or a notebook."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        meta = nb.get("metadata", {}).get("course", {})
        lines = [ln for c in nb["cells"] if c["cell_type"] == "markdown" for ln in "".join(c["source"]).splitlines()]
    else:
        text = path.read_text(encoding="utf-8")
        meta = {}
        if text.startswith("---\n"):
            end = text.index("\n---", 4)
            meta = yaml.safe_load(text[4:end]) or {}
            text = text[end + 4:]
        lines = text.splitlines()
    title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("# ")), path.stem)
    return meta, title


def pages(toc_path: Path = TOC, root: Path = ROOT) -> list[Page]:
    result = []
    for part, docname in toc_entries(toc_path):
        if docname in UNTRACKED:
            continue
        meta, title = front_matter(source_of(docname, root))
        result.append(
            Page(
                docname=docname,
                part=part,
                title=title,
                minutes=int(meta.get("minutes", 0)),
                level=str(meta.get("level", "")),
                prerequisites=list(meta.get("prerequisites", []) or []),
                objectives=list(meta.get("objectives", []) or []),
            )
        )
    return result


def problems(toc_path: Path = TOC, root: Path = ROOT) -> list[str]:
    """Everything wrong with the path: missing front matter, unknown prerequisites, cycles."""
    found = pages(toc_path, root)
    known = {p.docname for p in found} | UNTRACKED
    order = {p.docname: i for i, p in enumerate(found)}
    issues = []
    for page in found:
        if page.minutes <= 0:
            issues.append(f"{page.docname}: front matter needs 'minutes' (a positive number)")
        if page.level not in LEVELS:
            issues.append(f"{page.docname}: 'level' must be one of {', '.join(LEVELS)}")
        if not page.objectives:
            issues.append(f"{page.docname}: front matter needs at least one objective")
        for prereq in page.prerequisites:
            if prereq not in known:
                issues.append(f"{page.docname}: prerequisite {prereq!r} is not a page of the book")
            elif prereq in order and order[prereq] >= order[page.docname]:
                issues.append(f"{page.docname}: prerequisite {prereq!r} comes later in the book")
    return issues


def _link(docname: str, text: str | None = None) -> str:
    # {doc} paths are relative to the current document unless they start with '/' (the source root).
    return f"{{doc}}`{text} </{docname}>`" if text else f"{{doc}}`/{docname}`"


def render(toc_path: Path = TOC, root: Path = ROOT) -> str:
    found = pages(toc_path, root)
    total = sum(p.minutes for p in found)
    out = [
        "# The learning path",
        "",
        "<!-- Generated from each page's front matter by book/_ext/learning_path.py; do not edit. -->",
        "",
        f"The whole course takes about **{total // 60} h {total % 60:02d} min**. Each page lists how long it takes,",
        "its level and what to read first; labs are marked *Lab*. Follow the parts in order, or jump to what you",
        "need and read its prerequisites first.",
        "",
        "The map shows every page by part (columns) with an arrow from each prerequisite to the page that needs",
        "it; click a box to open the page.",
        "",
        "```{raw} html",
        map_svg(found),
        "```",
        "",
    ]
    part = None
    for page in found:
        if page.part != part:
            part = page.part
            minutes = sum(p.minutes for p in found if p.part == part)
            out += [f"## {part} ({minutes} min)", ""]
        lab = "Lab: " if page.docname.startswith("book/labs/") and not page.title.startswith("Lab") else ""
        prereqs = ", ".join(_link(p) for p in page.prerequisites) or "none"
        out += [
            f"### {lab}{page.title}",
            "",
            f"*{page.minutes} min · {page.level}* · prerequisites: {prereqs} · {_link(page.docname, 'open the page')}",
            "",
        ]
        out += [f"- {objective}" for objective in page.objectives]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 168, 50, 44, 14, 12
_LEVEL_COLOURS = {"beginner": "#e3f2e1", "intermediate": "#fff1d6", "advanced": "#fbe0e0"}


def _wrap(text: str, width: int = 24, lines: int = 2) -> list[str]:
    words, out, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return out


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def map_svg(found: list[Page]) -> str:
    """The learning path as a picture: a column per part, a box per page, an arrow per prerequisite.

    Plain SVG written here (no Graphviz, no script), so the page displays offline and the picture can never
    disagree with the front matter it is drawn from.
    """
    parts: list[str] = []
    for page in found:
        if page.part not in parts:
            parts.append(page.part)
    position: dict[str, tuple[float, float]] = {}
    rows: dict[str, int] = {}
    for page in found:
        column = parts.index(page.part)
        row = rows.get(page.part, 0)
        rows[page.part] = row + 1
        position[page.docname] = (
            _MARGIN + column * (_BOX_W + _GAP_X),
            _MARGIN + 34 + row * (_BOX_H + _GAP_Y),
        )
    width = _MARGIN * 2 + len(parts) * _BOX_W + (len(parts) - 1) * _GAP_X
    height = _MARGIN * 2 + 34 + max(rows.values()) * (_BOX_H + _GAP_Y)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="Map of the learning path: pages by part, arrows from prerequisites" '
        'font-family="sans-serif" font-size="11">',
        '<defs><marker id="lp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>',
    ]
    for index, part in enumerate(parts):
        x = _MARGIN + index * (_BOX_W + _GAP_X)
        svg.append(f'<text x="{x}" y="{_MARGIN + 14}" font-weight="bold" font-size="12">{_escape(part)}</text>')
    for page in found:
        tx, ty = position[page.docname]
        for prereq in page.prerequisites:
            if prereq not in position:
                continue
            sx, sy = position[prereq]
            if sx == tx:  # same column: a curve along the right-hand side
                x1, y1, x2, y2 = sx + _BOX_W, sy + _BOX_H / 2, tx + _BOX_W, ty + _BOX_H / 2
                bulge = x1 + 14 + abs(ty - sy) / 12
                path = f"M{x1},{y1} C{bulge},{y1} {bulge},{y2} {x2 + 2},{y2}"
            else:
                x1, y1, x2, y2 = sx + _BOX_W, sy + _BOX_H / 2, tx - 2, ty + _BOX_H / 2
                mid = (x1 + x2) / 2
                path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
            svg.append(f'<path d="{path}" fill="none" stroke="#999" stroke-width="1" marker-end="url(#lp-arrow)"/>')
    for page in found:
        x, y = position[page.docname]
        fill = _LEVEL_COLOURS.get(page.level, "#eeeeee")
        lab = page.docname.startswith("book/labs/")
        title = ("Lab: " if lab and not page.title.startswith("Lab") else "") + page.title.replace("`", "")
        lines = _wrap(title)
        svg.append(f'<a href="../{page.docname}.html" style="text-decoration: none"><title>{_escape(title)} ({page.minutes} min, {page.level})</title>')
        svg.append(
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{"#6a4c93" if lab else "#8a8a8a"}" stroke-width="{2 if lab else 1}"/>'
        )
        for i, line in enumerate(lines):
            svg.append(f'<text x="{x + 8}" y="{y + 16 + i * 13}" fill="#222">{_escape(line)}</text>')
        svg.append(f'<text x="{x + 8}" y="{y + _BOX_H - 7}" fill="#555" font-size="10">{page.minutes} min · {page.level}</text>')
        svg.append("</a>")
    svg.append("</svg>")
    return '<div class="learning-path-map" style="overflow-x: auto">' + "".join(svg) + "</div>"


def write(toc_path: Path = TOC, root: Path = ROOT, output: Path = OUTPUT) -> bool:
    """Write the page if its content changed; return whether it did."""
    text = render(toc_path, root)
    if output.exists() and output.read_text(encoding="utf-8") == text:
        return False
    output.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    write()
    for problem in problems():
        print(problem)
