"""Fixtures of the vision tests: decoded images and models, loaded once per session.

Models are real (no mocks); they are loaded once because each load costs
about a second on the 2-core test machines.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from face01d.config.models import DetectorConfig
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.encoder import FaceEncoder
from face01d.vision.image import load_image



@lru_cache(maxsize=16)
def _load(path: Path) -> np.ndarray:
    image = load_image(path)
    image.flags.writeable = False  # shared between tests: nobody may change it
    return image


@pytest.fixture(scope="session")
def rgb(data):  # noqa: ANN001, ANN201
    """``rgb("face_recognition/test_images/obama.jpg")``: the decoded image, cached."""
    return lambda relative: _load(data(relative))


@pytest.fixture(scope="session")
def hog() -> FaceAnalyzer:
    """HOG with one upsampling pass, 5-point landmarks: face_recognition's defaults."""
    return FaceAnalyzer(DetectorConfig(kind="hog", upsampling=1))


@pytest.fixture(scope="session")
def encoder() -> FaceEncoder:
    return FaceEncoder("small", 1)


