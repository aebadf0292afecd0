"""Reading an MJPEG stream (``multipart/x-mixed-replace``) the way a browser does: part by part."""

from __future__ import annotations

import cv2
import httpx
import numpy as np


class MjpegReader:
    """Splits a ``multipart/x-mixed-replace`` body into its JPEG parts by boundary and Content-Length."""

    def __init__(self, response: httpx.Response) -> None:
        kind, _, boundary = response.headers["content-type"].partition("; boundary=")
        assert kind == "multipart/x-mixed-replace" and boundary, response.headers["content-type"]
        self._delimiter = f"--{boundary}\r\n".encode()
        self._chunks = response.aiter_bytes()
        self._buffer = b""

    async def next_jpeg(self) -> bytes:
        head = await self._read_until(b"\r\n\r\n")
        assert head.startswith(self._delimiter), head[:80]
        headers = dict(line.split(": ", 1) for line in head[len(self._delimiter):].decode().split("\r\n") if line)
        assert headers["Content-Type"] == "image/jpeg"
        body = await self._read_exactly(int(headers["Content-Length"]) + 2)
        assert body.endswith(b"\r\n")
        return body[:-2]

    async def rest(self) -> bytes:
        """Everything until the server ends the response."""
        return self._buffer + b"".join([chunk async for chunk in self._chunks])

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._buffer += await anext(self._chunks)
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += await anext(self._chunks)
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return body


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image
