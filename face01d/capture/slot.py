"""The hand-off between one camera and the analysis: a few frames at most wait.

A live camera must never queue frames behind a slow analysis (memory grows and
results lag further and further behind reality), so with ``drop_stale`` the
slot holds one frame and a new frame replaces one not yet taken; the loss is
counted. A file read at ``pace = "none"`` wants every frame analysed, so
without ``drop_stale`` the producer waits for the consumer instead, and a
few frames (``capacity``) may wait: the next frames are decoded while the
detector works on this one, which is what keeps decoding off the critical
path. Memory stays bounded either way.
"""

from __future__ import annotations

import asyncio
from collections import deque

from face01d.faces import Frame

LOSSLESS_CAPACITY = 4  # frames decoded ahead for a file at pace "none" (4 × 6 MB at 1080p)


class FrameSlot:
    """A small single-producer / single-consumer mailbox of frames."""

    def __init__(self, drop_stale: bool, capacity: int | None = None) -> None:
        self.drop_stale = drop_stale
        self.capacity = 1 if drop_stale else (capacity or LOSSLESS_CAPACITY)
        self.dropped = 0
        self.closed = False
        self._frames: deque[Frame] = deque()
        self._filled = asyncio.Event()
        self._taken = asyncio.Event()

    async def put(self, frame: Frame) -> bool:
        """Offer a frame; False once the slot is closed (the frame is discarded)."""
        if not self.drop_stale:
            while len(self._frames) >= self.capacity and not self.closed:
                self._taken.clear()
                await self._taken.wait()
        if self.closed:
            return False
        if len(self._frames) >= self.capacity:  # drop_stale: the waiting frame is replaced
            self._frames.popleft()
            self.dropped += 1
        self._frames.append(frame)
        self._filled.set()
        return True

    async def get(self) -> Frame | None:
        """The oldest waiting frame, waiting for one if needed; None once closed and empty."""
        while not self._frames and not self.closed:
            self._filled.clear()
            await self._filled.wait()
        frame = self._frames.popleft() if self._frames else None
        self._taken.set()
        return frame

    def close(self) -> None:
        """No more frames: wakes both sides; frames already waiting can still be taken."""
        self.closed = True
        self._filled.set()
        self._taken.set()

    def __len__(self) -> int:
        return len(self._frames)
