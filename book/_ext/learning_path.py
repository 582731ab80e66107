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
        f"The whole course takes about **{duration(total)}**. Each page lists how long it takes,",
        "its level and what to read first; labs are marked *Lab*. Follow the parts in order, or jump to what you",
        "need and read its prerequisites first.",
        "",
        "The map shows every part with its pages in reading order, an arrow from each prerequisite to the page that",
        "needs it, and the earlier parts it builds on; click a box to open the page.",
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
            out += [f"## {part} ({duration(minutes)})", ""]
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


_MAP_W, _BOX_X, _BOX_W, _BOX_H, _GAP_Y, _TOP = 330, 8, 262, 50, 12, 12
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


@dataclass
class Part:
    """One part of the book as the home page and the map show it: time, level range, where it starts."""

    caption: str
    pages: list[Page]
    after: list[str]  # captions of earlier parts whose pages this part's pages need

    @property
    def minutes(self) -> int:
        return sum(p.minutes for p in self.pages)

    @property
    def levels(self) -> str:
        used = [level for level in LEVELS if any(p.level == level for p in self.pages)]
        return used[0] if len(used) == 1 else f"{used[0]} to {used[-1]}" if used else ""

    @property
    def start(self) -> str:
        return self.pages[0].docname


def parts(found: list[Page]) -> list[Part]:
    """The pages grouped by part, in reading order, each with the parts it builds on."""
    captions: list[str] = []
    for page in found:
        if page.part not in captions:
            captions.append(page.part)
    part_of = {p.docname: p.part for p in found}
    result = []
    for caption in captions:
        members = [p for p in found if p.part == caption]
        needed = {part_of[q] for p in members for q in p.prerequisites if part_of.get(q, caption) != caption}
        result.append(Part(caption, members, [c for c in captions if c in needed]))
    return result


def duration(minutes: int) -> str:
    """'85 min', '1 h 40 min', '16 h': how long something takes, in words a reader scans."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def _part_svg(part: Part, index: int) -> str:
    """One part as a column of boxes, an arrow for each prerequisite inside the part.

    Prerequisites in earlier parts are named in the header ("after: ..."), not drawn: arrows across parts
    need the parts side by side, which is what made the map wider than a page.
    """
    after = _wrap("after: " + ", ".join(part.after), 52, 3) if part.after else []
    header = 18 + 13 * len(after) + 8
    position = {p.docname: (_BOX_X, _TOP + header + i * (_BOX_H + _GAP_Y)) for i, p in enumerate(part.pages)}
    height = _TOP + header + len(part.pages) * (_BOX_H + _GAP_Y)
    marker = f"lp-arrow-{index}"
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_MAP_W} {height}" width="{_MAP_W}" height="{height}" '
        f'style="max-width: 100%; height: auto" role="img" aria-label="{_escape(part.caption)}: pages in reading order, '
        'arrows from prerequisites" font-family="sans-serif" font-size="11">',
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>',
        f'<text x="{_BOX_X}" y="{_TOP + 10}" font-weight="bold" font-size="12">{_escape(part.caption)} · '
        f"{duration(part.minutes)}</text>",
    ]
    for i, line in enumerate(after):
        svg.append(f'<text x="{_BOX_X}" y="{_TOP + 28 + i * 13}" fill="#555">{_escape(line)}</text>')
    for page in part.pages:
        tx, ty = position[page.docname]
        for prereq in page.prerequisites:
            if prereq not in position:
                continue
            sx, sy = position[prereq]
            x1, y1, y2 = sx + _BOX_W, sy + _BOX_H / 2, ty + _BOX_H / 2
            bulge = min(_MAP_W - 4, x1 + 12 + abs(ty - sy) / 8)
            path = f"M{x1},{y1} C{bulge},{y1} {bulge},{y2} {x1 + 2},{y2}"
            svg.append(f'<path d="{path}" fill="none" stroke="#999" stroke-width="1" marker-end="url(#{marker})"/>')
    for page in part.pages:
        x, y = position[page.docname]
        fill = _LEVEL_COLOURS.get(page.level, "#eeeeee")
        lab = page.docname.startswith("book/labs/")
        title = ("Lab: " if lab and not page.title.startswith("Lab") else "") + page.title.replace("`", "")
        svg.append(f'<a href="../{page.docname}.html" style="text-decoration: none"><title>{_escape(title)} '
                   f"({page.minutes} min, {page.level})</title>")
        svg.append(
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{"#6a4c93" if lab else "#8a8a8a"}" stroke-width="{2 if lab else 1}"/>'
        )
        lines = _wrap(title, 44, 2)
        for i, line in enumerate(lines):
            svg.append(f'<text x="{x + 8}" y="{y + 15 + i * 13}" fill="#222">{_escape(line)}</text>')
        svg.append(f'<text x="{x + 8}" y="{y + _BOX_H - 6}" fill="#555" font-size="10">{page.minutes} min · '
                   f"{page.level}</text>")
        svg.append("</a>")
    svg.append("</svg>")
    return "".join(svg)


def map_svg(found: list[Page]) -> str:
    """The learning path as pictures: one narrow SVG per part, a box per page, an arrow per prerequisite within it.

    Plain SVG written here (no Graphviz, no script), so the page displays offline and the pictures can never
    disagree with the front matter they are drawn from. Each part is at most 330 px wide and the parts wrap,
    so the map fits a phone (one column) and a desktop page (two columns) without scrolling sideways.
    """
    figures = [
        f'<div class="learning-path-part" style="flex: 0 1 {_MAP_W}px; min-width: 0">{_part_svg(part, i)}</div>'
        for i, part in enumerate(parts(found))
    ]
    return ('<div class="learning-path-map" style="display: flex; flex-wrap: wrap; gap: 12px 16px; '
            'max-width: 100%">' + "".join(figures) + "</div>")


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
