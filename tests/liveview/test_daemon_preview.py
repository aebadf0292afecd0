"""The live view inside a real daemon: a video camera, the real models, the server's token, an MJPEG read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from face01d.app import Daemon
from face01d.config.models import (CameraConfig, Config, DaemonConfig, DetectorConfig, GalleryConfig, HttpConfig,
                                   MqttConfig, PreviewConfig, SnapshotConfig, WorkersConfig)
from face01d.errors import ConfigError
from face01d.config.loader import load_config
from support.mjpeg import MjpegReader, decode

TOKEN = "watch-me"
WIDTH = 640


async def wait_for(condition, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_watched_camera_streams_drawn_frames_and_an_unwatched_one_draws_nothing(data, tmp_path: Path):
    camera = CameraConfig(name="door", source=str(data.kim_video), pace="native")
    config = Config(daemon=DaemonConfig(lock_file=tmp_path / "lock"),
                    gallery=GalleryConfig(path=data.face01_gallery, cache_dir=tmp_path / "cache"),
                    detector=DetectorConfig(kind="mediapipe", set_width=640),
                    workers=WorkersConfig(detect="thread", encode="thread", threads=1),
                    mqtt=MqttConfig(enabled=False), snapshots=SnapshotConfig(enabled=False),
                    http=HttpConfig(enabled=True, port=0, token=TOKEN),
                    preview=PreviewConfig(enabled=True, width=WIDTH, fps=10), cameras=[camera])
    daemon = Daemon(config, None, once=True, stdout_events=False)
    run = asyncio.create_task(daemon.run())
    await wait_for(lambda: daemon.readiness.ready or run.done())
    assert daemon.live_view is not None and daemon.http_port is not None
    await asyncio.sleep(1.0)
    assert daemon.live_view.rendered == 0  # frames analysed for a second, nobody watching: nothing drawn
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.http_port}", timeout=10) as client:
        assert (await client.get("/cameras/door/preview.mjpeg")).status_code == 401
        async with client.stream("GET", "/cameras/door/preview.mjpeg", headers=headers) as response:
            reader = MjpegReader(response)
            pictures = [decode(await reader.next_jpeg()) for _ in range(3)]
    assert all(picture.shape[1] == WIDTH for picture in pictures)
    assert daemon.live_view.rendered >= 3
    await wait_for(lambda: not daemon.live_view.wants_frames("door"), 10)  # the viewer left: drawing stops
    daemon.request_stop("test")
    assert await asyncio.wait_for(run, 60) == 0


def test_a_preview_without_the_server_is_a_config_error(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('[preview]\nenabled = true\n\n[[cameras]]\nname = "door"\nsource = "door.mp4"\n')
    with pytest.raises(ConfigError, match=r"\[http\] enabled = true"):
        load_config(path)
