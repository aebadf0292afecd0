"""One camera's live view: the latest analysed frame, its viewers, and the picture they share.

Everything here runs in the event loop. ``offer`` (from the sink hook)
only keeps a reference and wakes the viewers. A viewer asking for a
picture newer than the one it has gets the shared one when it is fresh,
or renders it, under a lock, so N viewers cost one render per frame; and
renders are at least ``1 / fps`` apart, so a fast camera costs ``fps``
renders a second however many frames it analyses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from face01d.faces import Frame
from face01d.sinks.base import TrackView

Render = Callable[[Frame, Sequence[TrackView]], Awaitable[bytes]]  # the JPEG of a frame with its tracks drawn


class FeedClosed(Exception):
    """The live view is stopping: streams end."""


class CameraFeed:
    """Latest frame, viewer count and the shared rendered picture of one camera."""

    def __init__(self, camera: str, fps: float, render: Render) -> None:
        self.camera = camera
        self.viewers = 0
        self.rendered = 0  # pictures drawn and encoded for this camera
        self._interval = 1.0 / fps
        self._render = render
        self._latest: tuple[Frame, tuple[TrackView, ...]] | None = None
        self._frame_seq = 0  # analysed frames offered
        self._fresh_from = 0  # frames up to this one were offered before the current viewers came
        self._picture = b""
        self._picture_seq = 0  # the frame the shared picture shows
        self._next_render_at = 0.0
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closed = False

    def join(self) -> int:
        """A viewer arrives; returns the sequence number it has "seen" (only newer frames are shown).

        The first viewer after a pause gets no stale picture: frames were not
        offered while nobody watched, so the last one may be minutes old.
        """
        if self.viewers == 0:
            self._fresh_from = self._frame_seq
        self.viewers += 1
        return self._fresh_from

    def leave(self) -> None:
        """A viewer goes; the last one lets go of the frame (a full-size picture nobody will see)."""
        self.viewers -= 1
        if self.viewers == 0:
            self._latest = None

    def offer(self, frame: Frame, tracks: Sequence[TrackView]) -> None:
        """From the sink hook: keep a reference, wake the viewers; no drawing here."""
        self._latest = (frame, tuple(tracks))
        self._frame_seq += 1
        self._wake()

    def close(self) -> None:
        """End every stream of this camera (the daemon stops)."""
        self._closed = True
        self._wake()

    async def picture_after(self, seen: int) -> tuple[int, bytes]:
        """The shared picture of a frame newer than ``seen``: waits for one, renders when due."""
        while self._frame_seq <= seen:
            await self._wait_change()
        if self._picture_seq > seen and self._frame_seq == self._picture_seq:
            return self._picture_seq, self._picture  # another viewer rendered the newest frame already
        await asyncio.sleep(max(0.0, self._next_render_at - time.monotonic()))
        async with self._lock:
            if self._picture_seq < self._frame_seq and self._latest is not None:
                await self._render_latest()
            return self._picture_seq, self._picture

    async def _render_latest(self) -> None:
        assert self._latest is not None
        seq, (frame, tracks) = self._frame_seq, self._latest
        self._picture = await self._render(frame, tracks)
        self._picture_seq = seq
        self.rendered += 1
        self._next_render_at = time.monotonic() + self._interval

    async def _wait_change(self) -> None:
        if self._closed:
            raise FeedClosed(self.camera)
        await self._changed.wait()
        if self._closed:
            raise FeedClosed(self.camera)

    def _wake(self) -> None:
        """Wake every waiting viewer: set this event, and give later waiters a new one."""
        self._changed.set()
        self._changed = asyncio.Event()
