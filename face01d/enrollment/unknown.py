"""Unknown faces kept for enrollment: ``<unknown_dir>/<event_id>.jpg`` and ``.json``.

A stranger the daemon saw can later become a person with ``face01d gallery
promote EVENT_ID NAME``, so each ``unknown`` event's face crop is kept beside
the event itself (camera, track, time). Crops are biometric data: files 0600,
the folder 0700. The loop only copies the small crop and queues it (bounded;
a full queue drops and counts); one task writes in a thread and prunes to
``unknown_max`` files and ``unknown_retention_days``, so a busy entrance
never fills the disk.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import structlog

from face01d.events.model import Event, EventType
from face01d.faces import Frame
from face01d.private_files import make_private_dirs, write_private_atomic
from face01d.sinks.base import Sink
from face01d.sinks.snapshots import encode_jpeg, face_crop

if TYPE_CHECKING:
    from face01d.config.models import Config

log = structlog.get_logger(__name__)

CROP_SUFFIX = ".jpg"
EVENT_SUFFIX = ".json"
FACE_MARGIN = 0.3  # as [snapshots] face_margin: enough hair and chin for a gallery image
JPEG_QUALITY = 92  # the crop may become a gallery image: keep it sharp
QUEUE_SIZE = 32  # crops waiting for the disk; beyond this they are dropped and counted
SECONDS_PER_DAY = 86400.0


def unknown_dir(config: Config) -> Path:
    """``[enrollment] unknown_dir``, or ``unknown`` beside the MQTT outbox (the daemon's state folder)."""
    from face01d.sinks.outbox import default_outbox_path  # noqa: PLC0415 - pulls in sqlite only when needed

    if config.enrollment.unknown_dir is not None:
        return Path(config.enrollment.unknown_dir)
    return default_outbox_path(config.daemon.node_id).parent / "unknown"


@dataclass(frozen=True, slots=True)
class _Job:
    """One unknown face to write: the crop (a copy) and the event as JSON."""

    event_id: str
    crop: np.ndarray
    record: bytes


def write_crop(directory: Path, job: _Job, quality: int) -> None:
    """Write the JSON first, then the crop: a crop on disk always has its event (runs in a thread)."""
    write_private_atomic(directory / f"{job.event_id}{EVENT_SUFFIX}", job.record)
    write_private_atomic(directory / f"{job.event_id}{CROP_SUFFIX}", encode_jpeg(job.crop, quality))


def _kept_stems(directory: Path) -> list[tuple[float, str]]:
    """(mtime, event id) of every kept crop or lone record, oldest first; hidden temp files ignored."""
    stems: dict[str, float] = {}
    for path in directory.iterdir():
        if path.name.startswith(".") or path.suffix not in (CROP_SUFFIX, EVENT_SUFFIX):
            continue
        try:
            stems[path.stem] = max(stems.get(path.stem, 0.0), path.stat().st_mtime)
        except FileNotFoundError:  # removed meanwhile (promoted)
            continue
    return sorted((mtime, stem) for stem, mtime in stems.items())


def prune_unknown(directory: Path, max_files: int, retention_days: float, now: float) -> int:
    """Delete the crops (and their records) beyond ``max_files`` or older than the retention; how many."""
    if not directory.is_dir():
        return 0
    stems = _kept_stems(directory)
    cutoff = now - retention_days * SECONDS_PER_DAY if retention_days > 0 else float("-inf")
    excess = len(stems) - max_files
    doomed = [stem for index, (mtime, stem) in enumerate(stems) if index < excess or mtime < cutoff]
    for stem in doomed:
        for suffix in (CROP_SUFFIX, EVENT_SUFFIX):
            (directory / f"{stem}{suffix}").unlink(missing_ok=True)
    return len(doomed)


class UnknownCrops(Sink):
    """Keeps each ``unknown`` event's face crop and record under ``directory`` (see the module)."""

    def __init__(self, directory: Path, max_files: int, retention_days: float, *,
                 margin: float = FACE_MARGIN, quality: int = JPEG_QUALITY, queue_size: int = QUEUE_SIZE) -> None:
        self.directory = Path(directory).absolute()
        self._max_files = max_files
        self._retention_days = retention_days
        self._margin = margin
        self._quality = quality
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False
        self.stats: dict[str, int] = {"written": 0, "dropped": 0, "failed": 0, "pruned": 0}

    @classmethod
    def from_config(cls, config: Config) -> UnknownCrops:
        """The sink ``[enrollment]`` asks for (the caller checks ``keep_unknown``)."""
        section = config.enrollment
        return cls(unknown_dir(config), section.unknown_max, section.unknown_retention_days)

    async def start(self) -> None:
        """Create the folder (0700), prune once, then write from one task."""
        if self._task is not None:
            return
        await asyncio.to_thread(make_private_dirs, self.directory)
        await self._prune()
        self._task = asyncio.create_task(self._write_loop(), name="unknown-crops")

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        """Queue the crop of an ``unknown`` event that has a frame and a box; anything else is ignored."""
        if event.type is not EventType.UNKNOWN or frame is None or event.box is None or self._closed:
            return
        job = self._job(event, frame)
        if job is None:
            return
        if self._queue.full():
            self.stats["dropped"] += 1
            log.warning("unknown crop dropped: queue full", event_id=event.id, dropped=self.stats["dropped"])
            return
        self._queue.put_nowait(job)

    def _job(self, event: Event, frame: Frame) -> _Job | None:
        """The crop copied now (small: the frame itself is not held) and the event's record."""
        assert event.box is not None
        try:
            crop = face_crop(frame.image, event.box, self._margin).copy()
        except ValueError as error:
            self.stats["failed"] += 1
            log.warning("unknown crop failed", event_id=event.id, error=str(error))
            return None
        record = json.dumps(event.to_dict(time.time()), ensure_ascii=False, indent=1).encode()
        return _Job(event.id, crop, record)

    async def _write_loop(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._write(job)
                await self._prune()
            except Exception:  # a bug must not end keeping crops for months
                self.stats["failed"] += 1
                log.exception("unknown crop writer error", event_id=job.event_id)
            finally:
                self._queue.task_done()

    async def _write(self, job: _Job) -> None:
        """Write one job; a failure is counted and logged once until the next success."""
        try:
            await asyncio.to_thread(write_crop, self.directory, job, self._quality)
        except (OSError, ValueError, cv2.error) as error:  # a full or read-only disk, an unencodable crop
            self.stats["failed"] += 1
            if not self._failing:
                log.warning("unknown crop write failed", path=str(self.directory), error=str(error))
            self._failing = True
            return
        self.stats["written"] += 1
        if self._failing:
            log.info("unknown crop writes recovered", path=str(self.directory))
        self._failing = False
        log.debug("unknown crop kept", event_id=job.event_id, path=str(self.directory))

    async def _prune(self) -> None:
        try:
            deleted = await asyncio.to_thread(
                prune_unknown, self.directory, self._max_files, self._retention_days, time.time())
        except OSError as error:
            log.warning("unknown crop pruning failed", path=str(self.directory), error=str(error))
            return
        self.stats["pruned"] += deleted

    async def stop(self, timeout: float) -> None:
        """Write what is queued within ``timeout`` seconds, then stop the writer; later events are ignored."""
        self._closed = True
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            self.stats["dropped"] += self._queue.qsize()
            log.warning("unknown crops not flushed", pending=self._queue.qsize(), timeout_s=timeout)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
