"""Latency figures for the status line and the exit report: p50/p99 of recent samples.

A bounded window (the last few thousand samples) keeps memory flat for a
daemon that runs for months and keeps the figures about *now*.
"""

from __future__ import annotations

from collections import deque

import numpy as np

WINDOW = 4096


class Percentiles:
    """Recent samples of one measure, in milliseconds."""

    def __init__(self, size: int = WINDOW) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, milliseconds: float) -> None:
        self._samples.append(milliseconds)

    def summary(self) -> dict[str, float] | None:
        """``{"p50", "p99", "n"}`` or None before the first sample."""
        if not self._samples:
            return None
        p50, p99 = np.percentile(np.fromiter(self._samples, dtype=np.float64), [50, 99])
        return {"p50": round(float(p50), 1), "p99": round(float(p99), 1), "n": len(self._samples)}
