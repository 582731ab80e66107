"""The curl lines `jwtlab up` prints (and the README shows) do what their comments say.

`jwtlab up --port-base N` runs as a real subprocess on fixed free ports. The test reads the `export`
lines and each `# what → status[, field is value]` comment with the curl line under it from the
command's own output, runs every line — with the `curl` binary when the machine has one, and always as
the equivalent httpx request parsed from the line — and holds it to its comment. Then Ctrl-C (SIGINT)
must stop everything cleanly and free the ports.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwtlab.cli import main
from jwtlab.commands.up import PORT_ORDER

pytestmark = [pytest.mark.network, pytest.mark.slow]

EXPECT = re.compile(r"^# (?P<what>.+) → (?P<status>\d{3})(?:, (?P<field>\S+) is (?P<value>\S+))?$")


@dataclass
class Line:
    what: str
    argv: list[str]
    status: int
    field: str | None
    value: str | None


def free_port_base(count: int = len(PORT_ORDER)) -> int:
    """A port N with N..N+count-1 all free on 127.0.0.1 right now (bounded tries)."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20_000, 60_000)
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no run of free ports found")


def read_until(lines: queue.Queue[str | None], marker: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line.rstrip("\n"))
        if marker in line:
            return seen
    raise AssertionError(f"{marker!r} did not appear within {timeout} s; output so far:\n" + "\n".join(seen))


def parse(output: list[str]) -> tuple[dict[str, str], list[Line]]:
    env: dict[str, str] = {}
    found: list[Line] = []
    pending: re.Match[str] | None = None
    for raw in output:
        text = raw.strip()
        if text.startswith("export ") and "=$(" not in text:  # the refresh line is run by its own test
            name, _, value = text[len("export "):].partition("=")
            env[name] = value
        elif pending is not None:
            assert text.startswith("curl "), f"a curl line must follow {pending.group(0)!r}, found {text!r}"
            found.append(Line(pending["what"], shlex.split(text), int(pending["status"]), pending["field"], pending["value"]))
            pending = None
        elif (match := EXPECT.match(text)) is not None:
            pending = match
    return env, found


def expand(arg: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: env[m.group(1)], arg)


def as_request(argv: list[str], env: dict[str, str]) -> tuple[str, str, dict[str, str], list[tuple[str, str]]]:
    """method, URL, headers and form fields of a curl command line (the options the printed lines use)."""
    assert argv[0] == "curl"
    method, url, headers, data = None, None, {}, []
    args = iter(expand(a, env) for a in argv[1:])
    for arg in args:
        if arg in ("-s", "-i", "-S"):
            continue
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            name, _, value = next(args).partition("=")
            data.append((name, value))
        elif not arg.startswith("-") and url is None:
            url = arg
        else:
            raise AssertionError(f"the test does not know the curl option {arg!r}: teach as_request")
    assert url is not None, f"no URL in {argv}"
    return method or ("POST" if data else "GET"), url, headers, data


def field_of(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def check(line: Line, status: int, body: str, how: str) -> None:
    assert status == line.status, f"{how}: {line.what!r} answered {status}, the comment says {line.status}: {body[:200]}"
    if line.field:
        got = field_of(json.loads(body), line.field)
        assert str(got) == line.value, f"{how}: {line.what!r}: {line.field} is {got!r}, the comment says {line.value!r}"


def run_with_curl(curl: str, line: Line, env: dict[str, str]) -> None:
    argv = [curl if a == "curl" else expand(a, env) for a in line.argv] + ["--max-time", "10", "-w", "\n%{http_code}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False).stdout
    body, _, status = out.rpartition("\n")
    if "-i" in line.argv:
        body = re.split(r"\r?\n\r?\n", body, maxsplit=1)[-1]
    check(line, int(status), body, "curl")


def readme_lines(base: int) -> list[str]:
    """The README's curl block for `jwtlab up --port-base 8700`, moved to the test's port base."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("jwtlab up --port-base 8700", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    moved = re.sub(r"127\.0\.0\.1:87(\d\d)", lambda m: f"127.0.0.1:{base + int(m.group(1))}", block)
    return [line for line in moved.splitlines() if line.startswith(("# ", "curl "))]


def start_up(*extra: str) -> tuple[subprocess.Popen[str], queue.Queue[str | None], threading.Thread]:
    """`jwtlab up` as a subprocess, its output lines pumped into a queue."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtlab.cli", "up", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return proc, lines, reader


def test_course_clock_fits_the_books_now_and_the_refresh_line_works() -> None:
    """`--course-clock`: the printed inspect line carries the book's --now and verifies; the one-line
    refresh gives a new token that verifies too (run by a real shell when curl is there)."""
    proc, lines, reader = start_up("--course-clock", "--seconds", "60")
    try:
        output = read_until(lines, "running; Ctrl-C stops everything", timeout=60)
        assert any(x.startswith("clock: the course clock, started at 2026-01-01T00:00:00Z") for x in output), output
        env, _ = parse(output)
        inspect_line = next(x.strip() for x in output if x.strip().startswith("jwtlab inspect"))
        assert inspect_line.endswith("--now 2026-01-01T00:00:00Z")
        assert main([expand(a, env) for a in shlex.split(inspect_line)][1:]) == 0
        refresh = next(x.strip() for x in output if x.strip().startswith("export TOKEN=$("))
        if shutil.which("curl") and shutil.which("python3"):
            fresh = subprocess.run(["bash", "-c", f"{refresh} && printf %s \"$TOKEN\""], capture_output=True,
                                   text=True, timeout=30, check=True).stdout
            assert fresh.count(".") == 2 and fresh != env["TOKEN"]
            env = {**env, "TOKEN": fresh}
            assert main([expand(a, env) for a in shlex.split(inspect_line)][1:]) == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_up_prints_curl_lines_that_do_what_they_say() -> None:
    base = free_port_base()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtlab.cli", "up", "--port-base", str(base), "--seconds", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        output = read_until(lines, "running; Ctrl-C stops everything", timeout=60)
        assert f"gateway            http://127.0.0.1:{base + 1}" in output[1], "--port-base fixes the gateway at base+1"
        env, found = parse(output)
        printed = [x.strip() for x in output if x.strip().startswith(("# ", "curl "))]
        assert readme_lines(base) == printed, "README's jwtlab up lines differ from what the command prints"
        assert set(env) == {"TOKEN", "PAYMENTS_TOKEN"}, f"exports printed: {sorted(env)}"
        assert len(found) == 6 and sorted(x.status for x in found) == [200, 200, 200, 200, 401, 401], \
            [(x.what, x.status) for x in found]
        inspect_line = next(x.strip() for x in output if x.strip().startswith("jwtlab inspect"))
        assert main([expand(a, env) for a in shlex.split(inspect_line)][1:]) == 0, "the printed inspect line must verify"
        curl = shutil.which("curl")
        with httpx.Client(timeout=10) as http:
            for line in found:
                method, url, headers, data = as_request(line.argv, env)
                assert url.startswith(f"http://127.0.0.1:{base}") or url.startswith(f"http://127.0.0.1:{base + 1}")
                resp = http.request(method, url, headers=headers, data=dict(data) if data else None)
                check(line, resp.status_code, resp.text, "httpx")
                if curl:
                    run_with_curl(curl, line, env)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, "Ctrl-C must stop jwtlab up with exit status 0"
        rest = read_until(lines, "stopped", timeout=5)
        assert not [x for x in rest if "Traceback" in x], "\n".join(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)  # the pipe is at its end once the process is gone
        assert proc.stdout is not None
        proc.stdout.close()
    for port in range(base, base + len(PORT_ORDER)):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # the servers are gone: every port is free again


def test_port_base_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--port-base", "80", "--seconds", "0"]) == 2
    assert "--port-base must be between 1024" in capsys.readouterr().out


def test_a_taken_port_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    base = free_port_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))  # the gateway's port
        taken.listen()
        assert main(["up", "--port-base", str(base), "--seconds", "0"]) == 2
    assert "try another --port-base" in capsys.readouterr().out
    with socket.socket() as sock:  # nothing was started, so nothing holds the IdP's port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", base))
