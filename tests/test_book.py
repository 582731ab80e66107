"""The book: learning path complete and consistent, glossary large enough, build output present."""

from __future__ import annotations

import re
from pathlib import Path

import learning_path


def test_every_page_has_front_matter_and_real_prerequisites() -> None:
    assert learning_path.problems() == []


def test_learning_path_page_is_up_to_date() -> None:
    assert learning_path.OUTPUT.read_text(encoding="utf-8") == learning_path.render(), (
        "book/learning-path.md is stale: run `python book/_ext/learning_path.py` (the book build also regenerates it)"
    )


def test_learning_path_lists_every_page_with_minutes() -> None:
    text = learning_path.render()
    for page in learning_path.pages():
        assert f"### {page.title}" in text or f"### Lab: {page.title}" in text
        assert "Lab: Lab" not in text
        assert f"*{page.minutes} min · {page.level}* · prerequisites:" in text
        assert f"open the page </{page.docname}>`" in text


def test_prerequisite_checker_catches_unknown_pages(tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "a.md").write_text(
        "---\nminutes: 5\nlevel: beginner\nprerequisites: [book/nowhere]\nobjectives: [x]\n---\n# A\n"
    )
    toc = tmp_path / "toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: P\n    chapters:\n      - file: book/a\n")
    assert learning_path.problems(toc, tmp_path) == ["book/a: prerequisite 'book/nowhere' is not a page of the book"]


def glossary_terms(root: Path) -> list[str]:
    text = (root / "glossary.md").read_text(encoding="utf-8")
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith((" ", "\t"))]


def test_glossary_has_at_least_25_plainly_defined_terms(root: Path) -> None:
    terms = glossary_terms(root)
    assert len(terms) >= 25
    assert len(set(terms)) == len(terms), "a term is defined twice"
    assert terms == sorted(terms, key=str.lower), "keep the glossary in A-Z order"


def test_every_glossary_term_is_used_somewhere(root: Path) -> None:
    sources = [p for d in ("book", "notebooks") for p in (root / d).rglob("*") if p.suffix in (".md", ".ipynb")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sources) + (root / "glossary.md").read_text()
    used = {m.lower() for m in re.findall(r"\{term\}`(?:[^`<]*<)?([^`>]+)>?`", text)}
    unused = [t for t in glossary_terms(root) if t.lower() not in used]
    assert not unused, f"terms no page links to: {unused}"


def test_built_book_has_index_and_no_external_assets(root: Path) -> None:
    index = root / "_build" / "html" / "index.html"
    assert index.exists(), "run the book build first (./course book); CI builds it before the tests"
    html = index.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=\"https?://", html), "the book must not load scripts from a CDN"


def test_learning_path_map_links_every_page_and_draws_every_prerequisite() -> None:
    found = learning_path.pages()
    svg = learning_path.map_svg(found)
    for page in found:
        assert f'href="../{page.docname}.html"' in svg
    parts = learning_path.parts(found)
    part_of = {page.docname: part.caption for part in parts for page in part.pages}
    inside = sum(1 for page in found for prereq in page.prerequisites if part_of.get(prereq) == page.part)
    assert len(re.findall(r'marker-end="url\(#lp-arrow-\d+\)"', svg)) == inside, "an arrow per prerequisite in a part"
    for part in parts:  # prerequisites in earlier parts are named in the part's header
        needed = {part_of[q] for page in part.pages for q in page.prerequisites if part_of.get(q, part.caption) != part.caption}
        assert set(part.after) == needed
        shown = re.sub(r"</text><text[^>]*>", " ", svg)  # the header's wrapped lines read as one
        assert all(caption in shown for caption in part.after), part.caption
    assert svg.count("<svg ") == len(parts), "one picture per part, so the map wraps to the page's width"
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", ""), "the map must not load anything"
