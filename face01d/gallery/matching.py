"""Who is this face: every face of a frame against every gallery encoding.

One frame's M faces are compared with the gallery's N encodings in one
vectorised M×N distance computation (face_recognition compares one face at a
time). The best row per face decides; a person with several images thus
matches by the closest of them. A distance ≤ tolerance is a match, as in
face_recognition's ``compare_faces``.

``Matcher.votes`` answers what a track's decision needs instead: per face,
the nearest PERSON and the nearest OTHER person (per person, not per image),
with no tolerance applied. It ranks on a float32 copy of the gallery, grouped
by person, and computes the two winners' distances exactly in float64:
about 1 ms per face against 100,000 people (bench/open_set.py; a test
holds it under 5 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from face01d.faces import UNKNOWN, Vote
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
        self._people = _PersonIndex(gallery)

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

    def votes(self, encodings: np.ndarray) -> list[Vote]:
        """Per row of ``encodings`` (M, 128): the nearest person and the nearest other person; [] for none."""
        probes = np.asarray(encodings, dtype=np.float64).reshape(-1, self.gallery.encodings.shape[1])
        if len(probes) == 0:
            return []
        nearest, runner_up = self._people.two_nearest(probes)
        return [self._vote(probe, int(a), int(b)) for probe, a, b in zip(probes, nearest, runner_up)]

    def _vote(self, probe: np.ndarray, person: int, other: int) -> Vote:
        people = self._people
        runner_up = people.exact_distance(probe, other) if other >= 0 else math.inf
        return Vote(people.names[person], people.exact_distance(probe, person), runner_up)


class _PersonIndex:
    """The gallery grouped by person, in float32, for ranking people fast.

    Rows are re-sorted by person here rather than trusted to be sorted, and
    a person's score is the min over their rows of |g|² − 2p·g (the squared
    distance less |p|², which is the same for every row of one probe).
    """

    def __init__(self, gallery: Gallery) -> None:
        self.names = gallery.people
        index = {name: i for i, name in enumerate(self.names)}
        owner = np.array([index[name] for name in gallery.names])
        order = np.argsort(owner, kind="stable")
        in_order = bool(np.all(order == np.arange(len(order))))  # the usual case: no 8-bytes-per-value copy
        self._rows64 = gallery.encodings if in_order else gallery.encodings[order]
        self._rows = self._rows64.astype(np.float32)
        self._norms = np.einsum("ij,ij->i", self._rows, self._rows)
        self._starts = np.searchsorted(owner[order], np.arange(len(self.names)))
        self._ends = np.append(self._starts[1:], len(order))

    def two_nearest(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column indices of each probe's nearest and second-nearest person (-1: only one person)."""
        scores = self._norms[None, :] - 2.0 * (probes.astype(np.float32) @ self._rows.T)
        if len(self._starts) != len(self._rows):  # someone has several images: keep each person's best
            scores = np.minimum.reduceat(scores, self._starts, axis=1)
        rows = np.arange(len(scores))
        nearest = scores.argmin(axis=1)
        if scores.shape[1] == 1:
            return nearest, np.full_like(nearest, -1)
        scores[rows, nearest] = np.inf
        return nearest, scores.argmin(axis=1)

    def exact_distance(self, probe: np.ndarray, person: int) -> float:
        """float64 distance from ``probe`` to the closest image of ``person``."""
        rows = self._rows64[self._starts[person] : self._ends[person]]
        return float(np.sqrt(((rows - probe) ** 2).sum(axis=1)).min())
