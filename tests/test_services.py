"""The service runner starts real uvicorn servers on loopback and stops them cleanly."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from jwtlab.services import serve, start

pytestmark = pytest.mark.network


def _app(name: str) -> FastAPI:
    app = FastAPI(title=name)

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"service": name}

    return app


def test_serves_several_apps_on_distinct_ports_and_stops_them() -> None:
    with serve(_app("a"), _app("b")) as (a, b):
        assert a.port != b.port
        assert a.url.startswith("http://127.0.0.1:")
        assert httpx.get(a.url).json() == {"service": "a"}
        assert httpx.get(b.url).json() == {"service": "b"}
    assert not a.thread.is_alive() and not b.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(a.url, timeout=1)


def test_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        start(_app("x"), host="0.0.0.0")


def test_failing_startup_is_reported() -> None:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def broken(app: FastAPI):  # noqa: ANN202
        raise RuntimeError("no keys")
        yield

    with pytest.raises(RuntimeError, match="failed to start|did not start"):
        start(FastAPI(lifespan=broken), startup_timeout=5)
