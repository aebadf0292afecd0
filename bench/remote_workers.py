"""Encode jobs per second: the local process pool, one remote worker, two remote workers (loopback).

    .venv/bin/python bench/remote_workers.py [--seconds 3] [--rounds 3] [--in-flight 4]

A real mosquitto on a free loopback port and real ``face01d worker``
processes (one encoder process each): ``w0`` alone in group "solo", ``w1``
and ``w2`` together in group "pair", so that one run measures both without
restarting anyone (an idle worker costs no CPU). Each group has a topic
prefix of its own: a shared subscription gives every job to one member of
*each* group on its topic, so on one prefix the idle group would encode
every job too. A node keeps
``--in-flight`` encode jobs going (one face of the 1080p sample frame each,
the crop the process pool would encode) and counts the answers. The three
set-ups are timed in turns, in a rotating order, for several rounds, and the
best round of each counts, so that load from other processes weighs on all
alike. Then the round trip of single jobs, one at a time, to one idle remote
worker and to the local pool (p50, p99). Prints one JSON object; the load
average comes first in it so the reader can judge a shared machine's
figures. Target: two workers ≥ 1.7× the jobs/s of one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from face01d.config.models import DetectorConfig, MqttConfig, WorkersConfig
from face01d.faces import FaceBox
from face01d.remote.node import RemoteEncoder
from face01d.vision.analyzer import FaceAnalyzer
from face01d.workers import ProcessWorkers, VisionSettings, VisionWorkers

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.ports import free_port  # noqa: E402 - tests/ is put on the path above

DATA = Path(os.environ.get("FACE01D_DATA", REPO.parent / "shared" / "data"))
MOSQUITTO = "/usr/sbin/mosquitto"
ENCODE = VisionSettings(DetectorConfig(), stages=("encode",))
WORKERS = {"w0": "solo", "w1": "pair", "w2": "pair"}
START_S = 180.0


@contextmanager
def broker_and_workers(folder: Path) -> Iterator[int]:
    """Mosquitto and the three workers above, all ended on the way out; yields the broker's port."""
    with cluster(folder, WORKERS, prefix_per_group=True) as (port, _):
        yield port


def group_prefix(group: str) -> str:
    """The topic prefix of a group that must not see another group's jobs."""
    return f"bench/{group}"


@contextmanager
def cluster(folder: Path, workers: dict[str, str],
            prefix_per_group: bool = False) -> Iterator[tuple[int, dict[str, subprocess.Popen[bytes]]]]:
    """Mosquitto and ``face01d worker`` processes (id → group); yields the port and the workers by id.

    ``prefix_per_group``: each group's workers on ``group_prefix(group)``, else all on the default prefix.

    Each worker leads a process group of its own (its encoder processes), so that a worker killed by a
    caller (bench/remote_rows.py kills one mid-run) leaves nothing behind on the way out.
    """
    port = free_port()
    (folder / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                          "set_tcp_nodelay true\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(folder / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        time.sleep(0.5)
        for worker, group in workers.items():
            config = folder / f"{worker}.toml"
            prefix = f"topic_prefix = \"{group_prefix(group)}\"\n" if prefix_per_group else ""
            config.write_text(f"[mqtt]\nport = {port}\n{prefix}[workers]\nprocesses = 1\nremote_group = \"{group}\"\n"
                              "remote_stats_s = 0\n[daemon]\nlog_level = \"warning\"\n")
            started[worker] = subprocess.Popen([sys.executable, "-m", "face01d", "worker", "-c", str(config),
                                                "--id", worker], cwd=REPO, start_new_session=True)
        yield port, started
    finally:
        for process in started.values():
            _end(process, group=True)
        _end(broker, group=False)


def _end(process: subprocess.Popen[bytes], group: bool) -> None:
    """SIGTERM, ten seconds, SIGKILL; then, for a worker, whatever is left of its process group."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def sample() -> tuple[np.ndarray, list[FaceBox]]:
    capture = cv2.VideoCapture(str(DATA / "face01/video/kim_jong_un_alone.mp4"))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SystemExit("cannot read the sample video")
    return frame, [d.box for d in FaceAnalyzer(DetectorConfig(set_width=640)).detect(frame, "bgr")][:1]


async def jobs_per_second(pool: VisionWorkers, frame: np.ndarray, boxes: list[FaceBox], seconds: float,
                          in_flight: int) -> float:
    """Answers a second while ``in_flight`` jobs are kept going for ``seconds``."""
    done = 0
    deadline = time.monotonic() + seconds

    async def lane() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await pool.encode("bench", frame, boxes)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    return done / (time.monotonic() - started)


async def round_trips(pools: dict[str, VisionWorkers], frame: np.ndarray, boxes: list[FaceBox],
                      count: int) -> dict[str, dict[str, float]]:
    """Single jobs one at a time, the pools in turns (so that a load swing weighs on both): p50, p99."""
    times: dict[str, list[float]] = {name: [] for name in pools}
    for _ in range(count):
        for name, pool in pools.items():
            started = time.monotonic()
            await pool.encode("bench", frame, boxes)
            times[name].append((time.monotonic() - started) * 1000)
    return {name: _percentiles(values) for name, values in times.items()}


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50_ms": round(statistics.median(values), 1), "p99_ms": round(values[min(len(values) - 1,
                                                                                     int(0.99 * len(values)))], 1)}


def remote(port: int, group: str, prefix: str = "face01") -> RemoteEncoder:
    config = WorkersConfig(encode="remote", remote_group=group, remote_timeout_s=10.0, remote_fallback="lost")
    mqtt = MqttConfig(port=port, client_id=f"bench-{group}", topic_prefix=prefix)
    return RemoteEncoder(config, ENCODE, mqtt, f"bench-{group}")


async def until_online(pools: dict[str, RemoteEncoder]) -> None:
    deadline = time.monotonic() + START_S
    wanted = {"remote_1": 1, "remote_2": 2}
    while any(pools[name].health()["encode"].alive < n for name, n in wanted.items()):
        if time.monotonic() > deadline:
            raise SystemExit(f"workers not online after {START_S:.0f} s")
        await asyncio.sleep(0.2)


async def measure(port: int, args: argparse.Namespace) -> dict[str, object]:
    frame, boxes = sample()
    pools: dict[str, VisionWorkers] = {"local": ProcessWorkers(ENCODE, 1),
                                       "remote_1": remote(port, "solo", group_prefix("solo")),
                                       "remote_2": remote(port, "pair", group_prefix("pair"))}
    await asyncio.gather(*(pool.start() for pool in pools.values()))
    try:
        await until_online({name: pool for name, pool in pools.items() if isinstance(pool, RemoteEncoder)})
        for pool in pools.values():  # warm every worker of a pool (a job each): first jobs map memory, fill caches
            await asyncio.gather(*(pool.encode("bench", frame, boxes) for _ in range(args.in_flight)))
        rates: dict[str, list[float]] = {name: [] for name in pools}
        names = list(pools)
        for turn in range(args.rounds):
            for name in names[turn % len(names):] + names[:turn % len(names)]:
                rates[name].append(await jobs_per_second(pools[name], frame, boxes, args.seconds, args.in_flight))
        best = {name: round(max(values), 2) for name, values in rates.items()}
        latency = await round_trips({name: pools[name] for name in ("local", "remote_1")}, frame, boxes,
                                    args.latency_jobs)
        # the worker's own time on each job (all of remote_1's jobs): the rest of a round trip is transport
        latency["remote_1_worker_side"] = pools["remote_1"].stats["worker_encode_ms"]  # type: ignore[attr-defined]
    finally:
        await asyncio.gather(*(pool.stop() for pool in pools.values()))
    return {"jobs_per_s": best, "rounds": {n: [round(v, 2) for v in r] for n, r in rates.items()},
            "ratio_2_over_1": round(best["remote_2"] / best["remote_1"], 2) if best["remote_1"] else None,
            "ratio_1_over_local": round(best["remote_1"] / best["local"], 2) if best["local"] else None,
            "round_trip": latency, "target": "ratio_2_over_1 >= 1.7"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--latency-jobs", type=int, default=20)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="face01d-bench-remote-") as folder:
        with broker_and_workers(Path(folder)) as port:
            result = asyncio.run(measure(port, args))
    print(json.dumps({"load_average": [round(x, 2) for x in load], "cpus": os.cpu_count(), **result}))


if __name__ == "__main__":
    main()
