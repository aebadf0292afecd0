"""Slot consumers and polling helpers shared by the capture tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from face01d.capture.slot import FrameSlot
from face01d.faces import Frame


class Consumer:
    """Takes frames from a slot in the background, as the analysis would."""

    def __init__(self, slot: FrameSlot, delay_s: float = 0.0) -> None:
        self.frames: list[Frame] = []
        self._slot, self._delay = slot, delay_s
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while (frame := await self._slot.get()) is not None:
            self.frames.append(frame)
            await asyncio.sleep(self._delay)

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        await until(lambda: len(self.frames) >= count, timeout, f"{count} frames (got {len(self.frames)})")


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` on the loop until true, failing with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def stop(task: asyncio.Task, within_s: float = 5.0) -> None:
    """Cancel a camera task and check it ends promptly."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within_s)
    assert done, f"camera task still running {within_s} s after cancellation"


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port, as ``http://127.0.0.1:PORT``.

    ``server.stopping`` (an Event) tells handlers that never end on their own to stop.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
