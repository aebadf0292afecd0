"""HTTP cameras that misbehave, served for real on loopback: each fault is one clear error naming the URL,
never a traceback, a hang or a frame made of garbage; a valid JPEG is used however it is wrapped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import cv2
import numpy as np
import pytest
from capture_helpers import serving
from support.hostile_images import forged_jpeg

from face01d.capture.http_source import MjpegSource, SnapshotSource
from face01d.capture.source import CameraThread, SourceError
from face01d.config.models import CameraConfig

STALL_S = 1.0  # the cameras' stall_timeout_s in these tests
BOUNDARY = "frame"


def a_jpeg() -> bytes:
    image = np.full((48, 64, 3), 200, np.uint8)
    cv2.rectangle(image, (10, 10), (40, 30), (0, 0, 255), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


JPEG = a_jpeg()
GARBAGE = bytes(range(256)) * 8


class FaultyCamera(BaseHTTPRequestHandler):
    """One misbehaviour per path, as real cameras and the proxies in front of them do it."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        route = {
            "/login.html": lambda: self._answer(200, "text/html", b"<html><body>Please log in</body></html>"),
            "/error.jpg": lambda: self._answer(500, "text/plain", b"internal error"),
            "/slow.jpg": self._slow,
            "/trailing.jpg": lambda: self._answer(200, "image/jpeg", JPEG + GARBAGE),
            "/garbage.jpg": lambda: self._answer(200, "image/jpeg", GARBAGE),
            "/stream-html": lambda: self._answer(200, "text/html", b"<html>" + b"x" * 4096 + b"</html>"),
            "/stream-with-garbage": self._stream_with_garbage,
            "/declares-20000.jpg": lambda: self._answer(200, "image/jpeg", forged_jpeg(20000, 20000, 1_100_000)),
            "/declares-9000.jpg": lambda: self._answer(200, "image/jpeg", forged_jpeg(9000, 9000, 1_100_000)),
        }.get(self.path)
        if route is None:
            self._answer(404, "text/plain", b"no such path")
        else:
            route()

    def _answer(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _slow(self) -> None:
        self.server.stopping.wait(STALL_S * 5)  # type: ignore[attr-defined]  # headers come far too late

    def _stream_with_garbage(self) -> None:
        """An MJPEG stream whose parts are separated by junk, one part itself not a JPEG."""
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.end_headers()
        for body in (GARBAGE, JPEG, JPEG):
            self.wfile.write(GARBAGE[:100])  # junk between parts
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
            self.wfile.write(head.encode() + body + b"\r\n")
            self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def faulty_camera() -> Iterator[str]:
    with serving(FaultyCamera) as base:
        yield base.replace("http://", "http://user:s3cret@")


async def snapshot_of(url: str) -> np.ndarray | None:
    config = CameraConfig(name="gate", source=url, kind="snapshot", stall_timeout_s=STALL_S)
    thread = CameraThread("gate")
    source = SnapshotSource(config, thread)
    await source.open()
    try:
        return await asyncio.wait_for(source.read(), STALL_S * 4)
    finally:
        await source.close()
        thread.shutdown()


@pytest.mark.parametrize(("path", "says"), [
    ("/login.html", "is not a decodable image"),
    ("/garbage.jpg", "is not a decodable image"),
    ("/error.jpg", "HTTP 500 from"),
    ("/slow.jpg", "Timeout"),
])
async def test_a_snapshot_fault_is_one_clear_error_naming_the_url_without_its_password(faulty_camera, path, says):
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        await snapshot_of(faulty_camera + path)
    message = str(raised.value)
    assert says in message and path in message and "s3cret" not in message, message
    assert time.monotonic() - started < STALL_S * 3  # a slow server costs the stall timeout, not a hang


async def test_a_valid_jpeg_with_trailing_bytes_is_still_a_frame(faulty_camera):
    image = await snapshot_of(faulty_camera + "/trailing.jpg")
    assert image is not None and image.shape == (48, 64, 3)


async def test_a_snapshot_declaring_too_many_pixels_is_refused_from_its_header(faulty_camera):
    with pytest.raises(SourceError, match=r"declares-20000\.jpg is not a decodable image: .*20000×20000 pixels"):
        await snapshot_of(faulty_camera + "/declares-20000.jpg")


async def test_a_snapshot_over_the_decode_budget_is_decoded_reduced(faulty_camera):
    image = await snapshot_of(faulty_camera + "/declares-9000.jpg")
    assert image is not None and image.shape == (4500, 4500, 3)  # 1/2: 61 MB, within the 64 MiB budget


async def mjpeg_frames(url: str, count: int) -> list[np.ndarray | None]:
    config = CameraConfig(name="hall", source=url, kind="mjpeg", stall_timeout_s=STALL_S)
    thread = CameraThread("hall")
    source = MjpegSource(config, thread)
    await source.open()
    try:
        return [await asyncio.wait_for(source.read(), STALL_S * 4) for _ in range(count)]
    finally:
        await source.close()
        thread.shutdown()


async def test_an_mjpeg_stream_skips_junk_and_parts_that_are_not_jpegs(faulty_camera):
    first, second, end = await mjpeg_frames(faulty_camera + "/stream-with-garbage", 3)
    assert first is not None and second is not None and first.shape == (48, 64, 3)
    assert end is None  # the server ended the stream: the camera reconnects


async def test_an_html_page_instead_of_a_stream_ends_it_without_a_frame(faulty_camera):
    assert await mjpeg_frames(faulty_camera + "/stream-html", 1) == [None]


async def test_an_mjpeg_error_status_is_a_clear_error(faulty_camera):
    with pytest.raises(SourceError, match="HTTP 500 from") as raised:
        await mjpeg_frames(faulty_camera + "/error.jpg", 1)
    assert "/error.jpg" in str(raised.value) and "s3cret" not in str(raised.value)
