"""128-D face encodings with dlib's ResNet, in two halves: align, then describe.

dlib encodes a face by cutting it out upright at 150×150 around its
landmarks (the *chip*, ``get_face_chips``) and running the network on that.
The two halves are separate here because they need not run on one machine:
a node aligns (a landmark model of a few MB, about a millisecond a face) and
sends the 67 kB chip, and a ``face01d worker`` runs the ~75 ms network on it
(face01d/remote). The local pool runs both halves in one call, the same two
functions, so an encoding is the same wherever it is made (bit for bit at
``jitters = 1``; jittered encodings are random samples wherever they run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from face01d.faces import EncodedFace, FaceBox
from face01d.vision import models
from face01d.vision.quality import yaw_from_points

CHIP_SIDE = 150  # dlib's ResNet takes 150×150 chips ...
CHIP_PADDING = 0.25  # ... cut with this margin around the landmarks (its compute_face_descriptor default)


@dataclass(frozen=True, slots=True)
class AlignedFaces:
    """Faces cut out upright for the network: chips (N, 150, 150, 3) RGB uint8, and how far each is turned."""

    chips: np.ndarray
    yaws: tuple[float, ...]


class FaceAligner:
    """Landmarks (dlib's 5- or 68-point model) and the chips cut from them; one thread only."""

    def __init__(self, landmarks: Literal["small", "large"] = "small") -> None:
        self.landmarks = landmarks
        self._dlib = models._dlib()
        self._predictor = models.load_shape_predictor(landmarks)

    def align(self, image: np.ndarray, boxes: Sequence[FaceBox], color: Literal["rgb", "bgr"] = "rgb") -> AlignedFaces:
        """The RGB chip and the yaw of each box in ``image``.

        A BGR frame is aligned as it is: dlib's landmarks read a pixel's
        intensity as the plain mean of its three channels, and a chip is
        interpolated channel by channel, so only the 150×150 chips need their
        channels swapped, not the frame (0.7 ms a look where converting a 1080p
        crop first took 8).
        """
        if not boxes:
            return AlignedFaces(np.empty((0, CHIP_SIDE, CHIP_SIDE, 3), np.uint8), ())
        image = np.ascontiguousarray(image)
        shapes = self._dlib.full_object_detections()
        for box in boxes:
            shapes.append(self._predictor(image, self._dlib.rectangle(box.left, box.top, box.right, box.bottom)))
        chips = np.stack(self._dlib.get_face_chips(image, shapes, CHIP_SIDE, CHIP_PADDING))
        if color == "bgr":
            chips = np.ascontiguousarray(chips[..., ::-1])
        return AlignedFaces(chips, tuple(yaw_from_points(_points(shape)) for shape in shapes))


class FaceEncoder:
    """An aligner and the ResNet; holds native models, one thread only.

    ``jitters`` > 1 averages encodings of randomly perturbed chips: slower
    (linear in jitters), slightly more stable.
    """

    def __init__(self, landmarks: Literal["small", "large"] = "small", jitters: int = 1) -> None:
        if jitters < 1:
            raise ValueError(f"jitters must be ≥ 1, not {jitters}")
        self.landmarks = landmarks
        self.jitters = jitters
        self.aligner = FaceAligner(landmarks)
        self._encoder = models.load_encoder()

    def encode(self, rgb: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
        """Encodings of ``boxes`` in ``rgb``: shape (len(boxes), 128), float64."""
        return np.array([face.encoding for face in self.encode_with_pose(rgb, boxes)]).reshape(len(boxes), 128)

    def encode_with_pose(self, image: np.ndarray, boxes: Sequence[FaceBox],
                         color: Literal["rgb", "bgr"] = "rgb") -> list[EncodedFace]:
        """Each box's encoding with how far the face is turned (from the same landmarks)."""
        return self.describe(self.aligner.align(image, boxes, color)) if boxes else []

    def describe(self, faces: AlignedFaces) -> list[EncodedFace]:
        """The network over every chip in one batch."""
        if len(faces.chips) == 0:
            return []
        descriptors = self._encoder.compute_face_descriptor(list(faces.chips), self.jitters)
        return [EncodedFace(np.asarray(descriptor, dtype=np.float64).reshape(128), yaw)
                for descriptor, yaw in zip(descriptors, faces.yaws)]


def _points(shape) -> np.ndarray:  # noqa: ANN001 - dlib.full_object_detection
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)
