"""mediapipe BlazeFace: finds HOG's faces, and its (calibrated) boxes encode like HOG's."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import iou
from face01d.config.models import DetectorConfig
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.detectors import NO_CALIBRATION, MediapipeDetector, blazeface_to_dlib, make_detector
from face01d.vision.encoder import FaceEncoder
from face01d.faces import FaceBox

CLOSE_UP = [
    "face_recognition/test_images/obama.jpg",
    "face_recognition/test_images/biden.jpg",
    "face_recognition/examples/two_people.jpg",
]
GROUP = "face_recognition/knn_examples/test/obama_and_biden.jpg"  # 2000×1428: faces ~10 % of the width
MATCH_IOU = 0.5
MAX_BOX_DISTANCE = 0.12  # measured ≤ 0.085 (see the comment at MP_TO_DLIB)


@pytest.fixture(scope="module")
def mediapipe() -> dict[str, MediapipeDetector]:
    return {model: MediapipeDetector(model, 0.5) for model in ("short", "full")}


@pytest.fixture(scope="module")
def hog_boxes(hog: FaceAnalyzer, rgb) -> dict[str, list[FaceBox]]:  # noqa: ANN001
    return {path: [d.box for d in hog.detect(rgb(path), "rgb")] for path in [*CLOSE_UP, GROUP]}


def _match(box: FaceBox, candidates: list[FaceBox]) -> FaceBox | None:
    best = max(candidates, key=lambda c: iou(box, c), default=None)
    return best if best is not None and iou(box, best) >= MATCH_IOU else None


@pytest.mark.parametrize("model", ["short", "full"])
@pytest.mark.parametrize("path", CLOSE_UP)
def test_finds_hog_faces_close_up(mediapipe, hog_boxes, encoder: FaceEncoder, rgb, model, path) -> None:  # noqa: ANN001
    image = rgb(path)
    found = [d.box for d in mediapipe[model].detect(image)]
    assert len(found) == len(hog_boxes[path])
    matched = [_match(box, found) for box in hog_boxes[path]]
    assert None not in matched, (hog_boxes[path], found)
    encodings = encoder.encode(image, hog_boxes[path] + matched)
    half = len(matched)
    distances = np.linalg.norm(encodings[:half] - encodings[half:], axis=1)
    assert (distances < MAX_BOX_DISTANCE).all(), distances


def test_group_photo_full_range(mediapipe, hog_boxes, rgb) -> None:  # noqa: ANN001
    """Obama and Biden are found by "full"; the short-range model sees no face this small.

    HOG also finds a third, half-hidden small face (a girl, bottom right) that
    BlazeFace misses even at confidence 0.05: a known limit, not asserted.
    """
    image = rgb(GROUP)
    found = [d.box for d in mediapipe["full"].detect(image)]
    big = sorted(hog_boxes[GROUP], key=lambda b: b.area, reverse=True)[:2]
    assert len(hog_boxes[GROUP]) == 3 and len(found) == 2
    assert all(_match(box, found) for box in big)
    assert mediapipe["short"].detect(image) == []


def test_calibration_brings_boxes_closer_to_dlib(mediapipe, hog_boxes, encoder: FaceEncoder, rgb) -> None:  # noqa: ANN001
    raw_detector = MediapipeDetector("full", 0.5, NO_CALIBRATION)
    gains = []
    for path in CLOSE_UP:
        image = rgb(path)
        for hog_box in hog_boxes[path]:
            calibrated = _match(hog_box, [d.box for d in mediapipe["full"].detect(image)])
            raw = _match(hog_box, [d.box for d in raw_detector.detect(image)])
            gains.append(iou(hog_box, calibrated) - iou(hog_box, raw))
    assert np.mean(gains) > 0, gains


def test_mapping_arithmetic() -> None:
    assert blazeface_to_dlib(100, 200, 50, 80, NO_CALIBRATION) == (200, 150, 280, 100)
    top, right, bottom, left = blazeface_to_dlib(100, 200, 50, 80)
    assert right - left == pytest.approx(48) and (top + bottom) / 2 == pytest.approx(240 - 0.03 * 80)


def test_analyzer_with_mediapipe_and_set_width(rgb) -> None:  # noqa: ANN001
    analyzer = FaceAnalyzer(DetectorConfig(kind="mediapipe", mediapipe_model="short", set_width=320))
    faces = analyzer.analyze(rgb(CLOSE_UP[2]), "rgb")
    assert len(faces) == 2 and all(f.box.width > 100 for f in faces)  # original-frame pixels
    assert np.linalg.norm(faces[0].encoding - faces[1].encoding) > 0.6


def test_blank_image_and_factory() -> None:
    detector = make_detector(DetectorConfig(kind="mediapipe", mediapipe_model="full"))
    assert isinstance(detector, MediapipeDetector) and detector.model == "full"
    assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []
    with pytest.raises(ValueError):
        MediapipeDetector("long")  # type: ignore[arg-type]
