"""Jobs per second of the vision worker pools: threads against processes, two cameras at once.

    .venv/bin/python bench/workers.py [--seconds 1.5] [--rounds 3] [--video PATH]

Two cameras submit concurrently, each keeping one job in flight as the
pipeline does, on frames of the 1080p sample video. Three workloads:
detection with mediapipe (short model) and with HOG (upsampling 1), both at
set_width 640, and encoding of one face per call. Each runs on 1 and 2
threads (ThreadWorkers) and on 1 and 2 processes (ProcessWorkers), and is
printed as jobs/s and as a ratio to 1 thread measured in this run. Process
pools pay for the copy into shared memory and the round trip; threads pay
for the GIL, which also stalls the event loop, so a second table gives how
late a 5 ms timer on the loop fired meanwhile (99th percentile): what
capture and MQTT feel. The four pools of a workload run side by side and
are timed in turns, in a rotating order, for several rounds; the best
round of each counts, so that load from other processes weighs on all of
them alike. On a shared machine the numbers stay noisy: the load average
is printed first so the reader can judge.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import cv2
import numpy as np

from face01d.config.models import DetectorConfig, DetectorKind
from face01d.faces import FaceBox
from face01d.vision.analyzer import FaceAnalyzer
from face01d.workers import ProcessWorkers, ThreadWorkers, VisionSettings, VisionWorkers

DATA = Path(os.environ.get("FACE01D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CAMERAS = ("cam-a", "cam-b")
MEDIAPIPE = VisionSettings(DetectorConfig(kind=DetectorKind.MEDIAPIPE, mediapipe_model="short", set_width=640))
HOG = VisionSettings(DetectorConfig(kind=DetectorKind.HOG, upsampling=1, set_width=640))
POOLS: dict[str, Callable[[VisionSettings], VisionWorkers]] = {
    "1 thread": lambda s: ThreadWorkers(s, 1),
    "2 threads": lambda s: ThreadWorkers(s, 2),
    "1 process": lambda s: ProcessWorkers(s, 1),
    "2 processes": lambda s: ProcessWorkers(s, 2),
}
Job = Callable[[VisionWorkers, str, int], Awaitable[object]]
Row = dict[str, float]  # pool name → a measure


def read_frames(video: Path, count: int, step: int = 5) -> list[np.ndarray]:
    """Every ``step``-th frame from the start of the video (BGR, as a camera gives them)."""
    capture = cv2.VideoCapture(str(video))
    frames: list[np.ndarray] = []
    index = 0
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    capture.release()
    return frames


async def throughput(pool: VisionWorkers, job: Job, seconds: float) -> tuple[float, float]:
    """Jobs per second with every camera keeping one job in flight (after one warm-up job each),
    and the 99th percentile of the event loop's lateness meanwhile, in ms."""
    await asyncio.gather(*(job(pool, camera, i) for i, camera in enumerate(CAMERAS)))  # models of every thread
    done = 0
    deadline = time.perf_counter() + seconds

    async def camera_loop(camera: str, offset: int) -> None:
        nonlocal done
        index = offset
        while time.perf_counter() < deadline:
            await job(pool, camera, index)
            done, index = done + 1, index + 1

    started = time.perf_counter()
    _, lateness = await asyncio.gather(
        asyncio.gather(*(camera_loop(camera, 7 * i) for i, camera in enumerate(CAMERAS))), loop_lateness(deadline)
    )
    return done / (time.perf_counter() - started), lateness


async def loop_lateness(deadline: float, tick: float = 0.005) -> float:
    """How late a ``tick`` timer fires on the loop until ``deadline``: the 99th percentile, in ms."""
    late = []
    while time.perf_counter() < deadline:
        planned = time.perf_counter() + tick
        await asyncio.sleep(tick)
        late.append(max(time.perf_counter() - planned, 0.0))
    return 1000 * statistics.quantiles(late, n=100)[98] if len(late) > 1 else 0.0


async def measure_row(settings: VisionSettings, job: Job, seconds: float, rounds: int) -> tuple[Row, Row]:
    """The best of ``rounds`` turns of each pool (rate and lateness), the pools started together and
    timed in rotation."""
    pools = {name: make(settings) for name, make in POOLS.items()}
    await asyncio.gather(*(pool.start() for pool in pools.values()))
    rates, lateness = dict.fromkeys(pools, 0.0), dict.fromkeys(pools, float("inf"))
    try:
        for turn in range(rounds):
            names = list(pools)[turn % len(pools):] + list(pools)[: turn % len(pools)]
            for name in names:
                rate, late = await throughput(pools[name], job, seconds)
                rates[name], lateness[name] = max(rates[name], rate), min(lateness[name], late)
    finally:
        await asyncio.gather(*(pool.stop() for pool in pools.values()))
    return rates, lateness


def print_table(title: str, rows: dict[str, Row], cell: Callable[[float, float], str]) -> None:
    print(f"{title:34}" + "".join(f"{name:>17}" for name in POOLS))
    for label, row in rows.items():
        print(f"{label:34}" + "".join(f"{cell(value, row['1 thread']):>17}" for value in row.values()))


async def run(frames: list[np.ndarray], faces: list[tuple[np.ndarray, FaceBox]], seconds: float, rounds: int) -> None:
    def detect(pool: VisionWorkers, camera: str, i: int) -> Awaitable[object]:
        return pool.detect(camera, frames[i % len(frames)])

    def encode(pool: VisionWorkers, camera: str, i: int) -> Awaitable[object]:
        frame, box = faces[i % len(faces)]
        return pool.encode(camera, frame, [box])

    workloads = {
        "detect mediapipe, set_width 640": (MEDIAPIPE, detect),
        "detect HOG up 1, set_width 640": (HOG, detect),
        "encode, one face per call": (MEDIAPIPE, encode),
    }
    rates, lateness = {}, {}
    for label, (settings, job) in workloads.items():
        rates[label], lateness[label] = await measure_row(settings, job, seconds, rounds)
    print_table("jobs/s, 2 cameras, best round", rates, lambda v, base: f"{v:7.2f}/s {v / base:4.2f}x")
    print_table("loop lateness p99, ms, best round", lateness, lambda v, base: f"{v:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.5, help="timed seconds per pool and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per pool; the best counts")
    parser.add_argument("--video", type=Path, default=DATA / "face01/video/kim_jong_un_alone.mp4")
    args = parser.parse_args()
    frames = read_frames(args.video, 12)
    finder = FaceAnalyzer(HOG.detector)
    faces = [(frame, found[0].box) for frame in frames if (found := finder.detect(frame))]
    height, width = frames[0].shape[:2]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{args.video.name}: {len(frames)} frames of {width}x{height}, {len(faces)} with a face; "
          f"{os.cpu_count()} CPUs, load average {load} (shared machine: numbers are noisy)")
    asyncio.run(run(frames, faces, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
