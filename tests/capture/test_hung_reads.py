"""A read that never returns leaves one stuck thread per camera, never one more per reconnect.

The device is a test double (a USB read with no timeout is what it stands
for): its read blocks in the camera's own thread on a ``threading.Event``.
The supervisor, its threads, its timeouts and its backoff are the real ones.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from capture_helpers import Consumer, stop, until
from structlog.testing import capture_logs

from face01d.capture import Camera, CameraThread, slot_for
from face01d.capture import camera as camera_module
from face01d.config.models import CameraConfig

FRAME = np.zeros((8, 8, 3), dtype=np.uint8)
FRAMES_BEFORE_HANG = 3
FRAME_INTERVAL_S = 0.02
WATCH_S = 1.5  # many reconnect periods at the shortened timings below


class StuckDevice:
    """What every connection to the device shares: how often it was opened, and the stuck read's release."""

    def __init__(self) -> None:
        self.opens = 0
        self.reads = 0
        self.release = threading.Event()
        self.hung_once = False


class HangingSource:
    """Gives a few frames, then one read that blocks until ``release`` is set; later connections never hang."""

    fps: float | None = None

    def __init__(self, device: StuckDevice, thread: CameraThread) -> None:
        self._device, self._thread = device, thread

    async def open(self) -> None:
        self._device.opens += 1

    async def read(self) -> np.ndarray | None:
        self._device.reads += 1
        if self._device.reads > FRAMES_BEFORE_HANG and not self._device.hung_once:
            self._device.hung_once = True
            return await self._thread.call(self._blocking_read)
        await asyncio.sleep(FRAME_INTERVAL_S)  # a camera's frame rate: the loop runs between frames
        return FRAME

    async def close(self) -> None:
        await self._thread.call(lambda: None)  # a release, queued behind the read like OpenCV's

    def _blocking_read(self) -> np.ndarray:
        self._device.release.wait()
        return FRAME


@pytest.fixture
def stuck_device(monkeypatch: pytest.MonkeyPatch, fast_retry: None) -> Iterator[StuckDevice]:
    device = StuckDevice()
    monkeypatch.setattr(camera_module, "make_source", lambda config, thread, errors=None: HangingSource(device, thread))
    monkeypatch.setattr(camera_module, "CLOSE_TIMEOUT_S", 0.1)
    yield device
    device.release.set()  # never leave a thread stuck behind the test


def camera_threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == f"camera-{name}"]


async def test_a_hung_read_is_reported_and_no_second_capture_is_opened_until_it_returns(stuck_device: StuckDevice):
    config = CameraConfig(name="usb", source="auto", kind="usb", stall_timeout_s=0.2, reconnect_max_s=0.2)
    slot = slot_for(config)
    camera, consumer = Camera(config, slot), Consumer(slot)
    task = asyncio.create_task(camera.run())
    with capture_logs() as logs:
        await until(lambda: camera.stats.read_hung, 10, "the hung read to be noticed")
        await asyncio.sleep(WATCH_S)
        assert stuck_device.opens == 1, "a camera whose read is hung opened another capture"
        assert len(camera_threads("usb")) == 1
        stats = camera.stats_dict()
        assert stats["hung_reads"] == 1 and stats["read_hung"] and "read hung" in stats["error"]
        assert [e for e in logs if e["event"] == "camera read hung, abandoned to its thread"]
        assert len([e for e in logs if e["event"] == "camera read still hung"]) >= 2  # it keeps reporting

        stuck_device.release.set()
        await until(lambda: stuck_device.opens == 2, 10, "a reconnect once the read returned")
        await consumer.wait_for(FRAMES_BEFORE_HANG + 3)
    await stop(task)
    assert camera.stats.hung_reads == 1 and not camera.stats.read_hung
    assert any(e["event"] == "hung camera read returned, reconnecting" for e in logs)
