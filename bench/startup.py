"""Row 6: start-up. ``face01d --help`` wall time, and spawn → systemd READY.

READY is measured as systemd sees it: the suite binds a unix datagram socket,
passes it as ``NOTIFY_SOCKET`` and times from spawning the daemon to the
datagram carrying ``READY=1``; then the daemon gets SIGTERM (as from
``systemctl stop``) and is reaped, killed if it does not stop in time.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

from common import GALLERY, KIM_VIDEO, BenchError, Context, Row, clean_env, judge, median, run_process
from daemon import CameraSpec, DaemonSpec, face01d_command, warm_cache, write_config

HELP_RUNS = 5
HELP_TARGET_S = 0.3
READY_RUNS = 3
READY_TARGET_S = 2.0
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def help_row(ctx: Context) -> Row:
    command = face01d_command("--help")
    run_process(command, ctx.timeout(30))  # once untimed: the files are then in the page cache
    samples = [run_process(command, ctx.timeout(30)).wall_s for _ in range(HELP_RUNS)]
    row = judge(Row("startup.help", f"`face01d --help` wall time (median of {HELP_RUNS})"),
                median(samples), "<=", HELP_TARGET_S, "s", 3)
    row.note = "runs: " + ", ".join(f"{s:.3f}" for s in samples) + " s"
    row.details = {"samples_s": samples}
    return row


def ready_row(ctx: Context, detector: str) -> Row:
    folder = ctx.tmp / f"ready-{detector}"
    spec = DaemonSpec((CameraSpec("sample", KIM_VIDEO, "native"),), GALLERY, ctx.tmp / "cache-full", detector=detector)
    warm_cache(spec, folder, ctx.timeout(READY_TIMEOUT_S))
    config = write_config(spec, folder / "run.toml")
    samples = [time_to_ready(config, folder / f"notify{i}.sock", ctx.timeout(READY_TIMEOUT_S))
               for i in range(READY_RUNS)]
    row = judge(Row(f"startup.ready.{detector}", f"spawn → READY=1, {detector}, cache warm (median of {READY_RUNS})"),
                median(samples), "<=", READY_TARGET_S, "s", 2)
    row.note = "runs: " + ", ".join(f"{s:.2f}" for s in samples) + " s"
    row.details = {"samples_s": samples}
    return row


def time_to_ready(config: Path, address: Path, timeout: float) -> float:
    """Seconds from spawn to the READY=1 datagram; the daemon is stopped afterwards."""
    address.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        started = time.perf_counter()
        process = subprocess.Popen(face01d_command("run", "-c", str(config)), cwd=config.parent,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=clean_env(NOTIFY_SOCKET=str(address)), start_new_session=True)
        try:
            return _wait_ready(listener, process, started, timeout)
        finally:
            _stop(process)
            address.unlink(missing_ok=True)


def _wait_ready(listener: socket.socket, process: subprocess.Popen[bytes], started: float, timeout: float) -> float:
    deadline = started + timeout
    while (left := deadline - time.perf_counter()) > 0:
        readable, _, _ = select.select([listener], [], [], min(left, 0.5))
        if readable:
            message = listener.recv(65536).decode("utf-8", "replace")
            if "READY=1" in message.splitlines():
                return time.perf_counter() - started
        elif process.poll() is not None:
            stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
            raise BenchError(f"daemon exited {process.returncode} before READY: {stderr.strip()[-300:]}")
    raise BenchError(f"no READY=1 within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as systemd stops it; SIGKILL to the group if it is still there after STOP_TIMEOUT_S."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate(timeout=10)
        raise BenchError(f"daemon ignored SIGTERM for {STOP_TIMEOUT_S} s (killed)") from None
