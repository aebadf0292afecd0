"""One camera's supervisor: reads its source, thins frames, hands them on, and reconnects.

Files end at their end, cleanly only when every frame the container
announced was read and FFmpeg reported no decoding error (counted from its
stderr lines by ``face01d.native_stderr``): a truncated or corrupt file, or
an unexpected error (a bug), ends the camera as *failed*, which
``run --once`` turns into exit code 4. Live cameras (RTSP, MJPEG, snapshot, USB)
are kept alive forever: any failure, a server that closes, or a stream that
stalls (no frame for ``stall_timeout_s``) closes the source, marks the camera
offline and reconnects after an exponential backoff with full jitter, so a
fleet of cameras that lost their network does not reconnect in lock-step.
An unexpected exception (not a ``SourceError``) is logged with its
traceback and retried the same way: a bug in one camera's path must show,
but must not end that camera for good. A read that never returns (USB reads
have no timeout) is abandoned to its thread, and that camera opens nothing
new until the read has returned: one stuck thread per camera at most, never
one more per reconnect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import structlog

from face01d import native_stderr
from face01d.backoff import AUTH_RETRY_S, Backoff
from face01d.capture.http_source import MjpegSource, SnapshotSource
from face01d.capture.opencv_source import OpenCVSource
from face01d.capture.slot import FrameSlot
from face01d.capture.source import CameraThread, Source, SourceAuthError, SourceError
from face01d.config.models import CameraConfig, CameraKind
from face01d.faces import Frame
from face01d.timeline import timeline_for
from face01d.urls import redact_url

BACKOFF_START_S = 0.5  # first reconnect delay (upper bound of the jitter)
# AUTH_RETRY_S (rejected credentials) is face01d.backoff's, imported here so tests can shorten it.
CLOSE_TIMEOUT_S = 2.0  # a source that does not close in this time is abandoned to its thread
COMPLETE_FRACTION = 0.95  # a file that ends before this share of its announced frames was cut short

StatusCallback = Callable[[str, bool], None]


@dataclass
class CameraStats:
    """Counters for the daemon's status and exit report."""

    frames_read: int = 0
    frames_skipped: int = 0  # by frame_skip / fps_limit, before the slot
    frames_dropped: int = 0  # replaced in the slot before analysis took them
    reconnects: int = 0
    online: bool = False
    first_frame_at: float | None = None  # epoch seconds of the first frame read since start
    last_frame_at: float | None = None  # epoch seconds
    error: str | None = None  # the last failure, None once frames flow again
    failed: bool = False  # ended by a failure (files): not read to its end, or a crash
    decoder_errors: int = 0  # FFmpeg error lines charged to this camera (once native_stderr is installed)
    hung_reads: int = 0  # reads abandoned because they never returned
    read_hung: bool = False  # an abandoned read has still not returned: no reconnect meanwhile

    @property
    def admitted(self) -> int:
        """Frames handed on to the analysis: read, minus those frame_skip / fps_limit held back."""
        return self.frames_read - self.frames_skipped

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class FrameGate:
    """Decides which frames reach the slot: one in ``frame_skip + 1``, at most ``fps_limit`` a second."""

    def __init__(self, frame_skip: int, fps_limit: float) -> None:
        self.skip, self._period = frame_skip, (1.0 / fps_limit if fps_limit > 0 else 0.0)
        self._seen = 0
        self._next_at = float("-inf")

    def admit(self, now: float) -> bool:
        """``now`` is seconds on any steady clock (wall time, or a file's own timeline)."""
        self._seen += 1
        if (self._seen - 1) % (self.skip + 1):
            return False
        if now < self._next_at - self._period * 0.01:  # 1 %: tolerate float and clock jitter
            return False
        behind = now - self._next_at >= self._period  # after a gap, restart the grid at now
        self._next_at = (now if behind else self._next_at) + self._period
        return True


class _Stalled(Exception):
    """No frame arrived within the stall timeout."""


def slot_for(config: CameraConfig) -> FrameSlot:
    """The hand-off a camera's timeline needs: lossless only for a file on its own (``pace = "none"``)."""
    return FrameSlot(drop_stale=timeline_for(config).drops_stale)


def make_source(
    config: CameraConfig, thread: CameraThread, errors: native_stderr.DecoderErrors | None = None
) -> Source:
    """The source class for a camera's kind (``errors``: where FFmpeg's error lines are counted)."""
    if config.kind is CameraKind.MJPEG:
        return MjpegSource(config, thread)
    if config.kind is CameraKind.SNAPSHOT:
        return SnapshotSource(config, thread)
    return OpenCVSource(config, thread, errors)


class Camera:
    """Supervises one configured camera; ``run()`` until the file ends or the task is cancelled."""

    def __init__(self, config: CameraConfig, slot: FrameSlot, on_status: StatusCallback | None = None) -> None:
        self.config, self.name = config, config.name
        self._slot, self._on_status = slot, on_status
        self._stats = CameraStats()
        self._gate = FrameGate(0 if config.frame_skip == "auto" else config.frame_skip, config.fps_limit)
        self._status: bool | None = None
        self._index = 0
        self._decoder_errors = native_stderr.DecoderErrors(config.name)
        self._hung: CameraThread | None = None  # the thread of an abandoned read, until it returns
        self._log = structlog.get_logger("face01d.capture").bind(camera=config.name)

    @property
    def stats(self) -> CameraStats:
        self._stats.frames_dropped = self._slot.dropped
        self._stats.decoder_errors = self._decoder_errors.count
        return self._stats

    @property
    def frame_skip(self) -> int:
        """Frames skipped after each one admitted (set by the pipeline when ``frame_skip = "auto"``)."""
        return self._gate.skip

    @frame_skip.setter
    def frame_skip(self, skip: int) -> None:
        self._gate.skip = skip

    def stats_dict(self) -> dict[str, object]:
        """The stats as plain data, for the status topic and the exit report."""
        return self.stats.as_dict()

    async def run(self) -> None:
        """Capture until a file ends (or cannot be opened) or until cancelled; closes the slot."""
        try:
            if self.config.kind is CameraKind.FILE:
                await self._run_file()
            else:
                await self._run_live()
        finally:
            self._slot.close()
            self._set_online(False)

    async def _run_file(self) -> None:
        thread = CameraThread(self.name)
        source = OpenCVSource(self.config, thread, self._decoder_errors)
        try:
            await source.open()
            self._set_online(True)
            await self._play_file(source)
            await thread.call(native_stderr.settle)  # FFmpeg's last lines counted before the verdict
            self._check_complete(source.frame_count)
        except SourceError as error:
            self._fail(str(error), failed=True)
        except Exception as error:  # noqa: BLE001 - a bug: shown with its traceback, never taken for the end
            self._crash(error, failed=True)
        finally:
            await self._close(source, thread)

    def _check_complete(self, announced: int | None) -> None:
        """A file that ends well before the frame count its container announced is truncated;
        one whose frames FFmpeg could not all decode is corrupt."""
        read, errors = self._stats.frames_read, self._decoder_errors.count
        if announced is not None and read < announced * COMPLETE_FRACTION:
            self._fail(f"video ended early: {read} of {announced} frames", failed=True)
            return
        if errors:
            self._fail(f"corrupt video: {errors} decoder errors in {self._where()}", level="warning", failed=True)
            return
        self._log.info("end of video file", path=self._where(), frames_read=read, frames_announced=announced)

    def mark_failed(self, error: BaseException) -> None:
        """An exception that escaped ``run`` (reported by whoever awaited it): the camera failed."""
        self._crash(error, failed=True)
        self._set_online(False)

    async def _play_file(self, source: OpenCVSource) -> None:
        """At ``pace = "native"`` a file imitates a live camera: wall-clock stamps.
        At ``pace = "none"`` analysis runs faster or slower than real time, so
        frames are stamped on the file's own timeline (start + index / fps) and
        cooldowns and presence follow the video, not the machine. A file was
        recorded before it is read, so its timeline ends when it is opened:
        no frame is stamped in the future, however fast it is analysed."""
        fps = source.fps or 25.0
        native = self.config.pace == "native"
        duration = 0.0 if native or source.frame_count is None else source.frame_count / fps
        started, started_wall = time.monotonic(), time.time() - duration
        while (image := await source.read()) is not None:
            video_time = self._index / fps
            if native:
                await asyncio.sleep(max(0.0, started + video_time - time.monotonic()))
            await self._offer(image, video_time, captured_at=None if native else started_wall + video_time)

    async def _run_live(self) -> None:
        backoff = Backoff(BACKOFF_START_S, self.config.reconnect_max_s, AUTH_RETRY_S)
        while True:
            if self._read_still_hung():
                await asyncio.sleep(backoff.next_delay())
                continue
            delay = await self._connect_once(backoff)
            self._set_online(False)
            self._stats.reconnects += 1
            self._log.info("reconnecting", delay_s=round(delay, 2), attempt=backoff.attempt)
            await asyncio.sleep(delay)

    async def _connect_once(self, backoff: Backoff) -> float:
        """One connection, from open to failure; returns how long to wait before the next."""
        thread = CameraThread(self.name)
        source: Source | None = None
        try:
            source = make_source(self.config, thread, self._decoder_errors)
            await source.open()
            await self._stream(source, backoff)
            self._fail(f"stream ended: {self._where()}", level="warning")
        except SourceAuthError as error:
            self._fail(f"camera {self.name}: {error}")
            return backoff.auth_delay()
        except _Stalled:
            self._fail(f"no frame for {self.config.stall_timeout_s} s from {self._where()}", level="warning")
        except SourceError as error:
            self._fail(f"{self._where()}: {error}", level="warning")
        except Exception as error:  # noqa: BLE001 - a bug: shown with its traceback, then retried
            self._crash(error)
        finally:
            await self._close(source, thread)
            self._note_hung(thread)
        return backoff.next_delay()

    def _note_hung(self, thread: CameraThread) -> None:
        """A call still running after the source was closed (or gave up closing) is a hung read."""
        if not thread.busy:
            return
        self._hung = thread
        self._stats.hung_reads += 1
        self._stats.read_hung = True
        self._log.warning("camera read hung, abandoned to its thread", thread=thread.thread.name,
                          hung_s=round(thread.busy_for, 1))

    def _read_still_hung(self) -> bool:
        """Until the abandoned read returns (and its thread has released the device), connect nothing:
        each reconnect would start one more thread stuck on the same device."""
        hung = self._hung
        if hung is None:
            return False
        if hung.thread.is_alive():
            self._stats.error = f"read hung for {hung.busy_for:.0f} s, not reconnecting until it returns"
            self._log.warning("camera read still hung", hung_s=round(hung.busy_for, 1), source=self._where())
            return True
        self._hung, self._stats.read_hung = None, False
        self._log.info("hung camera read returned, reconnecting")
        return False

    async def _stream(self, source: Source, backoff: Backoff) -> None:
        timeout = self.config.stall_timeout_s
        if self.config.kind is CameraKind.SNAPSHOT:
            timeout += self.config.snapshot_interval_s
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(timeout):
                    image = await source.read()
            except TimeoutError:
                raise _Stalled from None
            if image is None:
                return
            self._set_online(True)
            backoff.reset()
            self._stats.error = None
            await self._offer(image, time.monotonic())

    async def _offer(self, image: np.ndarray, clock: float, captured_at: float | None = None) -> None:
        """Count a frame read and pass it to the slot unless frame_skip / fps_limit hold it back."""
        index, self._index = self._index, self._index + 1
        now = time.time()
        self._stats.frames_read += 1
        self._stats.last_frame_at = now
        if self._stats.first_frame_at is None:
            self._stats.first_frame_at = now
        if not self._gate.admit(clock):
            self._stats.frames_skipped += 1
            return
        stamp = now if captured_at is None else captured_at
        await self._slot.put(Frame(camera=self.name, index=index, image=image, captured_at=stamp))

    async def _close(self, source: Source | None, thread: CameraThread) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                if source is not None:
                    await source.close()
        except Exception as error:  # noqa: BLE001 - closing is best effort
            self._log.warning("source did not close cleanly", error=repr(error))
        finally:
            thread.shutdown()

    def _fail(
        self, message: str, level: str = "error", failed: bool = False, exc_info: BaseException | None = None
    ) -> None:
        self._stats.error = message
        self._stats.failed = self._stats.failed or failed
        getattr(self._log, level)("camera failure", error=message, source=self._where(), exc_info=exc_info)

    def _crash(self, error: BaseException, failed: bool = False) -> None:
        """An unexpected exception: logged with its traceback, kept as the camera's error."""
        self._fail(f"unexpected error: {error!r}", failed=failed, exc_info=error)

    def _where(self) -> str:
        return redact_url(str(self.config.source))

    def _set_online(self, online: bool) -> None:
        """Report a change of availability, once per transition."""
        if self._status is online:
            return
        self._status = self._stats.online = online
        self._log.info("camera online" if online else "camera offline")
        if self._on_status is not None:
            try:
                self._on_status(self.name, online)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop capture
                self._log.exception("status listener failed")
