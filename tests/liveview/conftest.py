"""Real pictures for the live view: frames of FACE01's Kim Jong-un video, the face found by dlib's HOG.

The box comes from a real detection on the first frame (at a third of the
size, HOG's cost), scaled back to the 1920×1080 frame; the thumbnails are
the gallery's ``NAME_default`` pictures, looked up as ``Gallery.display_images``
does, Japanese file names and all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from face01d.faces import UNKNOWN, FaceBox, Frame
from face01d.sinks.base import TrackView
from face01d.vision.detectors import HogDetector

KIM = "金正恩"
DETECT_SCALE = 3  # detect on a 640×360 copy of the 1920×1080 frame
FRAMES = 12  # frames kept in memory for the streaming tests, fed round and round


@dataclass(frozen=True)
class Scene:
    """A few frames of the video and the face's box in them."""

    frames: tuple[np.ndarray, ...]
    box: FaceBox

    def frame(self, camera: str, index: int) -> Frame:
        return Frame(camera=camera, index=index, image=self.frames[index % len(self.frames)], captured_at=0.0)

    def tracks(self, name: str | None = KIM, percentage: float | None = 99.3) -> list[TrackView]:
        return [TrackView("t1", self.box, name, percentage)]

    def mixed_tracks(self) -> list[TrackView]:
        """The face three times over: known, unknown, undecided (side by side, for the colours)."""
        shift = self.box.width + 40
        return [TrackView("t1", self.box, KIM, 99.3),
                TrackView("t2", self.box.scaled(1.0, dx=shift), UNKNOWN, 41.0),
                TrackView("t3", self.box.scaled(1.0, dx=-shift))]


@pytest.fixture(scope="session")
def scene(data) -> Scene:
    capture = cv2.VideoCapture(str(data.kim_video))
    frames = []
    while len(frames) < FRAMES:
        ok, image = capture.read()
        assert ok, "the video ended early"
        image.flags.writeable = False  # a drawing that writes to the camera's frame fails loudly
        frames.append(image)
    capture.release()
    small = cv2.resize(frames[0], None, fx=1 / DETECT_SCALE, fy=1 / DETECT_SCALE, interpolation=cv2.INTER_AREA)
    found = HogDetector().detect(np.ascontiguousarray(small[:, :, ::-1]))
    assert len(found) == 1, found
    return Scene(tuple(frames), found[0].box.scaled(DETECT_SCALE))


@pytest.fixture(scope="session")
def thumbnail_paths(data) -> Callable[[str], Path | None]:
    """name → NAME_default.* in FACE01's gallery, as ``Gallery.display_images.get``."""
    defaults = {path.name.rsplit("_", 1)[0]: path for path in data.face01_gallery.glob("*_default.*")}
    assert KIM in defaults, defaults
    return defaults.get
