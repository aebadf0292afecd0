"""Face detectors: dlib HOG, dlib CNN (MMOD) and mediapipe BlazeFace.

Each returns FaceBox in pixels of the RGB image it was given, clipped to its
bounds, in face_recognition's ``(top, right, bottom, left)`` convention. A
detector instance holds native model objects: use it from one thread only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


RawBox = tuple[float, float, float, float]  # a BlazeFace box in pixels: xmin, ymin, width, height
DlibBox = tuple[float, float, float, float]  # top, right, bottom, left


class BoxCalibration(NamedTuple):
    """A constant BlazeFace → dlib box mapping, in units of the BlazeFace box's size."""

    cx: float  # centre shift, fraction of the width (+ = right)
    cy: float  # centre shift, fraction of the height (+ = down)
    sw: float  # width scale
    sh: float  # height scale

    def apply(self, box: RawBox, keypoints: Sequence[tuple[float, float]]) -> DlibBox:
        return blazeface_to_dlib(*box, self)


class KeypointMapping(NamedTuple):
    """A BlazeFace → dlib box mapping predicted from BlazeFace's six keypoints.

    A linear model. Features, in units of the BlazeFace box's width ``w``
    from its centre: 1, then x and y of each keypoint in mediapipe's order
    (right eye, left eye, nose tip, mouth centre, right ear, left ear): 13
    numbers. Outputs: the dlib box's centre shift (x, y, in ``w``) and the
    log of its side over ``w`` (dlib boxes are square), each clamped to the
    range seen in fitting so that an odd pose cannot throw the box away.
    """

    weights: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]  # rows: dx, dy, log(side / w)
    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def apply(self, box: RawBox, keypoints: Sequence[tuple[float, float]]) -> DlibBox:
        return keypoints_to_dlib(box, keypoints, self)


BoxMapping = BoxCalibration | KeypointMapping

# BlazeFace boxes are not dlib boxes, and dlib's 5-point landmark model (which
# aligns the face for the ResNet encoder) was trained on dlib-style boxes.
# DRAFT COMMENT
MP_TO_DLIB: dict[str, KeypointMapping] = {
    "short": KeypointMapping(
        weights=(
            (-0.064, -0.011, -0.138, 0.232, -0.057, 0.253, 0.003, 0.194, 0.067, 0.011, -0.087, -0.137, 0.008),
            (-0.255, -0.373, 0.031, 0.286, 0.061, 0.011, 0.352, -0.009, 0.212, -0.136, 0.008, -0.016, 0.028),
            (-0.200, 0.216, -0.172, -0.253, -0.177, 0.030, -0.394, 0.061, -0.012, -0.158, -0.126, 0.229, -0.086),
        ),
        low=(-0.252, -0.210, -0.334),
        high=(0.218, 0.091, 0.249),
    ),
    "full": KeypointMapping(
        weights=(
            (0.045, -0.119, -0.021, 0.226, -0.085, 0.088, -0.050, 0.190, 0.087, 0.230, 0.011, -0.150, 0.009),
            (-0.244, -0.364, 0.011, 0.466, -0.027, 0.012, 0.249, 0.027, 0.178, -0.021, -0.100, 0.017, -0.018),
            (-0.066, 0.363, 0.047, -0.330, 0.076, 0.016, -0.407, 0.084, -0.017, -0.178, 0.059, 0.280, 0.124),
        ),
        low=(-0.104, -0.141, -0.338),
        high=(0.087, 0.118, 0.209),
    ),
}
# The best constant mapping (least squares on the same faces), for comparison.
MP_BOX_ONLY: dict[str, BoxCalibration] = {
    "short": BoxCalibration(cx=-0.011, cy=-0.051, sw=0.985, sh=0.985),
    "full": BoxCalibration(cx=-0.004, cy=-0.003, sw=0.937, sh=0.937),
}
NO_CALIBRATION = BoxCalibration(cx=0.0, cy=0.0, sw=1.0, sh=1.0)

def blazeface_to_dlib(xmin: float, ymin: float, w: float, h: float, calibration: BoxCalibration) -> DlibBox:
    """Map a BlazeFace box (pixels: x, y, w, h) to a dlib-like (top, right, bottom, left)."""
    cx = xmin + w / 2 + calibration.cx * w
    cy = ymin + h / 2 + calibration.cy * h
    half_w, half_h = w * calibration.sw / 2, h * calibration.sh / 2
    return cy - half_h, cx + half_w, cy + half_h, cx - half_w


def keypoints_to_dlib(box: RawBox, keypoints: Sequence[tuple[float, float]], mapping: KeypointMapping) -> DlibBox:
    """The dlib-like (top, right, bottom, left) a BlazeFace box and its keypoints (pixels) predict."""
    xmin, ymin, w, h = box
    cx, cy = xmin + w / 2, ymin + h / 2
    offsets = (np.asarray(keypoints, dtype=np.float64).reshape(6, 2) - (cx, cy)) / w
    features = np.concatenate(([1.0], offsets.ravel()))
    dx, dy, log_side = np.clip(np.asarray(mapping.weights) @ features, mapping.low, mapping.high)
    centre_x, centre_y, half = cx + dx * w, cy + dy * w, math.exp(log_side) * w / 2
    return centre_y - half, centre_x + half, centre_y + half, centre_x - half


class MediapipeDetector:
    """mediapipe BlazeFace: fast on CPU; "short" for faces within ~2 m, "full" farther.

    Boxes are mapped to dlib's framing (``MP_TO_DLIB`` of the model unless a
    ``calibration`` is given; ``NO_CALIBRATION`` gives BlazeFace's own box).
    Images are given to BlazeFace as they are: it resizes every input to its
    128×128 (short) / 192×192 (full) tensor itself, so upscaling a small image
    first changes nothing; "short" finds a face in all 3,443 150×150 LFW
    DevTrain images as they are ("full", made for small faces far away, in
    3,381 of them).
    """

    def __init__(
        self,
        model: Literal["short", "full"] = "short",
        min_confidence: float = 0.5,
        calibration: BoxMapping | None = None,
    ) -> None:
        if model not in ("short", "full"):
            raise ValueError(f"mediapipe model must be 'short' or 'full', not {model!r}")
        try:
            from mediapipe.python.solutions import face_detection
        except ImportError as exc:
            raise ModelError(f"mediapipe cannot be imported: {exc}") from exc
        self.model = model
        self.calibration: BoxMapping = MP_TO_DLIB[model] if calibration is None else calibration
        self._detector = face_detection.FaceDetection(
            model_selection=0 if model == "short" else 1, min_detection_confidence=min_confidence
        )

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        result = self._detector.process(rgb)
        return [self._to_detection(d, height, width) for d in result.detections or ()]

    def _to_detection(self, detection, height: int, width: int) -> Detection:  # noqa: ANN001
        location = detection.location_data
        rel = location.relative_bounding_box
        raw = (rel.xmin * width, rel.ymin * height, rel.width * width, rel.height * height)
        keypoints = [(k.x * width, k.y * height) for k in location.relative_keypoints]
        top, right, bottom, left = (round(v) for v in self.calibration.apply(raw, keypoints))
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
