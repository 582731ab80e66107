"""Sphinx glue for the course book: regenerate the learning-path page before the sources are read."""

from __future__ import annotations

from typing import Any

import learning_path
from sphinx.application import Sphinx
from sphinx.config import Config


def _regenerate(app: Sphinx, config: Config) -> None:
    learning_path.write()


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _regenerate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
