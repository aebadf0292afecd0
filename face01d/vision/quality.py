"""How good a look at a face is: the quality gates that decide which encodings may vote.

A track's identity is decided from several encodings; a blurred, tiny or
strongly turned face gives an encoding that lands far from everyone and can
fall near the wrong person, so such looks do not vote. Both measures are
cheap (a Laplacian on a small grey crop, arithmetic on landmarks) and run in
the worker that already holds the pixels.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from face01d.faces import FaceBox

SHARPNESS_SIDE = 64  # the face is resized to this square before measuring, so size does not bias it


def sharpness(image: np.ndarray, box: FaceBox, color: Literal["rgb", "bgr"] = "rgb") -> float:
    """Variance of the Laplacian of the face, resized to 64×64 grey: about 0 for a smear, 100+ sharp."""
    height, width = image.shape[:2]
    clipped = box.clipped(height, width)
    if clipped.width < 2 or clipped.height < 2:
        return 0.0
    face = np.ascontiguousarray(image[clipped.top : clipped.bottom, clipped.left : clipped.right])
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY if color == "rgb" else cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


def yaw_from_points(points: np.ndarray) -> float:
    """How far a face is turned, from dlib landmarks (5- or 68-point), as a ratio.

    The nose's horizontal offset from the midpoint of the eyes, divided by the
    distance between the eyes: 0 for a frontal face, about 0.3 at 30°, 0.5 and
    more in profile. The sign (left or right) is dropped.
    """
    if len(points) == 5:  # dlib's 5-point model: two corners per eye, then the base of the nose
        eye_a, eye_b, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    else:  # the 68-point model: eyes 36-41 and 42-47, nose tip 30
        eye_a, eye_b, nose = points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30]
    eye_distance = float(np.hypot(*(eye_b - eye_a)))
    if eye_distance < 1e-6:
        return 1.0
    middle = (eye_a + eye_b) / 2
    return abs(float(nose[0] - middle[0])) / eye_distance
