"""The page's memory of events: the last ``keep`` in memory (with a small face crop), a day file on disk.

The daemon's other outputs keep nothing readable (the MQTT outbox holds only
what is not delivered yet), so the Events page needs its own record. This
sink keeps the newest ``keep`` events with a JPEG of the face in memory
(bounded: a busy entrance costs ``keep`` small crops, not more) and appends
each event, as the JSON line ``run --stdout`` prints, to
``<directory>/events-YYYY-MM-DD.jsonl`` (the local day of its frame), which
``face01d report`` reads and the page draws as the day's timeline. Files
older than ``retention_days`` are deleted. As every sink, the loop only
queues: crops are encoded and lines written by one task, in a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import structlog

from face01d.events.model import Event
from face01d.faces import Frame
from face01d.private_files import make_private_dirs
from face01d.sinks.base import Sink
from face01d.sinks.snapshots import encode_jpeg, face_crop

log = structlog.get_logger(__name__)

EVENTS_KEPT = 200  # events the page shows, newest first
RETENTION_DAYS = 7  # day files kept for the timeline
QUEUE_SIZE = 64  # events waiting for the disk; beyond this their line and crop are dropped and counted
CROP_MARGIN = 0.3
CROP_QUALITY = 80
DAY_GLOB = "events-*.jsonl"


@dataclass(slots=True)
class KeptEvent:
    """One event as the page shows it; ``crop`` (JPEG) arrives once the writer has encoded it."""

    record: dict[str, object]
    crop: bytes | None = None


def day_file(directory: Path, day: date) -> Path:
    return directory / f"events-{day.isoformat()}.jsonl"


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # events name people: private
    with open(fd, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def prune_days(directory: Path, retention_days: float, now: float) -> int:
    """Delete day files last written more than ``retention_days`` ago; how many."""
    cutoff = now - retention_days * 86400.0
    doomed = [path for path in directory.glob(DAY_GLOB) if path.stat().st_mtime < cutoff]
    for path in doomed:
        path.unlink(missing_ok=True)
    return len(doomed)


class EventLog(Sink):
    """Keeps recent events for the page and a day file per day (see the module)."""

    def __init__(self, directory: Path, keep: int = EVENTS_KEPT, retention_days: float = RETENTION_DAYS) -> None:
        self.directory = Path(directory)
        self.retention_days = retention_days
        self._recent: deque[KeptEvent] = deque(maxlen=keep)
        self._queue: asyncio.Queue[tuple[KeptEvent, float, np.ndarray | None]] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self.stats = {"kept": 0, "dropped": 0, "failed": 0}

    def recent(self) -> list[KeptEvent]:
        """The kept events, newest first."""
        return list(reversed(self._recent))

    def find(self, event_id: str) -> KeptEvent | None:
        return next((kept for kept in self._recent if kept.record["id"] == event_id), None)

    async def start(self) -> None:
        await asyncio.to_thread(make_private_dirs, self.directory)
        await asyncio.to_thread(prune_days, self.directory, self.retention_days, time.time())
        self._task = asyncio.create_task(self._write_loop(), name="event-log")

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        """Keep the event now; its crop (a copy) and line are queued for the writer."""
        kept = KeptEvent(event.to_dict(time.time()))
        self._recent.append(kept)
        self.stats["kept"] += 1
        crop = None
        if frame is not None and event.box is not None:
            try:
                crop = face_crop(frame.image, event.box, CROP_MARGIN).copy()
            except ValueError:
                crop = None
        if self._queue.full():
            self.stats["dropped"] += 1
            return
        self._queue.put_nowait((kept, event.captured_at, crop))

    async def _write_loop(self) -> None:
        while True:
            kept, captured_at, crop = await self._queue.get()
            try:
                await asyncio.to_thread(self._write, kept, captured_at, crop)
            except Exception as error:  # a full disk must not end the page's memory
                self.stats["failed"] += 1
                log.warning("event log write failed", path=str(self.directory), error=str(error))
            finally:
                self._queue.task_done()

    def _write(self, kept: KeptEvent, captured_at: float, crop: np.ndarray | None) -> None:
        if crop is not None and crop.size:
            kept.crop = encode_jpeg(crop, CROP_QUALITY)
        day = datetime.fromtimestamp(captured_at).date()
        _append(day_file(self.directory, day), json.dumps(kept.record, ensure_ascii=False))

    async def stop(self, timeout: float) -> None:
        """Write what is queued within ``timeout``, then stop the writer."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.warning("event log: lines not written at shutdown", left=self._queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
