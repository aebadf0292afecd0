"""Failures that show: a crashing read, a truncated file, an endless HTTP body, a read that hangs.

The sources are real (OpenCV on real files, httpx against loopback servers);
only the *failure* is made up, by wrapping a real source's ``read``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from capture_helpers import Consumer, serving, stop, until
from structlog.testing import capture_logs

from face01d.capture import Camera, CameraThread, SourceError, slot_for
from face01d.capture.http_source import MjpegSource, SnapshotSource
from face01d.capture.opencv_source import OpenCVSource
from face01d.config.models import CameraConfig

KIM_FRAMES = 272  # what OpenCV reads, and what the container announces, for the sample video


def raise_after(monkeypatch: pytest.MonkeyPatch, cls: type, frames: int, once: bool = False) -> None:
    """Make ``cls.read`` return ``frames`` real frames, then raise RuntimeError (once, or every time)."""
    real_read, calls = cls.read, {"n": 0}

    async def read(self):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] > frames and (not once or calls["n"] == frames + 1):
            raise RuntimeError("decoder exploded")
        return await real_read(self)

    monkeypatch.setattr(cls, "read", read)


def camera_with_statuses(**settings: object) -> tuple[Camera, Consumer, list[bool]]:
    config = CameraConfig(**settings)
    slot, statuses = slot_for(config), []
    camera = Camera(config, slot, on_status=lambda name, online: statuses.append(online))
    return camera, Consumer(slot), statuses


def failures(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["event"] == "camera failure"]


async def test_a_file_whose_read_raises_ends_failed_with_the_traceback_logged(small_clip, monkeypatch):
    raise_after(monkeypatch, OpenCVSource, frames=5)
    camera, consumer, statuses = camera_with_statuses(name="file", source=str(small_clip), pace="none")
    with capture_logs() as logs:
        await asyncio.wait_for(camera.run(), 30)
    await asyncio.wait_for(consumer.task, 5)
    assert len(consumer.frames) == 5
    stats = camera.stats
    assert stats.failed and "RuntimeError" in stats.error and "decoder exploded" in stats.error
    assert statuses == [True, False]
    [failure] = failures(logs)
    assert failure["log_level"] == "error" and isinstance(failure["exc_info"], RuntimeError)
    assert not any(entry["event"] == "end of video file" for entry in logs)


async def test_a_complete_file_is_not_failed(small_clip):
    camera, consumer, _ = camera_with_statuses(name="file", source=str(small_clip), pace="none")
    await asyncio.wait_for(camera.run(), 30)
    await asyncio.wait_for(consumer.task, 5)
    assert camera.stats.error is None and not camera.stats.failed


@pytest.fixture(scope="module")
def truncated_kim(data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30 % of the sample's bytes: the index (moov) is at the start, so the container
    still announces 272 frames while only 86 can be decoded."""
    whole = data.kim_video.read_bytes()
    path = tmp_path_factory.mktemp("truncated") / "kim_30_percent.mp4"
    path.write_bytes(whole[: len(whole) * 30 // 100])
    return path


async def test_a_truncated_video_is_reported_as_ended_early(truncated_kim: Path):
    camera, consumer, _ = camera_with_statuses(name="cut", source=str(truncated_kim), pace="none")
    with capture_logs() as logs:
        await asyncio.wait_for(camera.run(), 60)
    await asyncio.wait_for(consumer.task, 5)
    read = camera.stats.frames_read
    assert 0 < read < KIM_FRAMES * 0.5
    assert camera.stats.failed and camera.stats.error == f"video ended early: {read} of {KIM_FRAMES} frames"
    [failure] = failures(logs)
    assert failure["log_level"] == "error" and failure["error"] == camera.stats.error


async def test_a_live_camera_whose_read_raises_is_logged_marked_offline_and_reconnected(
    jpegs: list[bytes], mjpeg_server, fast_retry: None, monkeypatch
):
    raise_after(monkeypatch, MjpegSource, frames=3, once=True)
    server = mjpeg_server(jpegs, fps=15)
    camera, consumer, statuses = camera_with_statuses(name="hall", source=server.url, kind="mjpeg",
                                                      reconnect_max_s=0.5)
    task = asyncio.create_task(camera.run())
    with capture_logs() as logs:
        await until(lambda: statuses == [True, False], 10, "offline after the crash")
        error = camera.stats.error
        await until(lambda: statuses == [True, False, True], 10, "online again")
        await consumer.wait_for(6)
    await stop(task)
    assert "RuntimeError" in error and "decoder exploded" in error
    assert not camera.stats.failed  # a live camera is retried, never ended
    assert camera.stats.reconnects >= 1 and camera.stats.error is None
    [failure] = failures(logs)
    assert isinstance(failure["exc_info"], RuntimeError)


# --- snapshot cameras: the body is capped in bytes -----------------------------------


class _EndlessJpeg(BaseHTTPRequestHandler):
    """Answers every GET with an image/jpeg body that never ends (no Content-Length)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        chunk = b"\xff\xd8" + b"\x00" * 65534
        try:
            while not self.server.stopping.is_set():  # type: ignore[attr-defined]
                self.wfile.write(chunk)
        except OSError:  # the client gave up: the point of the test
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endless_jpeg_url() -> Iterator[str]:
    with serving(_EndlessJpeg) as base:
        yield f"{base}/snapshot.jpg"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_an_endless_snapshot_body_fails_the_read_and_memory_stays_bounded(endless_jpeg_url: str):
    config = CameraConfig(name="gate", source=endless_jpeg_url, kind="snapshot")  # max_body_mb: 16 by default
    thread = CameraThread("gate")
    source = SnapshotSource(config, thread)
    before = rss_mb()
    await source.open()
    try:
        for _ in range(3):  # each read is cut at the cap: memory does not grow read after read
            started = time.monotonic()
            with pytest.raises(SourceError, match=r"exceeds the 16777216-byte cap"):
                await asyncio.wait_for(source.read(), 30)
            assert time.monotonic() - started < 10
    finally:
        await source.close()
        thread.shutdown()
    assert rss_mb() - before < 150, f"RSS grew from {before:.0f} MB to {rss_mb():.0f} MB"


async def test_a_snapshot_camera_with_an_endless_body_reports_the_cap(endless_jpeg_url: str, fast_retry: None):
    camera, consumer, statuses = camera_with_statuses(name="gate", source=endless_jpeg_url, kind="snapshot",
                                                      max_body_mb=1)
    task = asyncio.create_task(camera.run())
    await until(lambda: camera.stats.error is not None, 10, "the cap error")
    await stop(task)
    assert "1048576-byte cap" in camera.stats.error and consumer.frames == []


# --- a read that never returns ---------------------------------------------------------


async def test_a_read_that_hangs_forever_does_not_block_stopping(small_clip, monkeypatch):
    never = threading.Event()
    threads: list[threading.Thread] = []

    async def hang(self):  # noqa: ANN001, ANN202 - a USB read with no timeout
        threads.append(self._thread.thread)
        return await self._thread.call(never.wait)

    monkeypatch.setattr(OpenCVSource, "read", hang)
    camera, consumer, statuses = camera_with_statuses(name="usb", source=str(small_clip), pace="none")
    task = asyncio.create_task(camera.run())
    await until(lambda: bool(threads), 10, "the read to start")
    started = time.monotonic()
    await stop(task, within_s=5.0)
    assert time.monotonic() - started < 5.0
    assert statuses == [True, False]
    assert threads[0].is_alive() and threads[0].daemon  # abandoned, and it cannot hold up the exit
    never.set()


def test_a_process_whose_camera_read_hangs_still_exits() -> None:
    script = (
        "import asyncio, threading\n"
        "from face01d.capture.source import CameraThread\n"
        "async def main():\n"
        "    thread = CameraThread('stuck')\n"
        "    read = asyncio.ensure_future(thread.call(threading.Event().wait))\n"
        "    await asyncio.sleep(0.2)\n"
        "    read.cancel()\n"
        "    thread.shutdown()\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr
