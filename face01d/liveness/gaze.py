"""Eye movements: both irises shifting along their eyes together, as a glance does.

People look around several times a second (saccades); a picture's eyes are
painted on. Face Mesh's refined landmarks place each iris (centre 468, 473);
its position along the line through the eye's corners, 0 to 1, is unchanged
by any affine warp of the face, so tilting or moving a print leaves
it alone. A glance moves both irises the same way, by 0.1–0.3 of the eye's
width (measured on the genuine clips); the landmarker's noise on a photo
moves them apart or by ≤ 0.03 (41 attack clips, bench/liveness.py).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

# (iris centre, corner, corner) of each eye, Face Mesh with refine_landmarks, both eyes' corners
# taken in the same direction across the face (the face's right to its left), so that a glance
# to one side moves both positions the same way
MESH_IRISES = ((468, 33, 133), (473, 362, 263))

SHIFT = 0.08  # both irises off their recent median by this share of the eye's width (measured)
BASELINE_S = 1.0  # the median is over this window before the sample
MIN_BASELINE = 5  # samples in the window before a shift can be judged
HOLD = 2  # consecutive samples over SHIFT: one jumpy frame is not a glance


def iris_positions(points: np.ndarray) -> tuple[float, float] | None:
    """Each iris's position along its eye, 0 at the corner on the face's right; None without irises."""
    if len(points) < 478:
        return None
    out = []
    for iris, start, end in MESH_IRISES:
        axis = points[end] - points[start]
        length2 = float(np.dot(axis, axis))
        if length2 <= 0:
            return None
        out.append(float(np.dot(points[iris] - points[start], axis)) / length2)
    return out[0], out[1]


@dataclass(frozen=True, slots=True)
class Glance:
    """A shift of both irises: when it was confirmed and by how much (the smaller eye's)."""

    t: float
    shift: float


class GlanceDetector:
    """Feed (time, Face Mesh landmarks) in order; ``update`` returns a Glance when one is confirmed."""

    def __init__(self, shift: float = SHIFT, hold: int = HOLD) -> None:
        self.shift, self.hold = shift, hold
        self._recent: deque[tuple[float, tuple[float, float]]] = deque()
        self._run = 0

    def update(self, t: float, points: np.ndarray) -> Glance | None:
        position = iris_positions(points)
        if position is None:
            return None
        moved = self._moved(t, position)
        self._recent.append((t, position))
        self._run = self._run + 1 if moved >= self.shift else 0
        return Glance(t, moved) if self._run == self.hold else None

    def _moved(self, t: float, position: tuple[float, float]) -> float:
        """How far both irises are, the same way, from their median over the last BASELINE_S."""
        while self._recent and self._recent[0][0] < t - BASELINE_S:
            self._recent.popleft()
        if len(self._recent) < MIN_BASELINE:
            return 0.0
        median = np.median([p for _, p in self._recent], axis=0)
        d = np.asarray(position) - median
        return float(min(abs(d[0]), abs(d[1]))) if d[0] * d[1] > 0 else 0.0
