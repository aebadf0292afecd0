"""``[snapshots] blur_unknown``: a real photo of two people, faces found by the real detector; in the
whole-frame snapshot the stranger's face is obscured and the registered person's is intact."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from face01d.config.models import DetectorConfig, SnapshotConfig
from face01d.events.model import Event, EventType
from face01d.faces import UNKNOWN, FaceBox, Frame
from face01d.sinks.base import TrackView
from face01d.sinks.blur import FrameFaces
from face01d.sinks.outputs import Outputs
from face01d.sinks.snapshots import SnapshotWriter
from face01d.vision.analyzer import FaceAnalyzer


@pytest.fixture(scope="module")
def scene(data) -> tuple[Frame, FaceBox, FaceBox]:
    """obama_and_biden.jpg with its two faces (the largest two HOG finds), left one first."""
    image = cv2.imread(str(data.knn_test / "obama_and_biden.jpg"))
    found = sorted((d.box for d in FaceAnalyzer(DetectorConfig()).detect(image)), key=lambda box: -box.area)
    left, right = sorted(found[:2], key=lambda box: box.left)
    return Frame("door", 40, image, time.time()), left, right


def sharpness(image: np.ndarray, box: FaceBox) -> float:
    """Variance of the Laplacian over the face: high for a face, near zero once obscured."""
    gray = cv2.cvtColor(image[box.top:box.bottom, box.left:box.right], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def known_event(frame: Frame, box: FaceBox) -> Event:
    return Event(type=EventType.RECOGNIZED, node="n", camera=frame.camera, name="Obama", captured_at=frame.captured_at,
                 box=box, track_id="door-1", frame_width=frame.width, frame_height=frame.height)


async def snapshot(tmp_path: Path, frame: Frame, tracks: list[TrackView], event: Event, blur: bool) -> np.ndarray:
    """The whole-frame snapshot written for ``event``, through the daemon's Outputs."""
    writer = SnapshotWriter(SnapshotConfig(dir=tmp_path, save_frame=True, save_face=False, blur_unknown=blur))
    outputs = Outputs([], writer)
    await outputs.start()
    assert outputs.wants_frames(frame.camera) is blur  # the pipeline builds track views only when asked
    if outputs.wants_frames(frame.camera):
        outputs.frame_analysed(frame.camera, frame, tracks)
    outputs.event(event, frame)
    await outputs.stop(30)
    (path,) = tmp_path.rglob("*_frame.jpg")
    return cv2.imread(str(path))


@pytest.mark.parametrize("stranger", [UNKNOWN, None])  # decided a stranger, or not decided yet
async def test_the_stranger_is_blurred_and_the_registered_person_kept(tmp_path: Path, scene, stranger) -> None:
    frame, left, right = scene
    tracks = [TrackView("door-1", left, None), TrackView("door-2", right, stranger)]  # door-1: being decided
    written = await snapshot(tmp_path, frame, tracks, known_event(frame, left), blur=True)
    before_known, before_stranger = sharpness(frame.image, left), sharpness(frame.image, right)
    assert sharpness(written, left) > 0.5 * before_known  # a JPEG of the same face: much the same
    assert sharpness(written, right) < 0.05 * before_stranger
    assert before_stranger > 50  # the measure sees a face where there is one


async def test_without_blur_unknown_every_face_stays(tmp_path: Path, scene) -> None:
    frame, left, right = scene
    tracks = [TrackView("door-1", left, "Obama"), TrackView("door-2", right, UNKNOWN)]
    written = await snapshot(tmp_path, frame, tracks, known_event(frame, left), blur=False)
    assert sharpness(written, right) > 0.5 * sharpness(frame.image, right)


async def test_a_face_not_yet_a_track_is_blurred(tmp_path: Path, scene) -> None:
    """A stranger who walked in a frame ago is not a confirmed track yet: his face goes all the same."""
    frame, left, right = scene
    tracks = [TrackView("door-1", left, "Obama"), TrackView("door-2", right, None, confirmed=False)]
    written = await snapshot(tmp_path, frame, tracks, known_event(frame, left), blur=True)
    assert sharpness(written, right) < 0.05 * sharpness(frame.image, right)
    assert sharpness(written, left) > 0.5 * sharpness(frame.image, left)


def test_an_event_uses_the_boxes_of_its_own_frame_and_the_newest_verdicts() -> None:
    faces = FrameFaces(frames_kept=3)
    old, new = FaceBox(10, 60, 60, 10), FaceBox(10, 90, 60, 40)
    faces.note("door", 5, [TrackView("a", old, None), TrackView("b", FaceBox(0, 9, 9, 0), None)])
    faces.note("door", 6, [TrackView("a", new, "Alice"), TrackView("b", FaceBox(0, 9, 9, 0), UNKNOWN)])
    stranger = Event(type=EventType.UNKNOWN, node="n", camera="door", name=UNKNOWN, captured_at=0.0,
                     box=FaceBox(0, 9, 9, 0), track_id="b")
    assert faces.to_blur(stranger, 5) == (FaceBox(0, 9, 9, 0),)  # frame 5's boxes, Alice named since
    assert faces.to_blur(stranger, 9) == (FaceBox(0, 9, 9, 0),)  # a later frame: the newest before it
    assert faces.to_blur(stranger, 2) == (FaceBox(0, 9, 9, 0),)  # older than any kept: the oldest kept
    unseen = Event(type=EventType.UNKNOWN, node="n", camera="yard", name=UNKNOWN, captured_at=0.0, box=old)
    assert faces.to_blur(unseen, 1) == (old,)  # no tracks known: the stranger's own box still goes
