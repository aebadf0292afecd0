"""How far a face's motion is from a flat sheet's: the residual of one homography.

A print or a phone screen is a plane: however it is held, tilted or moved,
the image of every point on it moves by one 3×3 homography between two
frames. A head is not flat: when it turns, the nose tip moves across the
cheeks (parallax), and a mouth, eyebrows or eyelids move on their own. So
the landmarks of two frames of a picture fit one homography up to the
landmarker's noise, and a live face's leave a residual. The residual is
measured in units of the inter-ocular distance, so it does not depend on
the face's size in the frame.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

MESH_POINTS = 468  # Face Mesh's face points; 468-477 are the irises, left out here
OUTER_EYE_CORNERS = (33, 263)  # Face Mesh; the inter-ocular distance is measured between them


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the outer eye corners, in the landmarks' pixels."""
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(points[a] - points[b]))


def plane_residual(before: np.ndarray, after: np.ndarray) -> float:
    """RMS distance, over inter-ocular distance, of ``after`` from ``before`` mapped by the best homography.

    Least squares over all face points (not RANSAC: a part moving on its
    own is what is looked for, not an outlier to drop). nan when the fit fails.
    """
    src = np.ascontiguousarray(before[:MESH_POINTS], dtype=np.float32)
    dst = np.ascontiguousarray(after[:MESH_POINTS], dtype=np.float32)
    homography, _ = cv2.findHomography(src, dst, 0)
    scale = inter_ocular(after)
    if homography is None or scale <= 0:
        return float("nan")
    mapped = cv2.perspectiveTransform(src[None], homography)[0]
    return float(np.sqrt(np.mean(np.sum((mapped - dst) ** 2, axis=1))) / scale)


# A pair counts only over this residual (inter-ocular units) and this many times the landmarker's
# jitter. Measured on 41 photo clips: a print flexed in the hand reaches 0.025 at ratio 5 (a curved
# sheet is not a plane either); genuine faces 0.027 (laughing) to 0.07 (talking, turning).
RESIDUAL_MIN = 0.035
NOISE_RATIO = 4.0
LAG_S = 0.3  # each frame is compared with the one about this much earlier
NOISE_WINDOW_S = 1.0  # jitter: the median residual between consecutive frames over this window


class NonRigidMeter:
    """Counts frame pairs whose motion one homography cannot explain, above the landmarker's noise.

    A residual alone does not tell a head from a badly landmarked picture (a
    three-quarter face with glasses jitters by 0.02 between consecutive frames),
    so each pair is also compared with the jitter: the median residual between
    consecutive frames over the last second, which real motion hardly raises
    in 33 ms but bad landmarks do.
    """

    def __init__(self, minimum: float = RESIDUAL_MIN, ratio: float = NOISE_RATIO, lag_s: float = LAG_S) -> None:
        self.minimum, self.ratio, self.lag_s = minimum, ratio, lag_s
        self._frames: deque[tuple[float, np.ndarray]] = deque()
        self._jitter: deque[tuple[float, float]] = deque()

    def update(self, t: float, points: np.ndarray) -> float:
        """Take a frame; return its residual against the frame ``lag_s`` earlier when it counts, else 0."""
        if self._frames:
            self._remember_jitter(t, plane_residual(self._frames[-1][1], points))
        self._frames.append((t, points))
        while len(self._frames) > 1 and self._frames[1][0] <= t - self.lag_s + 1e-6:
            self._frames.popleft()
        then, before = self._frames[0]
        if t - then < self.lag_s - 1e-6 or len(self._jitter) < 3:
            return 0.0
        residual = plane_residual(before, points)
        noise = max(float(np.median([r for _, r in self._jitter])), 1e-3)
        return residual if residual >= self.minimum and residual >= self.ratio * noise else 0.0

    def _remember_jitter(self, t: float, residual: float) -> None:
        if np.isfinite(residual):
            self._jitter.append((t, residual))
        while self._jitter and self._jitter[0][0] < t - NOISE_WINDOW_S:
            self._jitter.popleft()
