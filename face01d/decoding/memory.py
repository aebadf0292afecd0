"""A process-wide allowance of bytes for decodes in flight, so their sum has a ceiling.

Each decode is bounded on its own (``DECODE_BUDGET_BYTES``), but three
uploads, a gallery reload and four cameras may decode at once. Every decode
holds its cost from this allowance while it runs and waits, first come first
served, when the allowance is spent: the worst case is then the allowance,
a number, not the number of requests an attacker sends. A 1080p camera frame
(6 MB) rarely waits; two hostile uploads at the full budget fill it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class DecodeMemory:
    """Bytes shared by the decodes of one process; ``hold(cost)`` around each decode."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        """Wait until ``cost`` bytes fit (in arrival order: a big decode is not starved by small ones)."""
        cost = min(cost, self.total)  # the caller refused anything bigger; never wait forever
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            self._changed.wait_for(lambda: self._queue[0] is ticket and self._used + cost <= self.total)
            self._queue.popleft()
            self._used += cost
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._used -= cost
                self._changed.notify_all()
