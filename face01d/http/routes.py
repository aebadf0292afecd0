"""The routes: Prometheus exposition, liveness, readiness; a bearer token in front of all but liveness."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from face01d.metrics import Metrics

OPEN_PATHS = frozenset({"/healthz"})  # liveness probes carry no secrets


class Readiness:
    """Starting → ready → stopping; the daemon moves it, ``/readyz`` reports it.

    Once ready, ``checks`` may still say no: each returns why the daemon cannot
    do its job now (no vision worker), or None. A daemon that runs but
    cannot recognise anybody is not ready, whatever its cameras do.
    """

    def __init__(self, checks: Sequence[Callable[[], str | None]] = ()) -> None:
        self.ready = False
        self.reason = "starting: loading models and the gallery"
        self.checks = list(checks)

    def state(self) -> tuple[bool, str]:
        """(ready, reason) now: the start/stop state first, then the first check that names a problem."""
        if not self.ready:
            return False, self.reason
        problem = next((reason for check in self.checks if (reason := check()) is not None), None)
        return (False, problem) if problem is not None else (True, self.reason)

    def set_ready(self) -> None:
        self.ready, self.reason = True, "ready"

    def set_stopping(self, reason: str = "stopping") -> None:
        self.ready, self.reason = False, reason


class BearerToken:
    """ASGI middleware: 401 without ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self._authorised(scope):
            response = JSONResponse({"error": "unauthorised"}, 401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        given = dict(scope["headers"]).get(b"authorization", b"")
        return hmac.compare_digest(given, self._expected)


def make_app(metrics: Metrics, readiness: Readiness, token: str | None = None,
             extra: Sequence[BaseRoute] = (), auth: Middleware | None = None) -> Starlette:
    """The server's app; ``extra`` routes (the live view, enrollment) sit behind the same token.

    ``auth`` replaces the bearer-token check (the web page's, which also takes a session cookie)."""
    async def metrics_route(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        ready, reason = readiness.state()
        return JSONResponse({"ready": ready, "reason": reason}, 200 if ready else 503)

    routes = [Route("/metrics", metrics_route), Route("/healthz", healthz), Route("/readyz", readyz), *extra]
    middleware = [auth or Middleware(BearerToken, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware)
