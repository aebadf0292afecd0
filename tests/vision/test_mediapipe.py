"""mediapipe BlazeFace: finds HOG's faces, and its (mapped) boxes encode like HOG's."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest

from face01d.tracking.associate import iou
from face01d.config.models import DetectorConfig
from face01d.vision import models
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.detectors import (
    MP_BOX_ONLY,
    MP_TO_DLIB,
    NO_CALIBRATION,
    MediapipeDetector,
    blazeface_to_dlib,
    keypoints_to_dlib,
    make_detector,
)
from face01d.vision.encoder import FaceEncoder
from face01d.faces import FaceBox

CLOSE_UP = [
    "face_recognition/test_images/obama.jpg",
    "face_recognition/test_images/biden.jpg",
    "face_recognition/examples/two_people.jpg",
]
GROUP = "face_recognition/knn_examples/test/obama_and_biden.jpg"  # 2000×1428: faces ~10 % of the width
MATCH_IOU = 0.5
MAX_BOX_DISTANCE = 0.12  # measured ≤ 0.082 on these close-ups (see the comment at MP_TO_DLIB)


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
    """The "full" model on close-ups (IoU gains measured 0.04, 0.02, -0.05, 0.07: mean 0.02)."""
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
    top, right, bottom, left = blazeface_to_dlib(100, 200, 50, 80, MP_BOX_ONLY["full"])
    assert right - left == pytest.approx(50 * MP_BOX_ONLY["full"].sw)
    assert (top + bottom) / 2 == pytest.approx(240 + MP_BOX_ONLY["full"].cy * 80)


def test_keypoint_mapping_arithmetic() -> None:
    """Scale- and translation-invariant; an absurd prediction is clamped to the fitted range."""
    box, points = (100, 200, 50, 50), [(115, 215), (135, 215), (125, 228), (125, 238), (102, 218), (148, 218)]
    mapping = MP_TO_DLIB["short"]
    top, right, bottom, left = keypoints_to_dlib(box, points, mapping)
    twice = keypoints_to_dlib((200 + 7, 400 + 9, 100, 100), [(2 * x + 7, 2 * y + 9) for x, y in points], mapping)
    assert twice == pytest.approx((2 * top + 9, 2 * right + 7, 2 * bottom + 9, 2 * left + 7))
    assert right - left == pytest.approx(bottom - top)  # dlib boxes are square
    wild = keypoints_to_dlib(box, [(x, 3 * y - 400) for x, y in points], mapping)
    assert wild[1] - wild[3] <= 50 * np.exp(mapping.high[2]) + 1e-9


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


# Mapped boxes against HOG's on real faces: a sample of LFW DevTest (the mapping
# was fitted on DevTrain) and face_recognition's examples/ (not in the fit),
# BlazeFace "short" as the daemon's default. Measured 2026-11-29: HOG finds 107
# faces, BlazeFace matches 105 of them with every mapping (IoU ≥ 0.5); on those,
# the encoding from the mapped box is 0.045 from the HOG-box encoding on average
# (raw box 0.059), max 0.16 (raw 0.76); dlib's 5 landmarks move by 0.9 % of the
# eye distance (best constant mapping 0.9 %, raw 1.8 %); IoU with the HOG box
# 0.84 (constant 0.76, raw 0.75), min 0.65. The distance cannot go far below
# 0.04: dlib's landmarks are whole pixels, and on a ~70 px LFW face moving one
# of them by a pixel moves the encoding by 0.04-0.05 (HOG's own box shifted by
# 2 % of its width: 0.043 on average). On 100 faces the keypoint mapping and the
# constant one are level on landmarks; the mapping's gain over the constant is
# in the tail, measured on 600 faces (see MP_TO_DLIB's comment).
LFW_STEP = 16  # every 16th of DevTest's 1,548 unique images on disk: 97
EXAMPLES = [
    f"face_recognition/examples/{name}"
    for name in ["obama.jpg", "obama2.jpg", "obama_small.jpg", "obama-240p.jpg", "obama-480p.jpg", "biden.jpg",
                 "two_people.jpg", "lin-manuel-miranda.png", "alex-lacamoire.png"]
]
MAPPINGS = {"mapped": MP_TO_DLIB["short"], "box only": MP_BOX_ONLY["short"], "raw": NO_CALIBRATION}
ENCODED = ("mapped", "raw")  # encodings cost ~70 ms each: the constant mapping is judged by landmarks only
MAX_MEAN_DISTANCE, MAX_DISTANCE = 0.055, 0.3
MIN_MEAN_IOU, MIN_IOU = 0.80, 0.55


def _lfw_sample(data) -> list[str]:  # noqa: ANN001
    """Every LFW_STEP-th of the images (sorted) that DevTest's pairs name and LFW's copy has."""
    root = data("lfw_view1")
    names = set()
    for fields in (row.split() for row in (root / "pairsDevTest.txt").read_text().splitlines()[1:]):
        if len(fields) == 3:  # same person: name, n1, n2
            fields = [fields[0], fields[1], fields[0], fields[2]]
        for person, number in (fields[:2], fields[2:]):
            names.add(f"{person}/{person}_{int(number):04d}.jpg")
    return [f"lfw_view1/images/{name}" for name in sorted(names) if (root / "images" / name).exists()][::LFW_STEP]


@dataclass
class Agreement:
    """Per face found by HOG and matched by BlazeFace, for each mapping: IoU with the
    HOG box, how far dlib's 5 landmarks move (fraction of the eye distance) and
    how far the encoding moves, against the HOG box's."""

    iou: dict[str, list[float]]
    landmarks: dict[str, list[float]]
    distance: dict[str, list[float]]
    hog_faces: int = 0
    unmatched: int = 0

    def mean(self, measure: str) -> dict[str, float]:
        return {name: float(np.mean(values)) for name, values in getattr(self, measure).items() if values}


@pytest.fixture(scope="module")
def agreement(hog: FaceAnalyzer, encoder: FaceEncoder, rgb, data) -> Agreement:  # noqa: ANN001
    detectors = {name: MediapipeDetector("short", 0.5, mapping) for name, mapping in MAPPINGS.items()}
    result = Agreement(*({name: [] for name in MAPPINGS} for _ in range(3)))
    for path in _lfw_sample(data) + EXAMPLES:
        image = rgb(path)
        hog_boxes = [d.box for d in hog.detect(image, "rgb")]
        hog_boxes = hog_boxes[:1] if path.startswith("lfw") else hog_boxes  # LFW: the centre (largest) face
        result.hog_faces += len(hog_boxes)
        found = {name: [d.box for d in detector.detect(image)] for name, detector in detectors.items()}
        for hog_box in hog_boxes:
            boxes = {name: _match(hog_box, candidates) for name, candidates in found.items()}
            if None in boxes.values():
                result.unmatched += 1
            else:
                _measure(result, image, hog_box, boxes, encoder)
    return result


def _measure(result: Agreement, image: np.ndarray, hog_box: FaceBox, boxes: dict, encoder: FaceEncoder) -> None:
    reference = _landmarks(image, hog_box)
    eye_distance = np.linalg.norm(reference[:2].mean(axis=0) - reference[2:4].mean(axis=0))
    for name, box in boxes.items():
        result.iou[name].append(iou(hog_box, box))
        moved = np.linalg.norm(_landmarks(image, box) - reference, axis=1)
        result.landmarks[name].append(float(moved.mean() / eye_distance))
    encodings = encoder.encode(image, [hog_box, *(boxes[name] for name in ENCODED)])
    for name, encoding in zip(ENCODED, encodings[1:]):
        result.distance[name].append(float(np.linalg.norm(encoding - encodings[0])))


def _landmarks(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """dlib's 5 points (two per eye, then the nose) for ``box``: what the encoder aligns on."""
    shape = _shape_predictor()(image, models._dlib().rectangle(box.left, box.top, box.right, box.bottom))
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)


@lru_cache(maxsize=1)
def _shape_predictor():  # noqa: ANN202 - dlib.shape_predictor
    return models.load_shape_predictor("small")


def test_blazeface_finds_the_hog_faces(agreement: Agreement) -> None:
    assert agreement.hog_faces >= 100 and agreement.unmatched <= 3, (agreement.hog_faces, agreement.unmatched)


def test_mapped_box_encodes_like_the_hog_box(agreement: Agreement) -> None:
    distances = np.array(agreement.distance["mapped"])
    assert distances.mean() <= MAX_MEAN_DISTANCE and distances.max() <= MAX_DISTANCE, distances


def test_mapping_beats_the_raw_box(agreement: Agreement) -> None:
    distance, landmarks, overlap = agreement.mean("distance"), agreement.mean("landmarks"), agreement.mean("iou")
    assert distance["mapped"] < distance["raw"], distance
    assert max(landmarks["mapped"], landmarks["box only"]) < landmarks["raw"], landmarks
    assert overlap["mapped"] > overlap["box only"] > overlap["raw"], overlap


def test_mapped_box_overlaps_the_hog_box(agreement: Agreement) -> None:
    ious = np.array(agreement.iou["mapped"])
    assert ious.mean() >= MIN_MEAN_IOU and ious.min() >= MIN_IOU, ious

