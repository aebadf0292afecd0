"""A face's Face Mesh landmarks through a clip, frame by frame (the liveness tests' input)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from face01d.faces import FaceBox
from face01d.liveness import MeshLandmarker, face_crop
from face01d.vision.detectors import MediapipeDetector

Series = list[tuple[int, float, np.ndarray | None]]  # frame, time, landmarks


def largest_face_series(video: Path, first: int, last: int, detector: MediapipeDetector,
                        landmarker: MeshLandmarker) -> Series:
    """Frames ``first``..``last`` of ``video``: the largest face's landmarks (None when there is none)."""
    capture, out, index = cv2.VideoCapture(str(video)), [], 0
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    while index <= last:
        ok, bgr = capture.read()
        if not ok:
            break
        if index >= first:
            out.append((index, index / fps, _landmarks(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), detector, landmarker)))
        index += 1
    capture.release()
    return out


def _landmarks(rgb: np.ndarray, detector: MediapipeDetector, landmarker: MeshLandmarker) -> np.ndarray | None:
    boxes: list[FaceBox] = [d.box for d in detector.detect(rgb)]
    if not boxes:
        return None
    crop = face_crop(rgb, max(boxes, key=lambda b: b.area))
    return landmarker.landmarks(crop) if crop is not None else None
