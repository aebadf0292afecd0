"""The vision pipeline of one worker thread: pre-process, detect, encode.

Boxes are always returned in pixels of the ORIGINAL frame, whatever cropping
(set_area) and shrinking (set_width) was applied to find them, and the
encodings are computed on the full-resolution frame, so that a face found
on a small copy is still encoded with all the detail the camera gave.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Literal

import cv2
import numpy as np

from face01d.config.models import DetectorConfig, DetectorKind, SetArea
from face01d.vision.detectors import Detector, make_detector
from face01d.vision.encoder import FaceEncoder
from face01d.vision.image import Color, crop_area, resize_to_width, to_rgb
from face01d.faces import Detection, EncodedFace, Face, FaceBox
from face01d.vision.quality import sharpness

Landmarks = Literal["small", "large"]
Stage = Literal["detect", "encode"]


class FaceAnalyzer:
    """A detector and an encoder owned by one thread (dlib/mediapipe objects are not shared).

    Each model is loaded on first use: a worker that only detects never pays
    the encoder's ~100 MB, nor an encoding worker the detector's. ``load``
    loads them up front, so a missing model fails start-up, not a frame.
    """

    def __init__(self, detector: DetectorConfig, landmarks: Landmarks = "small", jitters: int = 1) -> None:
        self.config = detector
        # BlazeFace re-samples whatever it is given to its 128 or 192 px tensor, so an area filter
        # to 640 px first bought nothing but cost more than the detector (2.8 ms against 1.7 ms on a
        # 1080p frame); HOG and CNN see our pixels themselves and keep the area filter.
        self._shrink = cv2.INTER_LINEAR if detector.kind is DetectorKind.MEDIAPIPE else cv2.INTER_AREA
        self.landmarks = landmarks
        self.jitters = jitters

    @cached_property
    def detector(self) -> Detector:
        return make_detector(self.config)

    @cached_property
    def encoder(self) -> FaceEncoder:
        return FaceEncoder(self.landmarks, self.jitters)

    def load(self, stages: Collection[Stage] = ("detect", "encode")) -> FaceAnalyzer:
        """Load the models of ``stages`` now (a ModelError if one is missing or broken)."""
        if "detect" in stages:
            _ = self.detector
        if "encode" in stages:
            _ = self.encoder
        return self

    def detect(self, image: np.ndarray, color: Color = "bgr", set_area: SetArea | None = None) -> list[Detection]:
        """Faces in ``image``, largest first, boxes in the image's own pixels, each with its sharpness.

        A plain 8-bit colour frame is shrunk *before* its colours are swapped:
        converting two megapixels to throw most of them away costs more than
        the detector at 640 px.
        """
        if _plain_colour(image):
            return self._detect(image, color, set_area)
        return self._detect(to_rgb(image, color), "rgb", set_area)

    def analyze(self, image: np.ndarray, color: Color = "bgr", set_area: SetArea | None = None) -> list[Face]:
        """Detect, then encode every face at full resolution in one batch."""
        rgb = to_rgb(image, color)
        return self._encode_rgb(rgb, self._detect(rgb, "rgb", set_area))

    def encode(self, image: np.ndarray, detections: Sequence[Detection], color: Color = "bgr") -> list[Face]:
        """Encode faces already found (boxes in ``image``'s pixels)."""
        return self._encode_rgb(to_rgb(image, color), detections)

    def encode_with_pose(
        self, image: np.ndarray, boxes: Sequence[FaceBox], color: Color = "bgr"
    ) -> list[EncodedFace]:
        """Encode faces already found, each with how far it is turned (for the quality gates).

        A plain 8-bit colour frame is aligned as it is, in either channel
        order (``FaceAligner.align``): only the 150×150 chips are swapped,
        not the whole crop, and the chips are the same bit for bit.
        """
        if _plain_colour(image):
            return self.encoder.encode_with_pose(image, boxes, color)
        return self.encoder.encode_with_pose(to_rgb(image, color), boxes)

    def _detect(self, image: np.ndarray, color: Color, set_area: SetArea | None) -> list[Detection]:
        area = self.config.set_area if set_area is None else set_area
        region, dy, dx = crop_area(image, area)
        small, factor = resize_to_width(np.ascontiguousarray(region), self.config.set_width, self._shrink)
        height, width = image.shape[:2]
        mapped = [
            Detection(d.box.scaled(factor, dy, dx).clipped(height, width), d.score)
            for d in self.detector.detect(to_rgb(small, color))
        ]
        return [replace(d, sharpness=sharpness(image, d.box, color)) for d in self._select(mapped)]

    def _select(self, detections: list[Detection]) -> list[Detection]:
        """Drop faces narrower than min_face_px; keep the max_faces largest."""
        wide = [d for d in detections if d.box.width >= max(self.config.min_face_px, 1)]
        wide.sort(key=lambda d: d.box.area, reverse=True)
        return wide[: self.config.max_faces]

    def _encode_rgb(self, rgb: np.ndarray, detections: Sequence[Detection]) -> list[Face]:
        encodings = self.encoder.encode(rgb, [d.box for d in detections])
        return [Face(d, e) for d, e in zip(detections, encodings)]


_local = threading.local()


def analyzer_for_thread(detector: DetectorConfig, landmarks: Landmarks = "small", jitters: int = 1) -> FaceAnalyzer:
    """This thread's FaceAnalyzer for these settings, built on first use.

    Each worker thread loads its own models once; no dlib or mediapipe object
    ever crosses threads.
    """
    cache: dict[tuple, FaceAnalyzer] = _local.__dict__.setdefault("analyzers", {})
    key = (detector, landmarks, jitters)
    if key not in cache:
        cache[key] = FaceAnalyzer(detector, landmarks, jitters)
    return cache[key]


def _plain_colour(image: np.ndarray) -> bool:
    """An 8-bit three-channel image: what a camera gives, usable without a conversion."""
    return image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
