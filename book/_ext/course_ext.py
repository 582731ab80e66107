"""Sphinx glue for the course book: regenerate the learning-path page before the sources are read, and
the `{course-parts}` directive that draws the home page's cards from the same front matter."""

from __future__ import annotations

from typing import Any

import learning_path
import quiz
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.docutils import SphinxDirective


def _regenerate(app: Sphinx, config: Config) -> None:
    learning_path.write()


class CoursePartsDirective(SphinxDirective):
    """One card per part with its time and level range, computed from the pages' front matter.

    The content gives, per part, what the reader builds there, one line each: `Part caption: what you build`.
    Times and levels are never typed, so the home page cannot drift from the pages; a part without a line,
    or a line for a part the table of contents does not have, fails the build.
    """

    has_content = True

    def run(self) -> list[nodes.Node]:
        found = learning_path.pages()
        for page in found:
            self.env.note_dependency(str(learning_path.source_of(page.docname)))
        self.env.note_dependency(str(learning_path.TOC))
        builds: dict[str, str] = {}
        for line in self.content:
            if line.strip():
                caption, sep, text = line.partition(": ")
                if not sep:
                    raise self.error(f"expected 'Part caption: what you build', got {line!r}")
                builds[caption.strip()] = text.strip()
        parts = learning_path.parts(found)
        captions = [part.caption for part in parts]
        unknown = sorted(set(builds) - set(captions))
        missing = [c for c in captions if c not in builds]
        if unknown or missing:
            raise self.error(f"course-parts: unknown parts {unknown}, parts without a line {missing}")
        total = sum(part.minutes for part in parts)
        text = [
            f"The whole course takes about **{learning_path.duration(total)}**, in {len(parts)} parts; "
            "each card shows its part's time and level, from the pages themselves.",
            "",
            "::::{grid} 1 1 2 2",
            ":gutter: 3",
            ":class-container: course-parts",
            "",
        ]
        for part in parts:
            text += [
                f":::{{grid-item-card}} {part.caption}",
                f":link: /{part.start}",
                ":link-type: doc",
                ":class-card: course-part-card",
                "",
                f"**{learning_path.duration(part.minutes)}** · {part.levels} · {len(part.pages)} pages",
                "",
                f"**You will** {builds[part.caption]}",
                *self._quiz_line(part),
                ":::",
                "",
            ]
        text.append("::::")
        container = nodes.container()
        self.state.nested_parse(StringList(text, source=self.env.docname), self.content_offset, container)
        return list(container.children)


    def _quiz_line(self, part: learning_path.Part) -> list[str]:
        """'Quiz: 4 questions' for a part whose first page has a quiz; quiz.js marks it passed in this browser."""
        source = learning_path.source_of(part.start)
        quiz_file = source.parent / "quiz.yml"
        if source.suffix != ".md" or "{quiz} quiz.yml" not in source.read_text(encoding="utf-8"):
            return []
        self.env.note_dependency(str(quiz_file))
        data = quiz.load_quiz(quiz_file)
        return ["", f'Quiz: <span class="course-quiz-badge" data-quiz-id="{data["id"]}">'
                f'{len(data["questions"])} questions</span>']


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _regenerate)
    app.add_directive("course-parts", CoursePartsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
