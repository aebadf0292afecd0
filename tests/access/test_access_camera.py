"""An access camera in-process, on real clips and the real models: a photo of a registered person is
denied (not live), never granted; the genuine clip is granted for him; a camera without ``access``
makes nothing and pays nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import ModuleType

import pytest

from face01d.config.models import AccessConfig, CameraConfig, Config, DetectorConfig, GalleryConfig
from face01d.events.model import Event, EventType
from face01d.pipeline import CameraPipeline
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.workers import ThreadWorkers, VisionSettings
from support.bench_modules import bench_module
from support.event_schema import validate_event
from support.recorder import recording

KIM = "金正恩"


@pytest.fixture(scope="module")
def gallery(data, tmp_path_factory: pytest.TempPathFactory) -> GalleryConfig:
    return GalleryConfig(path=data.face01_gallery, cache_dir=tmp_path_factory.mktemp("access-gallery-cache"))


@pytest.fixture(scope="module")
def attacks() -> ModuleType:
    """bench/attacks.py, the attack-set generator: the photo clip is built with it."""
    return bench_module("attacks")


@pytest.fixture(scope="module")
def photo_clip(attacks, data, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """金正恩's gallery photo printed and held up to a 640×480 camera for 5 s (through ffmpeg)."""
    still = data.face01_gallery / f"{KIM}_default.png"
    spec = attacks.AttackSpec("access-print", str(still), "print", 640, 480, 5.0, seed=11, face_fraction=0.7)
    path = tmp_path_factory.mktemp("access-attack") / "print.mp4"
    attacks.encode(spec, path)
    return path


async def run_camera(
    video: Path, gallery: GalleryConfig, *, access: bool,
) -> tuple[list[Event], CameraPipeline, set[str]]:
    """Every event of the clip read at pace "none"; the pipeline; the names of the threads seen while it ran."""
    camera = CameraConfig(name="door", source=str(video), pace="none", access=access)
    config = Config(gallery=gallery, detector=DetectorConfig(kind="mediapipe"), cameras=[camera],
                    access=AccessConfig())
    loaded, _report = await asyncio.to_thread(load_gallery, gallery)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=2)
    outputs, recorder = recording()
    pipeline = CameraPipeline(camera, config=config, recognizer=Recognizer(config.detector, gallery, loaded),
                              workers=workers, outputs=outputs)
    threads: set[str] = set()

    async def watch_threads() -> None:
        while True:
            threads.update(thread.name for thread in threading.enumerate())
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_threads())
    await workers.start()
    try:
        await pipeline.run()
    finally:
        watcher.cancel()
        await workers.stop()
    for event in recorder.events:
        validate_event(event.to_dict(event.captured_at))
    return recorder.events, pipeline, threads


def of_type(events: list[Event], kind: EventType) -> list[Event]:
    return [event for event in events if event.type is kind]


async def test_a_photo_of_a_registered_person_is_denied_not_live(photo_clip, gallery):  # noqa: ANN001
    events, pipeline, _ = await run_camera(photo_clip, gallery, access=True)
    answers = of_type(events, EventType.ACCESS)
    assert [e.name for e in of_type(events, EventType.RECOGNIZED)] == [KIM]  # the photo *is* him
    assert answers and not any(e.granted for e in answers), [(e.granted, e.reasons) for e in answers]
    first = answers[0]
    assert first.name == KIM and first.reasons == ("not_live",) and first.liveness.state == "not_live"
    assert len({e.track_id for e in answers}) == len(answers)  # once per track
    assert pipeline.stats()["access"]["faces_measured"] > 0


async def test_the_genuine_clip_is_granted_for_him(data, gallery):  # noqa: ANN001
    events, pipeline, threads = await run_camera(data.kim_video, gallery, access=True)
    answers = of_type(events, EventType.ACCESS)
    granted = [e for e in answers if e.granted]
    assert granted and {e.name for e in granted} == {KIM}, [(e.name, e.granted, e.reasons) for e in answers]
    assert granted[0].reasons == () and granted[0].liveness.state == "live"
    assert granted[0].latency_ms is not None and granted[0].latency_ms <= 3000  # first sight at the door → granted
    assert len({e.track_id for e in answers}) == len(answers)  # once per track
    recognized = of_type(events, EventType.RECOGNIZED)
    assert recognized and all(e.liveness is not None for e in recognized)  # computed here: carried
    assert any(name.startswith("liveness:door") for name in threads)
    stats = pipeline.stats()["access"]
    assert stats["granted"] == len(granted) and stats["mesh_ms"]["n"] > 0


async def test_a_camera_without_access_makes_nothing_and_pays_nothing(data, gallery):  # noqa: ANN001
    events, pipeline, threads = await run_camera(data.kim_video, gallery, access=False)
    assert of_type(events, EventType.RECOGNIZED)  # the same clip, the same window: it was recognised ...
    assert not of_type(events, EventType.ACCESS)  # ... and no door answered
    assert all(e.liveness is None for e in events)
    assert pipeline.access is None and "access" not in pipeline.stats()
    assert not any(name.startswith("liveness:") for name in threads)  # no Face Mesh thread, so no mesh
