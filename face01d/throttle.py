"""At most one log line per interval for a condition that lasts: an outage says so once a minute, not per frame.

A worker pool without workers fails every look of every frame (1,316
"encoding failed" lines a minute on one camera); what an operator needs is
the first line with its cause, then one line a minute with how many were
left unsaid, then one line when it is over.
"""

from __future__ import annotations

import time


class Throttle:
    """``due()`` is True at most once per ``interval`` seconds; the calls refused meanwhile are counted."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.suppressed = 0  # refused since the last True
        self._last: float | None = None

    def due(self, now: float | None = None) -> bool:
        """True the first time, then once ``interval`` has passed since the last True."""
        now = time.monotonic() if now is None else now
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return False
        self._last = now
        return True

    def take_suppressed(self) -> int:
        """How many calls were refused since the last True (for the line being logged); counting starts again."""
        count, self.suppressed = self.suppressed, 0
        return count

    def reset(self) -> None:
        """The condition is over: the next occurrence is logged at once."""
        self._last = None
        self.suppressed = 0
