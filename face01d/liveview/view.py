"""The live view as an output: frames are asked for only while somebody watches.

``LiveView`` is a ``Sink`` that uses two hooks: ``wants_frames`` (True for a
camera only while one of its previews is open) and ``frame_analysed`` (a
reference kept, viewers woken). A headless daemon therefore pays nothing:
no frame is handed over, no picture drawn, no JPEG encoded. Drawing and
encoding run in a worker thread (``asyncio.to_thread``), once per shown
frame per camera, whatever the number of viewers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import structlog

from face01d.config.models import PreviewConfig
from face01d.faces import Frame
from face01d.liveview.drawing import DrawOptions, draw_overlay
from face01d.liveview.feed import CameraFeed
from face01d.liveview.fonts import TextPainter, find_cjk_font
from face01d.liveview.thumbnails import ThumbnailCache, ThumbnailPaths
from face01d.sinks.base import Sink, TrackView

log = structlog.get_logger(__name__)


class LiveView(Sink):
    """Per camera: the latest analysed frame, who watches, and the picture they share."""

    def __init__(self, config: PreviewConfig, cameras: Iterable[str], thumbnails: ThumbnailPaths) -> None:
        self.config = config
        self._options = DrawOptions.from_config(config)
        self._painter = TextPainter(find_cjk_font(config.font))
        self._thumbnails = ThumbnailCache(thumbnails)
        self._feeds = {name: CameraFeed(name, config.fps, self._render_async) for name in cameras}
        log.info("preview ready", cameras=sorted(self._feeds), font=str(self._painter.font or "opencv"))

    def feed(self, camera: str) -> CameraFeed | None:
        """The camera's feed, None for a camera the daemon does not have."""
        return self._feeds.get(camera)

    @property
    def rendered(self) -> int:
        """Pictures drawn and encoded so far, all cameras together."""
        return sum(feed.rendered for feed in self._feeds.values())

    @property
    def viewers(self) -> Mapping[str, int]:
        return {name: feed.viewers for name, feed in self._feeds.items()}

    def stats(self) -> dict[str, Any]:
        return {"rendered": self.rendered, "viewers": dict(self.viewers)}

    def wants_frames(self, camera: str) -> bool:
        feed = self._feeds.get(camera)
        return feed is not None and feed.viewers > 0

    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        feed = self._feeds.get(camera)
        if feed is not None and feed.viewers > 0:
            feed.offer(frame, [track for track in tracks if track.confirmed])  # tentative faces: not drawn

    async def stop(self, timeout: float) -> None:
        """End every open preview, so the HTTP server's shutdown does not wait for them."""
        for feed in self._feeds.values():
            feed.close()

    async def _render_async(self, frame: Frame, tracks: Sequence[TrackView]) -> bytes:
        return await asyncio.to_thread(self.render, frame.image, tracks)

    def render(self, image: np.ndarray, tracks: Sequence[TrackView]) -> bytes:
        """The JPEG of ``image`` with ``tracks`` drawn (a worker thread's job: tens of milliseconds)."""
        canvas = draw_overlay(image, tracks, self._options, self.config.width, self._painter, self._thumbnails)
        ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return jpeg.tobytes()
