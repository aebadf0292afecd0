"""The page's state and what it reads from the daemon: sessions, recent events, unknown groups, the gallery.

``make_web`` builds it when ``[http]`` is on with a token (the page logs in
with that token; without one there is nothing to trade for a session).
Everything the daemon owns is read through callables at request time (the
current recognizer, the metrics' figures), so a gallery reload or a camera
going offline shows on the next page load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from starlette.templating import Jinja2Templates

from face01d.config.models import Config
from face01d.enrollment.groups import UnknownGroups, gallery_recognises
from face01d.enrollment.routes import EnrollmentApi
from face01d.enrollment.unknown import unknown_dir
from face01d.gallery.model import Gallery
from face01d.metrics import Metrics
from face01d.recognition.recognizer import Recognizer
from face01d.web.events_log import EventLog
from face01d.web.lockout import LoginLockout
from face01d.web.sessions import Sessions

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass(frozen=True, slots=True)
class CameraRow:
    name: str
    online: bool
    fps: float
    error: str | None


@dataclass
class WebPage:
    """The page's parts; ``routes.web_routes(page)`` serves them."""

    token: str
    sessions: Sessions
    lockout: LoginLockout
    events: EventLog
    unknown: UnknownGroups | None  # None: [enrollment] keep_unknown is off
    enrollment: EnrollmentApi | None
    recognizer: Callable[[], Recognizer | None]
    reload: Callable[[], object]  # the daemon's gallery reload (may return an awaitable)
    metrics: Metrics
    preview: bool  # [preview] enabled: the Cameras page shows each live view
    cameras: list[str]
    templates: Jinja2Templates

    def camera_rows(self) -> list[CameraRow]:
        figures, fps = self.metrics.read()
        rows = []
        for name in self.cameras:
            stats: dict[str, Any] = dict(figures.cameras.get(name, {}))
            rows.append(CameraRow(name, bool(stats.get("online")), round(fps.get(name, 0.0), 1), stats.get("error")))
        return rows

    def close(self) -> None:
        """Let the grouping thread go (at the daemon's shutdown)."""
        if self.unknown is not None:
            self.unknown.close()

    def people(self) -> list[tuple[str, int, bool]]:
        """(name, image count, has a display image) of the gallery loaded now."""
        current = self.recognizer()
        if current is None:
            return []
        gallery = current.gallery
        return [(name, gallery.names.count(name), name in gallery.display_images) for name in gallery.people]

    def photos(self, name: str) -> list[Path]:
        current = self.recognizer()
        if current is None:
            return []
        return [path for person, path in zip(current.gallery.names, current.gallery.paths) if person == name]


def local_time(value: object) -> str:
    """An event's time (ISO text in UTC, or a datetime) as the box's local time, for people reading the page."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def make_web(config: Config, enrollment: EnrollmentApi | None, recognizer: Callable[[], Recognizer | None],
             reload: Callable[[], object], metrics: Metrics) -> WebPage | None:
    """The page, when ``[http]`` is on with a token; None otherwise (said once in the log)."""
    http = config.http
    if not http.enabled:
        return None
    if http.token is None:
        log.info("web page off: [http] has no token to log in with")
        return None
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["local_time"] = local_time
    state = unknown_dir(config).parent
    unknown = _groups(config, recognizer) if config.enrollment.keep_unknown else None
    return WebPage(http.token.get_secret_value(), Sessions(), LoginLockout(), EventLog(state / "events"), unknown,
                   enrollment, recognizer, reload, metrics, config.preview.enabled,
                   [camera.name for camera in config.cameras if camera.enabled], templates)


def _groups(config: Config, recognizer: Callable[[], Recognizer | None]) -> UnknownGroups:
    """The unknown crops grouped; a group the gallery now recognises leaves the list (checked at each view)."""
    def gallery() -> Gallery | None:
        current = recognizer()
        return current.gallery if current is not None else None

    recognises = gallery_recognises(gallery, config.gallery.effective_tolerance)
    return UnknownGroups(unknown_dir(config), config.gallery, recognises)
