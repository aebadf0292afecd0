"""Files, RTSP and USB cameras through OpenCV's ``VideoCapture``.

Every OpenCV call blocks (RTSP opens can hang for seconds), so each runs in
the camera's own thread (``CameraThread``). RTSP is forced onto TCP: UDP
loses packets on busy links and smears frames.
"""

from __future__ import annotations

import glob
import os
from urllib.parse import quote, urlsplit, urlunsplit

import cv2
import numpy as np

from face01d import native_stderr
from face01d.capture.source import CameraThread, SourceError
from face01d.config.models import CameraConfig, CameraKind
from face01d.urls import redact_url

OPEN_TIMEOUT_MS = 10_000  # RTSP connect + DESCRIBE; module level so tests can shorten it
FALLBACK_FPS = 25.0  # files whose container gives no frame rate


class OpenCVSource:
    """One ``cv2.VideoCapture`` on a file, an RTSP URL or a USB device."""

    def __init__(
        self, config: CameraConfig, thread: CameraThread, errors: native_stderr.DecoderErrors | None = None
    ) -> None:
        self.config = config
        self._errors = errors  # where FFmpeg's error lines during a read are counted
        self.fps: float | None = None
        self.frame_count: int | None = None  # files: what the container says (None if it does not)
        self._thread = thread
        self._capture: cv2.VideoCapture | None = None

    @property
    def description(self) -> str:
        """The source as logs may show it (no password)."""
        return redact_url(str(self.config.source))

    async def open(self) -> None:
        """Open the capture, or raise ``SourceError`` saying what could not be opened."""
        native_stderr.opened(self._errors)
        try:
            self._capture = await self._thread.call(_open, self.config)
        except BaseException:
            native_stderr.closed(self._errors)
            raise
        if self.config.kind is CameraKind.FILE:
            fps = await self._thread.call(self._capture.get, cv2.CAP_PROP_FPS)
            self.fps = fps if 0 < fps < 1000 else FALLBACK_FPS
            count = await self._thread.call(self._capture.get, cv2.CAP_PROP_FRAME_COUNT)
            self.frame_count = int(count) if count > 0 else None

    async def read(self) -> np.ndarray | None:
        """The next frame; None at the end of a file or when a live read fails or times out."""
        if self._capture is None:
            raise SourceError("read before open")
        ok, image = await self._thread.call(_read, self._capture, self._errors)
        return image if ok else None

    async def close(self) -> None:
        """Release the capture in its thread (queued behind a read still running)."""
        capture, self._capture = self._capture, None
        if capture is not None:
            await self._thread.call(_release, capture, self._errors)


def _read(capture: cv2.VideoCapture, errors: native_stderr.DecoderErrors | None) -> tuple[bool, np.ndarray]:
    """In the camera's thread: FFmpeg's lines on fd 2 while this runs are this camera's decoder errors."""
    with native_stderr.reading(errors):
        return capture.read()


def _release(capture: cv2.VideoCapture, errors: native_stderr.DecoderErrors | None) -> None:
    """In the camera's thread: once released, this capture's FFmpeg threads can print no more."""
    capture.release()
    native_stderr.closed(errors)


def _open(config: CameraConfig) -> cv2.VideoCapture:
    if config.kind is CameraKind.USB:
        return _open_usb(config.source)
    if config.kind is CameraKind.RTSP:
        return _open_rtsp(config)
    if not os.path.isfile(str(config.source)):
        raise SourceError(f"video file not found: {config.source}")
    return _checked(cv2.VideoCapture(str(config.source), cv2.CAP_FFMPEG, _decoding(config)),
                    f"cannot open video file {config.source}")


def _decoding(config: CameraConfig) -> list[int]:
    """FFmpeg's thread count (``decode_threads``; 0 leaves FFmpeg's own choice)."""
    return [cv2.CAP_PROP_N_THREADS, config.decode_threads] if config.decode_threads else []


def _open_rtsp(config: CameraConfig) -> cv2.VideoCapture:
    # OpenCV reads these FFmpeg options at each open; a user's own setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    read_ms = int(config.stall_timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms,
              *_decoding(config)]
    url = rtsp_url(config)
    return _checked(cv2.VideoCapture(url, cv2.CAP_FFMPEG, params), f"cannot open RTSP stream {redact_url(url)}")


def rtsp_url(config: CameraConfig) -> str:
    """The RTSP URL with the configured credentials put in, unless it carries its own."""
    parts = urlsplit(str(config.source))
    if config.username is None or parts.username is not None:
        return str(config.source)
    password = config.password.get_secret_value() if config.password else ""
    userinfo = quote(config.username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def _open_usb(source: str | int) -> cv2.VideoCapture:
    if source != "auto":
        device = int(source) if str(source).isdigit() else str(source)
        return _checked(cv2.VideoCapture(device, cv2.CAP_V4L2), f"cannot open USB camera {source}")
    for device in sorted(glob.glob("/dev/video*")):
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if capture.isOpened():
            return capture
        capture.release()
    raise SourceError("no USB camera found: no /dev/video* device could be opened")


def _checked(capture: cv2.VideoCapture, message: str) -> cv2.VideoCapture:
    if not capture.isOpened():
        capture.release()
        raise SourceError(message)
    return capture
