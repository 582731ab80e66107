"""Run ASGI apps under real uvicorn servers on 127.0.0.1, in the background, and stop them cleanly.

Notebooks, labs, tests and `jwtlab up` all need "a few real services on loopback for a while". Each
server binds port 0 (the OS picks a free port, so runs never collide), runs in a daemon thread with its
own event loop, and is quiet (warnings only, no access log) because output from background threads
lands in whatever notebook cell happens to be running.

    with serve(idp_app, gateway_app) as (idp, gateway):
        httpx.get(gateway.url + "/healthz")
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

__all__ = ["Service", "start", "serve", "stop_all"]


@dataclass
class Service:
    """One running server. `url` is its base URL, e.g. http://127.0.0.1:41234."""

    name: str
    host: str
    port: int
    scheme: str
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, then wait for its thread (open connections are closed by uvicorn)."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():  # pragma: no cover - only when an app refuses to shut down
            self.server.force_exit = True
            self.thread.join(timeout)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    app: Any,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    startup_timeout: float = 15.0,
    **config: Any,
) -> Service:
    """Start `app` on `host` (loopback only) and return once it accepts connections.

    Extra keyword arguments go to `uvicorn.Config` (e.g. `ssl_certfile`, `ssl_keyfile`, `ssl_ca_certs`,
    `ssl_cert_reqs` for the mTLS chapter). Raises RuntimeError if the app fails to start.

    `proxy_headers` defaults to False (uvicorn's default is True, trusting `X-Forwarded-*` from
    127.0.0.1): the gateway connects from 127.0.0.1, so with uvicorn's default any client-sent
    `X-Forwarded-For` it let through would become the service's idea of the client address and scheme.
    Pass `proxy_headers=True` (and `forwarded_allow_ips`) only behind a proxy that sets them itself.
    """
    config.setdefault("proxy_headers", False)
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError("the course's services listen on loopback only (127.0.0.1 or ::1)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()  # a taken port must not leak the socket
        raise
    bound_port = sock.getsockname()[1]
    cfg = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=2,
        **config,
    )
    server = uvicorn.Server(cfg)
    scheme = "https" if config.get("ssl_certfile") else "http"
    label = name or getattr(app, "title", None) or type(app).__name__
    failure: list[BaseException] = []

    def run() -> None:
        # uvicorn answers a failed startup with sys.exit(3); keep that inside this thread.
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - reported by start() below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn:{label}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            detail = f": {failure[0]!r}" if failure else ""
            raise RuntimeError(f"service {label!r} failed to start{detail} (its log says why)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"service {label!r} did not start within {startup_timeout:g} s")
        time.sleep(0.005)
    return Service(label, host, bound_port, scheme, server, thread)


@contextlib.contextmanager
def serve(*apps: Any, **config: Any) -> Iterator[tuple[Service, ...]]:
    """Start several apps (in order) and stop them all (in reverse order) when the block ends."""
    started: list[Service] = []
    try:
        for app in apps:
            started.append(start(app, **config))
        yield tuple(started)
    finally:
        stop_all(started)


def stop_all(services: Iterable[Service]) -> None:
    """Ask every server to exit at once, then wait for each (newest first): shutdowns overlap instead of
    queueing, which matters when a test or notebook stops half a dozen services."""
    running = list(services)
    for service in running:
        service.server.should_exit = True
    for service in reversed(running):
        service.stop()
