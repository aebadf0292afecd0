"""What every camera source offers the supervisor, and the thread its blocking calls run in."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

T = TypeVar("T")


class SourceError(Exception):
    """A camera that cannot be opened or read right now; a live one is retried."""


class SourceAuthError(SourceError):
    """The camera refused our credentials (HTTP 401/403): retried only slowly."""


class Source(Protocol):
    """One connection to a camera. ``read`` returns a BGR image, or None at the end of a file."""

    fps: float | None

    async def open(self) -> None: ...

    async def read(self) -> np.ndarray | None: ...

    async def close(self) -> None: ...


class CameraThread:
    """One daemon thread owned by one camera, running its blocking calls in order.

    A stuck camera (a read that never returns: USB reads have no timeout) then
    blocks only its own thread, never the shared analysis pool nor the event
    loop. The thread is a daemon thread and nobody joins it, so a read that
    never returns cannot hold up the daemon's exit either (a
    ``ThreadPoolExecutor`` would: its threads are joined at interpreter exit).
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._busy_since: float | None = None  # monotonic start of the call running now
        self._thread = threading.Thread(target=self._work, name=f"camera-{name}", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def busy(self) -> bool:
        """A call is running now: after its caller gave up, that call is hung."""
        return self._busy_since is not None

    @property
    def busy_for(self) -> float:
        """Seconds the running call has taken so far (0 when idle)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in this camera's thread, keeping the caller's log context."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        self._calls.put((loop, future, functools.partial(context.run, fn, *args)))
        return await future

    def shutdown(self) -> None:
        """Let the thread end after its queued calls (a release included); never waits for a stuck call."""
        self._calls.put(None)

    def _work(self) -> None:
        """Every queued call runs, even one whose caller gave up: a release must still happen."""
        while (item := self._calls.get()) is not None:
            loop, future, call = item
            self._busy_since = time.monotonic()
            try:
                outcome: tuple[bool, object] = (True, call())
            except BaseException as error:  # noqa: BLE001 - handed to the caller, whatever it is
                outcome = (False, error)
            finally:
                self._busy_since = None
            try:
                loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:  # the loop is closed: nobody waits for this result any more
                pass


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, object]) -> None:
    """In the loop: pass a call's result or exception on, unless the caller gave up (cancelled)."""
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)  # type: ignore[arg-type]
