"""A real ``face01d run`` sent images whose headers lie: its peak memory is the decode budget, not the header.

The issue's file: a 1.1 MB JPEG whose frame header, pushed past the first
mebibyte by comment segments, declares 20,000 × 20,000 pixels. Before, the
daemon decoded it whole (1.2 GB of pixels; RSS 2.9 GB for one upload, 6.6 GB
for three). Now it is refused from its header (400), a 9,000 × 9,000 one is
analysed reduced (1/8), and an MJPEG camera sending both keeps going. The
daemon's peak RSS (VmHWM) over all of it, uploads at once and the camera
together, stays within DECODE_CONCURRENCY × DECODE_BUDGET_BYTES of what it
was before they came, plus a margin for what outlives a decode: the
camera's newest frame and the one being analysed (a 4,500 × 4,500 frame,
decoded at 1/2, is 61 MB, and the pipeline copies it once to RGB), and the
upload bodies.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
from support.hostile_images import forged_jpeg
from support.servers import MjpegServer

from face01d.vision.image import DECODE_BUDGET_BYTES, DECODE_CONCURRENCY

TOKEN = "budget"
WORKERS = {"detect": "thread", "encode": "thread", "threads": 1}
HUGE = forged_jpeg(20000, 20000, padding=1_100_000)  # over the pixel limit: refused from its header
BIG = forged_jpeg(9000, 9000, padding=1_100_000)  # under it: decoded reduced
MEBIBYTE = 1024 * 1024
MARGIN = 4 * 61 * MEBIBYTE  # frames that outlive their decode (see above)


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s*(\d+)", status).group(1)) * 1024


def frames_read(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    match = re.search(r'^face01d_camera_frames_read_total\{camera="door"\} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_for(condition, daemon, timeout: float = 90) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline and daemon.process.poll() is None, daemon.stderr[-3000:]
        time.sleep(0.1)


async def upload_all(base: str) -> list[httpx.Response]:
    """Every hostile upload at once: three of each to /recognize, one of each to /gallery/{name}."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/jpeg"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        posts = [client.post("/recognize", content=HUGE) for _ in range(3)]
        posts += [client.post("/recognize", content=BIG) for _ in range(3)]
        posts += [client.post("/gallery/Mallory", content=body) for body in (HUGE, BIG)]
        return await asyncio.gather(*posts)


def test_lying_headers_cost_the_decode_budget_not_what_they_declare(tmp_path, data, daemon_config, run_daemon):
    normal = (data.fr_examples / "obama-480p.jpg").read_bytes()
    camera = MjpegServer([normal], fps=10).start()
    try:
        config = daemon_config([{"name": "door", "kind": "mjpeg", "source": camera.url}], workers=WORKERS,
                               http={"enabled": True, "port": 0, "token": TOKEN}, snapshots={"enabled": False})
        daemon = run_daemon(config, "--stdout")
        port = daemon.wait_for_log("http server listening", timeout=120)["port"]
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            wait_for(lambda: frames_read(client) >= 10, daemon)
            baseline = peak_rss(daemon.process.pid)
            camera.frames = [HUGE, BIG, normal]
            answers = asyncio.run(upload_all(base))
            read = frames_read(client)
            wait_for(lambda: frames_read(client) >= read + 6, daemon)  # the camera goes on: BIG, normal, BIG, ...
            peak = peak_rss(daemon.process.pid)
    finally:
        camera.stop()
    huge, big = answers[:3] + [answers[6]], answers[3:6]
    assert all(a.status_code == 400 and "20000×20000 pixels is over the limit" in a.json()["error"] for a in huge)
    assert all(a.status_code == 200 and (a.json()["width"], a.json()["height"]) == (1125, 1125) for a in big)
    assert answers[7].status_code == 422, answers[7].text  # analysed reduced: a grey square holds no face
    print(f"peak RSS {baseline // MEBIBYTE} MiB before, {peak // MEBIBYTE} MiB after")
    assert peak - baseline < DECODE_CONCURRENCY * DECODE_BUDGET_BYTES + MARGIN
    assert daemon.process.poll() is None
