"""One camera's flow: capture → newest-frame slot → recognise → presence → events.

Capture and analysis are two tasks joined by a one-frame slot. Live cameras
(and files at ``pace = "native"``) use a slot that replaces a frame nobody took
yet, so a slow analysis stage drops stale frames instead of growing memory;
files at ``pace = "none"`` use a slot that waits, so every frame is analysed.
Recognition runs in the shared executor; the event loop only moves results.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Executor

import structlog

from face01d.capture.camera import Camera
from face01d.capture.frame import Frame
from face01d.capture.slot import FrameSlot
from face01d.config.models import CameraConfig, CameraKind, DetectorConfig, EventsConfig
from face01d.events.model import Event
from face01d.events.presence import PresenceTracker, Sighting
from face01d.recognizer import Recognizer

log = structlog.get_logger(__name__)

Dispatch = Callable[[Event, Frame | None], None]
StatusCallback = Callable[[str, bool], None]


def keeps_every_frame(camera: CameraConfig) -> bool:
    """Only a file played without pacing must not drop: it is batch work."""
    return camera.kind is CameraKind.FILE and camera.pace == "none"


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        *,
        node: str,
        detector: DetectorConfig,
        events: EventsConfig,
        recognizer: Recognizer,
        executor: Executor,
        dispatch: Dispatch,
        on_status: StatusCallback | None = None,
    ) -> None:
        self.config = camera
        self.slot = FrameSlot(drop_stale=not keeps_every_frame(camera))
        self.camera = Camera(camera, self.slot, on_status)
        self.tracker = PresenceTracker(events, node, camera.name)
        self.analysed = 0
        self._set_area = camera.set_area or detector.set_area
        self._recognizer = recognizer
        self._executor = executor
        self._dispatch = dispatch
        self._capture: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    async def run(self) -> None:
        """Until the camera ends (files) or ``stop_capture``; in-flight work is finished."""
        structlog.contextvars.bind_contextvars(camera=self.name)
        self._capture = asyncio.create_task(self._capture_then_close(), name=f"capture:{self.name}")
        try:
            while (frame := await self.slot.get()) is not None:
                await self._analyse(frame)
        finally:
            await self.stop_capture()

    async def _capture_then_close(self) -> None:
        try:
            await self.camera.run()
        finally:
            self.slot.close()  # wakes the analysis loop, which ends after the last frame

    async def stop_capture(self) -> None:
        """Stop reading; the frame already in the slot is still analysed."""
        if self._capture is not None and not self._capture.done():
            self._capture.cancel()
            await asyncio.gather(self._capture, return_exceptions=True)
        self.slot.close()

    async def _analyse(self, frame: Frame) -> None:
        sightings = await self._recognise(frame)
        self.analysed += 1
        for event in self.tracker.observe(sightings, frame.captured_at, frame.width, frame.height):
            self._dispatch(event, frame)

    async def _recognise(self, frame: Frame) -> list[Sighting]:
        context = contextvars.copy_context()  # log records from the worker keep camera=...
        call = lambda: context.run(self._recognizer.recognize, frame.image, "bgr", self._set_area)  # noqa: E731
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def expire(self, now: float) -> None:
        """Publish ``left`` for people unseen for the presence timeout."""
        for event in self.tracker.expire(now):
            self._dispatch(event, None)

    def stats(self) -> dict[str, object]:
        """Frames read, analysed and dropped, for the status line and the exit report."""
        return {**self.camera.stats_dict(), "analysed": self.analysed}
