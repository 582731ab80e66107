"""Sphinx glue for the course book: regenerate the learning-path page before the sources are read."""

from __future__ import annotations

from typing import Any

import learning_path
from sphinx.application import Sphinx
from sphinx.config import Config


def _regenerate(app: Sphinx, config: Config) -> None:
    learning_path.write()


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Drop repeated inline scripts: the theme stack registers sphinx-thebe's configuration twice, and the
    second `const THEBE_JS_URL` declaration is a script error on every page."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        key = (str(script), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _regenerate)
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
