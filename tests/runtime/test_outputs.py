"""The runtime's one door to its outputs: every output gets the news, a broken one costs only itself,
and analysed frames reach only an output that asks for them (a live view being watched)."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from face01d.config.models import CameraConfig, Config, DetectorConfig, GalleryConfig, WorkersConfig
from face01d.events.model import Event, EventType
from face01d.faces import UNKNOWN, Frame
from face01d.pipeline import CameraPipeline
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.sinks.base import Sink
from face01d.sinks.outputs import Outputs
from face01d.workers import ThreadWorkers, VisionSettings
from support.recorder import Recorder

KIM = "金正恩"


class Broken(Sink):
    """An output with a bug in every hook it has."""

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        raise RuntimeError("broken output")

    def presence(self, camera: str, present: frozenset[str]) -> None:
        raise RuntimeError("broken output")


def test_a_broken_output_costs_only_itself_and_is_logged_once_per_kind_of_news():
    broken, recorder = Broken(), Recorder()
    outputs = Outputs([broken, recorder])
    event = Event(type=EventType.UNKNOWN, node="n", camera="door", name=UNKNOWN, captured_at=time.time())
    with capture_logs() as logs:
        for _ in range(3):
            outputs.event(event, None)
            outputs.presence("door", frozenset({KIM}))
    assert len(recorder.events) == 3 and len(recorder.presence_seen) == 3
    assert outputs.failures == 6
    assert sorted(e["news"] for e in logs if e["event"] == "output failed") == ["event", "presence"]


async def test_outputs_stop_in_reverse_order():
    stopped: list[str] = []

    class Named(Sink):
        def __init__(self, name: str) -> None:
            self.name = name

        async def stop(self, timeout: float) -> None:
            stopped.append(self.name)

    await Outputs([Named("mqtt"), Named("mqtt snapshots")]).stop(1.0)
    assert stopped == ["mqtt snapshots", "mqtt"]  # the one built on the other stops first


async def test_analysed_frames_reach_only_an_output_that_wants_them(data, tmp_path):
    gallery = GalleryConfig(path=data.face01_gallery, cache_dir=tmp_path / "cache")
    camera = CameraConfig(name="sample", source=str(data.kim_video), pace="none")
    config = Config(gallery=gallery, detector=DetectorConfig(kind="mediapipe", set_width=640),
                    workers=WorkersConfig(detect="thread", encode="thread", threads=2), cameras=[camera])
    loaded, _ = await asyncio.to_thread(load_gallery, gallery)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=2)
    watching, headless = Recorder(frames_wanted=True), Recorder()
    pipeline = CameraPipeline(camera, config=config, recognizer=Recognizer(config.detector, gallery, loaded),
                              workers=workers, outputs=Outputs([watching, headless]))
    await workers.start()
    try:
        await asyncio.wait_for(pipeline.run(), 120)
    finally:
        await workers.stop()
    assert headless.frames == [] and len(headless.presence_seen) == pipeline.stats()["analysed"]
    assert len(watching.frames) == pipeline.stats()["analysed"]
    named = [view for _, views in watching.frames for view in views if view.name == KIM]
    assert named and all(view.percentage is not None and view.percentage > 90 for view in named)
    undecided = [view for _, views in watching.frames for view in views if view.name is None and view.confirmed]
    assert undecided, "a track is drawn before its verdict, without a name"
    first_face = next(views for _, views in watching.frames if views)
    assert [view.confirmed for view in first_face] == [False], "a face's first frame is told of, to be blurred"
    assert [e.name for e in watching.events if e.type is EventType.RECOGNIZED][:1] == [KIM]
