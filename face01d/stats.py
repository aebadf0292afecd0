"""Latency figures: p50/p99 of recent samples, and cumulative histogram buckets.

A bounded window (the last few thousand samples) keeps memory flat for a
daemon that runs for months and keeps the percentiles about *now*. Prometheus
wants the other view: counts that only grow, per fixed bucket, so that a
scraper can take rates and aggregate cameras. Both are kept from one ``add``,
which costs a bisect and two increments: no Prometheus object on the hot path,
``face01d.metrics`` turns the counts into a histogram at scrape time.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np

WINDOW = 4096
# Upper bounds (ms) of the histogram buckets, for this workload: a HOG detection
# takes 5-50 ms, a CNN one or an encode 50-500 ms, a frame → event 0.2-5 s.
BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class LatencyHistogram:
    """Counts per bucket and the sum, since start; written by one thread, read by any.

    Per-bucket (not cumulative) counts are kept so that ``add`` touches one
    slot; ``cumulative`` copies the list first (one step under the GIL), so a
    reading taken while another thread adds is still monotonic.
    """

    def __init__(self, bounds_ms: tuple[float, ...] = BUCKETS_MS) -> None:
        self.bounds_ms = bounds_ms
        self._counts = [0] * (len(bounds_ms) + 1)  # the last one: above every bound (+Inf)
        self.sum_ms = 0.0

    def add(self, milliseconds: float) -> None:
        self._counts[bisect.bisect_left(self.bounds_ms, milliseconds)] += 1  # le: value <= bound
        self.sum_ms += milliseconds

    def cumulative(self) -> list[int]:
        """Counts of samples <= each bound, then the total (the +Inf bucket)."""
        counts = list(self._counts)
        running, result = 0, []
        for count in counts:
            running += count
            result.append(running)
        return result

    def summary(self) -> dict[str, object]:
        """``{"bounds_ms", "buckets" (cumulative, +Inf last), "sum_ms"}``: plain JSON."""
        return {"bounds_ms": list(self.bounds_ms), "buckets": self.cumulative(), "sum_ms": round(self.sum_ms, 3)}


class Percentiles:
    """Recent samples of one measure, in milliseconds, and their histogram since start."""

    def __init__(self, size: int = WINDOW) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.histogram = LatencyHistogram()

    def add(self, milliseconds: float) -> None:
        self._samples.append(milliseconds)
        self.histogram.add(milliseconds)

    def summary(self) -> dict[str, object] | None:
        """``{"p50", "p99", "n", "histogram"}`` or None before the first sample.

        ``histogram`` rides along because ``CameraPipeline.stats()`` is what the
        metrics collector reads; the JSON stats message leaves it out.
        """
        if not self._samples:
            return None
        p50, p99 = np.percentile(np.fromiter(self._samples, dtype=np.float64), [50, 99])
        return {"p50": round(float(p50), 1), "p99": round(float(p99), 1), "n": len(self._samples),
                "histogram": self.histogram.summary()}
