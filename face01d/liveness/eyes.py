"""Eye blinks from landmarks: the eye aspect ratio (EAR) and a streaming blink detector.

EAR (Soukupová and Čech, 2016) is the eyelids' mean gap over the eye's width,
(|p2−p6| + |p3−p5|) / (2·|p1−p4|): about 0.25–0.4 open, near 0.1 closed,
whatever the face's size. FACE01 compares it with two fixed thresholds; here
each face is compared with its own open level (eyes differ: 金正恩's open EAR
is 0.25 where Lin-Manuel Miranda's is 0.4), so a blink is a *dip* of the EAR
well under the face's recent open level that comes back up within a blink's
time (100–400 ms; looking down or a laugh's squint lasts longer). A picture's
eyes cannot do that: a tilt of the print changes the EAR slowly and by
cos(tilt), a few per cent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

# Face Mesh indices (p1..p6: outer corner, two upper lid points, inner corner, two lower lid points)
MESH_EYES = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))
# dlib's 68-point model, 0-based
DLIB_EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))

# A blink dips under this share of the open level. Measured (bench/liveness.py's clips): 0.65-0.72 find
# 金正恩's blink and none on the 41 photo clips; 0.8 adds a false one on Lin-Manuel Miranda (eyes open,
# frame 153) and one on a photo; 0.6 misses the real one (it dips to 0.62).
CLOSE_RATIO = 0.72
REOPEN_RATIO = 0.88  # and is over when the EAR is back above this share
MAX_BLINK_S = 0.5  # a dip longer than this is a look down or a squint, not a blink
OPEN_WINDOW_S = 1.5  # the open level is a high percentile of the EAR over this window
OPEN_PERCENTILE = 75
MIN_OPEN_SAMPLES = 5
MIN_OPEN_EAR = 0.18  # eyes open less than this (a smile's squint, a blurry photo) cannot show a blink
# median change between samples over the open level; above it the landmarks are too unsteady for a
# dip to mean anything (measured: genuine faces 0.021-0.034, the photo clips whose EAR dips falsely ≥ 0.04)
MAX_JITTER = 0.04


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    """EAR of one eye from the six indexed points of ``points`` (N × 2)."""
    p1, p2, p3, p4, p5, p6 = (points[i] for i in eye)
    width = float(np.linalg.norm(p1 - p4))
    if width <= 0:
        return float("nan")
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2 * width))


def eye_openness(points: np.ndarray) -> float:
    """Mean EAR of both eyes, from Face Mesh (468/478 points) or dlib (68 points) landmarks."""
    eyes = DLIB_EYES if len(points) == 68 else MESH_EYES
    return (eye_aspect_ratio(points, eyes[0]) + eye_aspect_ratio(points, eyes[1])) / 2


@dataclass(frozen=True, slots=True)
class Blink:
    """One blink: when the EAR left and regained the open level, and how deep it went."""

    start: float  # s, the first sample under CLOSE_RATIO × open
    end: float  # s, the last sample before it was back over REOPEN_RATIO × open
    depth: float  # the lowest EAR over the open level (0: shut, 1: open)


class BlinkDetector:
    """Feed (time, EAR) samples in order; ``update`` returns a Blink when one ends."""

    def __init__(self, close_ratio: float = CLOSE_RATIO, reopen_ratio: float = REOPEN_RATIO,
                 max_blink_s: float = MAX_BLINK_S) -> None:
        self.close_ratio, self.reopen_ratio, self.max_blink_s = close_ratio, reopen_ratio, max_blink_s
        self._open: deque[tuple[float, float]] = deque()
        self._dip: list[tuple[float, float]] = []  # samples since the EAR went under the close level
        self._level = float("nan")  # the open level, frozen while a dip lasts

    def update(self, t: float, ear: float) -> Blink | None:
        """Take one sample; a non-finite EAR (no landmarks) is skipped."""
        if not np.isfinite(ear):
            return None
        if self._dip:
            return self._in_dip(t, ear)
        self._remember(t, ear)
        if self._steady() and ear < self.close_ratio * self._level:
            self._dip = [(t, ear)]
        return None

    def _in_dip(self, t: float, ear: float) -> Blink | None:
        if ear <= self.reopen_ratio * self._level:
            self._dip.append((t, ear))
            if t - self._dip[0][0] > self.max_blink_s:  # too long for a blink: start over
                self._dip = []
                self._open.clear()
                self._level = float("nan")
            return None
        start, end = self._dip[0][0], self._dip[-1][0]
        depth = min(e for _, e in self._dip) / self._level
        self._dip = []
        self._remember(t, ear)
        return Blink(start, end, depth)

    def _steady(self) -> bool:
        """Open wide enough, and landmarks steady enough, for a dip to mean something."""
        if not self._level >= MIN_OPEN_EAR:
            return False
        ears = [e for _, e in self._open]
        return float(np.median(np.abs(np.diff(ears)))) <= MAX_JITTER * self._level

    def _remember(self, t: float, ear: float) -> None:
        self._open.append((t, ear))
        while self._open and self._open[0][0] < t - OPEN_WINDOW_S:
            self._open.popleft()
        if len(self._open) >= MIN_OPEN_SAMPLES:
            self._level = float(np.percentile([e for _, e in self._open], OPEN_PERCENTILE))


def find_blinks(times: np.ndarray, ears: np.ndarray, detector: BlinkDetector | None = None) -> list[Blink]:
    """Every blink in a whole series (the streaming detector run over it)."""
    detector = detector or BlinkDetector()
    found = (detector.update(float(t), float(e)) for t, e in zip(times, ears))
    return [b for b in found if b is not None]
