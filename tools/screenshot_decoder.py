"""Take the README's screenshot of the decoder page: `python tools/screenshot_decoder.py`.

Opens the built page (`_build/html/book/tools/decoder.html`, build the book first) from file:// in
the system's headless Chromium, loads the "Wrong audience" example — a valid signature next to a failed
claim check, the distinction the page teaches — and saves `book/_static/decoder/screenshot.png`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "_build" / "html" / "book" / "tools" / "decoder.html"
OUTPUT = ROOT / "book" / "_static" / "decoder" / "screenshot.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="wrong-audience", help="example id to load (default: wrong-audience)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    if not PAGE.exists():
        print(f"{PAGE.relative_to(ROOT)} is missing: build the book first (./course book)", file=sys.stderr)
        return 2
    chromium = os.environ.get("JWTLAB_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.emulate_media(color_scheme="light")
            page.goto(PAGE.as_uri())
            page.wait_for_selector("#jwtd[data-state=ready]")
            # The theme's sticky header would cover the top of the tool in an element screenshot.
            page.add_style_tag(content=".bd-header, .bd-header-article { visibility: hidden !important; }")
            page.click(f"[data-example={args.example}]")
            page.wait_for_selector("#jwtd-verdict[data-state=done]")
            page.locator("#jwtd").screenshot(path=str(args.output), animations="disabled")
        finally:
            browser.close()
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
