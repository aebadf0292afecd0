"""Frames for the worker processes, through shared memory: the parent's side of the hand-off.

A worker is never sent the pixels down its pipe. ``SharedFrames`` is
Frigate's SharedMemoryFrameManager: the pixels are copied (on the pool's
own thread, never on the loop) into a ``multiprocessing.shared_memory``
block and the worker is told only the block's name, the shape and the dtype
(a ``FrameRef``). Blocks are reused per camera and kind, and leased per job,
so a caller that stopped waiting can never have its block overwritten under
a worker still reading it.

Encoding gets a crop: ``crop_around`` keeps only the part of the frame
around the boxes, boxes shifted into the crop. A face is a few percent of a
1080p frame, so the copy is that much smaller, and detection of the next
frame and encoding of this one (both may be in flight for one camera) never
share a buffer. dlib aligns the face from landmarks and samples a chip
larger than the box, so the crop keeps a generous margin; the encodings
equal the full frame's (bit for bit on the test data).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Literal

import numpy as np

from face01d.faces import FaceBox
from face01d.workers.base import WorkerLost

CROP_MARGIN = 1.0  # context kept around each face for encoding, in face sizes (0.25 already sufficed, 0.1 did not)
SHM_PREFIX = "face01d_"  # /dev/shm/face01d_<pid>_<random>: ours, and whose

Kind = Literal["detect", "encode", "describe"]  # describe: chips aligned elsewhere (face01d worker)
BlockKey = tuple[str, Kind]  # (camera, kind): the blocks reused for one camera's jobs of one kind


@dataclass(frozen=True, slots=True)
class FrameRef:
    """All a worker is told about a frame: where it lies in shared memory and how to read it."""

    name: str
    shape: tuple[int, ...]
    dtype: str


class SharedFrames:
    """Shared-memory blocks for frames, reused per (camera, kind) and leased per job.

    ``put`` runs on a thread, ``release`` on the loop, ``close`` at stop: a
    lock keeps the free lists whole. A free block too small for the next
    frame is unlinked and re-created at the new size.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[BlockKey, list[SharedMemory]] = {}
        self._blocks: dict[str, SharedMemory] = {}
        self._closed = False

    def put(self, key: BlockKey, image: np.ndarray) -> tuple[SharedMemory, FrameRef]:
        """Copy ``image`` into a block leased to the caller (a 1080p frame is 6 MB: not on the loop)."""
        block = self._lease(key, image.nbytes)
        np.ndarray(image.shape, image.dtype, buffer=block.buf)[...] = image
        return block, FrameRef(block.name, image.shape, image.dtype.str)

    def release(self, key: BlockKey, block: SharedMemory) -> None:
        """The job is over: the block may hold the camera's next frame."""
        with self._lock:
            if block.name in self._blocks:
                self._free.setdefault(key, []).append(block)

    def close(self) -> None:
        """Unlink every block, leased or not; a put that races with this fails with WorkerLost."""
        with self._lock:
            self._closed = True
            blocks, self._blocks, self._free = list(self._blocks.values()), {}, {}
        for block in blocks:
            _unlink(block)

    def _lease(self, key: BlockKey, nbytes: int) -> SharedMemory:
        with self._lock:
            if self._closed:
                raise WorkerLost("the vision worker pool is stopped")
            free = self._free.get(key)
            block = free.pop() if free else None
            if block is not None and block.size >= nbytes:
                return block
            if block is not None:
                del self._blocks[block.name]
                _unlink(block)
            name = f"{SHM_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
            block = SharedMemory(name, create=True, size=max(nbytes, 1))
            self._blocks[block.name] = block
            return block


def _unlink(block: SharedMemory) -> None:
    try:
        block.close()
    except BufferError:  # a view is still alive somewhere; the mapping goes with it, the name goes now
        pass
    try:
        block.unlink()
    except FileNotFoundError:
        pass


def crop_around(
    image: np.ndarray, boxes: Sequence[FaceBox], margin: float = CROP_MARGIN
) -> tuple[np.ndarray, list[FaceBox]]:
    """The part of ``image`` that encoding ``boxes`` reads (a view), and the boxes in its pixels.

    Each box gets ``margin`` times its larger side on every side, so the
    landmarks and the aligned chip (which reaches past the box) see the same
    pixels as on the full frame; at the frame's edges the crop stops where
    the frame does, so nothing changes there either.
    """
    height, width = image.shape[:2]
    pads = [int(margin * max(box.width, box.height)) + 1 for box in boxes]
    top = max(min(box.top - pad for box, pad in zip(boxes, pads)), 0)
    left = max(min(box.left - pad for box, pad in zip(boxes, pads)), 0)
    bottom = min(max(box.bottom + pad for box, pad in zip(boxes, pads)), height)
    right = min(max(box.right + pad for box, pad in zip(boxes, pads)), width)
    if bottom <= top or right <= left:  # boxes off the frame: let the encoder see what it would have seen
        return image, list(boxes)
    shifted = [FaceBox(b.top - top, b.right - left, b.bottom - top, b.left - left) for b in boxes]
    return image[top:bottom, left:right], shifted
