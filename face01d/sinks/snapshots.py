"""Snapshot images of recognition events: written off the loop, kept bounded.

Snapshots are biometric data, so files are 0600 and folders 0700 whatever
the umask, and retention deletes them by age and by total size. The daemon
runs for months on small disks, so a full or read-only disk must never stop
recognition: a failed write is counted, logged once per kind of error, and
the next success logs the recovery.

``submit`` is called from the event loop: it decides the paths, copies the
small face crop (so the queue never holds whole frames only for a face) and
queues the job, bounded twice: in jobs (``queue_size``) and in bytes of
images (``queue_mb``: 64 jobs of 1080p frames would be ~400 MB). A job over
the byte budget loses its whole frame first (the small face crop is kept,
``frames_dropped``); what still does not fit is dropped and counted. One writer task encodes
(``cv2.imencode``) and writes atomically in a thread, so the loop never
waits on the disk. Dates in paths are UTC, like the events' timestamps.

Retention runs at start, every ``RETENTION_INTERVAL_S``, and early once
``PRUNE_EARLY_FRACTION`` of the size cap was written since the last run, so
a burst of events cannot fill the disk between two runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import structlog

from face01d.events.model import Event
from face01d.private_files import write_private_atomic
from face01d.sinks.blur import FrameFaces, blur_faces
from face01d.sinks.retention import prune
from face01d.faces import FaceBox, Frame

if TYPE_CHECKING:
    from collections.abc import Sequence

    from face01d.config.models import SnapshotConfig
    from face01d.sinks.base import TrackView

log = structlog.get_logger(__name__)

RETENTION_INTERVAL_S = 3600.0  # how often retention runs after the one at start
PRUNE_EARLY_FRACTION = 0.1  # written since the last run, as a fraction of max_mb
MAX_NAME_CHARS = 48  # ≤ 192 UTF-8 bytes: the file name stays under 255 bytes
FRAME_SUFFIX = "_frame.jpg"


def safe_component(text: str) -> str:
    """``text`` as one path component: Unicode kept; '/', '\\', control chars and leading dots gone."""
    kept = "".join(ch for ch in text if ch not in "/\\" and unicodedata.category(ch) not in ("Cc", "Cs"))
    kept = kept.strip().lstrip(".")[:MAX_NAME_CHARS]
    return kept or "_"


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a BGR image; CPU-bound, so call it in a thread."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cv2.imencode failed for an image of shape {image.shape}")
    return buffer.tobytes()


def face_crop(image: np.ndarray, box: FaceBox, margin: float) -> np.ndarray:
    """The face with ``margin`` × its size added on each side, clipped to the image."""
    dy, dx = round(box.height * margin), round(box.width * margin)
    grown = FaceBox(box.top - dy, box.right + dx, box.bottom + dy, box.left - dx)
    area = grown.clipped(image.shape[0], image.shape[1])
    if area.area == 0:
        raise ValueError(f"face box {box.as_tuple()} lies outside the image")
    return image[area.top : area.bottom, area.left : area.right]


def snapshot_stem(root: Path, event: Event) -> Path:
    """``ROOT/<camera>/<YYYY-MM-DD>/<HHMMSS.mmm>_<name>_<id8>`` (UTC); suffixes added by the caller."""
    moment = datetime.fromtimestamp(event.captured_at, tz=timezone.utc)
    clock = moment.strftime("%H%M%S.") + f"{moment.microsecond // 1000:03d}"
    name = f"{clock}_{safe_component(event.name)}_{event.id[:8]}"
    return root / safe_component(event.camera) / moment.strftime("%Y-%m-%d") / name


@dataclass(frozen=True, slots=True)
class _Job:
    """One queued snapshot: each image with its path; the first is the event's. ``blur``: the faces
    to obscure in the whole frame (``blur_unknown``), done by the writer's thread."""

    parts: tuple[tuple[Path, np.ndarray], ...]
    blur: tuple[FaceBox, ...] = ()

    @property
    def nbytes(self) -> int:
        return sum(image.nbytes for _, image in self.parts)

    def without_frame(self) -> _Job | None:
        """The job less its whole-frame image (the face crop is small), or None if nothing is left."""
        kept = tuple(part for part in self.parts if not part[0].name.endswith(FRAME_SUFFIX))
        return _Job(kept) if kept else None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The result of writing one file, reported back to the loop."""

    path: Path
    size: int = 0
    error: str | None = None  # errno name (ENOSPC, EROFS, ...), "encode" or "crop"
    detail: str | None = None


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "encode" if isinstance(exc, (ValueError, cv2.error)) else type(exc).__name__


def _write_one(path: Path, image: np.ndarray, quality: int) -> _Outcome:
    try:
        data = encode_jpeg(image, quality)
        write_private_atomic(path, data)
    except (OSError, ValueError, cv2.error) as exc:
        return _Outcome(path, error=_error_kind(exc), detail=str(exc))
    return _Outcome(path, size=len(data))


def write_job(job: _Job, quality: int) -> list[_Outcome]:
    """Encode and write one job's files (the frame's strangers blurred first); runs in a thread,
    never raises for I/O."""
    return [_write_one(path, blur_faces(image, job.blur) if path.name.endswith(FRAME_SUFFIX) else image, quality)
            for path, image in job.parts]


class SnapshotWriter:
    """Writes event snapshots from one task; the loop only queues.

    When frames are saved, the caller must not modify ``image`` after
    ``submit``: the writer keeps a reference rather than copy a whole frame
    on the loop (capture hands out a new array per frame).
    """

    def __init__(self, config: SnapshotConfig) -> None:
        self._config = config
        self._root = Path(config.dir).absolute()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=config.queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._failing: set[str] = set()
        self._closed = False
        self._prune_soon = asyncio.Event()
        self._disk = asyncio.Lock()  # retention never runs while a file is written: it removes empty folders
        self._written_since_prune = 0
        self._budget = int(config.queue_mb * 1024 * 1024)
        self._faces = FrameFaces() if config.blur_unknown and config.save_frame else None  # see sinks/blur.py
        self.queued_bytes = 0  # images queued or being written
        self.stats: dict[str, int] = {"written": 0, "dropped": 0, "frames_dropped": 0, "failed": 0, "bytes": 0,
                                      "pruned": 0}

    async def start(self) -> None:
        """Start the writer and the retention task (which prunes once right away)."""
        if not self._config.enabled or self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="snapshot-writer"),
            asyncio.create_task(self._retention_loop(), name="snapshot-retention"),
        ]

    def wants_frames(self, camera: str) -> bool:
        """True with ``blur_unknown``: the frames' tracks say which faces to blur."""
        return self._faces is not None and self._config.enabled

    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        if self._faces is not None:
            self._faces.note(camera, frame.index, tracks)

    def submit(self, event: Event, image: np.ndarray, frame_index: int | None = None) -> str | None:
        """Queue the snapshot(s) of ``event``; the path the event should carry, or None.

        The face crop's path is returned when one is saved, else the frame's.
        None: snapshots are off, there is nothing to save, or the queue is full
        (the drop is counted). ``frame_index``: the frame's, for ``blur_unknown``.
        """
        job = self._job(event, image, frame_index)
        if job is None:
            return None
        job = self._within_budget(job)
        if job is None or self._queue.full():
            self.stats["dropped"] += 1
            return None
        self._queue.put_nowait(job)
        self.queued_bytes += job.nbytes
        return str(job.parts[0][0])

    def _within_budget(self, job: _Job) -> _Job | None:
        """``job`` if its images fit in ``queue_mb`` beside those queued, else without its frame, else None.
        An empty queue takes any one job: the bound is ``queue_mb`` or one job, whichever is larger."""
        if not self.queued_bytes or self.queued_bytes + job.nbytes <= self._budget:
            return job
        lighter = job.without_frame()
        if lighter is None or len(lighter.parts) < len(job.parts):  # the frame is left out
            self.stats["frames_dropped"] += 1
        if lighter is not None and self.queued_bytes + lighter.nbytes <= self._budget:
            return lighter
        return None

    async def stop(self, timeout: float) -> None:
        """Write what is queued within ``timeout`` seconds, then stop both tasks."""
        self._closed = True
        try:
            if not self._tasks:  # never started: nothing will write the queue
                raise TimeoutError
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            self.stats["dropped"] += self._queue.qsize()
            log.warning("snapshot queue not flushed", pending=self._queue.qsize(), timeout_s=timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _job(self, event: Event, image: np.ndarray, frame_index: int | None = None) -> _Job | None:
        """The files to write for ``event``, or None when there are none."""
        config = self._config
        if not config.enabled or self._closed:
            return None
        stem = snapshot_stem(self._root, event)
        parts = []
        if config.save_face and event.box is not None:
            face_path = stem.with_name(stem.name + "_face.jpg")
            face = self._face(face_path, event.box, image)
            parts += [(face_path, face)] if face is not None else []
        if config.save_frame:
            parts.append((stem.with_name(stem.name + FRAME_SUFFIX), image))
        blur = self._faces.to_blur(event, frame_index) if self._faces is not None else ()
        return _Job(tuple(parts), blur) if parts else None

    def _face(self, path: Path, box: FaceBox, image: np.ndarray) -> np.ndarray | None:
        """A copy of the face crop, made now: a small copy costs microseconds,
        while queueing whole frames would hold up to ``queue_size`` of them."""
        try:
            return face_crop(image, box, self._config.face_margin).copy()
        except ValueError as exc:
            self._account(_Outcome(path, error="crop", detail=str(exc)))
            return None

    async def _write_loop(self) -> None:
        quality = self._config.jpeg_quality
        while True:
            job = await self._queue.get()
            try:
                async with self._disk:
                    outcomes = await asyncio.to_thread(write_job, job, quality)
                for outcome in outcomes:
                    self._account(outcome)
            except Exception:  # a bug must not end snapshotting for months
                self.stats["failed"] += 1
                log.exception("snapshot writer error")
            finally:
                self.queued_bytes -= job.nbytes
                self._queue.task_done()

    def _account(self, outcome: _Outcome) -> None:
        """Count one file; log a failure once per kind, and the recovery after."""
        if outcome.error is None:
            self.stats["written"] += 1
            self.stats["bytes"] += outcome.size
            self._count_towards_cap(outcome.size)
            if self._failing:
                log.info("snapshot writes recovered", path=str(outcome.path), errors=sorted(self._failing))
                self._failing.clear()
            return
        self.stats["failed"] += 1
        if outcome.error not in self._failing:
            self._failing.add(outcome.error)
            log.warning("snapshot write failed", path=str(outcome.path), error=outcome.error, detail=outcome.detail)

    def _count_towards_cap(self, size: int) -> None:
        self._written_since_prune += size
        cap = self._config.max_mb * 1024 * 1024
        if cap and self._written_since_prune >= cap * PRUNE_EARLY_FRACTION:
            self._prune_soon.set()

    async def _retention_loop(self) -> None:
        config = self._config
        while True:
            self._prune_soon.clear()
            self._written_since_prune = 0
            try:
                async with self._disk:
                    result = await asyncio.to_thread(
                        prune, self._root, config.retention_days, config.max_mb, time.time()
                    )
                self.stats["pruned"] += result.deleted
                if result.deleted or result.errors:
                    log.info("snapshot retention", deleted=result.deleted, freed_bytes=result.freed,
                             kept_bytes=result.kept, errors=result.errors)
            except Exception:
                log.exception("snapshot retention error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._prune_soon.wait(), RETENTION_INTERVAL_S)
