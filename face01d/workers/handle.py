"""One worker process as the parent sees it: started, watched, given a job on a clock, ended.

The pool (``processes.py``) decides whom to give a job and what a death or a
hang means; this module holds the mechanics under those decisions, so that
the pool reads as policy.

- Workers come from a *forkserver* (spawn where there is none), never from a
  plain fork of the parent, which runs an event loop, threads and sockets.
  The forkserver preloads ``child.py``, the module of the workers' entry
  point, and with it face01d and the vision libraries: a worker, or a
  replacement, only forks and loads its models.
- The loop watches each worker's pipe and its process sentinel with
  ``add_reader``, so no thread blocks on a pipe and an exit is seen at once.
- A job handed to a worker starts a timer on the loop; the pool hears when
  it runs out, which is how a worker hung in native code is noticed.
- Stopping is SIGTERM, a short grace, then SIGKILL: it never hangs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.shared_memory import SharedMemory
from typing import Any

from face01d.workers import child
from face01d.workers.base import VisionSettings
from face01d.workers.child import Order
from face01d.workers.shm import BlockKey


def context() -> BaseContext:
    """A forkserver that has already imported the workers' module (fast restarts); spawn where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload([child.__name__])  # only read when the forkserver starts
    return forkserver


@dataclass(eq=False)
class Job:
    """A job from submission to its answer: what the worker is told, whose it is, its block, the caller."""

    order: Order
    camera: str
    key: BlockKey
    block: SharedMemory
    future: asyncio.Future[Any]


class WorkerHandle:
    """One worker process: its pipe, its readiness, the job it holds and that job's deadline."""

    def __init__(self, ctx: BaseContext, settings: VisionSettings, loop: asyncio.AbstractEventLoop) -> None:
        self.conn, self._theirs = ctx.Pipe()  # theirs: the child's end, closed here once the child holds it
        self.process: BaseProcess = ctx.Process(
            target=child.serve, args=(self._theirs, settings), name="face01d-vision", daemon=True
        )
        self.ready: asyncio.Future[None] = loop.create_future()
        self.pid: int | None = None  # kept: a closed Process no longer says
        self.job: Job | None = None
        self.gone = False  # unwatched: whatever the loop still hears from it is ignored
        self.hung = False  # killed for a job that took too long: that job has failed already
        self._deadline: asyncio.TimerHandle | None = None
        self._loop = loop

    @property
    def loaded(self) -> bool:
        """Its models are loaded and it is neither hung nor gone: it can take a job."""
        ready = self.ready
        return ready.done() and not ready.cancelled() and ready.exception() is None and not (self.hung or self.gone)

    def start(self) -> None:
        """On a thread: the first start waits for the forkserver to import face01d (seconds)."""
        self.process.start()
        self.pid = self.process.pid
        self._theirs.close()

    def watch(self, on_message: Callable[[WorkerHandle], None], on_exit: Callable[[WorkerHandle], None]) -> None:
        self._loop.add_reader(self.conn.fileno(), on_message, self)
        self._loop.add_reader(self.process.sentinel, on_exit, self)

    def stop_listening(self) -> None:
        """Hear no more from its pipe (its sentinel is still watched)."""
        self._loop.remove_reader(self.conn.fileno())

    def unwatch(self) -> None:
        self.gone = True
        if self.pid is not None:
            self._loop.remove_reader(self.conn.fileno())
            self._loop.remove_reader(self.process.sentinel)

    def give(self, job: Job, timeout: float, on_timeout: Callable[[WorkerHandle], None]) -> None:
        """Send ``job`` (OSError if the worker is gone); ``on_timeout`` if it holds it ``timeout`` s."""
        self.conn.send(job.order)
        self.job = job
        self._deadline = self._loop.call_later(timeout, on_timeout, self)

    def take_job(self) -> Job | None:
        """The job it held, which it holds no more; its clock stops."""
        job, self.job = self.job, None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        return job

    def exit_code(self) -> int | None:
        """Once its sentinel fired: how it ended; its pipe and process are closed."""
        code = self.process.exitcode
        self.conn.close()
        self.process.close()
        return code

    def close(self) -> None:
        self.conn.close()
        self._theirs.close()


def end(processes: list[BaseProcess], grace: float) -> None:
    """On a thread: SIGTERM, ``grace`` seconds, then SIGKILL; never hangs."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0.0))
    for process in processes:
        if process.exitcode is None:
            process.kill()
            process.join(1.0)
