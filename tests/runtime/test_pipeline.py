"""One camera's pipeline in-process, on the real 1080p sample video and the real models.

These are the tests the tracking design exists for: the right name, once per
track, quickly; and a stranger (金正恩 taken out of the gallery) never named
as somebody else, with either detector. They run the pipeline without the
daemon around it, so they take seconds, not a daemon's start-up.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from face01d.config.models import CameraConfig, Config, DetectorConfig, GalleryConfig, WorkersConfig
from face01d.events.model import Event, EventType
from face01d.pacing import cadence_for, frame_skip_for
from face01d.pipeline import CameraPipeline
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.sinks.outputs import Outputs
from face01d.workers import ThreadWorkers, VisionSettings, make_workers
from support.recorder import recording

KIM = "金正恩"
FIRST_SIGHT_LIMIT_S = 1.0  # first frame with his face → recognized, on the video's timeline


@pytest.fixture(scope="module")
def galleries(data, tmp_path_factory: pytest.TempPathFactory) -> dict[str, GalleryConfig]:
    """The FACE01 gallery, and a copy without 金正恩 (he becomes a stranger)."""
    without = tmp_path_factory.mktemp("gallery-without-kim")
    for image in data.face01_gallery.iterdir():
        if not image.name.startswith(KIM):
            shutil.copy(image, without / image.name)
    cache = tmp_path_factory.mktemp("pipeline-gallery-cache")
    return {
        "with": GalleryConfig(path=data.face01_gallery, cache_dir=cache / "with"),
        "without": GalleryConfig(path=without, cache_dir=cache / "without"),
    }


async def run_sample(video: Path, gallery: GalleryConfig, detector: str) -> tuple[list[Event], float]:
    """Every event the pipeline raises on the whole video, read at pace "none", and the first face's time."""
    camera = CameraConfig(name="sample", source=str(video), pace="none")
    config = Config(gallery=gallery, detector=DetectorConfig(kind=detector, set_width=640), cameras=[camera])
    loaded, _report = await asyncio.to_thread(load_gallery, gallery)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=2)
    outputs, recorder = recording()
    events = recorder.events
    pipeline = CameraPipeline(camera, config=config, recognizer=Recognizer(config.detector, gallery, loaded),
                              workers=workers, outputs=outputs)
    first_face: list[float] = []
    update = pipeline.tracker.update

    def update_and_note_first_face(detections, captured_at, *rest):  # noqa: ANN001, ANN202
        if detections and not first_face:
            first_face.append(captured_at)
        return update(detections, captured_at, *rest)

    pipeline.tracker.update = update_and_note_first_face  # type: ignore[method-assign]
    await workers.start()
    try:
        await pipeline.run()
    finally:
        await workers.stop()
    stats = pipeline.stats()
    assert stats["analysed"] == 272  # pace "none": every frame
    # the window bench/e2e.py counts frames/s over, as the baseline counts its loop
    assert stats["first_frame_at"] < stats["last_analysed_at"] < time.time()
    return events, first_face[0]


def of_type(events: list[Event], kind: EventType) -> list[Event]:
    return [event for event in events if event.type is kind]


@pytest.mark.parametrize("detector", ["mediapipe", "hog"])
async def test_the_sample_names_kim_only_once_per_track_within_a_second(data, galleries, detector: str):
    events, first_face_at = await run_sample(data.kim_video, galleries["with"], detector)
    recognized = of_type(events, EventType.RECOGNIZED)
    assert recognized and {event.name for event in recognized} == {KIM}, [(e.type, e.name) for e in events]
    assert len({event.track_id for event in recognized}) == len(recognized)  # once per track
    first = recognized[0]
    assert first.captured_at - first_face_at <= FIRST_SIGHT_LIMIT_S
    assert first.votes and first.votes >= 2 and first.latency_ms is not None and first.track_id
    assert [e.name for e in of_type(events, EventType.LEFT)] == [KIM]  # the end of the file


@pytest.mark.parametrize("detector", ["mediapipe", "hog"])
async def test_a_stranger_is_never_named(data, galleries, detector: str):
    events, _first_face_at = await run_sample(data.kim_video, galleries["without"], detector)
    assert of_type(events, EventType.RECOGNIZED) == [], [(e.name, e.distance, e.votes) for e in events]
    assert of_type(events, EventType.UNKNOWN), "the stranger is announced as unknown"


def test_auto_frame_skip_matches_the_analysis_time_to_the_camera_rate():
    assert frame_skip_for(0.020, 30.0) == 0  # 20 ms a frame keeps up with 30 fps
    assert frame_skip_for(0.030, 30.0) == 1  # 90 % busy: one in two
    assert frame_skip_for(0.100, 30.0) == 3  # 3.75 frames' worth of time per frame → one in four
    assert frame_skip_for(10.0, 30.0) == 30 and frame_skip_for(0.1, 0.0) == 0  # bounded; no rate yet


def test_the_detection_cadence_follows_the_detector_cost_but_never_drops_below_its_base():
    assert cadence_for(0.010, 30.0, base=1) == 1  # mediapipe alone: every frame
    assert cadence_for(0.027, 30.0, base=1) == 1  # six cameras queueing on one pool: still every frame
    assert cadence_for(0.060, 30.0, base=1) == 1  # dropping the frame between loses no more than predicting it
    assert cadence_for(0.100, 30.0, base=1) == 3  # three frame periods a detection: one in three
    assert cadence_for(0.010, 30.0, base=3) == 3  # HOG's base
    assert cadence_for(5.0, 30.0, base=1) == 10  # bounded


async def test_frame_skip_auto_thins_a_live_camera_that_analysis_cannot_keep_up_with(data):
    """A 1080p30 file at its own pace through full-resolution HOG (hundreds of ms a frame)."""
    camera = CameraConfig(name="live", source=str(data.kim_video), pace="native", frame_skip="auto")
    config = Config(detector=DetectorConfig(kind="hog", upsampling=1, set_width=0, detect_every=1), cameras=[camera])
    workers = ThreadWorkers(VisionSettings(config.detector), threads=1)
    gallery = GalleryConfig(path=data.face01_gallery)
    loaded, _ = await asyncio.to_thread(load_gallery, gallery)
    pipeline = CameraPipeline(camera, config=config, recognizer=Recognizer(config.detector, gallery, loaded),
                              workers=workers, outputs=Outputs([]))
    await workers.start()
    task = asyncio.create_task(pipeline.run())

    def thinned(stats: dict[str, Any]) -> bool:
        return stats["frame_skip"] >= 2 and stats["frames_skipped"] > stats["frames_dropped"]

    deadline = time.monotonic() + 30.0  # about 5 s on a quiet machine; a busy CI box is given longer
    while not task.done() and time.monotonic() < deadline and not thinned(pipeline.stats()):
        await asyncio.sleep(0.5)
    stats = pipeline.stats()
    await pipeline.stop_capture()
    await task
    await workers.stop()
    assert stats["frame_skip"] >= 2, stats  # HOG at 1080p cannot analyse 30 frames a second here
    assert stats["frames_skipped"] > stats["frames_dropped"], stats  # thinned before the slot, not dropped in it


async def test_an_encoding_worker_killed_mid_look_costs_that_look_not_the_camera(data, galleries):
    """The default pools (detection threads, an encoding process); the process is SIGKILLed in its first job."""
    camera = CameraConfig(name="sample", source=str(data.kim_video), pace="none")
    config = Config(gallery=galleries["with"], detector=DetectorConfig(kind="mediapipe", set_width=640),
                    workers=WorkersConfig(detect="thread", encode="process", threads=1, processes=1), cameras=[camera])
    loaded, _ = await asyncio.to_thread(load_gallery, config.gallery)
    workers = make_workers(config.workers, VisionSettings(config.detector))
    outputs, recorder = recording()
    events = recorder.events
    pipeline = CameraPipeline(camera, config=config, recognizer=Recognizer(config.detector, config.gallery, loaded),
                              workers=workers, outputs=outputs)
    encode, killed = workers.encode, []

    async def encode_and_kill_the_first(camera_name, image, boxes):  # noqa: ANN001, ANN202
        if not killed:
            pending = asyncio.ensure_future(encode(camera_name, image, boxes))
            while not workers.encoder.jobs:  # the job has reached the worker
                await asyncio.sleep(0.001)
            [pid] = workers.encoder.jobs
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return await pending
        return await encode(camera_name, image, boxes)

    workers.encode = encode_and_kill_the_first  # type: ignore[method-assign]
    await workers.start()
    try:
        with capture_logs() as logs:
            await pipeline.run()
    finally:
        await workers.stop()
    assert killed and any(record["event"] == "encoding failed" for record in logs)
    assert pipeline.stats()["analysed"] == 272
    assert [e.name for e in of_type(events, EventType.RECOGNIZED)] == [KIM]  # the next looks named him
