"""The lab commands, driven like a learner: fail → hint → pass → solution, and the safety rails."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from pathlib import Path

import pytest

from jwtlab.cli import main
from jwtlab.labs import manifest

pytestmark = pytest.mark.slow

LAB = "protect-endpoint"
LAB_COUNT = len(manifest.load().labs)  # other labs come and go; these checks are about lab 1


@pytest.fixture
def learner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """A scratch learner: working copies and progress in a temporary folder, never the real ones."""
    monkeypatch.setenv("JWTLAB_COURSE_ROOT", str(root))
    monkeypatch.setenv("JWTLAB_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("JWTLAB_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def solution(root: Path) -> str:
    return (root / "labs" / LAB / "solution" / "protect.py").read_text(encoding="utf-8")


def test_fail_hint_pass_solution(learner: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "labs")
    assert code == 0 and "not started" in out and f"0 of {LAB_COUNT} passed" in out and "needs: notebooks/02-signing-and-verifying" in out

    code, out = run(capsys, "start", "1")
    work = learner / "work" / LAB / "protect.py"
    assert code == 0 and work.exists() and "TODO(bearer)" in work.read_text()

    code, out = run(capsys, "check", LAB)
    assert code == 1
    assert "FAIL  bearer: Read the bearer token" in out
    assert "not written yet" in out and "Traceback" not in out
    # only the first failing task is detailed; the others are listed as "not yet", without their failures
    assert out.count("FAIL") == 1 and out.count("  not yet  ") == 7
    assert "0 of 8 tasks pass" in out

    code, out = run(capsys, "hint", LAB)
    assert code == 0 and "Hint 1 of 3 for task bearer" in out
    code, out = run(capsys, "hint", LAB)
    assert "Hint 2 of 3 for task bearer" in out
    code, out = run(capsys, "hint", LAB, "scope")
    assert "Hint 1 of 2 for task scope" in out
    run(capsys, "hint", LAB, "scope")
    code, out = run(capsys, "hint", LAB, "scope")
    assert "Hint 2 of 2" in out and "last hint" in out

    code, out = run(capsys, "solution", LAB)
    assert code == 1 and "unlocks once every task passes" in out and "jwt.decode" not in out

    work.write_text(solution(root))
    code, out = run(capsys, "check", LAB)
    assert code == 0, out
    assert "All 8 tasks pass" in out and "FAIL" not in out
    state = json.loads((learner / "state" / "progress.json").read_text())
    assert state["labs"][LAB]["passed"] and all(state["labs"][LAB]["tasks"].values())

    code, out = run(capsys, "labs")
    assert "passed" in out and f"1 of {LAB_COUNT} passed" in out and "8/8 tasks" in out and "Next: jwtlab start forge-then-fix" in out

    code, out = run(capsys, "solution", LAB, "--full")
    assert code == 0 and "def bearer_token" in out and "BEGIN SOLUTION" not in out

    # by default a diff against the learner's passing file: only what differs, not the whole file
    work.write_text(work.read_text().replace("def bearer_token(", "# my own take\ndef bearer_token(", 1))
    code, out = run(capsys, "solution", LAB)
    assert code == 0 and "--- yours/protect.py" in out and "+++ reference/protect.py" in out
    assert "-# my own take" in out and "--full" in out
    assert out.count("\n") < len(solution(root).splitlines())


def test_a_renamed_function_is_named_not_an_import_error(learner: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "start", LAB)
    work = learner / "work" / LAB / "protect.py"
    work.write_text(solution(root).replace("def load_user(", "def load_usr(").replace("user = load_user(", "user = load_usr("))
    code, out = run(capsys, "check", LAB)
    assert code == 1
    assert "missing function load_user in protect.py — did you rename it?" in out
    assert "PASS  bearer" in out and "FAIL  user" in out
    assert "ImportError" not in out and "AttributeError" not in out


def test_the_loader_words_syntax_and_import_errors(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the checks see when the learner's module cannot load: one sentence, never a traceback."""
    from jwtlab.labs.target import LabCodeError, lab_module

    monkeypatch.setenv("JWTLAB_LAB_CODE", str(tmp_path))
    monkeypatch.setattr(sys, "path", [*sys.path])  # the loader puts the code folder first; undo that afterwards
    monkeypatch.setitem(sys.modules, "protect", None)
    lab_dir = root / "labs" / LAB
    with pytest.raises(LabCodeError, match=r"protect\.py is missing from .* run `jwtlab start`"):
        lab_module("protect", lab_dir).app  # noqa: B018
    (tmp_path / "protect.py").write_text("X = 1\n\ndef broken(:\n")
    with pytest.raises(LabCodeError, match=r"protect\.py is not valid Python: line 3"):
        lab_module("protect", lab_dir).app  # noqa: B018
    (tmp_path / "protect.py").write_text("X = 1\nY = 1 / 0\n")
    with pytest.raises(LabCodeError, match=r"protect\.py fails when imported \(protect\.py line 2\): ZeroDivisionError"):
        lab_module("protect", lab_dir).app  # noqa: B018
    (tmp_path / "protect.py").write_text("X = 1\n")
    module = lab_module("protect", lab_dir)
    assert module.X == 1
    with pytest.raises(LabCodeError, match="missing function bearer_token in protect.py — did you rename it?"):
        module.bearer_token  # noqa: B018


def test_start_never_overwrites_edits_without_force(learner: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "start", LAB)
    work = learner / "work" / LAB / "protect.py"
    starter = work.read_text()
    code, _ = run(capsys, "start", LAB)
    assert code == 0, "starting again over an unedited copy is harmless"
    work.write_text(starter + "\n# my notes\n")
    code, out = run(capsys, "start", LAB)
    assert code == 1 and "nothing was overwritten" in out
    assert work.read_text().endswith("# my notes\n")
    code, _ = run(capsys, "start", LAB, "--force")
    assert code == 0 and work.read_text() == starter


def test_reset_asks_first(learner: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "start", LAB)
    work = learner / "work" / LAB / "protect.py"
    starter = work.read_text()
    work.write_text("# edited\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out = run(capsys, "reset", LAB)
    assert code == 1 and "Nothing changed" in out and work.read_text() == "# edited\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out = run(capsys, "reset", LAB)
    assert code == 0 and work.read_text() == starter
    work.write_text("# edited again\n")
    code, out = run(capsys, "reset", LAB, "--yes")
    assert code == 0 and work.read_text() == starter


def test_check_before_start_and_unknown_lab(learner: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "check", LAB)
    assert code == 2 and "jwtlab start protect-endpoint" in out
    with pytest.raises(SystemExit, match="no lab 'nine'"):
        main(["start", "nine"])
    with pytest.raises(SystemExit, match="has no task 'nope'"):
        main(["hint", LAB, "nope"])


def test_watch_reruns_on_save(learner: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "start", LAB)
    work = learner / "work" / LAB / "protect.py"
    before = work.stat().st_mtime_ns

    def save_the_solution() -> None:
        deadline = time.monotonic() + 60
        while work.stat().st_mtime_ns == before and time.monotonic() < deadline:
            # wait until the first run has recorded its results, then save
            progress = learner / "state" / "progress.json"
            if progress.exists() and '"tasks"' in progress.read_text():
                time.sleep(0.2)
                work.write_text(solution(root))
                return
            time.sleep(0.05)

    saver = threading.Thread(target=save_the_solution)
    saver.start()
    code, out = run(capsys, "check", LAB, "--watch", "--max-runs", "3", "--max-minutes", "1", "--interval", "0.1")
    saver.join(5)
    assert code == 0, out
    assert out.count("Lab 1 — Protect an endpoint") == 2, "one run at the start, one after the save"
    assert "Watching" in out and "All 8 tasks pass" in out


def test_damaged_progress_file_is_set_aside(learner: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = learner / "state"
    state.mkdir()
    (state / "progress.json").write_text("{not json")
    code, out = run(capsys, "labs")
    assert code == 0 and f"0 of {LAB_COUNT} passed" in out
    assert (state / "progress.damaged.json").exists()


def test_manifest_root_comes_from_the_environment(learner: Path, root: Path) -> None:
    assert manifest.course_root() == root.resolve()


def test_maintainers_can_check_a_generated_starter(learner: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--against solution|starter` checks the lab itself (the guard test does the same, with coverage)."""
    code, out = run(capsys, "check", LAB, "--against", "starter")
    assert code == 1 and "0 of 8 tasks pass" in out and "(checked the starter of lab 1)" in out
    assert not (learner / "state" / "progress.json").exists(), "checking the lab itself records no progress"


def test_outside_a_course_checkout_is_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTLAB_COURSE_ROOT", str(tmp_path))
    with pytest.raises(SystemExit, match="jwtlab: .*labs.toml"):
        main(["labs"])
