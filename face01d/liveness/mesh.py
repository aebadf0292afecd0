"""Face Mesh landmarks on a face crop: the measurements liveness is made of.

mediapipe's Face Mesh (the model shipped in the mediapipe wheel, with the
attention/iris refinement) gives 478 points per face, eyelids included,
which dlib's 68-point model draws too coarsely to see a blink on a small
face. It runs on a crop around a detector's box, resized so its longer side
is ``MESH_SIDE`` px: the cost per face is then the same (~7 ms on one core)
whatever the camera's resolution. ``static_image_mode`` keeps each call
independent of the last, so one landmarker serves every track of a worker;
like every mediapipe object it belongs to the thread that made it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from face01d.faces import FaceBox

MESH_SIDE = 256  # px: the crop's longer side after resizing (Face Mesh itself works at 192)
CROP_MARGIN = 0.3  # the crop extends the box by this share of its side on every side


@dataclass(frozen=True, slots=True)
class Crop:
    """A square-ish RGB cut of a frame and how to map its pixels back: frame = crop / scale + origin."""

    image: np.ndarray
    x0: int
    y0: int
    scale: float

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        return points / self.scale + (self.x0, self.y0)


def face_crop(rgb: np.ndarray, box: FaceBox, margin: float = CROP_MARGIN, side: int = MESH_SIDE) -> Crop | None:
    """A square around ``box`` with a margin, resized for the mesh; None for a box with no area.

    Square, padded with black where it leaves the frame: Face Mesh maps its
    landmarks back correctly only for a square input (it says so otherwise).
    """
    half = max(box.width, box.height) * (0.5 + margin)
    if half < 4:
        return None
    x0, y0 = round((box.left + box.right) / 2 - half), round((box.top + box.bottom) / 2 - half)
    size = round(2 * half)
    height, width = rgb.shape[:2]
    cut = rgb[max(y0, 0):min(y0 + size, height), max(x0, 0):min(x0 + size, width)]
    if cut.size == 0:
        return None
    pads = (max(-y0, 0), max(y0 + size - height, 0), max(-x0, 0), max(x0 + size - width, 0))
    if any(pads):
        cut = cv2.copyMakeBorder(cut, *pads, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    scale = side / size
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return Crop(np.ascontiguousarray(cv2.resize(cut, (side, side), interpolation=interpolation)), x0, y0, scale)


class MeshLandmarker:
    """One Face Mesh graph, for one thread: crops in, (478, 2) landmark arrays in frame pixels out."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        from mediapipe.python.solutions import face_mesh  # heavy import, only where liveness runs

        from face01d.vision.detectors import quiet_native_stderr

        self._quiet = quiet_native_stderr
        with quiet_native_stderr("mediapipe face mesh start"):
            self._mesh = face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=min_confidence,
            )
        self._first = True

    def landmarks(self, crop: Crop) -> np.ndarray | None:
        """The 478 landmarks (x, y) of the crop's face in frame pixels; None when the mesh finds none."""
        if self._first:  # the TFLite delegate announces itself on the first inference
            with self._quiet("mediapipe face mesh first inference"):
                result = self._mesh.process(crop.image)
            self._first = False
        else:
            result = self._mesh.process(crop.image)
        if not result.multi_face_landmarks:
            return None
        height, width = crop.image.shape[:2]
        points = np.array([(p.x * width, p.y * height) for p in result.multi_face_landmarks[0].landmark])
        return crop.to_frame(points).astype(np.float32)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> MeshLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
