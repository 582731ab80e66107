"""The course's repository URL: one setting, and every place that repeats it kept equal to it.

The setting is `repository.url` in `book/_config.yml` (the book's repository, Binder and Colab buttons read
it). Two other places must carry the same URL because they are read where the book's configuration is
not: the first cell of every notebook (on Colab it installs the toolkit from this repository) and the
package's `[project.urls]` in `pyproject.toml`.

    python3 tools/repository.py show                    # the setting
    python3 tools/repository.py set https://github.com/OWNER/REPO   # write it everywhere
    python3 tools/repository.py check                   # every place agrees (a test runs this)
    python3 tools/repository.py check --expect URL      # ... and it is URL, not a placeholder (publishing)

Standard library only, so the publish workflow can run it before any environment exists.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "book" / "_config.yml"
PYPROJECT = ROOT / "pyproject.toml"
NOTEBOOKS = ROOT / "notebooks"
#: The value the project was started with; publishing refuses it (the buttons would lead nowhere).
PLACEHOLDER = "https://github.com/jwt-in-microservices/course"
CONFIG_LINE = re.compile(r"(?m)^(repository:\n  url: )(\S+)$")
CELL_LINE = re.compile(r'(?m)^(COURSE_REPOSITORY = ")([^"]+)(")$')
URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def configured() -> str:
    """The setting itself, read from book/_config.yml."""
    match = CONFIG_LINE.search(CONFIG.read_text(encoding="utf-8"))
    if not match:
        raise SystemExit(f"{CONFIG.relative_to(ROOT)}: no 'repository:' block with a 'url:' line")
    return match.group(2)


def notebook_values() -> dict[str, str | None]:
    """Each notebook's COURSE_REPOSITORY value in its first cell (None when the cell is missing)."""
    values: dict[str, str | None] = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]) if cells else ""
        match = CELL_LINE.search(first)
        values[path.name] = match.group(2) if match else None
    return values


def pyproject_urls() -> list[str]:
    """The GitHub URLs of `[project.urls]` (each must start with the setting)."""
    text = PYPROJECT.read_text(encoding="utf-8")
    section = re.search(r"(?ms)^\[project\.urls\]\n(.*?)(?=^\[|\Z)", text)
    return re.findall(r'"(https://github\.com/[^"]*)"', section.group(1)) if section else []


def problems(expect: str | None = None) -> list[str]:
    url = configured()
    found = []
    if not URL.match(url):
        found.append(f"book/_config.yml: repository.url {url!r} is not https://github.com/OWNER/REPO")
    if expect is not None and url != expect.rstrip("/"):
        what = "still the placeholder" if url == PLACEHOLDER else url
        found.append(
            f"the repository setting is {what}, but this is {expect}: run "
            f"`python3 tools/repository.py set {expect}` and commit the result"
        )
    for name, value in notebook_values().items():
        if value is None:
            found.append(f"notebooks/{name}: the first cell is not the Colab install cell")
        elif value != url:
            found.append(f"notebooks/{name}: COURSE_REPOSITORY is {value}, the setting is {url}")
    found += [
        f"pyproject.toml: [project.urls] has {u}, which is not under {url}"
        for u in pyproject_urls()
        if not (u == url or u.startswith(url + "/") or u.startswith(url + "#"))
    ]
    return found


def set_everywhere(url: str) -> list[str]:
    """Write `url` into the setting and every place that repeats it; returns the files changed."""
    url = url.rstrip("/")
    if not URL.match(url):
        raise SystemExit(f"{url!r} is not https://github.com/OWNER/REPO")
    old = configured()
    changed = []
    text = CONFIG.read_text(encoding="utf-8")
    CONFIG.write_text(CONFIG_LINE.sub(lambda m: m.group(1) + url, text), encoding="utf-8")
    changed.append(str(CONFIG.relative_to(ROOT)))
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        raw = path.read_text(encoding="utf-8")
        nb = json.loads(raw)
        if not nb["cells"]:
            continue
        source = "".join(nb["cells"][0]["source"])
        new = CELL_LINE.sub(lambda m: m.group(1) + url + m.group(3), source)
        if new != source:
            nb["cells"][0]["source"] = new.splitlines(keepends=True)
            path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(str(path.relative_to(ROOT)))
    text = PYPROJECT.read_text(encoding="utf-8")
    if old in text:
        PYPROJECT.write_text(text.replace(old, url), encoding="utf-8")
        changed.append(str(PYPROJECT.relative_to(ROOT)))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show")
    set_cmd = sub.add_parser("set")
    set_cmd.add_argument("url")
    check = sub.add_parser("check")
    check.add_argument("--expect", help="the URL publishing expects (e.g. from the CI context)")
    args = parser.parse_args(argv)
    if args.command == "show":
        print(configured())
        return 0
    if args.command == "set":
        for name in set_everywhere(args.url):
            print(f"updated {name}")
        return 0
    found = problems(args.expect)
    for line in found:
        print(f"repository setting: {line}", file=sys.stderr)
    if not found:
        print(f"repository setting: {configured()} (every place agrees)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
