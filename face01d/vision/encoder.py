"""128-D face encodings with dlib's ResNet, all faces of an image in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from face01d.faces import EncodedFace, FaceBox
from face01d.vision import models
from face01d.vision.quality import yaw_from_points


class FaceEncoder:
    """Landmarks (5- or 68-point) then the ResNet; holds native models, one thread only.

    ``jitters`` > 1 averages encodings of randomly perturbed crops: slower
    (linear in jitters), slightly more stable.
    """

    def __init__(self, landmarks: Literal["small", "large"] = "small", jitters: int = 1) -> None:
        if jitters < 1:
            raise ValueError(f"jitters must be ≥ 1, not {jitters}")
        self.landmarks = landmarks
        self.jitters = jitters
        self._dlib = models._dlib()
        self._predictor = models.load_shape_predictor(landmarks)
        self._encoder = models.load_encoder()

    def encode(self, rgb: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
        """Encodings of ``boxes`` in ``rgb``: shape (len(boxes), 128), float64."""
        return np.array([face.encoding for face in self.encode_with_pose(rgb, boxes)]).reshape(len(boxes), 128)

    def encode_with_pose(self, rgb: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        """Each box's encoding with how far the face is turned (from the same landmarks)."""
        if not boxes:
            return []
        shapes = self._dlib.full_object_detections()
        for box in boxes:
            rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
            shapes.append(self._predictor(rgb, rect))
        # The batch form runs the network once over every face of the image.
        descriptors = self._encoder.compute_face_descriptor(rgb, shapes, self.jitters)
        return [
            EncodedFace(np.asarray(descriptor, dtype=np.float64).reshape(128), yaw_from_points(_points(shape)))
            for descriptor, shape in zip(descriptors, shapes)
        ]


def _points(shape) -> np.ndarray:  # noqa: ANN001 - dlib.full_object_detection
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)
