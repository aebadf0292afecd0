"""Face detectors: dlib HOG, dlib CNN (MMOD) and mediapipe BlazeFace.

Each returns FaceBox in pixels of the RGB image it was given, clipped to its
bounds, in face_recognition's ``(top, right, bottom, left)`` convention. A
detector instance holds native model objects: use it from one thread only.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Protocol

import numpy as np

from face01d.config.models import DetectorConfig, DetectorKind
from face01d.errors import ModelError
from face01d.vision import models
from face01d.faces import Detection, FaceBox


class Detector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in a C-contiguous uint8 RGB image."""
        ...


def _rect_box(rect, height: int, width: int) -> FaceBox:  # noqa: ANN001 - dlib.rectangle
    return FaceBox(rect.top(), rect.right(), rect.bottom(), rect.left()).clipped(height, width)


class HogDetector:
    """dlib's HOG + linear SVM frontal detector (face_recognition's default)."""

    def __init__(self, upsampling: int = 1) -> None:
        self.upsampling = upsampling
        self._detector = models._dlib().get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        # run() rather than __call__ so each face carries the SVM score.
        rects, scores, _ = self._detector.run(rgb, self.upsampling, 0.0)
        height, width = rgb.shape[:2]
        return [Detection(_rect_box(r, height, width), float(s)) for r, s in zip(rects, scores)]


class CnnDetector:
    """dlib's MMOD CNN detector: more robust to pose, but ~30 s per 1 Mpx image on CPU.

    Only sensible on small frames (use set_width) or with a CUDA build of dlib.
    """

    def __init__(self, upsampling: int = 1) -> None:
        self.upsampling = upsampling
        self._detector = models.load_cnn_detector()

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        found = self._detector(rgb, self.upsampling)
        height, width = rgb.shape[:2]
        return [Detection(_rect_box(m.rect, height, width), float(m.confidence)) for m in found]


class BoxCalibration(NamedTuple):
    """A BlazeFace → dlib box mapping, in units of the BlazeFace box's size."""

    cx: float  # centre shift, fraction of the width (+ = right)
    cy: float  # centre shift, fraction of the height (+ = down)
    sw: float  # width scale
    sh: float  # height scale


# BlazeFace boxes are not dlib boxes, and the 5/68-point shape predictors and
# the ResNet encoder were trained on dlib-style boxes. Measured against HOG
# (upsampling 1) on obama, obama2, obama3, biden, two_people, kit_with_rose
# and obama_and_biden (11 faces, short and full models): raw BlazeFace boxes
# are ~4 % larger and centred ~3-8 % of their height higher (per-face spread
# of the same order), IoU with the HOG box 0.72 (short) / 0.76 (full), and
# the encoding from the BlazeFace box is 0.047 (short) / 0.042 (full) from the
# HOG-box encoding on average (max 0.085). This mapping (shrink to 0.96,
# raise the centre by 3 %) brings the IoU to 0.75 / 0.78 and the encoding
# distance to 0.038 / 0.037 on average (max 0.075 / 0.079): a small gain,
# far below the 0.6 same-person threshold either way. Larger shifts fitted to
# the boxes alone (cy -0.06) made encodings worse, so this is deliberately mild.
MP_TO_DLIB = BoxCalibration(cx=0.0, cy=-0.03, sw=0.96, sh=0.96)
NO_CALIBRATION = BoxCalibration(cx=0.0, cy=0.0, sw=1.0, sh=1.0)


def blazeface_to_dlib(
    xmin: float, ymin: float, w: float, h: float, calibration: BoxCalibration = MP_TO_DLIB
) -> tuple[float, float, float, float]:
    """Map a BlazeFace box (pixels: x, y, w, h) to a dlib-like (top, right, bottom, left)."""
    cx = xmin + w / 2 + calibration.cx * w
    cy = ymin + h / 2 + calibration.cy * h
    half_w, half_h = w * calibration.sw / 2, h * calibration.sh / 2
    return cy - half_h, cx + half_w, cy + half_h, cx - half_w


class MediapipeDetector:
    """mediapipe BlazeFace: fast on CPU; "short" for faces within ~2 m, "full" farther."""

    def __init__(
        self,
        model: Literal["short", "full"] = "short",
        min_confidence: float = 0.5,
        calibration: BoxCalibration = MP_TO_DLIB,
    ) -> None:
        if model not in ("short", "full"):
            raise ValueError(f"mediapipe model must be 'short' or 'full', not {model!r}")
        try:
            from mediapipe.python.solutions import face_detection
        except ImportError as exc:
            raise ModelError(f"mediapipe cannot be imported: {exc}") from exc
        self.model = model
        self.calibration = calibration
        self._detector = face_detection.FaceDetection(
            model_selection=0 if model == "short" else 1, min_detection_confidence=min_confidence
        )

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        result = self._detector.process(rgb)
        return [self._to_detection(d, height, width) for d in result.detections or ()]

    def _to_detection(self, detection, height: int, width: int) -> Detection:  # noqa: ANN001
        rel = detection.location_data.relative_bounding_box
        raw = (rel.xmin * width, rel.ymin * height, rel.width * width, rel.height * height)
        top, right, bottom, left = (round(v) for v in blazeface_to_dlib(*raw, self.calibration))
        return Detection(FaceBox(top, right, bottom, left).clipped(height, width), float(detection.score[0]))

    def close(self) -> None:
        """Release the mediapipe graph (also released when garbage-collected)."""
        self._detector.close()


def make_detector(config: DetectorConfig) -> Detector:
    """Build the detector the config names (loads its model: call per thread)."""
    if config.kind == DetectorKind.HOG:
        return HogDetector(config.upsampling)
    if config.kind == DetectorKind.CNN:
        return CnnDetector(config.upsampling)
    return MediapipeDetector(config.mediapipe_model, config.min_detection_confidence)
