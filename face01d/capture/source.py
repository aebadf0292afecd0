"""What every camera source offers the supervisor, and the thread its blocking calls run in."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

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
    """A single-thread executor owned by one camera.

    A stuck camera (a read that never returns) then blocks only its own
    thread, never the shared analysis pool nor the event loop.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"camera-{name}")

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in this camera's thread, keeping the caller's log context."""
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def shutdown(self) -> None:
        """Let the thread end after its queued calls (a release included); never waits for a stuck call."""
        self._executor.shutdown(wait=False)
