"""analyzer_for_thread: one set of models per thread, same results under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from face01d.config.models import DetectorConfig
from face01d.vision.analyzer import FaceAnalyzer, analyzer_for_thread

CONFIG = DetectorConfig(set_width=640)
IMAGES = ["face_recognition/test_images/obama.jpg", "face_recognition/examples/two_people.jpg"]
ROUNDS = 3


def _worker(image: np.ndarray, barrier: threading.Barrier) -> tuple[list, list[int]]:
    analyzer = analyzer_for_thread(CONFIG)
    assert analyzer_for_thread(CONFIG) is analyzer  # cached for this thread
    barrier.wait()  # both threads analyse at the same time
    results = [analyzer.analyze(image, "rgb") for _ in range(ROUNDS)]
    return results, [id(analyzer), id(analyzer.detector), id(analyzer.encoder)]


def test_two_threads_match_one_thread(rgb) -> None:  # noqa: ANN001
    images = [rgb(path) for path in IMAGES]
    reference = FaceAnalyzer(CONFIG)
    expected = [reference.analyze(image, "rgb") for image in images]
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(_worker, images, [barrier, barrier]))
    for (results, _), want in zip(outcomes, expected):
        assert len(want) >= 1
        for got in results:
            assert [f.box for f in got] == [f.box for f in want]
            np.testing.assert_allclose([f.encoding for f in got], [f.encoding for f in want], atol=1e-6)
    first_ids, second_ids = outcomes[0][1], outcomes[1][1]
    assert not set(first_ids) & set(second_ids)  # no model object shared


def test_settings_are_part_of_the_key() -> None:
    with ThreadPoolExecutor(1) as pool:
        same, other, large = pool.submit(
            lambda: (analyzer_for_thread(CONFIG), analyzer_for_thread(DetectorConfig(set_width=320)),
                     analyzer_for_thread(CONFIG, "large"))
        ).result()
    assert same is not other and same is not large and large.encoder.landmarks == "large"
    assert analyzer_for_thread(DetectorConfig(set_width=640)) is not same  # another thread
