"""An ASGI app served for real (face01d's HttpServer on a free loopback port) and an httpx client for it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp

from face01d.http import HttpServer
from face01d.http.guard import Limits


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, limits: Limits | None = None,
                    **client_options: Any) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN401
    """A client of ``app`` (``client_options`` go to httpx); the server stops when the block ends."""
    server = HttpServer(app, "127.0.0.1", 0, limits)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", **client_options) as client:
            yield client
    finally:
        await server.stop(5)
