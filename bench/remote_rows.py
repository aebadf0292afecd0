"""Section "remote" (and the remote half of row 9): encoding on ``face01d worker`` services.

Rows: encode jobs/s on the local pool, one and two remote workers
(bench/remote_workers.py; target: two ≥ 1.7× one); the decision latency
(first frame of a track → its recognized event, ``latency_ms``) with a
worker killed mid-run (target p99 ≤ 2 s); a gallery change reaching three
nodes (bench/gallery_share.py; target ≤ 2 s). The healthy-worker latency
comes from row 9's remote steps (``cameras.py``), which run here too:
``remote_daemon`` gives a daemon spec the broker and the worker group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import GALLERY, KIM_VIDEO, BenchError, Context, Row, clean_env, fmt, json_lines, judge, percentile, \
    run_script
from daemon import CameraSpec, DaemonSpec, face01d_command, warm_cache, write_config
from remote_workers import cluster, remote

WORKERS_TIMEOUT_S = 300
GALLERY_TIMEOUT_S = 120
RATIO_TARGET = 1.7
HEALTHY_P99_TARGET_S = 1.0
KILLED_P99_TARGET_S = 2.0
SPREAD_TARGET_S = 2.0
GROUP = "bench-encoders"
ONLINE_TIMEOUT_S = 180.0
KILLED_CAMERAS = 2
KILL_AFTER_S = 1.0  # after the first camera is online: jobs are in flight by then
RUN_TIMEOUT_S = 240


def remote_sections(port: int, folder: Path) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """The daemon's keys for encoding on the group's workers; a look they do not encode is lost, so every
    decision measured came through them."""
    return (("mqtt", (("enabled", True), ("port", port), ("outbox_path", folder / "outbox.sqlite3"))),
            ("workers", (("encode", "remote"), ("remote_group", GROUP), ("remote_fallback", "lost"))))


@contextmanager
def workers_online(folder: Path, count: int) -> Iterator[tuple[int, dict[str, subprocess.Popen[bytes]]]]:
    """Mosquitto and ``count`` workers of GROUP, yielded once their retained statuses say online."""
    folder.mkdir(parents=True, exist_ok=True)
    with cluster(folder, {f"w{i + 1}": GROUP for i in range(count)}) as (port, processes):
        asyncio.run(_until_online(port, count))
        yield port, processes


async def _until_online(port: int, count: int) -> None:
    watcher = remote(port, GROUP)
    await watcher.start()
    try:
        deadline = time.monotonic() + ONLINE_TIMEOUT_S
        while watcher.health()["encode"].alive < count:
            if time.monotonic() > deadline:
                raise BenchError(f"{count} worker(s) not online after {ONLINE_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await watcher.stop()


def latencies_s(events: list[dict[str, Any]]) -> list[float]:
    """The recognized events' ``latency_ms`` (first frame of the track → the decision), in seconds."""
    return [e["latency_ms"] / 1000 for e in events if e.get("type") == "recognized" and e.get("latency_ms")]


def latency_row(row_id: str, label: str, latencies: list[float], target_s: float) -> Row:
    """p99 of the latencies (nearest rank: with few decisions, the worst)."""
    row = judge(Row(row_id, label), percentile(latencies, 99), "<=", target_s, "s", 2)
    row.note = f"{len(latencies)} decisions; median {fmt(percentile(latencies, 50), 2)} s"
    row.details = {"latency_s": [round(x, 3) for x in latencies]}
    return row


# --- the rows -----------------------------------------------------------------------------------


def worker_rows(ctx: Context) -> list[Row]:
    """bench/remote_workers.py: jobs/s, local pool and one and two remote workers, best of two rounds."""
    result = run_script("remote_workers.py", ["--rounds", "2"], ctx.timeout(WORKERS_TIMEOUT_S))
    rates = result["jobs_per_s"]
    load = f"load average {result['load_average'][0]} on {result['cpus']} CPUs"
    rows = [Row("remote.local", "encode jobs/s, local process pool (1 process)", rates["local"], "jobs/s",
                note=load, details=result),
            Row("remote.one", "encode jobs/s, 1 remote worker (loopback)", rates["remote_1"], "jobs/s",
                note=f"round trip {result['round_trip']['remote_1']}")]
    two = judge(Row("remote.two", "encode jobs/s, 2 remote workers ÷ 1 remote worker"), result["ratio_2_over_1"],
                ">=", RATIO_TARGET, "x", 2)
    two.note = f"{fmt(rates['remote_2'], 2)} jobs/s with 2 workers; both share this machine's {result['cpus']} CPUs"
    return [*rows, two]


def killed_rows(ctx: Context) -> list[Row]:
    """Two workers; one SIGKILLed a second after the first camera is online; every camera still decided."""
    folder = ctx.tmp / "remote-killed"
    cameras = tuple(CameraSpec(f"cam{i + 1}", KIM_VIDEO, "native") for i in range(KILLED_CAMERAS))
    with workers_online(folder, 2) as (port, processes):
        spec = DaemonSpec(cameras, GALLERY, ctx.tmp / "cache-full", detector="mediapipe",
                          sections=remote_sections(port, folder))
        warm_cache(spec, folder, ctx.timeout(RUN_TIMEOUT_S))
        events, killed_at = _run_killing(write_config(spec, folder / "run.toml"), processes["w1"],
                                         ctx.timeout(RUN_TIMEOUT_S))
    row = latency_row("remote.latency_killed", "decision latency p99, remote, a worker killed mid-run",
                      latencies_s(events), KILLED_P99_TARGET_S)
    decided = sorted({e["camera"] for e in events if e.get("type") == "recognized"})
    row.note += f"; {len(decided)}/{KILLED_CAMERAS} cameras recognized; worker killed {killed_at:.1f} s into the run"
    return [row]


def _run_killing(config: Path, victim: subprocess.Popen[bytes], timeout: float) -> tuple[list[dict[str, Any]], float]:
    """``face01d run --once`` with ``victim`` SIGKILLed KILL_AFTER_S after the first "camera online"."""
    out, err = config.with_suffix(".stdout"), config.with_suffix(".stderr")
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        daemon = subprocess.Popen(face01d_command("run", "--once", "--stdout", "-c", str(config)), stdout=stdout,
                                  stderr=stderr, env=clean_env(), start_new_session=True)
    try:
        killed_at = _kill_when_online(daemon, err, victim, started, timeout)
        daemon.wait(max(1.0, timeout - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        raise BenchError(f"the daemon did not finish within {timeout:.0f} s") from None
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(10)
    if daemon.returncode not in (0, 4):  # 4: looks lost to the kill left a track undecided: the row says so
        raise BenchError(f"face01d exited {daemon.returncode}")
    return json_lines(out.read_text(encoding="utf-8")), killed_at


def _kill_when_online(daemon: subprocess.Popen[bytes], log: Path, victim: subprocess.Popen[bytes],
                      started: float, timeout: float) -> float:
    while '"camera online"' not in log.read_text(encoding="utf-8", errors="replace"):
        if daemon.poll() is not None or time.monotonic() - started > timeout:
            raise BenchError("no camera came online")
        time.sleep(0.05)
    time.sleep(KILL_AFTER_S)
    victim.send_signal(signal.SIGKILL)
    return time.monotonic() - started


def gallery_rows(ctx: Context) -> list[Row]:
    """bench/gallery_share.py: publish → three subscribed nodes hold the new version."""
    result = run_script("gallery_share.py", ["--rounds", "5"], ctx.timeout(GALLERY_TIMEOUT_S))
    row = judge(Row("remote.gallery", "a gallery change reaches three nodes (worst of 5)"), result["max_s"], "<=",
                SPREAD_TARGET_S, "s", 2)
    row.note = f"median {fmt(result['p50_s'], 3)} s; publish → verified and swapped on all three"
    row.details = result
    return [row]
