"""Fair turns between cameras: one queue per camera, served round-robin.

The process pool has fewer workers than there are cameras, and a camera that
submits continuously must not starve the others, as first come, first
served would let it. So each camera queues its own jobs, the camera whose
turn it is gives its oldest one, and then goes to the back of the line.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Items per camera; ``pop`` takes the cameras in turn, each camera's items in order."""

    def __init__(self) -> None:
        self._queues: OrderedDict[str, deque[T]] = OrderedDict()

    def append(self, camera: str, item: T) -> None:
        self._queues.setdefault(camera, deque()).append(item)

    def put_back(self, camera: str, item: T) -> None:
        """An item popped but not served: first again, its camera's turn included."""
        self._queues.setdefault(camera, deque()).appendleft(item)
        self._queues.move_to_end(camera, last=False)

    def pop(self) -> T | None:
        """The oldest item of the camera whose turn it is (None when empty); the camera goes to the back."""
        if not self._queues:
            return None
        camera, queue = next(iter(self._queues.items()))
        item = queue.popleft()
        if queue:
            self._queues.move_to_end(camera)
        else:
            del self._queues[camera]
        return item

    def clear(self) -> list[T]:
        """Every item (camera by camera, in turn order), leaving the queue empty."""
        queues, self._queues = self._queues, OrderedDict()
        return list(itertools.chain.from_iterable(queues.values()))
