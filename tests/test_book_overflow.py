"""No code or output block in the built book scrolls sideways, on a laptop (1280 px) or a phone (390 px).

A block that scrolls hides the end of its lines: the reader misses the `aud` at the end of a claim line
or the reason code at the end of a rejection. tests/test_readable_code.py keeps code lines within 88
columns; this test checks what a reader actually sees, on every page of the book, including stored
notebook outputs and the `jwtlab inspect` sessions, which no line-length rule reads.
Build the book first (`./course book`); CI does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import learning_path
import pytest
from decoder_browser_support import BUILT_HTML, StaticServer, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.network]

WIDTHS = (1280, 390)
PAGES = sorted({doc for _, doc in learning_path.toc_entries()})

#: Every code block and every notebook output whose content is wider than its box.
WIDE_BLOCKS = """() => {
  const blocks = [...document.querySelectorAll("article pre, article .cell_output > div")];
  return blocks.filter(el => el.scrollWidth > el.clientWidth + 1).map(el => {
    const longest = el.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "");
    return `${el.scrollWidth - el.clientWidth} px too wide: ${longest.trim().slice(0, 60)}`;
  });
}"""


@pytest.fixture(scope="module")
def pages_at() -> Iterator[Any]:
    missing = [doc for doc in PAGES if not (BUILT_HTML / f"{doc}.html").exists()]
    if missing:
        pytest.fail(f"built pages missing {missing[:3]}: build the book first (`./course book`)")
    server = StaticServer(BUILT_HTML)
    browsers = launch_chromium()
    browser = next(browsers)
    contexts = {width: browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 500)
                for width in WIDTHS}
    tabs = {width: context.new_page() for width, context in contexts.items()}

    def wide_blocks(doc: str, width: int) -> list[str]:
        tab = tabs[width]
        tab.goto(f"{server.origin}/{doc}.html")
        tab.wait_for_load_state("load")
        return tab.evaluate(WIDE_BLOCKS)

    yield wide_blocks
    for context in contexts.values():
        context.close()
    browsers.close()
    server.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("doc", PAGES)
def test_no_block_scrolls_sideways(pages_at: Any, doc: str, width: int) -> None:
    assert pages_at(doc, width) == [], f"{doc} at {width} px"
