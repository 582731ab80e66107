"""Screenshots of built book pages at a laptop's and a phone's width: `python tools/screenshot_pages.py`.

For looking at what we ship without serving the site: opens each page of `_build/html` (build the
book first) from file:// in the system's headless Chromium at 1280 px and 390 px and saves a
full-page PNG per page and width under `_build/screenshots/` (git-ignored, made anew each run).
By default the home page and the learning path; name other pages relative to `_build/html`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from screenshot_decoder import ARGS

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
OUTPUT = ROOT / "_build" / "screenshots"
DEFAULT_PAGES = ("book/intro.html", "book/learning-path.html")
WIDTHS = (1280, 390)


def shot_name(page: str, width: int) -> str:
    """`book/learning-path.html` at 390 px → `learning-path-390.png`: short names that sort by page."""
    return f"{Path(page).stem}-{width}.png"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", default=list(DEFAULT_PAGES), help="pages under _build/html")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    missing = [page for page in args.pages if not (HTML / page).exists()]
    if missing:
        print(f"missing {', '.join(missing)} under _build/html: build the book first (./course book)",
              file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("JWTLAB_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
                page.emulate_media(color_scheme="light")
                for name in args.pages:
                    page.goto((HTML / name).as_uri())
                    target = args.output / shot_name(name, width)
                    page.screenshot(path=str(target), full_page=True, animations="disabled")
                    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
                    print(f"wrote {shown}")
                page.close()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
