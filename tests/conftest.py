"""Shared fixtures. Test data comes from ../shared/data (or $FACE01D_DATA);
a missing file fails the test and says where it looked, never skips it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.broker import *  # noqa: E402,F401,F403  (mosquitto fixtures)
from support.servers import *  # noqa: E402,F401,F403  (RTSP / MJPEG / snapshot camera servers)

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Where the third-party test data lives."""
    return Path(os.environ.get("FACE01D_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


def require_data(relative: str) -> Path:
    """The path of a data file or folder, or a failure naming where it was looked for."""
    path = data_root() / relative
    if not path.exists():
        pytest.fail(f"test data missing: {path} (set FACE01D_DATA to the folder holding shared/data's content)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Gallery caches, MQTT outboxes (anything XDG) of this run, daemons included, stay in a temp dir."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))  # MQTT outboxes
    os.environ.pop("STATE_DIRECTORY", None)


@pytest.fixture(scope="session")
def data() -> "DataPaths":
    return DataPaths()


class DataPaths:
    """Named paths into the shared test data; each access checks existence."""

    def __call__(self, relative: str) -> Path:
        return require_data(relative)

    @property
    def fr_test_images(self) -> Path:
        return require_data("face_recognition/test_images")

    @property
    def fr_examples(self) -> Path:
        return require_data("face_recognition/examples")

    @property
    def knn_train(self) -> Path:
        return require_data("face_recognition/knn_examples/train")

    @property
    def knn_test(self) -> Path:
        return require_data("face_recognition/knn_examples/test")

    @property
    def face01_gallery(self) -> Path:
        return require_data("face01/gallery")

    @property
    def face01_images(self) -> Path:
        return require_data("face01/images")

    @property
    def kim_video(self) -> Path:
        return require_data("face01/video/kim_jong_un_alone.mp4")
