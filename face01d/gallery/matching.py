"""Who is this face: every face of a frame against every gallery encoding.

One frame's M faces are compared with the gallery's N encodings in one
vectorised M×N distance computation (face_recognition compares one face at a
time). The best row per face decides; a person with several images thus
matches by the closest of them. A distance ≤ tolerance is a match, as in
face_recognition's ``compare_faces``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from face01d.faces import UNKNOWN
from face01d.gallery.model import Gallery
from face01d.similarity import distance_to_percentage


@dataclass(frozen=True, slots=True)
class Match:
    """The verdict for one face; distance and percentage are the nearest
    gallery encoding's, also for Unknown (useful to tune the tolerance)."""

    name: str
    distance: float
    percentage: float

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN


class Matcher:
    """Matches faces against one immutable Gallery; swap the whole Matcher to reload."""

    def __init__(self, gallery: Gallery, tolerance: float) -> None:
        if not tolerance > 0:
            raise ValueError(f"tolerance must be > 0, got {tolerance}")
        if len(gallery) == 0:
            raise ValueError("cannot match against an empty gallery")
        self.gallery = gallery
        self.tolerance = float(tolerance)
        self._squared_norms = np.einsum("ij,ij->i", gallery.encodings, gallery.encodings)

    def distances(self, encodings: np.ndarray) -> np.ndarray:
        """Euclidean distances, shape (M, N), via |a|² + |b|² − 2a·b (no M×N×128 temporary)."""
        probes = np.asarray(encodings, dtype=np.float64).reshape(-1, self.gallery.encodings.shape[1])
        squared = (
            np.einsum("ij,ij->i", probes, probes)[:, None]
            + self._squared_norms[None, :]
            - 2.0 * probes @ self.gallery.encodings.T
        )
        return np.sqrt(np.maximum(squared, 0.0))

    def match(self, encodings: np.ndarray) -> list[Match]:
        """One Match per row of ``encodings`` (M, 128); [] for no faces."""
        if np.asarray(encodings).size == 0:
            return []
        distances = self.distances(encodings)
        best = distances.argmin(axis=1)
        nearest = distances[np.arange(len(best)), best]
        return [self._verdict(int(row), float(distance)) for row, distance in zip(best, nearest)]

    def _verdict(self, row: int, distance: float) -> Match:
        name = self.gallery.names[row] if distance <= self.tolerance else UNKNOWN
        return Match(name, distance, float(distance_to_percentage(distance)))
