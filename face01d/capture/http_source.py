"""HTTP cameras: an MJPEG stream (``multipart/x-mixed-replace``) or a JPEG polled at an interval.

The network side is httpx on the event loop; only decoding (CPU work) goes to
the camera's thread, through ``decode_frame``, the decode every image takes:
sized from its header and bounded in memory, so a part declaring 9,000 ×
9,000 pixels is decoded at 1/2 and one declaring 20,000 × 20,000 is skipped,
never decoded into 1.2 GB. Credentials go through ``httpx.BasicAuth`` or
``httpx.DigestAuth`` and never into a log line.

Bodies are bounded in bytes (``max_body_mb``, 16 MB by default): a snapshot
body or an MJPEG part that grows beyond it is a broken or hostile server, and
the read fails with a ``SourceError`` instead of growing memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

import httpx
import numpy as np

from face01d.capture.source import CameraThread, SourceAuthError, SourceError
from face01d.config.models import CameraConfig
from face01d.errors import ImageReadError
from face01d.urls import redact_url
from face01d.decoding import decode_frame

CONNECT_TIMEOUT_S = 10.0
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


def _auth(config: CameraConfig) -> httpx.Auth | None:
    if config.username is None:
        return None
    password = config.password.get_secret_value() if config.password else ""
    if config.auth == "digest":
        return httpx.DigestAuth(config.username, password)
    return httpx.BasicAuth(config.username, password)


def _client(config: CameraConfig) -> httpx.AsyncClient:
    timeout = httpx.Timeout(config.stall_timeout_s, connect=CONNECT_TIMEOUT_S)
    return httpx.AsyncClient(auth=_auth(config), timeout=timeout, follow_redirects=True)


def _check_status(response: httpx.Response, url: str) -> None:
    """Turn a refusal into an error that names the URL (without password) and the cause."""
    if response.status_code in (401, 403):
        raise SourceAuthError(f"HTTP {response.status_code} from {redact_url(url)}: check username, password and auth")
    if response.status_code >= 400:
        raise SourceError(f"HTTP {response.status_code} from {redact_url(url)}")


def max_body_bytes(config: CameraConfig) -> int:
    """The largest snapshot body or MJPEG part accepted: a bigger "JPEG" is a broken stream, not a frame."""
    return int(config.max_body_mb * 1024 * 1024)


async def read_capped(response: httpx.Response, limit: int, url: str) -> bytes:
    """A streamed response's body, or ``SourceError`` as soon as it announces or reaches more than ``limit`` bytes."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise SourceError(f"snapshot {redact_url(url)} announces {announced} bytes, over the {limit}-byte cap")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise SourceError(f"snapshot {redact_url(url)} body exceeds the {limit}-byte cap (max_body_mb)")
    return bytes(body)


class MjpegSource:
    """A ``multipart/x-mixed-replace`` stream of JPEG parts."""

    fps: float | None = None

    def __init__(self, config: CameraConfig, thread: CameraThread) -> None:
        self.config, self.url = config, str(config.source)
        self._thread = thread
        self._client: httpx.AsyncClient | None = None
        self._response: httpx.Response | None = None
        self._parts: AsyncIterator[bytes] | None = None

    async def open(self) -> None:
        self._client = _client(self.config)
        try:
            self._response = await self._client.send(self._client.build_request("GET", self.url), stream=True)
            _check_status(self._response, self.url)
        except httpx.HTTPError as error:
            raise SourceError(f"cannot open MJPEG stream {redact_url(self.url)}: {error!r}") from error
        boundary = boundary_of(self._response.headers.get("content-type", ""))
        self._parts = jpeg_parts(self._response.aiter_bytes(), boundary, max_body_bytes(self.config))

    async def read(self) -> np.ndarray | None:
        """The next decodable JPEG part; None when the server ends the stream."""
        if self._parts is None:
            raise SourceError("read before open")
        try:
            async for jpeg in self._parts:
                with contextlib.suppress(ImageReadError):  # no JPEG, or refused: the next part may be one
                    return await self._thread.call(decode_frame, jpeg, "the part")
        except httpx.HTTPError as error:
            raise SourceError(f"MJPEG stream {redact_url(self.url)} failed: {error!r}") from error
        return None

    async def close(self) -> None:
        response, client, self._response, self._client = self._response, self._client, None, None
        if response is not None:
            await response.aclose()
        if client is not None:
            await client.aclose()


def boundary_of(content_type: str) -> bytes | None:
    """The multipart boundary of a Content-Type, without the ``--`` some cameras put in it."""
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1).strip().removeprefix("--").encode() if match else None


async def jpeg_parts(
    chunks: AsyncIterator[bytes], boundary: bytes | None, max_part: int = 16 * 1024 * 1024
) -> AsyncIterator[bytes]:
    """Split a multipart byte stream into JPEG payloads, none bigger than ``max_part`` bytes."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while (jpeg := take_jpeg(buffer, boundary)) is not None:
            yield jpeg
        if len(buffer) > max_part:
            raise SourceError(f"no JPEG found in {len(buffer)} bytes of MJPEG stream")


def take_jpeg(buffer: bytearray, boundary: bytes | None) -> bytes | None:
    """Remove and return the first complete JPEG part of ``buffer``, or None if none is complete yet.

    A part with a Content-Length is cut by it; without one (some cameras omit
    it) the JPEG is found by its start (SOI) and end (EOI) markers.
    """
    start = buffer.find(b"--" + boundary) if boundary else -1
    if start >= 0:
        head_end = buffer.find(b"\r\n\r\n", start)
        if head_end < 0:
            return None
        match = re.search(rb"content-length:\s*(\d+)", bytes(buffer[start:head_end]), re.IGNORECASE)
        if match:
            body, length = head_end + 4, int(match.group(1))
            if len(buffer) < body + length:
                return None
            jpeg = bytes(buffer[body : body + length])
            del buffer[: body + length]
            return jpeg
    return _take_by_markers(buffer)


def _take_by_markers(buffer: bytearray) -> bytes | None:
    soi = buffer.find(_SOI)
    if soi < 0:
        return None
    eoi = buffer.find(_EOI, soi + 2)
    if eoi < 0:
        return None
    jpeg = bytes(buffer[soi : eoi + 2])
    del buffer[: eoi + 2]
    return jpeg


class SnapshotSource:
    """A camera that serves one JPEG per GET, fetched every ``snapshot_interval_s``."""

    fps: float | None = None

    def __init__(self, config: CameraConfig, thread: CameraThread) -> None:
        self.config, self.url = config, str(config.source)
        self._thread = thread
        self._client: httpx.AsyncClient | None = None
        self._next_at = 0.0

    async def open(self) -> None:
        """Only builds the client: the first ``read`` fetches at once and reports refusals."""
        self._client = _client(self.config)
        self._next_at = time.monotonic()

    async def read(self) -> np.ndarray | None:
        if self._client is None:
            raise SourceError("read before open")
        await asyncio.sleep(max(0.0, self._next_at - time.monotonic()))
        self._next_at = max(self._next_at + self.config.snapshot_interval_s, time.monotonic())
        try:
            async with self._client.stream("GET", self.url) as response:
                _check_status(response, self.url)
                body = await read_capped(response, max_body_bytes(self.config), self.url)
        except httpx.HTTPError as error:
            raise SourceError(f"snapshot {redact_url(self.url)} failed: {error!r}") from error
        try:
            return await self._thread.call(decode_frame, body, "the body")
        except ImageReadError as error:
            raise SourceError(f"snapshot {redact_url(self.url)} is not a decodable image: {error}") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
