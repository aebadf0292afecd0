"""Exponential backoff with full jitter, for every reconnect loop in face01d.

A fleet of edge boxes that lost the same broker or camera must not come back
in step: each waits a random time in [0, min(cap, start·2ⁿ)] ("full jitter").
"""

from __future__ import annotations

import random


def full_jitter(attempt: int, start: float, cap: float) -> float:
    """The wait before retry number ``attempt`` (0 for the first retry)."""
    return random.uniform(0, min(cap, start * 2 ** min(attempt, 30)))


class Backoff:
    """Counts attempts; ``reset`` after a success starts again from ``start``."""

    def __init__(self, start: float, cap: float) -> None:
        self.start, self.cap, self.attempt = start, cap, 0

    def next_delay(self) -> float:
        delay = full_jitter(self.attempt, self.start, self.cap)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
