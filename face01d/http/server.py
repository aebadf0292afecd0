"""uvicorn inside the daemon's own event loop: the daemon owns the signals and the shutdown order.

The socket is bound here, before uvicorn starts, so a port in use is a
``ConfigError`` at start-up rather than uvicorn's ``sys.exit`` in a task.
Logs go through the stdlib loggers that face01d.log routes to structlog;
no access log. Slow, idle and surplus clients are shed by the protocol
(``face01d.http.guard``); a client that hangs up mid-request is one ``info``
line, not uvicorn's "Exception in ASGI application" with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import Iterator

import structlog
import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from face01d.errors import ConfigError
from face01d.http.guard import ConnectionGuard, Limits

log = structlog.get_logger(__name__)

GRACEFUL_S = 2.0  # open requests get this long to finish at shutdown


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the daemon's handlers stay; it calls stop()
        yield


class _QuietHangUps:
    """ASGI wrapper: a client gone mid-request (Starlette's ClientDisconnect) is an ``info`` line."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._app(scope, receive, send)
        except ClientDisconnect:
            log.info("http client gone mid-request", method=scope.get("method"), path=scope.get("path"))


class HttpServer:
    def __init__(self, app: ASGIApp, host: str, port: int, limits: Limits | None = None) -> None:
        self.guard = ConnectionGuard(limits or Limits())
        self._config = uvicorn.Config(_QuietHangUps(app), host=host, port=port, log_config=None, access_log=False,
                                      lifespan="off", timeout_graceful_shutdown=GRACEFUL_S, ws="none",
                                      http=self.guard.protocol(),
                                      timeout_keep_alive=self.guard.limits.keepalive_s)  # type: ignore[arg-type]
        self._server = _InLoopServer(self._config)
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when configured as 0)."""
        assert self._socket is not None, "not started"
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Bind, then serve in a task; returns once requests are answered."""
        self._socket = self._bind()
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="http")
        while not self._server.started:
            if self._task.done():
                await self._task  # its error, or a start-up that gave up
                raise ConfigError("the HTTP server did not start")
            await asyncio.sleep(0.01)
        limits = dataclasses.asdict(self.guard.limits)
        log.info("http server listening", host=self._config.host, port=self.port, **limits)

    def _bind(self) -> socket.socket:
        host, port = self._config.host, self._config.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            raise ConfigError(f"[http] cannot listen on {host}:{port}: {error.strerror or error}") from error
        sock.set_inheritable(True)
        return sock

    async def stop(self, timeout: float) -> None:
        """Stop answering; open requests get ``GRACEFUL_S``, the whole at most ``timeout``."""
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            async with asyncio.timeout(timeout):
                await self._task
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        finally:
            if self._socket is not None:
                self._socket.close()
            self.guard.log_totals()
