"""FACE01's headless pipe: each event as one JSON line on stdout.

Lines are UTF-8 with ``ensure_ascii=False`` so Japanese names stay readable
in ``face01d run --stdout | jq``, and flushed one by one so a reader sees
each event at once.

A dedicated daemon thread writes, in order. Not ``asyncio.to_thread``: a
reader that stops reading blocks ``write`` forever, and a stuck executor
thread would then hang the interpreter's exit; a daemon thread does not.
A closed pipe (``| head``) is logged once and later events are dropped.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import queue
import sys
import threading
import time
from typing import IO

import structlog

from face01d.events.model import Event
from face01d.faces import Frame
from face01d.sinks.base import Sink

log = structlog.get_logger(__name__)

DEFAULT_QUEUE_SIZE = 1000


def event_line(event: Event, published_at: float) -> bytes:
    """The JSON line of ``event``, UTF-8 encoded, newline included."""
    return (json.dumps(event.to_dict(published_at), ensure_ascii=False) + "\n").encode("utf-8")


def write_line(stream: IO[str], line: bytes) -> None:
    """Write and flush one line; bytes go to the binary buffer when there is one.

    Going below the text layer keeps the output UTF-8 even when the locale
    (or ``PYTHONIOENCODING``) says ASCII.
    """
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(line.decode("utf-8"))
        stream.flush()
        return
    buffer.write(line)
    buffer.flush()


def silence(stream: IO[str]) -> None:
    """Point a dead stream's descriptor at /dev/null.

    The unflushed bytes stay in Python's buffer; without this, the final
    flush at exit prints "Exception ignored ... BrokenPipeError" (the remedy
    in Python's own ``signal`` documentation).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no descriptor (e.g. StringIO): nothing will flush at exit


class StdoutSink(Sink):
    """A ``Sink`` that writes JSON lines to ``stream`` (default: ``sys.stdout``)."""

    def __init__(self, stream: IO[str] | None = None, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._limit = queue_size
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=queue_size + 1)  # + the stop mark
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drained = asyncio.Event()
        self._stopping = False
        self._broken = False
        self._failing: set[str] = set()
        self._stats_lock = threading.Lock()  # counted from the loop and the thread
        self.stats: dict[str, int] = {"written": 0, "dropped": 0, "failed": 0}

    async def start(self) -> None:
        """Start the writer thread; events published before are kept."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="stdout-sink", daemon=True)
        self._thread.start()

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        """Queue ``event``; a full queue, a closed pipe or a stopped sink drops it (counted)."""
        if self._stopping or self._broken or self._queue.qsize() >= self._limit:
            self._count("dropped")
            return
        self._queue.put_nowait(event)

    async def stop(self, timeout: float) -> None:
        """Write what is queued within ``timeout`` seconds; a blocked reader is left behind."""
        if self._stopping:
            return
        self._stopping = True
        if self._thread is None:  # never started: nothing will write the queue
            self._count("dropped", self._queue.qsize())
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            log.warning("stdout not drained", pending=self._queue.qsize(), timeout_s=timeout)

    def _run(self) -> None:
        """The writer thread: one event at a time, in order, until the stop mark."""
        while (event := self._queue.get()) is not None:
            self._write(event)
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drained.set)
        except RuntimeError:
            pass  # the loop is already closed: nobody waits any more

    def _write(self, event: Event) -> None:
        if self._broken:
            self._count("dropped")
            return
        try:
            write_line(self._stream, event_line(event, time.time()))
        except BrokenPipeError:
            self._broken = True
            self._count("dropped")
            silence(self._stream)
            log.warning("stdout closed by the reader; events are no longer written")
        except OSError as exc:
            self._failed(exc)
        else:
            self._count("written")
            if self._failing:
                log.info("stdout writes recovered", errors=sorted(self._failing))
                self._failing.clear()

    def _failed(self, exc: OSError) -> None:
        """Count a failed write; log it once per errno until a write succeeds."""
        self._count("failed")
        kind = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        if kind not in self._failing:
            self._failing.add(kind)
            log.warning("stdout write failed", error=kind, detail=str(exc))

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n
