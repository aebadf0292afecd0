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
            (-0.061, 0.290, -1.427, 0.594, 0.323, 0.813, 1.161, -0.958, -0.990, 0.081, 0.908, 0.027, -0.680),
            (-0.166, -2.874, -1.116, 0.952, -0.036, 3.007, 1.709, -2.401, -0.839, 0.987, 0.887, -0.525, -0.096),
            (-0.888, 3.720, 1.097, -3.592, 0.265, -1.371, -2.766, 1.784, 2.891, -2.218, -1.012, 2.369, 0.294),
        ),
        low=(-0.242, -0.208, -0.266),
        high=(0.216, 0.084, 0.242),
    ),
    "full": KeypointMapping(
        weights=(
            (-0.140, -0.087, -0.003, 0.283, -0.404, -0.152, 0.084, 0.265, 0.126, 0.027, -0.030, -0.056, 0.057),
            (-0.957, -1.723, -1.797, 1.668, -1.270, 0.688, 1.794, -0.825, -0.173, 0.434, 0.217, -0.309, -0.393),
            (0.110, 3.980, 2.605, -2.805, 1.206, -2.153, -2.636, 1.820, 1.466, -2.314, -0.458, 1.705, 0.704),
        ),
        low=(-0.098, -0.141, -0.318),
        high=(0.090, 0.120, 0.192),
    ),
}
# The best constant mapping (least squares on the same faces), for comparison.
MP_BOX_ONLY: dict[str, BoxCalibration] = {
    "short": BoxCalibration(cx=-0.006, cy=-0.051, sw=0.990, sh=0.990),
    "full": BoxCalibration(cx=0.005, cy=-0.001, sw=0.936, sh=0.935),
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
