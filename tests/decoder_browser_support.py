"""Headless Chromium for the decoder tests: the system's Chromium driven by Playwright, nothing downloaded.

The browser tests must fail, not skip, when Chromium is missing: a skipped browser test would let a
broken decoder page pass CI unnoticed. `launch_chromium` therefore raises `pytest.fail` with the fix.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_JS = ROOT / "book" / "_static" / "decoder" / "decoder-core.js"
BUILT_HTML = ROOT / "_build" / "html"
BUILT_PAGE = BUILT_HTML / "book" / "tools" / "decoder.html"
BUILT_DATA = BUILT_HTML / "_static" / "decoder" / "data.js"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
INSTALL_HINT = (
    "the decoder's browser tests need Chromium at /usr/bin/chromium (or its path in JWTLAB_CHROMIUM). "
    "Install it with `sudo apt-get install chromium` (`./course test` does this on CI); "
    "the `playwright` Python package comes from requirements.lock (`./course setup`). "
    "Do not run `playwright install`: the system's Chromium is used."
)


def chromium_path() -> str:
    return os.environ.get("JWTLAB_CHROMIUM", "/usr/bin/chromium")


@functools.cache
def _sync_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("the `playwright` package is missing: run ./course setup. " + INSTALL_HINT)
    return sync_api


def launch_chromium() -> Iterator[Any]:
    """Yield a headless Chromium Browser; fail the test (never skip) if it cannot start."""
    path = chromium_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"no Chromium at {path}: {INSTALL_HINT}")
    sync_api = _sync_api()
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.fail(f"Chromium at {path} did not start ({str(exc)[:300]}): {INSTALL_HINT}")
        try:
            yield browser
        finally:
            browser.close()


def require_built_page() -> None:
    if not BUILT_PAGE.exists() or not BUILT_DATA.exists():
        pytest.fail(
            "the built decoder page is missing: build the book first "
            "(`./course book`, or jupyter-book build . --config book/_config.yml --toc book/_toc.yml); "
            "CI builds it before the tests"
        )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class StaticServer:
    """The built book on 127.0.0.1, port chosen by the OS; stopped by `close()`."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
