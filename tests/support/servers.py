"""Loopback camera servers for tests: RTSP (ffmpeg + a TCP relay), HTTP MJPEG, JPEG snapshot.

Every server binds 127.0.0.1 on a free port, can be stopped and started again
on the same port (to test reconnection) or paused (sends nothing but keeps the
connection: a stalled camera), and is stopped at fixture teardown.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest
from support.ports import free_port
from support.rtsp_relay import RtspRelay

__all__ = [
    "MjpegServer",
    "RtspCamera",
    "SnapshotServer",
    "jpeg_frames",
    "make_clip",
    "mjpeg_server",
    "rtsp_camera",
    "small_clip",
    "snapshot_server",
]


def make_clip(src: Path, dst: Path, frames: int = 30, width: int = 320, fps: int = 15) -> Path:
    """A small H.264 clip (keyframe every 5 frames) cut from ``src``, so tests stay cheap."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-an",
           "-vf", f"fps={fps},scale={width}:-2", "-frames:v", str(frames),
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-pix_fmt", "yuv420p", str(dst)]
    subprocess.run(cmd, check=True, timeout=120)
    return dst


def jpeg_frames(video: Path, limit: int = 30) -> list[bytes]:
    """Up to ``limit`` frames of a video, JPEG-encoded once up front for the HTTP servers."""
    capture, frames = cv2.VideoCapture(str(video)), []
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", image)[1].tobytes())
    capture.release()
    assert frames, f"no frames could be read from {video}"
    return frames


class RtspCamera:
    """An RTSP camera on loopback: ffmpeg loops an H.264 file as RTP into an ``RtspRelay``.

    ``url`` is ``rtsp://127.0.0.1:<port>/cam``; the port stays the same across
    ``stop()`` / ``start()``. ``paused = True`` stalls the stream without closing it.
    """

    def __init__(self, video: Path, workdir: Path) -> None:
        self.video, self._workdir = video, workdir
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self._ffmpeg: subprocess.Popen[bytes] | None = None
        self._relay: RtspRelay | None = None

    @property
    def paused(self) -> bool:
        return bool(self._relay and self._relay.paused)

    @paused.setter
    def paused(self, value: bool) -> None:
        assert self._relay is not None, "the RTSP camera is not running"
        self._relay.paused = value

    def start(self) -> RtspCamera:
        """Start ffmpeg and the relay; returns once the stream's SDP is known."""
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp.bind(("127.0.0.1", 0))  # bound so ffmpeg's RTCP reports land somewhere
        self._rtcp = rtcp
        sdp = self._workdir / f"rtsp-{self.port}.sdp"
        sdp.unlink(missing_ok=True)
        target = f"rtp://127.0.0.1:{rtp.getsockname()[1]}?rtcpport={rtcp.getsockname()[1]}"
        self._ffmpeg = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(self.video),
             "-an", "-c:v", "copy", "-f", "rtp", "-sdp_file", str(sdp), target],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._relay = RtspRelay(rtp, self._wait_sdp(sdp), self.port)
        return self

    def _wait_sdp(self, sdp: Path) -> str:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = sdp.read_text() if sdp.exists() else ""
            if "a=rtpmap" in text:
                return text
            assert self._ffmpeg and self._ffmpeg.poll() is None, f"ffmpeg failed: {self._stderr()}"
            time.sleep(0.05)
        raise AssertionError(f"ffmpeg wrote no SDP for {self.video} in 15 s")

    def _stderr(self) -> str:
        return self._ffmpeg.stderr.read().decode(errors="replace") if self._ffmpeg and self._ffmpeg.stderr else ""

    def stop(self) -> None:
        """Kill ffmpeg and close every client connection."""
        if self._relay:
            self._relay.close()
            self._rtcp.close()
            self._relay = None
        if self._ffmpeg:
            self._ffmpeg.kill()
            self._ffmpeg.wait(timeout=10)
            self._ffmpeg.stderr and self._ffmpeg.stderr.close()
            self._ffmpeg = None


class _HttpCamera:
    """Shared start/stop of a ``ThreadingHTTPServer`` in a thread, on a port kept across restarts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.stopping = threading.Event()
        self.paused = False  # True: hold connections open and send nothing
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self):
        self.stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting and end every open response (handlers watch ``stopping``)."""
        self.stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        time.sleep(0.2)  # let handler threads notice and close their sockets


class MjpegServer(_HttpCamera):
    """``multipart/x-mixed-replace`` JPEG stream, looping over pre-encoded frames at ``fps``."""

    def __init__(self, frames: list[bytes], fps: float = 12.0, content_length: bool = True) -> None:
        super().__init__()
        self.frames, self.fps, self.content_length = frames, fps, content_length
        self.url = f"http://127.0.0.1:{self.port}/video.mjpg"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                camera.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frameboundary")
                self.end_headers()
                self.close_connection = True  # at stop(), the client must see the stream end
                try:
                    camera._stream(self.wfile)
                except OSError:
                    pass

        return Handler

    def _stream(self, out) -> None:
        index = 0
        while not self.stopping.is_set():
            if not self.paused:
                jpeg = self.frames[index % len(self.frames)]
                length = f"Content-Length: {len(jpeg)}\r\n" if self.content_length else ""
                out.write(f"--frameboundary\r\nContent-Type: image/jpeg\r\n{length}\r\n".encode() + jpeg + b"\r\n")
                out.flush()
                index += 1
            self.stopping.wait(1 / self.fps)


class SnapshotServer(_HttpCamera):
    """One JPEG per GET at ``/snap.jpg``, behind basic or digest auth (RFC 7616, MD5, qop=auth)."""

    realm = "face01d-test"

    def __init__(self, jpeg: bytes, username: str, password: str, auth: str = "digest") -> None:
        super().__init__()
        self.jpeg, self.username, self.password, self.auth = jpeg, username, password, auth
        self.url = f"http://127.0.0.1:{self.port}/snap.jpg"
        self.nonce = secrets.token_hex(16)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                camera.requests += 1
                if not camera.authorized("GET", self.headers.get("Authorization", "")):
                    return self._challenge()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(camera.jpeg)))
                self.end_headers()
                self.wfile.write(camera.jpeg)

            def _challenge(self) -> None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", camera.challenge())
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def challenge(self) -> str:
        if self.auth == "basic":
            return f'Basic realm="{self.realm}"'
        return f'Digest realm="{self.realm}", nonce="{self.nonce}", qop="auth", algorithm=MD5'

    def authorized(self, method: str, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return scheme.lower() == "basic" and value.strip() == expected
        return scheme.lower() == "digest" and self._digest_ok(method, _parse_digest(value))

    def _digest_ok(self, method: str, p: dict[str, str]) -> bool:
        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        if p.get("username") != self.username or p.get("nonce") != self.nonce:
            return False
        ha1 = md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = md5(f"{method}:{p.get('uri', '')}")
        expected = md5(f"{ha1}:{self.nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p.get('qop', '')}:{ha2}")
        return p.get("response") == expected


def _parse_digest(value: str) -> dict[str, str]:
    parts = {}
    for item in value.split(","):
        key, _, val = item.strip().partition("=")
        parts[key.strip().lower()] = val.strip().strip('"')
    return parts


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory, data) -> Path:
    """30 frames, 320 px wide, 15 fps, from the Kim Jong-un sample video (made once per session)."""
    return make_clip(data.kim_video, tmp_path_factory.mktemp("clips") / "kim-30.mp4")


@pytest.fixture
def rtsp_camera(tmp_path: Path) -> Iterator[Callable[[Path], RtspCamera]]:
    """Factory: ``rtsp_camera(h264_video)`` → a started ``RtspCamera``; all stopped at teardown."""
    cameras: list[RtspCamera] = []

    def factory(video: Path) -> RtspCamera:
        cameras.append(RtspCamera(video, tmp_path).start())
        return cameras[-1]

    yield factory
    for camera in cameras:
        camera.stop()


@pytest.fixture
def mjpeg_server() -> Iterator[Callable[..., MjpegServer]]:
    """Factory: ``mjpeg_server(jpegs, fps=12, content_length=True)`` → a started ``MjpegServer``."""
    servers: list[MjpegServer] = []

    def factory(frames: list[bytes], fps: float = 12.0, content_length: bool = True) -> MjpegServer:
        servers.append(MjpegServer(frames, fps, content_length).start())
        return servers[-1]

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def snapshot_server() -> Iterator[Callable[..., SnapshotServer]]:
    """Factory: ``snapshot_server(jpeg, user, password, auth="digest")`` → a started ``SnapshotServer``."""
    servers: list[SnapshotServer] = []

    def factory(jpeg: bytes, username: str, password: str, auth: str = "digest") -> SnapshotServer:
        servers.append(SnapshotServer(jpeg, username, password, auth).start())
        return servers[-1]

    yield factory
    for server in servers:
        server.stop()
