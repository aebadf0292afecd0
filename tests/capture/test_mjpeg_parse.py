"""The MJPEG part splitter, fed byte streams cut at awkward places."""

from __future__ import annotations

import pytest

from face01d.capture.http_source import boundary_of, take_jpeg

JPEG_A = b"\xff\xd8" + b"A" * 50 + b"\xff\xd9"
JPEG_B = b"\xff\xd8" + b"B" * 70 + b"\xff\xd9"


def part(jpeg: bytes, length: bool) -> bytes:
    head = b"--cam\r\nContent-Type: image/jpeg\r\n" + (b"Content-Length: %d\r\n" % len(jpeg) if length else b"")
    return head + b"\r\n" + jpeg + b"\r\n"


@pytest.mark.parametrize("length", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_parts_are_split_whatever_the_chunking(length: bool, chunk: int) -> None:
    stream = part(JPEG_A, length) + part(JPEG_B, length)
    buffer, found = bytearray(), []
    for start in range(0, len(stream), chunk):
        buffer += stream[start : start + chunk]
        while (jpeg := take_jpeg(buffer, b"cam")) is not None:
            found.append(jpeg)
    assert found == [JPEG_A, JPEG_B]


def test_boundary_is_read_with_or_without_quotes_and_dashes() -> None:
    assert boundary_of("multipart/x-mixed-replace; boundary=frame") == b"frame"
    assert boundary_of('multipart/x-mixed-replace;boundary="--myboundary"') == b"myboundary"
    assert boundary_of("image/jpeg") is None
