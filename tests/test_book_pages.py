"""Book pages in real headless Chromium, as a reader on a laptop (1280 px) and on a phone (390 px) sees them.

No page may log a console error or raise a script error — the theme stack used to log one on every page
(thebe's configuration declared twice, an unset colour mode, a missing icon), which hid real errors. The
home page must offer its start button and one card per part, and the learning-path map must fit its column.
Build the book first (`./course book`); CI does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import learning_path
import pytest
from decoder_browser_support import BUILT_HTML, StaticServer, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.network]

PAGES = {
    "home": "/book/intro.html",
    "notebook": "/notebooks/01-anatomy.html",
    "decoder": "/book/tools/decoder.html",
    "lab": "/book/labs/protect-endpoint.html",
    "learning path": "/book/learning-path.html",
}
WIDTHS = (1280, 390)


def require_built_book() -> None:
    missing = [path for path in PAGES.values() if not (BUILT_HTML / path.lstrip("/")).exists()]
    if missing:
        pytest.fail(f"built pages missing {missing}: build the book first (`./course book`); CI builds it first")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_built_book()
    yield from launch_chromium()


@pytest.fixture(scope="module")
def site() -> Iterator[StaticServer]:
    server = StaticServer(BUILT_HTML)
    yield server
    server.close()


def open_page(browser: Any, site: StaticServer, path: str, width: int) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 500)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda message: errors.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.goto(site.origin + path)
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)  # deferred theme scripts run after load
    return page, errors


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_has_no_console_or_script_error(browser: Any, site: StaticServer, name: str, width: int) -> None:
    page, errors = open_page(browser, site, PAGES[name], width)
    try:
        assert errors == [], f"{name} at {width} px"
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px scrolls sideways by {overflow} px"
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_home_page_has_start_button_and_one_card_per_part(browser: Any, site: StaticServer, width: int) -> None:
    page, _ = open_page(browser, site, PAGES["home"], width)
    try:
        start = page.locator("a.course-start")
        assert start.count() == 1 and start.is_visible()
        assert start.inner_text().startswith("Start with the anatomy of a JWT")
        assert start.get_attribute("href").endswith("notebooks/01-anatomy.html")
        parts = learning_path.parts(learning_path.pages())
        cards = page.locator(".course-part-card")
        assert cards.count() == len(parts) == 8  # Parts I-V, attacks, tools, labs
        for index, part in enumerate(parts):
            text = cards.nth(index).inner_text()
            assert part.caption in text and learning_path.duration(part.minutes) in text, text
        total = learning_path.duration(sum(part.minutes for part in parts))
        assert f"The whole course takes about {total}" in page.inner_text("article")
        boxes = page.eval_on_selector_all(".course-part-card", "cs => cs.map(c => c.getBoundingClientRect().right)")
        assert max(boxes) <= width, "no card is cut off"
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_learning_path_map_fits_its_column(browser: Any, site: StaticServer, width: int) -> None:
    page, _ = open_page(browser, site, PAGES["learning path"], width)
    try:
        layout = page.evaluate("""() => {
            const map = document.querySelector('.learning-path-map');
            const column = map.parentElement.getBoundingClientRect();
            const boxes = [...map.querySelectorAll('svg')].map(s => s.getBoundingClientRect());
            return {scroll: map.scrollWidth, client: map.clientWidth, columnRight: column.right,
                    columnLeft: column.left, right: Math.max(...boxes.map(b => b.right)),
                    left: Math.min(...boxes.map(b => b.left)), parts: boxes.length};
        }""")
        assert layout["scroll"] <= layout["client"], layout
        assert layout["columnLeft"] - 1 <= layout["left"] and layout["right"] <= layout["columnRight"] + 1, layout
        assert layout["right"] <= width, layout
        assert layout["parts"] == len(learning_path.parts(learning_path.pages()))
    finally:
        page.context.close()
