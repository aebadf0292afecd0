"""Failures that show, in-process: the real pipeline, camera and models; only the failure is made up.

A capture that raises, or a video cut short, ends that camera as failed (and
``run --once`` with exit code 4), never as a clean end of file; the systemd
watchdog is withheld while a camera's analysis is stuck; snapshot publishing
keeps at most one frame in flight per camera.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.capture.opencv_source import OpenCVSource
from face01d.config.models import CameraConfig, Config, DetectorConfig, GalleryConfig, MqttConfig, WorkersConfig
from face01d.errors import ExitCode
from face01d.events.model import Event, EventType
from face01d.faces import Frame
from face01d.metrics import Figures, Metrics
from face01d.pipeline import CameraPipeline, Progress, analysis_stuck
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.sinks.mqtt import MqttSink
from face01d.sinks.mqtt_snapshots import MqttSnapshots
from face01d.sinks.outputs import Outputs
from face01d.supervisor import Supervisor, batch_exit_code
from face01d.systemd import SystemdNotifier
from support.recorder import recording
from face01d.workers import ThreadWorkers, VisionSettings

KIM_FRAMES = 272


@pytest.fixture(scope="module")
def gallery(data, tmp_path_factory: pytest.TempPathFactory) -> GalleryConfig:
    return GalleryConfig(path=data.face01_gallery, cache_dir=tmp_path_factory.mktemp("failing-gallery-cache"))


@pytest.fixture(scope="module")
def truncated_kim(data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30 % of the sample's bytes; OpenCV still announces 272 frames (the index is at the start)."""
    whole = data.kim_video.read_bytes()
    path = tmp_path_factory.mktemp("truncated") / "kim_30_percent.mp4"
    path.write_bytes(whole[: len(whole) * 30 // 100])
    return path


def config_for(video: Path, gallery: GalleryConfig) -> Config:
    camera = CameraConfig(name="sample", source=str(video), pace="none")
    return Config(gallery=gallery, detector=DetectorConfig(kind="mediapipe", set_width=640),
                  workers=WorkersConfig(detect="thread", encode="thread", threads=2), mqtt=MqttConfig(enabled=False),
                  cameras=[camera])


async def run_pipeline(config: Config) -> tuple[CameraPipeline, list[Event], list[dict], list[bool]]:
    """The whole video through the real pipeline; its events, logs and camera statuses."""
    loaded, _ = await asyncio.to_thread(load_gallery, config.gallery)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=2)
    outputs, recorder = recording()
    pipeline = CameraPipeline(config.cameras[0], config=config,
                              recognizer=Recognizer(config.detector, config.gallery, loaded), workers=workers,
                              outputs=outputs)
    await workers.start()
    try:
        with capture_logs() as logs:
            await asyncio.wait_for(pipeline.run(), 120)
    finally:
        await workers.stop()
    return pipeline, recorder.events, logs, recorder.statuses


def once_exit_code(pipeline: CameraPipeline) -> int:
    """What ``run --once`` would exit with after this pipeline ended."""
    return int(batch_exit_code([pipeline]))


async def test_a_capture_that_raises_fails_the_camera_and_once_exits_4(data, gallery, monkeypatch):
    real_read, reads = OpenCVSource.read, []

    async def read_then_raise(self):  # noqa: ANN001, ANN202
        reads.append(1)
        if len(reads) > 40:
            raise RuntimeError("decoder exploded")
        return await real_read(self)

    monkeypatch.setattr(OpenCVSource, "read", read_then_raise)
    config = config_for(data.kim_video, gallery)
    pipeline, events, logs, statuses = await run_pipeline(config)
    stats = pipeline.stats()
    assert stats["frames_read"] == 40 and stats["analysed"] == 40  # the frames before the crash were analysed
    assert stats["failed"] is True and "decoder exploded" in stats["error"]
    assert statuses == [True, False]
    [failure] = [entry for entry in logs if entry["event"] == "camera failure"]
    assert failure["log_level"] == "error" and isinstance(failure["exc_info"], RuntimeError)
    assert not any(entry["event"] == "end of video file" for entry in logs)
    assert once_exit_code(pipeline) == int(ExitCode.INPUT)


async def test_a_truncated_video_fails_the_camera_and_once_exits_4(truncated_kim, gallery):
    config = config_for(truncated_kim, gallery)
    pipeline, _events, logs, _ = await run_pipeline(config)
    stats = pipeline.stats()
    assert stats["failed"] is True
    assert stats["error"] == f"video ended early: {stats['frames_read']} of {KIM_FRAMES} frames"
    assert any(entry["event"] == "camera failure" and entry["log_level"] == "error" for entry in logs)
    assert once_exit_code(pipeline) == int(ExitCode.INPUT)


async def test_the_whole_video_ends_cleanly_and_once_exits_0(data, gallery):
    config = config_for(data.kim_video, gallery)
    pipeline, events, logs, _ = await run_pipeline(config)
    assert pipeline.stats()["analysed"] == KIM_FRAMES and pipeline.stats()["failed"] is False
    assert any(entry["event"] == "end of video file" for entry in logs)
    assert [event.name for event in events if event.type is EventType.LEFT]  # the end of the file: "left"
    assert once_exit_code(pipeline) == int(ExitCode.OK)


# --- the watchdog ----------------------------------------------------------------------


def test_the_watchdog_decision():
    running = Progress(analysed=10, admitted=12, waiting=False, active=True)
    assert not analysis_stuck(None, running)  # nothing to compare with yet
    assert not analysis_stuck(running, Progress(11, 13, True, True))  # analysis moved
    assert analysis_stuck(running, Progress(10, 20, True, True))  # frames came, none analysed
    assert analysis_stuck(running, Progress(10, 12, True, True))  # one has been waiting all along
    assert not analysis_stuck(running, Progress(10, 12, False, True))  # no new frame (a slow snapshot camera)
    assert not analysis_stuck(running, Progress(10, 20, True, False))  # offline / reconnecting / ended


async def test_a_hung_worker_pool_withholds_the_watchdog_and_names_the_camera(data, gallery):
    """The real pipeline on the sample video at its own pace; the detector never answers."""
    camera = CameraConfig(name="door", source=str(data.kim_video), pace="native")
    config = Config(gallery=gallery, detector=DetectorConfig(kind="mediapipe", set_width=640),
                    mqtt=MqttConfig(enabled=False), cameras=[camera])
    loaded, _ = await asyncio.to_thread(load_gallery, gallery)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=1)
    hung = asyncio.Event()

    async def detect_hangs(*args):  # noqa: ANN002, ANN202 - a worker pool that never answers
        await hung.wait()
        return []

    workers.detect = detect_hangs  # type: ignore[method-assign]
    pipeline = CameraPipeline(camera, config=config, recognizer=Recognizer(config.detector, gallery, loaded),
                              workers=workers, outputs=Outputs([]))
    supervisor = Supervisor(SystemdNotifier(), workers, Metrics(Figures))
    supervisor.watch([pipeline])
    task = asyncio.create_task(pipeline.run())
    try:
        deadline = time.monotonic() + 10
        while pipeline.camera.stats.frames_read < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert supervisor.stuck_cameras() == []  # the first check only records
        await asyncio.sleep(0.5)  # 15 frames at 30 fps arrive; none is analysed
        assert supervisor.stuck_cameras() == ["door"]
    finally:
        hung.set()
        await pipeline.stop_capture()
        await task
    assert supervisor.stuck_cameras() == []  # ended: honestly not running


# --- snapshot publishing is bounded -------------------------------------------------------


async def test_snapshot_publishing_keeps_one_frame_in_flight_per_camera():
    mqtt = MqttSink(MqttConfig(publish_snapshots=True), "n", cameras=["a", "b"], people=["x"])
    publisher = MqttSnapshots(mqtt, jpeg_quality=90)
    image = np.zeros((1080, 1920, 3), np.uint8)

    def recognized(camera: str) -> None:
        event = Event(type=EventType.RECOGNIZED, node="n", camera=camera, name="x", captured_at=time.time())
        publisher.publish_event(event, Frame(camera=camera, index=0, image=image, captured_at=time.time()))

    for camera in ["a"] * 50 + ["b"] * 50:
        recognized(camera)
    pending = [task for task in asyncio.all_tasks() if task.get_name().startswith("snapshot-publish:")]
    assert len(pending) == 2 and publisher.dropped == 98
    await publisher.stop(10.0)
    recognized("a")
    assert [t for t in asyncio.all_tasks() if t.get_name() == "snapshot-publish:a"]  # free again
    await publisher.stop(10.0)
    assert mqtt.stats["queued"] == 0  # snapshots are state messages, never events in the outbox
