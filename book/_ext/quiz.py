"""The `{quiz}` directive: a short multiple-choice quiz answered in the page, from a YAML file beside it.

    ```{quiz} quiz.yml
    ```

Why the questions are embedded at build time: the book must work when opened from file://, where a page may
run scripts but may not fetch files. So the directive reads the YAML, checks it (one correct choice per
question, an explanation for every choice), and writes it into the page as a JSON script element that
`_static/quiz/quiz.js` turns into questions. Nothing is sent anywhere; the only state is which quizzes were
passed, kept in the reader's own localStorage.

A quiz file:

    id: basics                # unique across the book; the localStorage key
    title: Check your understanding of Part I
    questions:
      - question: What does decoding a token prove?
        choices:
          - text: Nothing about who made it
            correct: true
            explain: Anyone can base64url-encode any header and claims.
          - text: That the issuer signed it
            explain: Only verifying the signature with a trusted key shows that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.writers.html5 import HTML5Translator

MIN_QUESTIONS, MAX_QUESTIONS = 3, 5


class QuizError(ValueError):
    """A quiz file that cannot be shown as written."""


def load_quiz(path: Path) -> dict[str, Any]:
    """Read and check a quiz file; every problem is reported with the question it is in."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise QuizError(f"{path.name}: needs an `id`")
    questions = data.get("questions")
    if not isinstance(questions, list) or not MIN_QUESTIONS <= len(questions) <= MAX_QUESTIONS:
        raise QuizError(f"{path.name}: needs {MIN_QUESTIONS}–{MAX_QUESTIONS} questions")
    clean = []
    for number, question in enumerate(questions, 1):
        where = f"{path.name}, question {number}"
        choices = question.get("choices") if isinstance(question, dict) else None
        if not isinstance(question.get("question"), str) or not isinstance(choices, list) or len(choices) < 2:
            raise QuizError(f"{where}: needs `question` and at least two `choices`")
        if sum(1 for c in choices if c.get("correct") is True) != 1:
            raise QuizError(f"{where}: exactly one choice must be `correct: true`")
        for choice in choices:
            if not isinstance(choice.get("text"), str) or not isinstance(choice.get("explain"), str):
                raise QuizError(f"{where}: every choice needs `text` and `explain`")
        clean.append({
            "question": question["question"].strip(),
            "choices": [
                {"text": c["text"].strip(), "correct": c.get("correct") is True, "explain": c["explain"].strip()}
                for c in choices
            ],
        })
    return {"id": data["id"], "title": str(data.get("title", "Check your understanding")), "questions": clean}


def embedded_json(quiz: dict[str, Any]) -> str:
    """JSON that is safe inside <script>: no `</script>` or `<!--` can end or confuse the element."""
    text = json.dumps(quiz, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class quiz_node(nodes.General, nodes.Element):  # noqa: N801 - docutils names nodes in lower case
    """A quiz; only the HTML builder shows it."""


def visit_quiz_html(self: HTML5Translator, node: quiz_node) -> None:
    quiz = node["quiz"]
    count = len(quiz["questions"])
    self.body.append(
        f'<div class="course-quiz" data-quiz-id="{self.attval(quiz["id"])}" data-state="loading">'
        f'<script type="application/json" class="course-quiz-data">{embedded_json(quiz)}</script>'
        f'<noscript><p>This quiz ({count} questions) needs JavaScript.</p></noscript>'
    )


def depart_quiz_html(self: HTML5Translator, node: quiz_node) -> None:
    self.body.append("</div>")


def skip_node(self: Any, node: quiz_node) -> None:
    raise nodes.SkipNode


class QuizDirective(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        relative, absolute = self.env.relfn2path(self.arguments[0], self.env.docname)
        path = Path(absolute)
        if not path.is_file():
            raise self.error(f"quiz file not found: {relative}")
        self.env.note_dependency(relative)
        try:
            quiz = load_quiz(path)
        except (QuizError, yaml.YAMLError) as exc:
            raise self.error(str(exc)) from exc
        return [quiz_node(quiz=quiz)]


def _add_assets(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Load the quiz script and style only on pages with a quiz or a quiz badge (the home page's cards)."""
    badges = doctree is not None and any("course-quiz-badge" in n.astext() for n in doctree.findall(nodes.raw))
    if doctree is not None and (badges or any(True for _ in doctree.findall(quiz_node))):
        app.add_css_file("quiz/quiz.css")
        app.add_js_file("quiz/quiz.js", defer="defer")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(
        quiz_node,
        html=(visit_quiz_html, depart_quiz_html),
        latex=(skip_node, None),
        text=(skip_node, None),
        man=(skip_node, None),
        texinfo=(skip_node, None),
    )
    app.add_directive("quiz", QuizDirective)
    app.connect("html-page-context", _add_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
