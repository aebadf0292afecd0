"""Matching: real probes against the knn gallery, and the distance maths."""

from __future__ import annotations

import numpy as np
import pytest
import face_recognition

from face01d.faces import UNKNOWN
from face01d.gallery import Gallery, Match, Matcher
from face01d.similarity import distance_to_percentage

PROBES = {
    "obama1.jpg": ["obama"],
    "alex_lacamoire1.jpg": ["alex_lacamoire"],
    "johnsnow_test1.jpg": ["kit_harington"],
    # HOG (face_recognition's too) also finds a girl in the lower right: not registered.
    "obama_and_biden.jpg": [UNKNOWN, "biden", "obama"],
    "kit_with_rose.jpg": ["kit_harington", "rose_leslie"],
}


@pytest.fixture(scope="module")
def probe_encodings(data, analyzer):
    from face01d.vision.image import load_image

    return {name: np.array([f.encoding for f in analyzer.analyze(load_image(data.knn_test / name), color="rgb")])
            for name in PROBES}


def test_every_knn_probe_is_identified(knn_gallery, probe_encodings) -> None:
    matcher = Matcher(knn_gallery[0], tolerance=0.6)
    for name, expected in PROBES.items():
        matches = matcher.match(probe_encodings[name])
        assert sorted(m.name for m in matches) == expected, name
        for match in matches:
            assert (match.distance <= 0.6) == match.known
            assert match.percentage == pytest.approx(distance_to_percentage(match.distance))


def test_beyond_tolerance_is_unknown(knn_gallery, probe_encodings) -> None:
    gallery = knn_gallery[0]
    keep = [i for i, n in enumerate(gallery.names) if n != "biden"]
    no_biden = Gallery(gallery.encodings[keep], tuple(gallery.names[i] for i in keep),
                       tuple(gallery.paths[i] for i in keep))
    matches = Matcher(no_biden, tolerance=0.6).match(probe_encodings["obama_and_biden.jpg"])
    assert sorted(m.name for m in matches) == [UNKNOWN, UNKNOWN, "obama"]
    unknown = min((m for m in matches if m.name == UNKNOWN), key=lambda m: m.distance)
    assert unknown.distance > 0.6 and unknown.percentage < distance_to_percentage(0.6)
    strict = Matcher(gallery, tolerance=0.01).match(probe_encodings["obama1.jpg"])
    assert [m.name for m in strict] == [UNKNOWN] and not strict[0].known


def test_distances_equal_face_recognitions(knn_gallery, probe_encodings) -> None:
    gallery = knn_gallery[0]
    probes = probe_encodings["kit_with_rose.jpg"]
    ours = Matcher(gallery, 0.6).distances(probes)
    theirs = np.array([face_recognition.face_distance(gallery.encodings, p) for p in probes])
    np.testing.assert_allclose(ours, theirs, atol=1e-7)


def test_best_of_a_persons_images_and_tolerance_edge() -> None:
    encodings = np.zeros((3, 128))
    encodings[0, 0], encodings[1, 0], encodings[2, 1] = 0.9, 0.3, 0.5  # a: two images, b: one
    matcher = Matcher(Gallery(encodings, ("a", "a", "b"), ("a1", "a2", "b1")), tolerance=0.5)
    probe = np.zeros((2, 128))
    probe[1, 1] = 1.0
    matches = matcher.match(probe)
    assert matches[0] == Match("a", pytest.approx(0.3), pytest.approx(distance_to_percentage(0.3)))
    assert matches[1].name == "b" and matches[1].distance == pytest.approx(0.5)  # ≤ tolerance matches


def test_empty_input_and_bad_tolerance(knn_gallery) -> None:
    matcher = Matcher(knn_gallery[0], 0.6)
    assert matcher.match(np.zeros((0, 128))) == []
    with pytest.raises(ValueError):
        Matcher(knn_gallery[0], 0.0)
