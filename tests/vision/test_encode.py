"""Encodings: face_recognition's documented distances, its own result, variants."""

from __future__ import annotations

import numpy as np
import pytest

from support.face_boxes import OBAMA_BOX
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.encoder import FaceEncoder
from face01d.faces import Detection

IMAGES = {name: f"face_recognition/test_images/{name}.jpg" for name in ("obama", "obama2", "obama3", "biden")}
EXPECTED_FROM_OBAMA = {"obama2": 0.346, "obama3": 0.332, "biden": 0.840}  # data README, dlib 20
SAME_PERSON = 0.6


@pytest.fixture(scope="module")
def faces(hog: FaceAnalyzer, rgb) -> dict:  # noqa: ANN001
    """The single face of each image, detected and encoded by the HOG analyzer."""
    found = {name: hog.analyze(rgb(path), "rgb") for name, path in IMAGES.items()}
    assert all(len(f) == 1 for f in found.values()), {k: [x.box for x in v] for k, v in found.items()}
    return {name: f[0] for name, f in found.items()}


def _distances(encodings: dict[str, np.ndarray]) -> dict[str, float]:
    return {n: float(np.linalg.norm(encodings[n] - encodings["obama"])) for n in EXPECTED_FROM_OBAMA}


def test_documented_distances(faces: dict) -> None:
    assert faces["obama"].box == OBAMA_BOX
    distances = _distances({n: f.encoding for n, f in faces.items()})
    assert distances == pytest.approx(EXPECTED_FROM_OBAMA, abs=0.02)
    assert distances["obama2"] < SAME_PERSON and distances["obama3"] < SAME_PERSON < distances["biden"]


def test_same_as_face_recognition(faces: dict, rgb) -> None:  # noqa: ANN001
    import face_recognition

    for name, face in faces.items():
        theirs = face_recognition.face_encodings(rgb(IMAGES[name]), [face.box.as_tuple()], 1, "small")
        assert face.encoding.shape == (128,) and face.encoding.dtype == np.float64
        np.testing.assert_allclose(face.encoding, theirs[0], atol=1e-6)


def test_batch_equals_one_by_one(encoder: FaceEncoder, hog: FaceAnalyzer, rgb) -> None:  # noqa: ANN001
    image = rgb("face_recognition/examples/two_people.jpg")
    boxes = [d.box for d in hog.detect(image, "rgb")]
    batch = encoder.encode(image, boxes)
    single = np.vstack([encoder.encode(image, [box]) for box in boxes])
    assert batch.shape == (2, 128) and np.linalg.norm(batch[0] - batch[1]) > SAME_PERSON
    np.testing.assert_allclose(batch, single, atol=1e-6)


def test_no_boxes(encoder: FaceEncoder, hog: FaceAnalyzer, rgb) -> None:  # noqa: ANN001
    blank = np.zeros((120, 160, 3), np.uint8)
    assert encoder.encode(blank, []).shape == (0, 128)
    assert hog.analyze(blank) == [] and hog.encode(blank, []) == []


def test_encode_takes_bgr(hog: FaceAnalyzer, faces: dict, rgb) -> None:  # noqa: ANN001
    bgr = rgb(IMAGES["obama"])[:, :, ::-1]
    (face,) = hog.encode(bgr, [Detection(OBAMA_BOX, 1.0)], "bgr")
    np.testing.assert_allclose(face.encoding, faces["obama"].encoding, atol=1e-6)
    (aligned_as_is,) = hog.encode_with_pose(bgr, [OBAMA_BOX], "bgr")  # the frame's channels are not swapped
    (converted,) = hog.encode_with_pose(np.ascontiguousarray(bgr[:, :, ::-1]), [OBAMA_BOX], "rgb")
    assert np.array_equal(aligned_as_is.encoding, converted.encoding) and aligned_as_is.yaw == converted.yaw


def test_large_landmarks_and_jitters_keep_identities(faces: dict, rgb) -> None:  # noqa: ANN001
    encoder = FaceEncoder("large", jitters=2)
    encodings = {n: encoder.encode(rgb(IMAGES[n]), [f.box])[0] for n, f in faces.items()}
    distances = _distances(encodings)
    assert distances["obama2"] < SAME_PERSON and distances["obama3"] < SAME_PERSON < distances["biden"]
    assert not np.allclose(encodings["obama"], faces["obama"].encoding, atol=1e-3)  # really another model


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        FaceEncoder("small", jitters=0)
    with pytest.raises(ValueError):
        FaceEncoder("huge")  # type: ignore[arg-type]


def test_align_then_describe_is_dlibs_own_encoding_bit_for_bit(encoder: FaceEncoder, hog: FaceAnalyzer,
                                                               rgb) -> None:  # noqa: ANN001
    """The halves a node and a ``face01d worker`` split between them (chips cut on one, the network on
    the other) give what face_recognition's one call gives, to the last bit."""
    import face_recognition

    image = rgb("face_recognition/examples/two_people.jpg")
    boxes = [d.box for d in hog.detect(image, "rgb")]
    aligned = encoder.aligner.align(image, boxes)
    assert aligned.chips.shape == (2, 150, 150, 3) and aligned.chips.dtype == np.uint8 and len(aligned.yaws) == 2
    theirs = face_recognition.face_encodings(image, [box.as_tuple() for box in boxes], 1, "small")
    assert all(np.array_equal(mine.encoding, want) for mine, want in zip(encoder.describe(aligned), theirs))
    assert encoder.aligner.align(image, []).chips.shape == (0, 150, 150, 3) and encoder.describe(
        encoder.aligner.align(image, [])) == []


def test_a_bgr_frame_gives_the_same_chips_as_its_rgb_copy(encoder: FaceEncoder, hog: FaceAnalyzer,
                                                          rgb) -> None:  # noqa: ANN001
    """A node aligns the camera's BGR frame as it is: no 1080p colour swap, the same chips."""
    image = rgb("face_recognition/examples/two_people.jpg")
    boxes = [d.box for d in hog.detect(image, "rgb")]
    from_rgb = encoder.aligner.align(image, boxes)
    from_bgr = encoder.aligner.align(image[:, :, ::-1], boxes, "bgr")
    assert np.array_equal(from_rgb.chips, from_bgr.chips) and from_rgb.yaws == from_bgr.yaws
