"""One step per frame, driven by hand: ``CameraPipeline.step`` on the real sample's frames and the real models.

The step answers what it did (detected or predicted, the tracks, its events),
and every event it raised went out through the one door (the outputs got it).
The timeline is the pipeline's own setting (by default the camera's), not the slot's guess.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import cv2

from face01d.capture import slot_for
from face01d.config.models import CameraConfig, Config, DetectorConfig, GalleryConfig
from face01d.events.model import EventType
from face01d.faces import Frame
from face01d.pipeline import CameraPipeline, Step
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.timeline import Timeline, timeline_for
from face01d.workers import ThreadWorkers, VisionSettings
from support.recorder import recording

KIM = "金正恩"
FRAMES = 120  # four seconds of the sample: he is found, tracked and named


def frames_of(video: Path, count: int) -> list[Frame]:
    """The first ``count`` frames, stamped on the video's own timeline (30 fps)."""
    capture, frames, start = cv2.VideoCapture(str(video)), [], time.time()
    try:
        while len(frames) < count and (read := capture.read())[0]:
            frames.append(Frame(camera="sample", index=len(frames), image=read[1], captured_at=start + len(frames) / 30))
    finally:
        capture.release()
    return frames


def test_the_timeline_is_the_files_own_only_for_a_file_read_without_pacing() -> None:
    assert timeline_for(CameraConfig(name="f", source="a.mp4", pace="none")) is Timeline.FILE
    assert timeline_for(CameraConfig(name="f", source="a.mp4", pace="native")) is Timeline.WALL
    assert timeline_for(CameraConfig(name="r", source="rtsp://cam/stream")) is Timeline.WALL
    assert slot_for(CameraConfig(name="f", source="a.mp4", pace="none")).drop_stale is False
    assert slot_for(CameraConfig(name="r", source="rtsp://cam/stream")).drop_stale is True


async def test_each_step_says_what_it_did_and_its_events_left_by_the_one_door(data, tmp_path: Path) -> None:
    gallery = GalleryConfig(path=data.face01_gallery, cache_dir=tmp_path / "cache")
    camera = CameraConfig(name="sample", source=str(data.kim_video), pace="none")
    config = Config(gallery=gallery, detector=DetectorConfig(kind="mediapipe", set_width=640), cameras=[camera])
    loaded, _ = await asyncio.to_thread(load_gallery, gallery)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=2)
    outputs, recorder = recording()
    recognizer = Recognizer(config.detector, gallery, loaded)
    pipeline = CameraPipeline(camera, config=config, recognizer=recognizer, workers=workers, outputs=outputs)
    assert pipeline.timeline is Timeline.FILE and pipeline.slot.drop_stale is False
    live = CameraPipeline(camera, config=config, recognizer=recognizer, workers=workers,
                          outputs=outputs, timeline=Timeline.WALL)  # the setting wins over the file's pace
    assert live.timeline is Timeline.WALL and live.slot.drop_stale is True
    frames = await asyncio.to_thread(frames_of, data.kim_video, FRAMES)
    await workers.start()
    try:
        steps: list[Step] = [await pipeline.step(frame) for frame in frames]
        await pipeline.namer.finish()
    finally:
        await workers.stop()
    assert [step.frame for step in steps] == list(range(FRAMES))
    assert sum(step.detected for step in steps) == pipeline.stats()["frames_detected"] > 0
    assert any(step.tracks for step in steps) and all(t.confirmed for step in steps for t in step.tracks)
    stepped = [event for step in steps for event in step.events]
    assert all(event in recorder.events for event in stepped)  # what a step says it raised, the outputs got
    recognized = [event.name for event in recorder.events if event.type is EventType.RECOGNIZED]
    assert recognized == [KIM], [(event.type, event.name) for event in recorder.events]  # named, once

