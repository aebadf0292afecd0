"""How much work per frame the machine keeps up with: FACE01's auto frame skip and the detection cadence.

A live camera delivers frames at its own rate. When analysing a frame takes
longer than the gap between two, the slot drops the difference: frames
decoded for nothing, and tracks that lose sight of their faces. Two
governors measure and adapt, about once a second:

- ``frame_skip = "auto"`` (FACE01's semi-automatic frame skip, opt-in):
  analyse one frame in ``skip + 1`` so that the analysis is about 80 % busy.
- ``detect_every = "auto"``: every frame is analysed (tracked), but the
  detector runs only as often as it can: its measured time per call
  (queueing in a shared worker pool included, so four cameras on two cores
  slow each other's cadence down, not their frames) against the rate of
  frames reaching the analysis. Between detections tracks move by
  themselves, which costs microseconds.

Both are pure arithmetic over measurements the pipeline passes in.
"""

from __future__ import annotations

import math

MAX_SKIP = 30  # never skip more than this (one frame a second of a 30 fps camera)
MAX_CADENCE = 10  # never detect less often than one frame in this many
EVERY_S = 1.0  # reconsider at most this often
TARGET_LOAD = 0.8  # the share of the time the analysis may be busy


def frame_skip_for(seconds_per_frame: float, camera_fps: float) -> int:
    """The skip that makes analysing one frame in ``skip + 1`` take ``TARGET_LOAD`` of the time."""
    if seconds_per_frame <= 0 or camera_fps <= 0:
        return 0
    return min(MAX_SKIP, max(0, math.ceil(seconds_per_frame * camera_fps / TARGET_LOAD) - 1))


def cadence_for(seconds_per_detection: float, frames_per_s: float, base: int) -> int:
    """Detect on one frame in N: at least ``base``, and rarely enough that detection fits TARGET_LOAD."""
    return min(MAX_CADENCE, max(base, frame_skip_for(seconds_per_detection, frames_per_s) + 1))


class Governor:
    """Accumulates a cost and a count of frames; proposes a new setting about once a second."""

    def __init__(self, now: float, frames: int) -> None:
        self._since, self._frames_then = now, frames
        self._cost_s, self._samples = 0.0, 0

    def observe(self, cost_s: float) -> None:
        """One more measurement of the cost (seconds per frame analysed, or per detection)."""
        self._cost_s += cost_s
        self._samples += 1

    def due(self, now: float, frames: int) -> tuple[float, float] | None:
        """``(mean cost, frames per second)`` once a second (and then starts over), else None.

        ``frames`` is a running count of the frames that the cost is to keep up with.
        """
        elapsed = now - self._since
        if elapsed < EVERY_S or self._samples == 0:
            return None
        result = (self._cost_s / self._samples, (frames - self._frames_then) / elapsed)
        self._since, self._frames_then, self._cost_s, self._samples = now, frames, 0.0, 0
        return result
