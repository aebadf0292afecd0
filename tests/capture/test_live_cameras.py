"""Live cameras against real loopback servers: RTSP over TCP, MJPEG, JPEG snapshots.

Reconnect timings are shortened with ``fast_retry`` (module-level constants).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from capture_helpers import Consumer, stop, until

from face01d.capture import Camera, slot_for
from face01d.config.models import CameraConfig


class Watched:
    """A running camera with its consumer and the availability changes it reported."""

    def __init__(self, **settings: object) -> None:
        self.config = CameraConfig(**settings)
        self.statuses: list[bool] = []
        slot = slot_for(self.config)
        self.camera = Camera(self.config, slot, on_status=lambda name, online: self._status(name, online))
        self.consumer = Consumer(slot)
        self.task = asyncio.create_task(self.camera.run())

    def _status(self, name: str, online: bool) -> None:
        assert name == self.config.name
        self.statuses.append(online)

    async def stop(self) -> None:
        await stop(self.task)
        await asyncio.wait_for(self.consumer.task, 2)


async def test_rtsp_frames_arrive_over_tcp(small_clip: Path, rtsp_camera) -> None:
    server = rtsp_camera(small_clip)  # the relay refuses any transport but TCP
    watched = Watched(name="door", source=server.url, stall_timeout_s=5)
    await watched.consumer.wait_for(5, timeout=30)
    assert watched.consumer.frames[0].image.shape == (180, 320, 3)
    assert watched.statuses == [True]
    await watched.stop()
    assert watched.statuses == [True, False]


@pytest.mark.parametrize("content_length", [True, False])
async def test_mjpeg_frames_arrive(jpegs: list[bytes], mjpeg_server, content_length: bool) -> None:
    server = mjpeg_server(jpegs, fps=15, content_length=content_length)
    watched = Watched(name="hall", source=server.url, kind="mjpeg")
    await watched.consumer.wait_for(5)
    assert watched.consumer.frames[-1].image.shape == (180, 320, 3)
    assert watched.camera.stats.online
    await watched.stop()


async def test_mjpeg_server_that_dies_and_returns_is_reconnected_while_others_deliver(
    jpegs: list[bytes], mjpeg_server, fast_retry: None
) -> None:
    flaky, steady = mjpeg_server(jpegs, fps=15), mjpeg_server(jpegs, fps=15)
    a = Watched(name="flaky", source=flaky.url, kind="mjpeg", reconnect_max_s=0.5)
    b = Watched(name="steady", source=steady.url, kind="mjpeg")
    await a.consumer.wait_for(3)
    flaky.stop()
    await until(lambda: a.statuses == [True, False], 10, "flaky camera offline")
    during = len(b.consumer.frames)
    await asyncio.sleep(1.0)
    assert len(b.consumer.frames) - during >= 5, "the steady camera stopped delivering"
    assert a.camera.stats.reconnects >= 2 and a.camera.stats.error
    flaky.start()
    count = len(a.consumer.frames)
    await until(lambda: len(a.consumer.frames) > count + 2, 10, "frames after reconnection")
    assert a.statuses == [True, False, True]
    assert a.camera.stats.error is None
    await a.stop()
    await b.stop()


async def test_stall_watchdog_reconnects_a_stream_that_stops_without_closing(
    jpegs: list[bytes], mjpeg_server, fast_retry: None
) -> None:
    server = mjpeg_server(jpegs, fps=15)
    watched = Watched(name="stuck", source=server.url, kind="mjpeg", stall_timeout_s=0.5, reconnect_max_s=0.5)
    await watched.consumer.wait_for(3)
    server.paused = True
    await until(lambda: watched.statuses == [True, False], 5, "offline after the stall")
    assert "no frame for 0.5 s" in watched.camera.stats.error
    server.paused = False
    await until(lambda: watched.statuses == [True, False, True], 10, "online again")
    assert server.requests >= 2, "the camera should have opened a new connection"
    await watched.stop()


@pytest.mark.parametrize("auth", ["digest", "basic"])
async def test_snapshot_polling_with_auth(jpegs: list[bytes], snapshot_server, auth: str) -> None:
    server = snapshot_server(jpegs[0], "admin", "s3cret", auth=auth)
    watched = Watched(name="gate", source=server.url, kind="snapshot", snapshot_interval_s=0.1,
                      username="admin", password="s3cret", auth=auth)
    await watched.consumer.wait_for(3)
    assert watched.consumer.frames[0].image.shape == (180, 320, 3)
    assert watched.statuses == [True]
    await watched.stop()


async def test_snapshot_wrong_password_reports_offline_and_retries_slowly(
    jpegs: list[bytes], snapshot_server, fast_retry: None
) -> None:
    server = snapshot_server(jpegs[0], "admin", "s3cret", auth="digest")
    watched = Watched(name="gate", source=server.url, kind="snapshot", snapshot_interval_s=0.1,
                      username="admin", password="wrong-pass", auth="digest")
    await until(lambda: watched.statuses == [False], 5, "offline status")
    error = watched.camera.stats.error
    assert "gate" in error and "401" in error and server.url in error and "wrong-pass" not in error
    await until(lambda: watched.camera.stats.reconnects >= 2, 5, "a second attempt")
    await asyncio.sleep(0.6)  # AUTH_RETRY_S is 0.3 here; plain backoff would retry ~10 times
    assert watched.camera.stats.reconnects <= 5
    assert watched.consumer.frames == []
    await watched.stop()


async def test_rtsp_server_restart_is_reconnected(small_clip: Path, rtsp_camera, fast_retry: None) -> None:
    server = rtsp_camera(small_clip)
    watched = Watched(name="yard", source=server.url, stall_timeout_s=2, reconnect_max_s=0.5)
    await watched.consumer.wait_for(3, timeout=30)
    server.stop()
    await until(lambda: watched.statuses == [True, False], 15, "offline after the server went away")
    server.start()
    count = len(watched.consumer.frames)
    await until(lambda: len(watched.consumer.frames) > count + 2, 30, "frames after the server came back")
    assert watched.statuses == [True, False, True]
    await watched.stop()


async def test_a_usb_device_that_does_not_exist_is_reported_offline() -> None:
    watched = Watched(name="desk", source="/dev/video-face01d-test-none")
    await until(lambda: watched.statuses == [False], 5, "offline status")
    assert "/dev/video-face01d-test-none" in watched.camera.stats.error
    await watched.stop()


async def test_rtsp_stream_that_stalls_is_reconnected(small_clip: Path, rtsp_camera, fast_retry: None) -> None:
    server = rtsp_camera(small_clip)
    watched = Watched(name="porch", source=server.url, stall_timeout_s=1, reconnect_max_s=0.5)
    await watched.consumer.wait_for(3, timeout=30)
    server.paused = True  # the TCP connection stays open; no packet arrives
    await until(lambda: watched.statuses == [True, False], 10, "offline after the stall")
    server.paused = False
    await until(lambda: watched.statuses == [True, False, True], 30, "online again")
    await watched.stop()
