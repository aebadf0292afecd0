"""FACE01's similarity percentage and its link to dlib's Euclidean distance.

FACE01 lets users speak of a match as "99.1 % similar" instead of a raw
distance. Its formula for dlib's 128-D embeddings is a fitted quadratic,

    percentage(d) = 100 − 0.380952375·d − 4.76190475·d²

which is monotonically decreasing for d ≥ 0, so it can be inverted exactly.
99.1 % ↔ d ≈ 0.397; face_recognition's default tolerance 0.6 ↔ 98.06 %.
"""

from __future__ import annotations

import math

import numpy as np

_LINEAR = 0.380952375
_QUADRATIC = 4.76190475


def distance_to_percentage(distance: float | np.ndarray) -> float | np.ndarray:
    """Similarity percentage of a face distance (works element-wise on arrays)."""
    return 100.0 - _LINEAR * distance - _QUADRATIC * distance * distance


def percentage_to_tolerance(percentage: float) -> float:
    """The distance at which the similarity equals ``percentage`` (0 < p ≤ 100)."""
    if not 0.0 < percentage <= 100.0:
        raise ValueError(f"similar_percentage must be in (0, 100], got {percentage}")
    gap = 100.0 - percentage
    return (-_LINEAR + math.sqrt(_LINEAR * _LINEAR + 4.0 * _QUADRATIC * gap)) / (2.0 * _QUADRATIC)
