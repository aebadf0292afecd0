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

from face01d.capture.camera import Camera, slot_for
from face01d.capture.frame import Frame
from face01d.config.models import CameraConfig, DetectorConfig, EventsConfig
from face01d.errors import Face01dError
from face01d.events.model import Event, EventType
from face01d.events.presence import PresenceTracker, Sighting
from face01d.recognition.recognizer import Recognizer

log = structlog.get_logger(__name__)

FAILURE_LOG_EVERY = 100  # while frames keep failing, log one failure in this many

Dispatch = Callable[[Event, Frame | None], None]
StatusCallback = Callable[[str, bool], None]
PresenceCallback = Callable[[str, frozenset[str]], None]


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
        on_presence: PresenceCallback | None = None,
    ) -> None:
        self.config = camera
        self.slot = slot_for(camera)
        self.camera = Camera(camera, self.slot, on_status)
        self.tracker = PresenceTracker(events, node, camera.name)
        self.analysed = 0
        self.failed = 0
        self._failing_in_a_row = 0
        self._set_area = camera.set_area or detector.set_area
        self._recognizer = recognizer
        self._executor = executor
        self._dispatch = dispatch
        self._on_presence = on_presence
        self._capture: asyncio.Task[None] | None = None
        self._stop_requested = False

    @property
    def name(self) -> str:
        return self.config.name

    async def run(self) -> None:
        """Until the camera ends (files) or ``stop_capture``; in-flight work is finished."""
        structlog.contextvars.bind_contextvars(camera=self.name)
        self._capture = asyncio.create_task(self._capture_then_close(), name=f"capture:{self.name}")
        try:
            while (frame := await self.slot.get()) is not None:
                await self._analyse_guarded(frame)
        finally:
            ended_by_itself = not self._stop_requested
            await self.stop_capture()
        if ended_by_itself:  # end of a video file: nobody is seen any more
            for event in self.tracker.flush():
                self._dispatch(event, None)

    async def _capture_then_close(self) -> None:
        try:
            await self.camera.run()
        finally:
            self.slot.close()  # wakes the analysis loop, which ends after the last frame

    async def stop_capture(self) -> None:
        """Stop reading; the frame already in the slot is still analysed."""
        self._stop_requested = True
        if self._capture is not None and not self._capture.done():
            self._capture.cancel()
            await asyncio.gather(self._capture, return_exceptions=True)
        self.slot.close()

    async def _analyse_guarded(self, frame: Frame) -> None:
        """One bad frame (or a bug) costs that frame, not the camera, for months of running.

        face01d's own errors (a model that cannot load) are not per frame:
        they end the camera and reach the daemon, which stops with their code.
        """
        try:
            await self._analyse(frame)
            self._failing_in_a_row = 0
        except (Face01dError, asyncio.CancelledError):
            raise
        except Exception:
            self.failed += 1
            self._failing_in_a_row += 1
            if self._failing_in_a_row % FAILURE_LOG_EVERY == 1:  # the first, then one in N: no log flood
                log.exception("frame analysis failed", frame=frame.index, failed=self.failed)

    async def _analyse(self, frame: Frame) -> None:
        sightings = await self._recognise(frame)
        self.analysed += 1
        for event in self.tracker.observe(sightings, frame.captured_at, frame.width, frame.height):
            # a "left" is about a face no longer in this frame: no snapshot of it
            self._dispatch(event, None if event.type is EventType.LEFT else frame)
        if self._on_presence is not None:  # retained presence expires unless refreshed
            self._on_presence(self.name, self.tracker.present)

    async def _recognise(self, frame: Frame) -> list[Sighting]:
        context = contextvars.copy_context()  # log records from the worker keep camera=...
        call = lambda: context.run(self._recognizer.recognize, frame.image, "bgr", self._set_area)  # noqa: E731
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def expire(self, now: float) -> None:
        """Publish ``left`` for people unseen for the presence timeout (wall clock).

        A file read without pacing runs on its own timeline, faster or slower
        than the wall clock, so its presence expires only from its own frames.
        """
        if not self.slot.drop_stale:
            return
        for event in self.tracker.expire(now):
            self._dispatch(event, None)

    def stats(self) -> dict[str, object]:
        """Frames read, analysed and dropped, for the status line and the exit report."""
        return {**self.camera.stats_dict(), "analysed": self.analysed, "analysis_failed": self.failed}
