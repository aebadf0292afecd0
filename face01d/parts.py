"""The daemon's optional parts, built in one place as sinks/factory.py builds the sinks.

The HTTP server and what hangs on it (the enrollment API, the live view's
MJPEG routes), and the outputs of other stages (the live view, the
unknown-face crops). The daemon sees one ``Parts``: sinks to hand to its
outputs, a server to start first and stop last, and each part for the
figures of /metrics. To add a part: build it in ``make_parts``, give it a
field of ``Parts``, put its routes in ``_routes`` (they sit behind the
server's token) and, if it is an output, its sink in ``Parts.make_sinks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from face01d.config.models import Config
from face01d.enrollment.routes import EnrollmentApi, enrollment_routes
from face01d.enrollment.unknown import UnknownCrops
from face01d.galleryshare.node import GalleryShare
from face01d.http import HttpServer, Readiness, make_app
from face01d.http.guard import limits_for
from face01d.liveview import LiveView, preview_routes
from face01d.metrics import Metrics
from face01d.recognition.recognizer import Recognizer
from face01d.shutdown import stage
from face01d.sinks.base import Sink
from face01d.web import WebAuth, WebPage, make_web, web_routes
from face01d.workers import VisionWorkers

HTTP_STOP_SHARE = 0.9  # of the stage's timeout, for the server's own stop: its deadline comes first


@dataclass
class Parts:
    live_view: LiveView | None = None  # [preview] enabled
    enrollment: EnrollmentApi | None = None  # [http] enabled: /recognize and /gallery
    http: HttpServer | None = None  # [http] enabled
    unknown_crops: UnknownCrops | None = None  # [enrollment] keep_unknown, built with the outputs
    port: int | None = None  # the server's bound port, once it answers
    web: WebPage | None = None  # [http] enabled with a token: the page (face01d.web)

    def make_sinks(self, config: Config) -> list[Sink]:
        """Outputs of other stages: the live view, and the unknown-face crops (built now, with the outputs)."""
        if config.enrollment.keep_unknown and self.unknown_crops is None:
            self.unknown_crops = UnknownCrops.from_config(config)
        events = self.web.events if self.web is not None else None
        return [sink for sink in (self.live_view, self.unknown_crops, events) if sink is not None]

    async def start(self) -> None:
        """The server, first of all the daemon's start: /healthz answers and /readyz says why not yet."""
        if self.http is not None:
            await self.http.start()
            self.port = self.http.port

    async def stop(self, timeout: float) -> None:
        """Last of the daemon's shutdown, so that /readyz says "stopping" all through it."""
        if self.http is not None:
            await stage("http", self.http.stop(timeout * HTTP_STOP_SHARE), timeout)
        if self.enrollment is not None:
            self.enrollment.close()
        if self.web is not None:
            self.web.close()


def make_parts(config: Config, *, workers: VisionWorkers, recognizer: Callable[[], Recognizer | None],
               reload: Callable[[], object], share: GalleryShare | None, metrics: Metrics,
               readiness: Readiness) -> Parts:
    """The parts the config asks for; ``recognizer()`` is the daemon's current one (None while loading)."""
    parts = Parts()
    if config.preview.enabled:
        cameras = [camera.name for camera in config.cameras if camera.enabled]
        parts.live_view = LiveView(config.preview, cameras, _thumbnails(recognizer))
    if config.http.enabled:
        parts.enrollment = _enrollment(config, workers, recognizer, reload, share)
        parts.web = make_web(config, parts.enrollment, recognizer, reload, metrics)
        parts.http = _server(config, metrics, readiness, _routes(parts), parts.web)
    return parts


def _routes(parts: Parts) -> list[BaseRoute]:
    """Routes of the other parts on the HTTP server, behind its token."""
    routes = preview_routes(parts.live_view) if parts.live_view is not None else []
    routes += enrollment_routes(parts.enrollment) if parts.enrollment is not None else []
    return routes + (web_routes(parts.web) if parts.web is not None else [])


def _server(config: Config, metrics: Metrics, readiness: Readiness, routes: list[BaseRoute],
            web: WebPage | None) -> HttpServer:
    http = config.http
    token = http.token.get_secret_value() if http.token is not None else None
    auth = Middleware(WebAuth, token=token, sessions=web.sessions) if web is not None else None  # cookie or token
    app = make_app(metrics, readiness, token, extra=routes, auth=auth)
    return HttpServer(app, http.host, http.port, limits_for(config))


def _enrollment(config: Config, workers: VisionWorkers, recognizer: Callable[[], Recognizer | None],
                reload: Callable[[], object], share: GalleryShare | None) -> EnrollmentApi:
    """The enrollment API; on a node whose gallery comes from the broker, edits go to the publisher."""
    shared = share is not None and share.is_source
    make = share.remote_enrollment if shared else EnrollmentApi  # type: ignore[union-attr]
    return make(workers, recognizer, config.gallery, config.enrollment.max_upload_mb, reload)


def _thumbnails(recognizer: Callable[[], Recognizer | None]) -> Callable[[str], Path | None]:
    def thumbnail(name: str) -> Path | None:
        """A person's ``NAME_default`` image, from the gallery loaded now (called from render threads)."""
        current = recognizer()
        return current.gallery.display_images.get(name) if current is not None else None

    return thumbnail
