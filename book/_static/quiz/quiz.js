/* Quizzes on the part pages: questions embedded in the page at build time (book/_ext/quiz.py).
 * Feedback appears as soon as a choice is picked, with the explanation of that choice. Nothing is sent
 * anywhere; which quizzes were passed is kept in this browser's localStorage only, if it is available. */
(function () {
  "use strict";
  var STORE_PREFIX = "jwt-course-quiz:";

  function remember(id, value) {
    try { window.localStorage.setItem(STORE_PREFIX + id, value); } catch (e) { /* storage off: no memory */ }
  }
  function recall(id) {
    try { return window.localStorage.getItem(STORE_PREFIX + id); } catch (e) { return null; }
  }

  /* Text with `code` spans, built as DOM nodes: quiz text is never parsed as HTML. */
  function rich(parent, text) {
    text.split("`").forEach(function (part, i) {
      if (!part) return;
      if (i % 2 === 1) {
        var code = document.createElement("code");
        code.textContent = part;
        parent.appendChild(code);
      } else {
        parent.appendChild(document.createTextNode(part));
      }
    });
    return parent;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) rich(node, text);
    return node;
  }

  function build(root) {
    var data = JSON.parse(root.querySelector("script.course-quiz-data").textContent);
    var answered = {};
    root.appendChild(el("p", "course-quiz-title", data.title));
    var status = el("p", "course-quiz-status");
    status.setAttribute("aria-live", "polite");

    data.questions.forEach(function (q, qi) {
      var set = el("fieldset", "course-quiz-question");
      set.dataset.question = String(qi + 1);
      set.dataset.state = "unanswered";
      var legend = el("legend", null, (qi + 1) + ". ");
      rich(legend, q.question);
      set.appendChild(legend);
      var feedback = el("div", "course-quiz-feedback");
      feedback.setAttribute("aria-live", "polite");
      q.choices.forEach(function (choice, ci) {
        var id = "quiz-" + data.id + "-" + (qi + 1) + "-" + (ci + 1);
        var label = el("label", "course-quiz-choice");
        label.htmlFor = id;
        var input = document.createElement("input");
        input.type = "radio";
        input.name = "quiz-" + data.id + "-" + (qi + 1);
        input.id = id;
        input.value = String(ci + 1);
        input.addEventListener("change", function () {
          var ok = choice.correct;
          set.dataset.state = ok ? "correct" : "wrong";
          set.querySelectorAll(".course-quiz-choice").forEach(function (l) { l.removeAttribute("data-picked"); });
          label.dataset.picked = ok ? "correct" : "wrong";
          feedback.textContent = "";
          feedback.appendChild(el("strong", null, ok ? "Correct. " : "Not quite. "));
          rich(feedback, choice.explain);
          if (!ok) feedback.appendChild(el("span", "course-quiz-retry", " Try another answer."));
          answered[qi] = ok;
          update();
        });
        label.appendChild(input);
        label.appendChild(rich(document.createElement("span"), choice.text));
        set.appendChild(label);
      });
      set.appendChild(feedback);
      root.appendChild(set);
    });
    root.appendChild(status);

    function update() {
      var right = 0;
      data.questions.forEach(function (_, qi) { if (answered[qi]) right += 1; });
      var total = data.questions.length;
      if (right === total) {
        remember(data.id, "passed");
        root.dataset.passed = "true";
        status.textContent = "All " + total + " right: quiz passed.";
      } else {
        status.textContent = right + " of " + total + " answered correctly.";
      }
    }
    if (recall(data.id) === "passed") {
      root.dataset.passed = "true";
      status.textContent = "You passed this quiz before. Answer again any time.";
    }
    root.dataset.state = "ready";
  }

  /* The home page's cards: mark the quizzes this browser has passed. */
  function badges() {
    document.querySelectorAll(".course-quiz-badge[data-quiz-id]").forEach(function (badge) {
      if (recall(badge.dataset.quizId) === "passed") {
        badge.dataset.passed = "true";
        badge.textContent = "passed ✓";
      }
    });
  }

  function init() {
    document.querySelectorAll(".course-quiz[data-state=loading]").forEach(build);
    badges();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
