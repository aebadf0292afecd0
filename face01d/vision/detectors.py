"""Face detectors: dlib HOG, dlib CNN (MMOD) and mediapipe BlazeFace.

Each returns FaceBox in pixels of the RGB image it was given, clipped to its
bounds, in face_recognition's ``(top, right, bottom, left)`` convention. A
detector instance holds native model objects: use it from one thread only.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Literal, NamedTuple, Protocol

import numpy as np
import structlog

from face01d import native_stderr
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
# Where BlazeFace puts its box is a poor guide to where HOG puts its own (per
# face, "short"'s centre differs by ±9 % of the width in x, ±6 % in y), but its
# keypoints are good ones: MP_TO_DLIB predicts the dlib box from them.
#
# Fitted per model against dlib HOG's boxes (upsampling 1, face01d's HOG
# pipeline) by ridge regression (λ = 1) on 4,670 ("short") / 4,948 ("full")
# faces: the 3,443 LFW View 1 DevTrain images as they are (150×150, the face
# ~42 % of the width), 1,600 of them padded to 230-600 px (the face 10-30 % of
# the frame, as in a camera frame), and face_recognition's test_images and
# knn_examples; never the DevTest images bench/lfw_accuracy.py scores nor the
# examples/ the tests use. Fitted on two thirds, measured on the other third
# ("short"; raw box → best constant mapping (MP_BOX_ONLY) → keypoints):
#   IoU with the HOG box: 0.74 → 0.75 → 0.82 as they are, 0.72 → 0.73 → 0.80
#     padded 75 px, 0.69 → 0.71 → 0.75 padded 150 px;
#   dlib's 5 landmarks, off HOG's by (mean, fraction of the eye distance):
#     1.6 → 1.3 → 1.0 %, 2.0 → 1.3 → 0.9 %, 3.0 → 2.6 → 1.6 %;
#   encoding from the mapped box to the HOG-box encoding (600 faces of that
#     third, with the final constants fitted on all; the previous mapping,
#     shrink 0.96 and raise 3 %, in brackets): mean
#     0.057 → 0.050 (0.052) → 0.044, p90 0.102 → 0.092 (0.099) → 0.090,
#     max 0.73 → 0.57 (0.61) → 0.35; padded 75 px (150 faces): mean 0.070 →
#     0.050 (0.058) → 0.045, max 0.78 → 0.17 (0.70) → 0.14.
# The encoding distance has a floor near 0.04: dlib's landmarks are whole
# pixels, and on a ~70 px LFW face one of them moving by a pixel moves the
# encoding by 0.04-0.05 (HOG's own box shifted by 2 % of its width: 0.043 on
# average), so the mapping's gain is mostly in the tail. For "full" the raw box
# already suits the landmark model (landmarks 1.0 % off for raw, constant and
# keypoint boxes alike); the mapping raises the IoU from 0.79 to 0.82.
# Ridge rather than plain least squares: the same held-out landmark error with
# coefficients ≤ 0.47 instead of up to 4, so an unusual pose cannot swing the
# box; the outputs are clamped to the 0.5-99.5 percentiles of the fitted ones.
# The face's size relative to the frame as an extra input gained nothing.
# LFW pair accuracy on DevTrain (2,200 pairs, tolerance 0.6; HOG: 96.86 %, 35
# pairs without a face): raw 97.73 %, previous 98.05 %, constant 98.36 %,
# keypoints 98.27 % (constant and keypoints level within 2 pairs; keypoints
# kept for encodings closest to HOG's: mean 0.050 against 0.054 constant,
# 0.057 previous, 0.061 raw). On DevTest: README, "Accuracy: LFW View 1".
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


log = structlog.get_logger(__name__)

# mediapipe's C++ (absl, glog, TFLite) writes straight to file descriptor 2 when it
# builds its graph and on its first inference: "INFO: Created TensorFlow Lite XNNPACK
# delegate for CPU.", "WARNING: All log messages before absl::InitializeLog() is called
# are written to STDERR", "W0000 00:00:... inference_feedback_manager.cc:114] ...".
# Those lines would break the daemon's structured (JSON lines) stderr, so fd 2 is
# pointed at a temporary file meanwhile; what mediapipe wrote becomes one debug record,
# and anything else that reached fd 2 in that window (another thread's log line) is
# written on to the real stderr unchanged.
_NATIVE_STDERR_LOCK = threading.Lock()
_NATIVE_LINE = re.compile(
    r"^(?:INFO: |WARNING: All log messages before absl|[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\]|"
    r".*(?:TensorFlow Lite|XNNPACK|absl::|mediapipe|inference_feedback_manager|gl_context|landmark_projection))"
)


@contextlib.contextmanager
def quiet_native_stderr(what: str) -> Iterator[None]:
    """Keep native libraries' writes to fd 2 off the structured stderr while the block runs.

    Not needed once ``face01d.native_stderr`` holds fd 2 (the daemon): it
    structures every native line already, and a redirect here would hide a
    camera's FFmpeg errors from its count.
    """
    if native_stderr.installed():
        yield
        return
    with _NATIVE_STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to protect
            yield
            return
        capture = tempfile.TemporaryFile()
        try:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
            capture.seek(0)
            captured = capture.read().decode("utf-8", "replace")
        finally:
            os.close(saved)
            capture.close()
    native = [line for line in captured.splitlines() if line.strip() and _NATIVE_LINE.match(line)]
    other = [line for line in captured.splitlines(keepends=True) if line.strip() and not _NATIVE_LINE.match(line)]
    if other:
        with contextlib.suppress(OSError):
            os.write(2, "".join(other).encode("utf-8"))
    if native:
        log.debug("native library output", during=what, lines=native)


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
        with quiet_native_stderr("mediapipe graph start"):
            self._detector = face_detection.FaceDetection(
                model_selection=0 if model == "short" else 1, min_detection_confidence=min_confidence
            )
        self._first_inference = True

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        if self._first_inference:  # the TFLite delegate is created, and says so, on the first inference
            with quiet_native_stderr("mediapipe first inference"):
                result = self._detector.process(rgb)
            self._first_inference = False
        else:
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
