"""FACE01's semi-automatic frame skip: analyse only as many frames as the machine keeps up with.

A live camera delivers frames at its own rate; when analysing one takes
longer than the gap between two, the slot drops the difference, and a
dropped frame was decoded for nothing. ``frame_skip = "auto"`` instead
measures the analysis time per frame and the camera's rate, and sets the
skip so the analysis is about 80 % busy: latency stays bounded, the
headroom absorbs a burst of faces, and the status shows the rate chosen.
"""

from __future__ import annotations

import math

MAX_SKIP = 30  # never skip more than this (one frame a second of a 30 fps camera)
EVERY_S = 1.0  # reconsider at most this often
TARGET_LOAD = 0.8  # the share of the time the analysis may be busy


def frame_skip_for(seconds_per_frame: float, camera_fps: float) -> int:
    """The skip that makes analysing one frame in ``skip + 1`` take ``TARGET_LOAD`` of the time."""
    if seconds_per_frame <= 0 or camera_fps <= 0:
        return 0
    return min(MAX_SKIP, max(0, math.ceil(seconds_per_frame * camera_fps / TARGET_LOAD) - 1))


class AutoFrameSkip:
    """Accumulates analysis time and frames read; proposes a new skip about once a second."""

    def __init__(self, now: float, frames_read: int) -> None:
        self._since, self._read_then = now, frames_read
        self._busy_s, self._analysed = 0.0, 0

    def observe(self, busy_s: float, now: float, frames_read: int) -> int | None:
        """One frame analysed in ``busy_s``; the skip to use from now on, or None to keep the current one."""
        self._busy_s += busy_s
        self._analysed += 1
        elapsed = now - self._since
        if elapsed < EVERY_S:
            return None
        camera_fps = (frames_read - self._read_then) / elapsed
        wanted = frame_skip_for(self._busy_s / self._analysed, camera_fps)
        self._since, self._read_then, self._busy_s, self._analysed = now, frames_read, 0.0, 0
        return wanted
