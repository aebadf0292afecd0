"""Gallery fixtures: a real HOG + dlib encoder (face_recognition's defaults),
and galleries built once per session so the slow encoding is paid once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from face01d.config.models import DetectorConfig, DetectorKind
from face01d.gallery import Gallery, GalleryReport, build_gallery
from face01d.vision.analyzer import FaceAnalyzer
from face01d.faces import Face

from gallery_helpers import SETTINGS_KEY


@pytest.fixture(scope="session")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(DetectorConfig(kind=DetectorKind.HOG, upsampling=1), landmarks="small", jitters=1)


@pytest.fixture(scope="session")
def encode_faces(analyzer: FaceAnalyzer) -> Callable[[np.ndarray], Sequence[Face]]:
    """The gallery's injected encoding step: RGB image → faces."""
    return lambda rgb: analyzer.analyze(rgb, color="rgb")


@pytest.fixture(scope="session")
def knn_gallery(data, encode_faces, tmp_path_factory) -> tuple[Gallery, GalleryReport]:
    """knn_examples/train as a folder-per-person gallery (read-only data: cache in tmp)."""
    cache = tmp_path_factory.mktemp("knn-cache")
    return build_gallery(data.knn_train, encode_faces, SETTINGS_KEY, cache_dir=cache)


@pytest.fixture(scope="session")
def face01_gallery(data, encode_faces, tmp_path_factory) -> tuple[Gallery, GalleryReport]:
    cache = tmp_path_factory.mktemp("face01-cache")
    return build_gallery(data.face01_gallery, encode_faces, SETTINGS_KEY, cache_dir=cache)


@pytest.fixture(scope="module")
def huge_face(data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """obama.jpg (910×1137, one face) upscaled to 8000 px wide: 71 Mpx, decoded at 1/8 under the pixel cap."""
    small = cv2.imread(str(data("face_recognition/test_images/obama.jpg")))
    height = 8000 * small.shape[0] // small.shape[1]
    path = tmp_path_factory.mktemp("huge") / "obama_huge.jpg"
    cv2.imwrite(str(path), cv2.resize(small, (8000, height), interpolation=cv2.INTER_LINEAR))
    return path
