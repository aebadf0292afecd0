"""Liveness for the tracks of one access camera: frames and boxes in, a verdict per track out.

The seam the pipeline calls, from one worker thread per camera (Face Mesh
objects belong to the thread that made them), never from the event loop: a
face costs ~9 ms of CPU (crop and mesh), the verdict ~0.1 ms. It keeps one
``LivenessTracker`` per track id until ``forget``; nothing else is kept.
"""

from __future__ import annotations

import numpy as np

from face01d.faces import FaceBox
from face01d.liveness.mesh import MeshLandmarker, face_crop
from face01d.liveness.tracker import LivenessSettings, LivenessTracker, Verdict


class CameraLiveness:
    """Per camera: ``observe(track, t, rgb, box)`` for each analysed frame of each face in time order."""

    def __init__(self, settings: LivenessSettings | None = None, landmarker: MeshLandmarker | None = None) -> None:
        self.settings = settings or LivenessSettings()
        self._landmarker = landmarker or MeshLandmarker()
        self._tracks: dict[int, LivenessTracker] = {}

    def observe(self, track: int, t: float, rgb: np.ndarray, box: FaceBox) -> Verdict:
        """Measure one face (RGB frame, its box) at capture time ``t``; the track's verdict so far.

        A decided track is not measured again: its verdict is returned as it is.
        """
        tracker = self._tracks.setdefault(track, LivenessTracker(self.settings))
        if tracker.verdict.state != "undecided":
            return tracker.verdict
        crop = face_crop(rgb, box)
        return tracker.update(t, self._landmarker.landmarks(crop) if crop is not None else None)

    def verdict(self, track: int) -> Verdict | None:
        tracker = self._tracks.get(track)
        return tracker.verdict if tracker else None

    def forget(self, track: int) -> None:
        """The track ended: drop its state."""
        self._tracks.pop(track, None)

    def close(self) -> None:
        self._tracks.clear()
        self._landmarker.close()
