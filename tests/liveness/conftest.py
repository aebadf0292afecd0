"""One detector and one Face Mesh for the session, the attack generator, the blink annotations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from face01d.liveness import MeshLandmarker
from face01d.vision.detectors import MediapipeDetector
from support.bench_modules import bench_module

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def landmarker() -> Iterator[MeshLandmarker]:
    with MeshLandmarker() as mesh:
        yield mesh


@pytest.fixture(scope="session")
def detector() -> MediapipeDetector:
    return MediapipeDetector("full", 0.5)


@pytest.fixture(scope="session")
def attacks() -> ModuleType:
    """bench/attacks.py, the attack-set generator (the tests build their photo clips with it)."""
    return bench_module("attacks")


@pytest.fixture(scope="session")
def blink_annotations() -> dict:
    return json.loads((REPO / "bench" / "blinks.json").read_text(encoding="utf-8"))
