"""The part quizzes in real headless Chromium: a reader answers, and the page explains.

Drives the built Part I page (`_build/html/book/basics/index.html`; build the book first, CI does) over
127.0.0.1 and from file://. The questions are read from the same YAML file the build embedded, so the test
answers whichever choice the file marks correct, and one it does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import quiz
from decoder_browser_support import BUILT_HTML, ROOT, StaticServer, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.network]

PAGE = BUILT_HTML / "book" / "basics" / "index.html"
QUIZ_FILE = ROOT / "book" / "basics" / "quiz.yml"
QUIZ_PAGES = {"basics": "index", "algorithms": "index", "attacks": "index", "errors": "index", "architecture": "index"}


def require_built_quiz() -> None:
    if not PAGE.exists() or "course-quiz" not in PAGE.read_text(encoding="utf-8"):
        pytest.fail("the built Part I page has no quiz: build the book first (`./course book`); CI builds it first")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_built_quiz()
    yield from launch_chromium()


@pytest.fixture(scope="module")
def site() -> Iterator[StaticServer]:
    server = StaticServer(BUILT_HTML)
    yield server
    server.close()


def answer(page: Any, question: int, choice: int) -> dict[str, str]:
    """Pick a choice like a reader (click its label) and read back the question's state and feedback."""
    page.click(f".course-quiz-question[data-question='{question}'] label:nth-of-type({choice})")
    selector = f".course-quiz-question[data-question='{question}']"
    return {
        "state": page.get_attribute(selector, "data-state"),
        "feedback": page.inner_text(f"{selector} .course-quiz-feedback"),
        "status": page.inner_text(".course-quiz-status"),
    }


def plain(text: str) -> str:
    """Quiz text as the page shows it: `code` spans lose their backticks."""
    return text.replace("`", "")


def check_one_right_one_wrong(page: Any) -> None:
    questions = quiz.load_quiz(QUIZ_FILE)["questions"]
    page.wait_for_selector(".course-quiz[data-state=ready]")
    assert page.locator(".course-quiz-question").count() == len(questions)

    first = questions[0]["choices"]
    right = next(i for i, c in enumerate(first, 1) if c["correct"])
    result = answer(page, 1, right)
    assert result["state"] == "correct"
    assert result["feedback"].startswith("Correct.")
    assert plain(first[right - 1]["explain"]) in result["feedback"]

    second = questions[1]["choices"]
    wrong = next(i for i, c in enumerate(second, 1) if not c["correct"])
    result = answer(page, 2, wrong)
    assert result["state"] == "wrong"
    assert result["feedback"].startswith("Not quite.")
    assert plain(second[wrong - 1]["explain"]) in result["feedback"], "a wrong choice is explained"
    assert "Try another answer" in result["feedback"]
    assert result["status"] == f"1 of {len(questions)} answered correctly."


def test_quiz_gives_feedback_and_explains_a_wrong_choice(browser: Any, site: StaticServer) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(site.origin + "/book/basics/index.html")
        check_one_right_one_wrong(page)
        # Answer everything correctly: the quiz is passed, and remembered in this browser only.
        for number, question in enumerate(quiz.load_quiz(QUIZ_FILE)["questions"], 1):
            answer(page, number, next(i for i, c in enumerate(question["choices"], 1) if c["correct"]))
        assert page.inner_text(".course-quiz-status").endswith("quiz passed.")
        assert page.evaluate("localStorage.getItem('jwt-course-quiz:part-1-basics')") == "passed"
        page.reload()
        page.wait_for_selector(".course-quiz[data-state=ready]")
        assert "passed this quiz before" in page.inner_text(".course-quiz-status")
        # The home page's card for Part I shows the pass; the other parts' quizzes are not passed yet.
        page.goto(site.origin + "/book/intro.html")
        page.wait_for_load_state("load")
        assert page.inner_text(".course-quiz-badge[data-quiz-id=part-1-basics]") == "passed ✓"
        assert page.inner_text(".course-quiz-badge[data-quiz-id=part-2-algorithms]") == "4 questions"
        assert [url for url in requests if not url.startswith(site.origin + "/")] == [], "nothing leaves the machine"
        assert errors == []
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], "the quiz fits a phone's width"
    finally:
        context.close()


def test_quiz_works_from_a_file_url(browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(PAGE.as_uri())
        check_one_right_one_wrong(page)
    finally:
        context.close()


@pytest.mark.parametrize("part", sorted(QUIZ_PAGES))
def test_every_part_page_embeds_its_quiz_from_its_file(part: str) -> None:
    built = BUILT_HTML / "book" / part / f"{QUIZ_PAGES[part]}.html"
    if not built.exists():
        pytest.fail(f"{built.relative_to(BUILT_HTML)} is missing: build the book first (`./course book`)")
    match = re.search(r'<script type="application/json" class="course-quiz-data">(.*?)</script>',
                      built.read_text(encoding="utf-8"), re.DOTALL)
    assert match, f"book/{part}/{QUIZ_PAGES[part]} has no quiz"
    expected = quiz.load_quiz(ROOT / "book" / part / "quiz.yml")
    assert json.loads(match.group(1)) == expected, "the page's quiz is stale: rebuild the book"
    assert 3 <= len(expected["questions"]) <= 5


def test_quiz_files_are_refused_when_incomplete(tmp_path: Path) -> None:
    bad = tmp_path / "quiz.yml"
    bad.write_text("id: x\nquestions:\n" + "  - question: Q\n    choices:\n      - {text: a, explain: e}\n"
                   "      - {text: b, explain: e}\n" * 3, encoding="utf-8")
    with pytest.raises(quiz.QuizError, match="exactly one choice"):
        quiz.load_quiz(bad)
    assert "<" not in quiz.embedded_json({"t": "</script><!--"})
