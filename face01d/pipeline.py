"""One camera's flow: capture → slot → detect → track → look → decide → events.

Capture and analysis are two tasks joined by a slot. Live cameras (and files
at ``pace = "native"``) use a one-frame slot that replaces a frame nobody
took yet, so a slow stage drops stale frames instead of growing memory;
files at ``pace = "none"`` use a slot of a few frames that waits, so every
frame is analysed and decoding runs ahead of the detector.

Per frame the detector runs (one frame in ``detect_every``; in between the
tracks' boxes move on by themselves) and the tracker updates. Encoding is
the expensive part (~100 ms a face), so it is done per *track*, not per
frame, by the ``TrackNamer`` (recognition/namer.py): a confirmed track asks
for a look, the look is encoded by the worker pool while the next frames are
detected, and each look votes towards the track's identity. Events come from
decisions, not from frames.

``step`` takes one frame and returns what happened (a ``Step``: detected or
predicted, the tracks, the events). Every event leaves by one door,
``_emit``, whatever raised it: a decision or a track end in a step, a look
that lands between two frames (the namer's encode task), the pipeline's own
presence timer, the end of a file. The ``Timeline`` (timeline.py) is a
setting of the pipeline: a live camera's wall clock, or a file's own
timestamps; it decides the frame hand-off, the adaptive pacing and how
presence expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from face01d import pacing
from face01d.access import door_for
from face01d.capture.camera import Camera
from face01d.capture.slot import FrameSlot
from face01d.config.models import CameraConfig, Config
from face01d.errors import Face01dError
from face01d.events.model import Event, EventType
from face01d.events.presence import Presence, TrackEnd
from face01d.faces import Frame, Identification
from face01d.recognition.namer import TrackNamer
from face01d.recognition.recognizer import Recognizer
from face01d.sinks.base import TrackView
from face01d.stats import Percentiles
from face01d.timeline import Timeline, timeline_for
from face01d.tracking import FaceTracker, Track, TrackerUpdate
from face01d.workers.base import VisionWorkers

log = structlog.get_logger(__name__)

FAILURE_LOG_EVERY = 100  # while frames keep failing, log one failure in this many
EXPIRE_INTERVAL_S = 1.0  # how often a wall-clock camera checks its presence timeouts


class CameraOutputs(Protocol):
    """What a camera tells the outputs (``face01d.sinks.outputs.Outputs`` is the daemon's)."""

    def event(self, event: Event, frame: Frame | None) -> None: ...
    def camera_status(self, camera: str, online: bool) -> None: ...
    def presence(self, camera: str, present: frozenset[str]) -> None: ...
    def wants_frames(self, camera: str) -> bool: ...
    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None: ...


@dataclass(frozen=True, slots=True)
class Step:
    """What one analysed frame did: ``CameraPipeline.step``'s answer (its events already emitted)."""

    frame: int  # the frame's index
    detected: bool  # the detector ran on it; False: the tracks' boxes were predicted
    tracks: tuple[Track, ...]  # the confirmed tracks after it
    ended: tuple[Track, ...]  # confirmed tracks that ended with it
    events: tuple[Event, ...]  # the events it raised (decisions, and on a file's timeline ``left``)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the systemd watchdog needs to know of one camera: has its analysis moved?"""

    analysed: int  # frames analysed so far
    admitted: int  # frames handed to the analysis so far (read, minus those frame_skip held back)
    waiting: bool  # a frame is waiting in the slot
    active: bool  # online and running; False while offline, reconnecting, or once ended


def analysis_stuck(before: Progress | None, now: Progress) -> bool:
    """True when a running camera had frames for its analysis since ``before`` but none was analysed.

    An offline or reconnecting camera, an ended file, and a camera that simply
    had no new frame (a slow snapshot camera) are not stuck.
    """
    if before is None or not now.active or now.analysed > before.analysed:
        return False
    return now.waiting or now.admitted > before.admitted


def detection_interval(config: Config, camera: CameraConfig) -> int:
    """Detect on one analysed frame in N. "auto" detects every frame when frames are already
    thinned (``frame_skip``) or the detector is cheap (mediapipe)."""
    if config.detector.detect_every == "auto" and camera.frame_skip != 0:
        return 1
    return config.detector.detection_interval


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        *,
        config: Config,
        recognizer: Recognizer,
        workers: VisionWorkers,
        outputs: CameraOutputs,
        timeline: Timeline | None = None,
    ) -> None:
        self.config = camera
        self.timeline = timeline or timeline_for(camera)
        self.slot = FrameSlot(drop_stale=self.timeline.drops_stale)
        self.camera = Camera(camera, self.slot, outputs.camera_status)
        self.tracker = FaceTracker(config.tracking, camera.name)
        self.presence = Presence(config.events, config.daemon.node_id, camera.name)
        self.access = door_for(camera, config)  # liveness and access events; None (nothing made) unless access = true
        self.analysed = 0
        self.last_analysed_at: float | None = None  # epoch seconds at the end of the latest step
        self.detected = 0  # frames the detector ran on (the others were tracked by prediction)
        self.failed = 0
        self.latency = Percentiles()  # frame read → tracks updated
        self.detect_ms = Percentiles()
        self.namer: TrackNamer[Frame] = TrackNamer(
            camera.name, config.tracking, config.gallery.effective_tolerance, recognizer, workers, self._announce
        )
        self._tracking = config.tracking
        self._base_cadence = self._detect_every = detection_interval(config, camera)
        self._since_detection = self._detect_every  # the first frame is detected
        self._set_area = camera.set_area or config.detector.set_area
        self._workers = workers
        self._outputs = outputs
        self._capture: asyncio.Task[None] | None = None
        self._stop_requested = False
        self._failing_in_a_row = 0
        self._stepped: list[Event] | None = None  # the events of the step being taken
        live = self.timeline is Timeline.WALL  # a file on its own timeline analyses every frame instead
        self._autoskip = pacing.Governor(time.monotonic(), 0) if live and camera.frame_skip == "auto" else None
        self._cadence = pacing.Governor(time.monotonic(), 0) if live and config.detector.detect_every == "auto" else None
        self._frame_size = (0, 0)  # (width, height) of the latest frame
        self._last_frame_mono = time.monotonic()

    @property
    def name(self) -> str:
        return self.config.name

    async def run(self) -> None:
        """Until the camera ends (files) or ``stop_capture``; in-flight work is finished."""
        structlog.contextvars.bind_contextvars(camera=self.name)
        self._capture = asyncio.create_task(self._capture_then_close(), name=f"capture:{self.name}")
        timer = self._start_presence_timer()
        try:
            while (frame := await self.slot.get()) is not None:
                await self._analyse_guarded(frame)
        finally:
            ended_by_itself = not self._stop_requested
            await self.stop_capture()
            await self.namer.finish()
            await _cancelled(timer)
            if self.access is not None:
                await self.access.close()
        if ended_by_itself:  # end of a video file: nobody is seen any more
            self._end_tracks(self.tracker.end_all())
            self._emit(self.presence.flush(), None)

    async def _capture_then_close(self) -> None:
        try:
            await self.camera.run()
        except Exception as error:  # noqa: BLE001 - shown and kept as the camera's failure, never taken for an end
            self.camera.mark_failed(error)
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
        started = time.monotonic()
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
        self._adapt_frame_skip(time.monotonic() - started)

    async def _analyse(self, frame: Frame) -> None:
        await self.step(frame)
        self._outputs.presence(self.name, self.presence.present)
        if self._outputs.wants_frames(self.name):  # a live view being watched: nobody else pays for this
            self._outputs.frame_analysed(self.name, frame, self._track_views())

    async def step(self, frame: Frame) -> Step:
        """One frame: detect (or predict), track, name, decide; what happened, its events already emitted."""
        self._frame_size = (frame.width, frame.height)
        self._last_frame_mono = frame.read_mono
        detected, update = await self._track(frame)
        if self.access is not None:  # Face Mesh on the faces at the door, in the door's own thread
            await self.access.measure(frame, self.tracker.tracks)
        self.analysed += 1
        self.last_analysed_at = time.time()
        self.latency.add((time.monotonic() - frame.read_mono) * 1000.0)
        self._stepped = []  # from here on nothing awaits: every event until the return is this frame's
        try:
            self.namer.confirmed(update.confirmed)
            self._end_tracks(update.ended)
            self.namer.frame_done(frame, update.seen)
            if self.access is not None:
                self._emit(self.access.due(frame.captured_at), frame)
            if self.timeline is Timeline.FILE:  # a file on its own timeline expires presence from its frames
                self._emit(self.presence.expire(frame.captured_at), None)
            events = tuple(self._stepped)
        finally:
            self._stepped = None
        tracks = tuple(track for track in self.tracker.tracks if track.confirmed)
        return Step(frame.index, detected, tracks, tuple(update.ended), events)

    async def _track(self, frame: Frame) -> tuple[bool, TrackerUpdate]:
        """The detector on one frame in ``detect_every``; in between, the tracks' boxes move on by themselves."""
        self._since_detection += 1
        if self._since_detection < self._detect_every:
            return False, self.tracker.predict(frame.captured_at)
        self._since_detection = 0
        return True, await self._detect(frame)

    async def _detect(self, frame: Frame) -> TrackerUpdate:
        started = time.monotonic()
        detections = await self._workers.detect(self.name, frame.image, self._set_area)
        seconds = time.monotonic() - started  # queueing in a shared pool included: that is the real cost
        self.detect_ms.add(seconds * 1000.0)
        self.detected += 1
        self._adapt_cadence(seconds)
        return self.tracker.update(detections, frame.captured_at, frame.index, frame.read_mono)

    def _track_views(self) -> list[TrackView]:
        """Every track with its current box and verdict: confirmed ones to draw, all to blur."""
        return [TrackView(track.id, track.box, *self.namer.verdict_of(track.id), confirmed=track.confirmed)
                for track in self.tracker.tracks]

    def _announce(self, who: Identification, frame: Frame | None) -> None:
        events = self.presence.identified(who)
        self._emit(events if self.access is None else self.access.identified(who, events), frame)

    def _end_tracks(self, ended: list[Track]) -> None:
        for track in ended:
            name = self.namer.ended(track, self._frame_size)
            if self.access is not None:
                self._emit(self.access.ended(track), None)
            if name is not None:
                self.presence.track_ended(TrackEnd(track.id, name, track.last_seen, track.look.box, self._frame_size))

    def _emit(self, events: list[Event], frame: Frame | None) -> None:
        """The one way out for events, whatever raised them, and the only caller of ``Outputs.event``."""
        for event in events:
            # a "left" is about a face no longer in this frame: no snapshot of it
            self._outputs.event(event, None if event.type is EventType.LEFT else frame)
        if self._stepped is not None:
            self._stepped.extend(events)

    # --- frame_skip = "auto" ----------------------------------------------------

    def _adapt_frame_skip(self, busy_s: float) -> None:
        """``frame_skip = "auto"``: analyse only as many frames as the machine keeps up with (see pacing)."""
        if self._autoskip is None or self.slot.closed:  # the last frames after a stop say nothing of the rate
            return
        self._autoskip.observe(busy_s)
        measured = self._autoskip.due(time.monotonic(), self.camera.stats.frames_read)
        if measured is not None and (skip := pacing.frame_skip_for(*measured)) != self.camera.frame_skip:
            self.camera.frame_skip = skip
            log.info("frame_skip adjusted", frame_skip=skip)

    def _adapt_cadence(self, detect_s: float) -> None:
        """``detect_every = "auto"`` on live cameras: detect as often as the detector keeps up (see pacing)."""
        if self._cadence is None or self.slot.closed:
            return
        self._cadence.observe(detect_s)
        measured = self._cadence.due(time.monotonic(), self.camera.stats.admitted)
        if measured is not None:
            cadence = pacing.cadence_for(*measured, base=self._base_cadence)
            if cadence != self._detect_every:
                log.debug("detection cadence adjusted", detect_every=cadence)
            self._detect_every = cadence

    # --- presence on the wall clock ---------------------------------------------------

    def _start_presence_timer(self) -> asyncio.Task[None] | None:
        """A file on its own timeline, faster or slower than the wall clock, has no timer: its presence
        expires from its own frames (``step``)."""
        if self.timeline is not Timeline.WALL:
            return None
        return asyncio.create_task(self._presence_timer(), name=f"presence:{self.name}")

    async def _presence_timer(self) -> None:
        """A wall-clock camera's ``left`` comes on time even when no frame does (a camera gone offline)."""
        while True:
            await asyncio.sleep(EXPIRE_INTERVAL_S)
            try:
                self._expire(time.time())
            except Exception:  # a bug here must not end this camera's "left" events for good
                log.exception("presence expiry failed", camera=self.name)

    def _expire(self, now: float) -> None:
        """``left`` for people unseen for the presence timeout; tracks without frames end first."""
        if time.monotonic() - self._last_frame_mono >= self._tracking.max_absence_s:  # no frames: nobody seen
            self._end_tracks(self.tracker.expire(now))
        self._emit(self.presence.expire(now), None)

    # --- the daemon's view ----------------------------------------------------------

    def progress(self) -> Progress:
        stats = self.camera.stats
        running = self._capture is not None and not self._capture.done()
        return Progress(self.analysed, stats.admitted, len(self.slot) > 0, running and stats.online)

    def stats(self) -> dict[str, object]:
        """Frames read, analysed and dropped, latencies, tracks: for the status line and the exit report."""
        return {
            **self.camera.stats_dict(),
            "analysed": self.analysed,
            "last_analysed_at": self.last_analysed_at,
            "frames_detected": self.detected,
            "analysis_failed": self.failed,
            "looks_lost": self.namer.looks_lost,  # encodings that failed (worker hung, dead or missing)
            "tracks_undecided": self.namer.tracks_undecided,  # tracks that ended pending after losing looks
            "tracks": len(self.tracker.tracks),
            "frame_skip": self.camera.frame_skip,
            "detect_every": self._detect_every,
            "latency_ms": self.latency.summary(),
            **({"access": self.access.stats()} if self.access is not None else {}),
            "stage_ms": {
                "detect": self.detect_ms.summary(),
                **{stage: window.summary() for stage, window in self.namer.stage_ms.items()},
            },
        }


async def _cancelled(task: asyncio.Task[None] | None) -> None:
    """Cancel a helper task and wait until it is gone."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
