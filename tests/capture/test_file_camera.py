"""File cameras: every frame at pace none, dropped frames at native pace, frame_skip, missing files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from capture_helpers import Consumer
from structlog.testing import capture_logs

from face01d.capture import Camera, slot_for
from face01d.config.models import CameraConfig

CLIP_FRAMES = 30  # small_clip: 30 frames, 15 fps, 320×180


def file_camera(clip: Path, consumer_delay_s: float = 0.0, **settings: object) -> tuple[Camera, Consumer]:
    """A file camera and a consumer that spends ``consumer_delay_s`` on each frame."""
    config = CameraConfig(name="file", source=str(clip), **settings)
    slot = slot_for(config)
    return Camera(config, slot), Consumer(slot, delay_s=consumer_delay_s)


async def test_pace_none_delivers_every_frame_and_ends(small_clip: Path) -> None:
    # a consumer slower than the decoder: the camera must wait, not drop
    camera, consumer = file_camera(small_clip, consumer_delay_s=0.005, pace="none")
    await asyncio.wait_for(camera.run(), 30)
    await asyncio.wait_for(consumer.task, 5)
    assert [f.index for f in consumer.frames] == list(range(CLIP_FRAMES))
    assert consumer.frames[0].image.shape == (180, 320, 3)
    stats = camera.stats_dict()
    assert stats["frames_read"] == CLIP_FRAMES and stats["frames_dropped"] == 0 and stats["error"] is None
    assert stats["online"] is False  # the file ended


async def test_native_pace_plays_in_real_time_and_drops_for_a_slow_consumer(small_clip: Path) -> None:
    config = CameraConfig(name="file", source=str(small_clip), pace="native")
    slot = slot_for(config)
    camera, consumer = Camera(config, slot), Consumer(slot, delay_s=0.3)
    held: list[int] = []
    started = time.monotonic()
    run = asyncio.create_task(camera.run())
    while not run.done():
        held.append(len(slot))
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    await asyncio.wait_for(consumer.task, 5)
    assert elapsed >= 1.7, f"30 frames at 15 fps took only {elapsed:.2f} s"
    assert max(held) <= 1
    assert camera.stats.frames_dropped > 0
    assert len(consumer.frames) + camera.stats.frames_dropped == CLIP_FRAMES


async def test_frame_skip_analyses_one_frame_in_n_plus_one(small_clip: Path) -> None:
    camera, consumer = file_camera(small_clip, pace="none", frame_skip=2)
    await asyncio.wait_for(camera.run(), 30)
    await asyncio.wait_for(consumer.task, 5)
    assert [f.index for f in consumer.frames] == list(range(0, CLIP_FRAMES, 3))
    assert camera.stats.frames_skipped == CLIP_FRAMES - 10


async def test_fps_limit_samples_the_file_on_its_own_timeline(small_clip: Path) -> None:
    camera, consumer = file_camera(small_clip, pace="none", fps_limit=5)
    await asyncio.wait_for(camera.run(), 30)
    await asyncio.wait_for(consumer.task, 5)
    assert [f.index for f in consumer.frames] == list(range(0, CLIP_FRAMES, 3))


async def test_a_missing_file_ends_the_camera_with_an_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-video.mp4"
    camera, consumer = file_camera(missing, pace="none")
    with capture_logs() as logs:
        await asyncio.wait_for(camera.run(), 10)
    await asyncio.wait_for(consumer.task, 1)
    assert consumer.frames == []
    assert str(missing) in camera.stats.error
    errors = [log for log in logs if log["log_level"] == "error"]
    assert errors and errors[0]["camera"] == "file" and str(missing) in errors[0]["error"]


async def test_a_file_that_is_not_a_video_ends_the_camera_with_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    camera, _ = file_camera(junk, pace="none")
    await asyncio.wait_for(camera.run(), 10)
    assert camera.stats.error and str(junk) in camera.stats.error
