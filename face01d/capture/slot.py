"""The hand-off between one camera and the analysis: at most one frame waits.

A live camera must never queue frames behind a slow analysis (memory grows and
results lag further and further behind reality), so with ``drop_stale`` a new
frame replaces one not yet taken and the loss is counted. A file read at
``pace = "none"`` wants every frame analysed, so without ``drop_stale`` the
producer waits for the consumer instead.
"""

from __future__ import annotations

import asyncio

from face01d.capture.frame import Frame


class FrameSlot:
    """A one-frame, single-producer / single-consumer mailbox."""

    def __init__(self, drop_stale: bool) -> None:
        self.drop_stale = drop_stale
        self.dropped = 0
        self.closed = False
        self._frame: Frame | None = None
        self._filled = asyncio.Event()
        self._taken = asyncio.Event()

    async def put(self, frame: Frame) -> bool:
        """Offer a frame; False once the slot is closed (the frame is discarded)."""
        if not self.drop_stale:
            while self._frame is not None and not self.closed:
                self._taken.clear()
                await self._taken.wait()
        if self.closed:
            return False
        if self._frame is not None:
            self.dropped += 1
        self._frame = frame
        self._filled.set()
        return True

    async def get(self) -> Frame | None:
        """The waiting frame, waiting for one if needed; None once closed and empty."""
        while self._frame is None and not self.closed:
            self._filled.clear()
            await self._filled.wait()
        frame, self._frame = self._frame, None
        self._taken.set()
        return frame

    def close(self) -> None:
        """No more frames: wakes both sides; a frame already waiting can still be taken."""
        self.closed = True
        self._filled.set()
        self._taken.set()

    def __len__(self) -> int:
        return 0 if self._frame is None else 1
