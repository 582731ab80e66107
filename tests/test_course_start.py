"""README command (a): `./course start` serves the book and JupyterLab on loopback and says where."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_course_start_serves_book_and_jupyterlab(root: Path) -> None:
    if not (root / "_build" / "html" / "index.html").exists():
        pytest.fail("build the book first (./course book); ./course test does this before the tests")
    book_port, lab_port = _free_port(), _free_port()
    env = {**os.environ, "JWTLAB_REUSE_BOOK": "1", "JWTLAB_BOOK_PORT": str(book_port), "JWTLAB_LAB_PORT": str(lab_port)}
    proc = subprocess.Popen(
        ["./course", "start"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
    output = ""
    try:
        deadline = time.monotonic() + 90
        lab_url = None
        while time.monotonic() < deadline and lab_url is None:
            output = "".join(lines)
            match = re.search(rf"http://127\.0\.0\.1:{lab_port}/lab/tree/notebooks\?token=[0-9a-f]+", output)
            lab_url = match.group(0) if match else None
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        assert f"The book:       http://127.0.0.1:{book_port}/" in output, output[-2000:]
        assert lab_url, f"JupyterLab printed no URL:\n{output[-2000:]}"
        time.sleep(0.3)
        output = "".join(lines)
        last = re.sub(r"\x1b\[[0-9;]*m", "", output.strip().splitlines()[-1]).strip()
        assert last == f"The notebooks:  {lab_url}", f"the last line is not the JupyterLab URL: {last!r}"
        assert "sphinx" not in output.lower() and len(output.splitlines()) < 15, output
        book = httpx.get(f"http://127.0.0.1:{book_port}/", timeout=10)
        assert book.status_code == 200
        lab = httpx.get(lab_url, timeout=10)
        assert lab.status_code == 200 and "JupyterLab" in lab.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{book_port}/", timeout=2)


@pytest.mark.parametrize("which", ["JWTLAB_BOOK_PORT", "JWTLAB_LAB_PORT"])
def test_course_start_names_a_taken_port(root: Path, which: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "JWTLAB_REUSE_BOOK": "1", "JWTLAB_BOOK_PORT": str(_free_port()),
               "JWTLAB_LAB_PORT": str(_free_port()), which: str(port)}
        done = subprocess.run(["./course", "start"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"Port {port}" in done.stderr and "already in use" in done.stderr and which in done.stderr
    assert "The notebooks:" not in done.stdout
