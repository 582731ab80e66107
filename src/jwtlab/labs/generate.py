"""Generate a lab's starter from its reference solution: one source, two versions (as nbgrader and otter-grader do).

A solution file marks the code the learner writes:

    def bearer_token(authorization: str | None) -> str:
        # BEGIN SOLUTION bearer
        ...the reference code...
        # END SOLUTION

In the starter each block becomes a TODO comment naming the task and a `raise NotImplementedError`
at the block's own indentation. A block may end with `# STARTER:` lines; they replace the raise, for
the rare task whose starter must keep running (e.g. "here is the vulnerable code, fix it"):

        # BEGIN SOLUTION harden-decode
        return jwt.decode(token, KEY, algorithms=["RS256"], ...)
        # STARTER: return jwt.decode(token, options={"verify_signature": False})
        # END SOLUTION

Because the starter is derived, it can never drift from the solution. Malformed markers (nested,
unbalanced, unknown task, a block at module level that would stop the starter from importing) are
errors with the file and line, never a silently wrong starter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MarkerError", "Block", "blocks", "starter", "solution_text", "generate_starter"]

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\b(?P<rest>.*)$")
_END = re.compile(r"^[ \t]*#\s*END SOLUTION\s*$")
_STARTER = re.compile(r"^(?P<indent>[ \t]*)#\s*STARTER:(?: (?P<code>.*))?$")
_TASK_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


class MarkerError(ValueError):
    """The solution's markers are malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Block:
    task: str
    begin: int  # 1-based line of the BEGIN marker
    end: int  # 1-based line of the END marker
    indent: str
    starter: tuple[str, ...]  # replacement code lines (without indentation), may be empty


def blocks(text: str, *, tasks: Collection[str] | None = None, name: str = "<solution>") -> list[Block]:
    """Parse and validate the markers of one solution file.

    `tasks`: the task ids the manifest declares for this lab; a block naming another id is an error.
    """
    found: list[Block] = []
    open_task: str | None = None
    open_line = 0
    open_indent = ""
    starter: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        begin = _BEGIN.match(line)
        if begin:
            if open_task is not None:
                raise MarkerError(f"{where}: BEGIN SOLUTION inside the block opened at line {open_line} (blocks cannot nest)")
            task = begin["rest"].strip()
            if not task:
                raise MarkerError(f"{where}: BEGIN SOLUTION needs a task id, e.g. '# BEGIN SOLUTION bearer'")
            if not _TASK_ID.match(task):
                raise MarkerError(f"{where}: {task!r} is not a task id (lower-case letters, digits and '-')")
            if tasks is not None and task not in tasks:
                raise MarkerError(f"{where}: unknown task {task!r}; labs.toml declares {sorted(tasks)}")
            if not begin["indent"]:
                raise MarkerError(
                    f"{where}: a solution block at module level would stop the starter from importing; "
                    "put it inside a function body"
                )
            open_task, open_line, open_indent, starter = task, number, begin["indent"], []
            continue
        if _END.match(line):
            if open_task is None:
                raise MarkerError(f"{where}: END SOLUTION without a BEGIN SOLUTION")
            found.append(Block(open_task, open_line, number, open_indent, tuple(starter)))
            open_task = None
            continue
        starter_line = _STARTER.match(line)
        if starter_line:
            if open_task is None:
                raise MarkerError(f"{where}: a STARTER line belongs inside a solution block")
            code = starter_line["code"] or ""
            starter.append(starter_line["indent"][len(open_indent):] + code if code else "")
            continue
        if starter and open_task is not None and line.strip():
            raise MarkerError(f"{where}: STARTER lines must come last in their block, just before END SOLUTION")
        if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise MarkerError(f"{where}: a marker must be a comment on a line of its own: {line.strip()!r}")
    if open_task is not None:
        raise MarkerError(f"{name}:{open_line}: BEGIN SOLUTION {open_task} is never closed by END SOLUTION")
    _inside_functions(text, found, name)
    return found


def _inside_functions(text: str, found: list[Block], name: str) -> None:
    """Every block must sit in a function body: anywhere else its `raise` would run at import time."""
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        raise MarkerError(f"{name}:{exc.lineno}: the solution itself is not valid Python ({exc.msg})") from None
    # (def line, last line): the BEGIN comment must come after the def and before the function's last line
    bodies = [(node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
              if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    for block in found:
        if not any(first < block.begin <= last for first, last in bodies):
            raise MarkerError(f"{name}:{block.begin}: a solution block must sit inside a function body; "
                              "elsewhere the starter would fail at import")


def starter(text: str, *, tasks: Collection[str] | None = None, titles: dict[str, str] | None = None,
            name: str = "<solution>", lab: str = "LAB") -> str:
    """The starter text of one solution file. Same input, same output: no dates, no randomness."""
    titles = titles or {}
    lines = text.splitlines()
    out: list[str] = []
    position = 0
    for block in blocks(text, tasks=tasks, name=name):
        out.extend(lines[position:block.begin - 1])
        indent = block.indent
        title = titles.get(block.task, "")
        out.append(f"{indent}# TODO({block.task}): {title}".rstrip())
        if block.starter:
            out.extend(f"{indent}{code}" if code else "" for code in block.starter)
        else:
            out.append(f'{indent}raise NotImplementedError("{block.task}: write this part (jwtlab hint {lab} {block.task})")')
        position = block.end
    out.extend(lines[position:])
    result = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    try:
        ast.parse(result, filename=name)
    except SyntaxError as exc:  # e.g. a block that opens an `if` and closes it in another block
        raise MarkerError(f"{name}: the generated starter is not valid Python (line {exc.lineno}: {exc.msg}); "
                          "make each block a whole group of statements") from None
    return result


def solution_text(text: str) -> str:
    """The solution as a learner should read it: the marker and STARTER lines removed."""
    blocks(text)  # validate first
    kept = [ln for ln in text.splitlines() if not (_BEGIN.match(ln) or _END.match(ln) or _STARTER.match(ln))]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def generate_starter(solution_dir: Path, target: Path | None, files: Collection[str], *,
                     tasks: Collection[str] | None = None, titles: dict[str, str] | None = None,
                     lab: str = "LAB") -> dict[str, str]:
    """Starter text for each learner file (name → text), written to `target` only if `target` is not None."""
    result = {}
    for file in files:
        source = (solution_dir / file).read_text(encoding="utf-8")
        result[file] = starter(source, tasks=tasks, titles=titles, name=file, lab=lab)
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        for file, text in result.items():
            (target / file).write_text(text, encoding="utf-8")
    return result
