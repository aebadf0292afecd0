"""The real ``face01d run`` process sheds slow clients: 200 half heads, a short body, a hang-up, one over the cap.

The daemon watches a loopback MJPEG camera while raw sockets misbehave
against its HTTP server; its file descriptors are counted in /proc, its
stderr read for tracebacks. Short limits keep each case to seconds.
"""

from __future__ import annotations

import re
import signal
import socket
import time

import httpx
import pytest

from support.servers import jpeg_frames
from support.slow_clients import HALF_HEAD, close_all, connect, open_descriptors, wait_closed

HEAD_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 230
MARGIN_S = 1.5  # accepting 200 at once, and timers, in a daemon analysing frames on a loaded two-core machine
HTTP = {"enabled": True, "port": 0, "head_timeout_s": HEAD_TIMEOUT_S, "body_timeout_s": BODY_TIMEOUT_S,
        "send_timeout_s": 1.0, "keepalive_s": 1.0, "max_connections": MAX_CONNECTIONS}
SHED = re.compile(r'^face01d_http_clients_shed_total\{reason="(\w+)"\} (\S+)$', re.MULTILINE)
ANALYSED = re.compile(r'^face01d_camera_frames_analysed_total\{camera="porch"\} (\S+)$', re.MULTILINE)


@pytest.fixture
def daemon(daemon_config, run_daemon, mjpeg_server, small_clip):
    """A daemon analysing a loopback MJPEG camera, its HTTP server up; (process, base URL)."""
    camera = mjpeg_server(jpeg_frames(small_clip), fps=10)
    path = daemon_config([{"name": "porch", "source": camera.url, "kind": "mjpeg"}], http=HTTP,
                         detector={"kind": "mediapipe", "set_width": 320}, snapshots={"enabled": False},
                         workers={"detect": "thread", "encode": "thread", "threads": 1},
                         enrollment={"keep_unknown": False})
    process = run_daemon(path)
    port = process.wait_for_log("http server listening", 120)["port"]
    process.wait_for_log("daemon started", 180)  # the models are loaded: the loop answers at once from here
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: analysed(base) > 0, 60)
    yield process, base
    process.signal(signal.SIGTERM)
    assert process.wait(30) == 0, process.stderr[-3000:]
    assert "Traceback" not in process.stderr and "Exception in ASGI application" not in process.stderr


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.05)


def get(base: str, path: str) -> httpx.Response:
    """A request on a connection of its own (one kept alive may be closed by the server as it is reused)."""
    return httpx.get(base + path, timeout=5)


def analysed(base: str) -> float:
    found = ANALYSED.search(get(base, "/metrics").text)
    return float(found.group(1)) if found else 0.0


def shed(base: str) -> dict[str, float]:
    """face01d_http_clients_shed_total by reason, from /metrics."""
    return {reason: float(count) for reason, count in SHED.findall(get(base, "/metrics").text)}


def settled_descriptors(pid: int) -> int:
    """The daemon's descriptor count once it holds still for half a second."""
    counts = [open_descriptors(pid)]
    while len(counts) < 3 or len(set(counts[-3:])) > 1:
        time.sleep(0.25)
        counts.append(open_descriptors(pid))
    return counts[-1]


def test_200_half_heads_are_closed_within_the_head_timeout_while_the_camera_and_healthz_go_on(daemon):
    process, base = daemon
    port = int(base.rsplit(":", 1)[1])
    pid = process.process.pid
    baseline = settled_descriptors(pid)
    before, shed_before = analysed(base), shed(base)
    slow = [connect(port, HALF_HEAD) for _ in range(200)]
    wait_until(lambda: open_descriptors(pid) >= baseline + 200, 5)  # the daemon holds them all
    held = open_descriptors(pid)
    assert get(base, "/healthz").json() == {"status": "alive"}  # answered while the 200 are held
    still_open = wait_closed(slow, HEAD_TIMEOUT_S + 10)
    close_all(slow)
    assert not still_open, f"{len(still_open)} of 200 still open"
    assert analysed(base) > before  # the camera went on
    assert shed(base)["head"] - shed_before["head"] == 200  # each one counted, for /metrics and the stats
    closed_after = sorted(client.closed_after for client in slow)
    assert closed_after[-1] < HEAD_TIMEOUT_S + MARGIN_S and closed_after[0] > HEAD_TIMEOUT_S - 0.1
    wait_until(lambda: open_descriptors(pid) <= baseline, 10)
    print(f"\n200 half heads, head timeout {HEAD_TIMEOUT_S} s: closed {closed_after[0]:.2f} .. "
          f"{closed_after[-1]:.2f} s after opening; daemon fds {baseline} before, {held} held, "
          f"{open_descriptors(pid)} after")


def test_a_short_body_gets_408_and_a_hang_up_is_one_info_line(daemon):
    process, base = daemon
    port = int(base.rsplit(":", 1)[1])
    head = "POST /recognize HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n"
    short = connect(port, head.format(100).encode() + b"x" * 50)
    assert not wait_closed([short], BODY_TIMEOUT_S + 10)
    short.sock.close()
    assert short.received.startswith(b"HTTP/1.1 408 ") and short.closed_after < BODY_TIMEOUT_S + MARGIN_S
    with socket.create_connection(("127.0.0.1", port)) as gone:
        gone.sendall(head.format(100_000).encode() + b"x" * 1000)
    process.wait_for_log("http client gone mid-request", 10)
    assert get(base, "/healthz").status_code == 200  # after the hang-up: its log line has had time
    lines = [r for r in process.logs() if r.get("event") == "http client gone mid-request"]
    assert [(r["level"], r["path"]) for r in lines] == [("info", "/recognize")] * 2  # the 408 one and the hang-up
    assert "Traceback" not in process.stderr and "Exception in ASGI application" not in process.stderr


def test_a_connection_beyond_the_cap_is_refused_at_once(daemon):
    process, base = daemon
    port = int(base.rsplit(":", 1)[1])
    refused_before = shed(base)["refused"]  # read before the cap is reached: /metrics needs a place too
    baseline = settled_descriptors(process.process.pid)
    held = [connect(port) for _ in range(MAX_CONNECTIONS)]
    wait_until(lambda: open_descriptors(process.process.pid) >= baseline + MAX_CONNECTIONS, 5)
    started = time.monotonic()
    extra = connect(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not wait_closed([extra], 5)
    assert extra.received.startswith(b"HTTP/1.1 503 ")
    assert time.monotonic() - started < HEAD_TIMEOUT_S / 2  # not queued until a held one times out
    close_all([extra, *held])
    wait_until(lambda: open_descriptors(process.process.pid) <= baseline, 5)
    assert get(base, "/healthz").status_code == 200
    assert shed(base)["refused"] - refused_before == 1
