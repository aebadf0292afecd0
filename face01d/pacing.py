"""How much work per frame the machine keeps up with: FACE01's auto frame skip and the detection cadence.

A live camera delivers frames at its own rate. When analysing a frame takes
longer than the gap between two, the slot drops the difference: frames
decoded for nothing, and tracks that lose sight of their faces. Two
governors measure and adapt, about once a second:

- ``frame_skip = "auto"`` (FACE01's semi-automatic frame skip, opt-in):
  analyse one frame in ``skip + 1`` so that the analysis is about 80 % busy.
- ``detect_every = "auto"``: every frame is analysed (tracked), but the
  detector runs only as often as it can: its measured time per call
  (queueing in a shared worker pool included) against the rate of frames
  reaching the analysis, falling back only where that detects no fewer
  frames than letting the slot drop them (``cadence_for``). Between
  detections tracks move by themselves, which costs microseconds.

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
    """Detect on one frame in N: at least ``base``; more only as far as that detects no fewer frames.

    A detection that takes ``k`` frame periods lets the one-frame slot keep
    one frame in ``k`` for the detector and drop the rest; detecting one
    frame in ``N ≤ k`` and predicting the others finds faces on as many
    frames or more, and the tracks see every frame. Detecting less often
    than that only loses detections: so ``N = ⌊k⌋``. (Rarely enough to keep
    20 % headroom, FACE01's rule for frame_skip, fell back to one frame in
    two as soon as cameras queueing on a shared pool made a detection take
    27 ms of a 33 ms frame: a third of the frames of six 1080p30 cameras on
    two cores went undetected, against 7 % detecting every frame.)
    """
    if seconds_per_detection <= 0 or frames_per_s <= 0:
        return base
    return min(MAX_CADENCE, max(base, math.floor(seconds_per_detection * frames_per_s)))


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
