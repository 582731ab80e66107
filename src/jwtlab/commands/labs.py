"""The lab commands: `jwtlab labs | start | check | hint | reset | solution`.

The loop a learner follows: `start` makes a working copy from the generated starter, `check` runs the
lab's checks against it and reports per task, `hint` gives the next hint for the first failing task,
`reset` goes back to the starter, and `solution` shows the reference only once the lab has passed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from jwtlab.labs import manifest as manifest_mod
from jwtlab.labs.generate import solution_text
from jwtlab.labs.manifest import Lab, Manifest
from jwtlab.labs.progress import Progress, edited_files, work_dir, write_starter
from jwtlab.labs.runner import CheckRun, run_checks


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="write a workspace with the labs into DIR (outside a course checkout)")
    p.add_argument("dir", nargs="?", default="jwtlab-labs", help="folder to create or fill (default: jwtlab-labs)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("labs", help="list the labs with your progress")
    p.set_defaults(func=cmd_labs)

    p = sub.add_parser("start", help="create your working copy of a lab from its starter")
    p.add_argument("lab", help="lab id or number, e.g. protect-endpoint or 1")
    p.add_argument("--force", action="store_true", help="replace your edited files with the starter")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("check", help="run a lab's checks against your code, per task")
    p.add_argument("lab")
    p.add_argument("--watch", action="store_true", help="re-run the checks every time you save")
    p.add_argument("--max-runs", type=int, default=100, help="with --watch: stop after this many runs (default 100)")
    p.add_argument("--max-minutes", type=float, default=60, help="with --watch: stop after this long (default 60)")
    p.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    p.add_argument("--against", choices=["solution", "starter"],
                   help="maintainers: check the reference solution or a freshly generated starter instead of your copy")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("hint", help="the next hint for the first failing task (or for TASK)")
    p.add_argument("lab")
    p.add_argument("task", nargs="?")
    p.set_defaults(func=cmd_hint)

    p = sub.add_parser("reset", help="put a lab's working copy back to the starter")
    p.add_argument("lab")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("solution", help="diff your passing code against the reference solution (once you have passed it)")
    p.add_argument("lab")
    p.add_argument("--full", action="store_true", help="print the whole reference file instead of the diff")
    p.set_defaults(func=cmd_solution)


def cmd_init(args: argparse.Namespace) -> int:
    """Copy the labs shipped with the package (or this checkout's) into DIR/labs, the way rustlings init does."""
    target = Path(args.dir).resolve() / "labs"
    if (target / "labs.toml").exists():
        print(f"{target} already holds the labs; nothing to do. cd {args.dir} && jwtlab labs")
        return 0
    source = manifest_mod.packaged_labs()
    if source is None:
        print("this installation ships no labs (build the package from the course sources)", file=sys.stderr)
        return 1
    import shutil

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("work", "__pycache__", ".pytest_cache", "*.pyc"))
    print(f"wrote the labs into {target}\nnext: cd {args.dir} && jwtlab labs && jwtlab start 1")
    return 0


def _context(name: str | None = None) -> tuple[Manifest, Lab | None, Progress]:
    try:
        manifest = manifest_mod.load()
    except FileNotFoundError as exc:
        raise SystemExit(f"jwtlab: {exc}") from None
    lab = manifest.lab(name) if name is not None else None
    return manifest, lab, Progress.load(manifest.root)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _lab_or_exit(name: str) -> tuple[Manifest, Lab, Progress]:
    try:
        manifest, lab, progress = _context(name)
    except KeyError as exc:
        raise SystemExit(f"jwtlab: {exc.args[0]}") from None
    assert lab is not None
    return manifest, lab, progress


def cmd_labs(args: argparse.Namespace) -> int:
    manifest, _, progress = _context()
    statuses = {lab.id: progress.status(lab) for lab in manifest.labs}
    done = sum(s == "passed" for s in statuses.values())
    print(f"Labs — {done} of {len(manifest.labs)} passed\n")
    width = max(len(lab.title) for lab in manifest.labs)
    for lab in manifest.labs:
        prereqs = ", ".join(p.replace("lab:", "lab ") for p in lab.prerequisites) or "none"
        tasks = progress.data["labs"].get(lab.id, {}).get("tasks") or {}
        done_tasks = f"{sum(tasks.values())}/{len(lab.tasks)} tasks" if tasks else f"{len(lab.tasks)} tasks"
        print(f"  {lab.number}. {lab.title:<{width}}  {statuses[lab.id]:<11}  {lab.minutes:>3} min  {lab.level:<12}  {done_tasks}")
        print(f"     id: {lab.id} · needs: {prereqs}")
    upcoming = next((lab for lab in manifest.labs if statuses[lab.id] != "passed"), None)
    if upcoming:
        verb = "check" if statuses[upcoming.id] == "in progress" else "start"
        print(f"\nNext: jwtlab {verb} {upcoming.id}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    manifest, lab, progress = _lab_or_exit(args.lab)
    folder = work_dir(lab)
    edited = edited_files(lab)
    if edited and not args.force:
        print(f"Your working copy already has edits ({', '.join(edited)} in {_rel(folder, manifest.root)}/); "
              "nothing was overwritten.\nKeep going with `jwtlab check "
              f"{lab.id}`, or start over with `jwtlab start {lab.id} --force` (or `jwtlab reset {lab.id}`).")
        return 1
    write_starter(lab)
    progress.mark_started(lab)
    progress.save()
    print(f"Lab {lab.number} — {lab.title}: your files are in {_rel(folder, manifest.root)}/")
    for file in lab.files:
        print(f"  {_rel(folder / file, manifest.root)}")
    print(f"Read the lab page ({lab.page}), edit the TODOs in order, then run `jwtlab check {lab.id}`.")
    return 0


def report(run: CheckRun, out: list[str]) -> None:
    lab = run.lab
    out.append(f"Lab {lab.number} — {lab.title}")
    detailed = False  # like rustlings: the first failing task in full, the later ones only as "not yet"
    for result in run.tasks:
        task = lab.task(result.task)
        if not result.passed and detailed:
            out.append(f"  not yet  {task.id}: {task.title}")
            continue
        mark = "PASS" if result.passed else "FAIL"
        detailed = detailed or not result.passed
        out.append(f"  {mark}  {task.id}: {task.title}")
        seen: list[str] = []
        for failure in result.failures:
            if failure not in seen:
                seen.append(failure)
        for failure in seen[:3]:
            lines = failure.splitlines() or [""]
            out.append(f"        - {lines[0]}")
            out.extend(f"          {line}" for line in lines[1:6])
        if len(seen) > 3:
            out.append(f"        (and {len(seen) - 3} more)")
    if run.error:
        out.append("")
        out.append(run.error)
    passed = sum(t.passed for t in run.tasks)
    out.append("")
    if run.passed:
        out.append(f"All {len(run.tasks)} tasks pass. Lab passed! `jwtlab solution {lab.id}` shows the reference solution.")
    else:
        out.append(f"{passed} of {len(run.tasks)} tasks pass. Stuck on {run.first_failing}? `jwtlab hint {lab.id}`")


def _check_once(manifest: Manifest, lab: Lab) -> int:
    folder = work_dir(lab)
    if not folder.exists():
        print(f"No working copy of lab {lab.number} yet: run `jwtlab start {lab.id}` first.")
        return 2
    started = time.monotonic()
    run = run_checks(lab, folder)
    lines: list[str] = []
    report(run, lines)
    lines.append(f"(checked {_rel(folder, manifest.root)}/ in {time.monotonic() - started:.1f} s)")
    print("\n".join(lines), flush=True)
    progress = Progress.load(manifest.root)
    progress.record(lab, {} if run.error else {t.task: t.passed for t in run.tasks})
    progress.save()
    return 0 if run.passed else 1


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*.py"))} if folder.exists() else {}


def _check_against(lab: Lab, against: str) -> int:
    """Run the checks on the reference solution or a generated starter; records no progress."""
    with tempfile.TemporaryDirectory(prefix="jwtlab-starter-") as tmp:
        code = lab.solution_dir if against == "solution" else write_starter(lab, Path(tmp))
        run = run_checks(lab, code)
    lines: list[str] = []
    report(run, lines)
    lines.append(f"(checked the {against} of lab {lab.number})")
    print("\n".join(lines))
    return 0 if run.passed else 1


def cmd_check(args: argparse.Namespace) -> int:
    manifest, lab, _ = _lab_or_exit(args.lab)
    if args.against:
        return _check_against(lab, args.against)
    folder = work_dir(lab)
    seen = _snapshot(folder)  # taken before the run, so a save during the run triggers the next one
    code = _check_once(manifest, lab)
    if not args.watch or code != 1:  # nothing to watch for: passed already, or not started
        return code
    deadline = time.monotonic() + args.max_minutes * 60
    runs = 1
    print(f"\nWatching {_rel(folder, manifest.root)}/ — save a file to re-run the checks (Ctrl-C stops).", flush=True)
    while runs < args.max_runs and time.monotonic() < deadline:
        time.sleep(args.interval)
        now = _snapshot(folder)
        if now == seen:
            continue
        seen = now
        runs += 1
        print("\n" + "-" * 60, flush=True)
        code = _check_once(manifest, lab)
        if code == 0:
            return 0
    print(f"\nStopped watching after {runs} runs.")
    return code


def cmd_hint(args: argparse.Namespace) -> int:
    _, lab, progress = _lab_or_exit(args.lab)
    if args.task:
        try:
            task = lab.task(args.task)
        except KeyError as exc:
            raise SystemExit(f"jwtlab: {exc.args[0]}") from None
    else:
        failing = progress.first_failing(lab)
        if failing is None and progress.data["labs"].get(lab.id, {}).get("tasks"):
            print(f"Every task of lab {lab.number} passes: no hint needed. `jwtlab solution {lab.id}` shows the reference.")
            return 0
        task = lab.task(failing) if failing else lab.tasks[0]
    tier = progress.next_hint_tier(lab, task.id)
    progress.save()
    print(f"Hint {tier + 1} of {len(task.hints)} for task {task.id} ({task.title}):\n")
    print(task.hints[tier])
    if tier + 1 < len(task.hints):
        print(f"\nStill stuck? `jwtlab hint {lab.id} {task.id}` again gives the next hint.")
    else:
        print("\nThat was the last hint for this task.")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    manifest, lab, progress = _lab_or_exit(args.lab)
    folder = work_dir(lab)
    edited = edited_files(lab)
    if edited and not args.yes:
        try:
            answer = input(f"Replace {', '.join(edited)} in {_rel(folder, manifest.root)}/ with the starter? "
                           "Your edits will be lost. [y/N] ")
        except EOFError:  # no terminal to ask: the safe answer is no
            answer = ""
            print()
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing changed. (Add --yes to reset without being asked.)")
            return 1
    write_starter(lab)
    progress.mark_started(lab)
    progress.save()
    print(f"Lab {lab.number} is back to the starter in {_rel(folder, manifest.root)}/.")
    return 0


def cmd_solution(args: argparse.Namespace) -> int:
    _, lab, progress = _lab_or_exit(args.lab)
    if progress.status(lab) != "passed":
        print(f"The solution of lab {lab.number} unlocks once every task passes (`jwtlab check {lab.id}`). "
              f"Try `jwtlab hint {lab.id}` first.")
        return 1
    import difflib

    folder = work_dir(lab)
    for file in lab.files:
        text = solution_text((lab.solution_dir / file).read_text(encoding="utf-8"))
        mine = folder / file
        if args.full or not mine.is_file():
            print(f"# ===== {file} (reference solution) =====")
            sys.stdout.write(text)
            print()
            continue
        # A diff shows what the reference does differently from the code that just passed, not 300 lines to reread.
        diff = list(difflib.unified_diff(mine.read_text(encoding="utf-8").splitlines(keepends=True),
                                         text.splitlines(keepends=True),
                                         fromfile=f"yours/{file}", tofile=f"reference/{file}"))
        if diff:
            sys.stdout.writelines(diff)
        else:
            print(f"{file}: yours is the reference solution, line for line.")
    if not args.full:
        print(f"\n(`jwtlab solution {lab.id} --full` prints the whole reference file.)")
    return 0
