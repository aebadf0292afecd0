"""One worker thread that the process does not wait for at exit.

``ThreadPoolExecutor``'s threads are joined when the interpreter exits, so
a call stuck in the kernel (a read on a hung NFS mount, a FIFO opened the
old way) keeps the process alive after SIGTERM until SIGKILL. Work that
reads files other people control (the gallery) runs here instead: shutdown
stops waiting for it, and the process exits with the thread still stuck.
Calls run one at a time, in order, on the same thread (thread-local models
are made once).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonThreadExecutor(Executor):
    """An Executor of one daemon thread, started at the first ``submit``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._guard = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._guard:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            future: Future[Any] = Future()
            self._queue.put((future, fn, args, kwargs))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more work; queued work cancelled if asked; ``wait`` joins the thread (for ever if it is stuck)."""
        with self._guard:
            self._closed = True
            if cancel_futures:
                self._cancel_queued()
            self._queue.put(None)
            thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _cancel_queued(self) -> None:
        kept: list[_Work | None] = []
        while not self._queue.empty():
            kept.append(self._queue.get_nowait())
        for work in kept:
            if work is not None:
                work[0].cancel()

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            future, fn, args, kwargs = work
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:  # delivered to the caller, as ThreadPoolExecutor does
                future.set_exception(error)
