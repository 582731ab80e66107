"""Every file the book includes by path fits the 88-column code box, line by line.

The book shows tested files with `{literalinclude}` rather than pasted copies. At 1280 px the code
box holds 88 columns (book/_static/code-width.css); a longer line scrolls sideways and hides its end —
often the reason code or the claim that matters. This test reads exactly what each directive
includes (Sphinx's own reader, so `:pyobject:`, `:lines:`, `:start-after:` and `:dedent:` count as
they do in the build) and names every line over the limit, so the fix is a wrap in the source file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sphinx.config import Config
from sphinx.directives.code import LiteralIncludeReader

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = 88
READER_OPTIONS = {
    "pyobject", "lines", "start-after", "end-before", "start-at", "end-at", "dedent", "tab-width",
}
DIRECTIVE = re.compile(
    r"^(`{3,}|:{3,})\{literalinclude\}[ \t]+(\S+)[ \t]*\n((?:[ \t]*:[\w-]+:[^\n]*\n)*)", re.MULTILINE
)


def includes() -> list[tuple[str, Path, dict[str, str]]]:
    """(where, included file, reader options) for every literalinclude under book/."""
    found = []
    for page in sorted((ROOT / "book").rglob("*.md")):
        if "_build" in page.parts:
            continue
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            options: dict[str, str] = {}
            for line in match.group(3).splitlines():
                name, _, value = line.strip()[1:].partition(":")
                value = value.strip()
                if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                options[name] = value
            where = f"{page.relative_to(ROOT)}:{page.read_text()[: match.start()].count(chr(10)) + 1}"
            found.append((where, (page.parent / match.group(2)).resolve(), options))
    return found


INCLUDES = includes()


def test_the_book_includes_files() -> None:
    assert len(INCLUDES) > 20, "the pages include tested files by path"


@pytest.mark.parametrize(("where", "target", "options"), INCLUDES, ids=[w for w, _, _ in INCLUDES])
def test_included_lines_fit_the_code_box(where: str, target: Path, options: dict[str, str]) -> None:
    reader_options = {k: v for k, v in options.items() if k in READER_OPTIONS}
    if "dedent" in reader_options:  # `:dedent:` alone removes the common indentation
        value = reader_options["dedent"]
        reader_options["dedent"] = int(value) if value else None  # type: ignore[assignment]

    text, _ = LiteralIncludeReader(str(target), reader_options, Config()).read()
    wide = [f"{len(line)}: {line.strip()[:60]}" for line in text.splitlines() if len(line) > COLUMNS]
    assert wide == [], f"{target.relative_to(ROOT)} lines over {COLUMNS} columns, as {where} includes it"
