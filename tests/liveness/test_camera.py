"""CameraLiveness, the pipeline's seam: a still photo in front of the camera is not live, a face
too small to measure is reported as such, and tracks are judged apart."""

from __future__ import annotations

import cv2
import numpy as np

from face01d.faces import FaceBox
from face01d.liveness import CameraLiveness
from face01d.vision.detectors import MediapipeDetector


def _scene(photo: np.ndarray, side: int) -> np.ndarray:
    """The photo, ``side`` px high, pasted on a grey 640×480 frame."""
    frame = np.full((480, 640, 3), 120, np.uint8)
    small = cv2.resize(photo, (side * photo.shape[1] // photo.shape[0], side), interpolation=cv2.INTER_AREA)
    frame[40:40 + small.shape[0], 100:100 + small.shape[1]] = small
    return frame


def _shrunk(box: FaceBox, factor: float) -> FaceBox:
    """A box of the near scene mapped into the far one (both pasted at x 100, y 40)."""
    return FaceBox(*(round(o + (v - o) * factor) for v, o in zip(box.as_tuple(), (40, 100, 40, 100))))


def test_a_still_photo_and_a_tiny_face(data, detector: MediapipeDetector, landmarker) -> None:  # noqa: ANN001
    photo = cv2.cvtColor(cv2.imread(str(data("face01/gallery") / "金正恩_default.png")), cv2.COLOR_BGR2RGB)
    near, far = _scene(photo, 300), _scene(photo, 32)  # outer eye corners ~190 px and ~20 px apart
    near_box = max((d.box for d in detector.detect(near)), key=lambda b: b.area)
    far_box = _shrunk(near_box, 32 / 300)  # too small for the detector: the near box, scaled as the photo was
    camera = CameraLiveness(landmarker=landmarker)
    for i in range(40):  # 4 s at 10 fps
        still, tiny = camera.observe(1, i / 10, near, near_box), camera.observe(2, i / 10, far, far_box)
    assert (still.state, still.reason) == ("not_live", "no_cue")
    assert (tiny.state, tiny.reason, tiny.frames) == ("undecided", "too_small", 0) and tiny.small_frames > 0
    camera.forget(1)
    assert camera.verdict(1) is None and camera.verdict(2) == tiny
