"""What runs inside a vision worker process: its models, its jobs, its signals.

dlib's encoder holds the GIL, so threads cannot put a second core to work on
encodings; processes can. A worker is forked from a forkserver that has
already imported this module (``processes.py`` asks it to preload it), so a
worker, or a replacement, only forks and loads its models: one FaceAnalyzer
per process, built once, then ``("ready", pid)`` or ``("failed", why)`` on
its pipe. After that it takes one ``Order`` at a time from the pipe and
answers ``("done", id, ok, result or exception)``; the frame itself is read
from the parent's shared memory (``shm.py``), the last few blocks staying
mapped between jobs.

Signals: Ctrl-C reaches the whole process group, and the parent decides what
it means, so a worker ignores SIGINT; it leaves quietly on SIGTERM. Neither
prints a traceback. Everything here must stay importable without side
effects: the forkserver imports it once, and every worker inherits that.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from face01d.config.models import SetArea
from face01d.faces import FaceBox
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.encoder import AlignedFaces
from face01d.workers.base import VisionSettings
from face01d.workers.shm import FrameRef, Kind

ATTACHED_LIMIT = 8  # blocks a worker keeps mapped between jobs


@dataclass(frozen=True, slots=True)
class Order:
    """One job as sent down the pipe (a few hundred bytes: never the pixels)."""

    id: int
    kind: Kind
    frame: FrameRef
    set_area: SetArea | None = None
    boxes: tuple[FaceBox, ...] = ()
    yaws: tuple[float, ...] = ()  # describe: the chips' yaws, measured where they were aligned


class _Attached:
    """A worker's mappings of the parent's blocks: the few most recent stay mapped between jobs."""

    def __init__(self) -> None:
        self._blocks: OrderedDict[str, SharedMemory] = OrderedDict()

    def array(self, frame: FrameRef) -> np.ndarray:
        block = self._blocks.pop(frame.name, None)
        self._blocks[frame.name] = block = block if block is not None else SharedMemory(frame.name)
        while len(self._blocks) > ATTACHED_LIMIT:
            try:
                self._blocks.popitem(last=False)[1].close()
            except BufferError:
                pass
        return np.ndarray(frame.shape, np.dtype(frame.dtype), buffer=block.buf)


def serve(conn: Connection, settings: VisionSettings) -> None:
    """A worker's life: quiet signals, its models once, then one job at a time until the pipe closes."""
    _quiet_signals()
    if settings.niceness:
        os.nice(settings.niceness)
    try:
        analyzer = FaceAnalyzer(settings.detector, settings.landmarks, settings.jitters)
        analyzer.load(settings.stages)  # now, not at the first job: a broken model fails start()
    except Exception as exc:  # noqa: BLE001 - whatever breaks the models is reported, not raised
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    frames = _Attached()
    while True:
        try:
            conn.send(_answer(analyzer, frames, conn.recv()))
        except (EOFError, OSError):  # the parent is gone or closed our pipe: nothing more to do
            return


def _answer(analyzer: FaceAnalyzer, frames: _Attached, order: Order) -> tuple[str, int, bool, Any]:
    try:
        image = frames.array(order.frame)
        if order.kind == "detect":
            return "done", order.id, True, analyzer.detect(image, "bgr", order.set_area)
        if order.kind == "describe":
            return "done", order.id, True, analyzer.encoder.describe(AlignedFaces(image, order.yaws))
        return "done", order.id, True, analyzer.encode_with_pose(image, order.boxes, "bgr")
    except Exception as exc:  # noqa: BLE001 - the caller gets it, as from a thread
        return "done", order.id, False, _picklable(exc.with_traceback(None))


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _quiet_signals() -> None:
    """Ctrl-C goes to the whole process group: the parent decides, the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)


def _leave(signum: int, frame: object) -> None:
    raise SystemExit(0)  # multiprocessing exits with 0 on SystemExit(0), without a traceback
