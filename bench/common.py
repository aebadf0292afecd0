"""Shared pieces of the benchmark suite: paths, rows and targets, subprocesses.

Every row of ``bench/run`` is a ``Row``: a measured value, the target it is
held to, whether it met it and by how much. Every subprocess runs with a
timeout in its own process group, so a hung daemon costs one row, not the run.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DATA = Path(os.environ.get("FACE01D_DATA", REPO.parent / "shared" / "data"))
KIM_VIDEO = DATA / "face01/video/kim_jong_un_alone.mp4"
HAMILTON_VIDEO = DATA / "face_recognition/examples/short_hamilton_clip.mp4"
GALLERY = DATA / "face01/gallery"
KIM = "金正恩"
PYTHON = sys.executable


class BenchError(Exception):
    """A row could not be measured; the message goes into the table."""


@dataclass
class Row:
    """One line of the table and one object of the JSON ``rows`` list."""

    id: str
    label: str
    value: Any = None  # a number, a text, or None (n/a)
    unit: str = ""
    target: str = ""  # as printed, e.g. ">= 30 frames/s"; "" for information only
    status: str = "info"  # met | missed | info | n/a | error
    margin: str = ""  # by how much it was met or missed
    note: str = ""  # one short line printed under the row
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_row(row_id: str, label: str, error: BaseException) -> Row:
    message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return Row(row_id, label, status="error", margin=f"error: {message[:200]}",
               details={"error": f"{type(error).__name__}: {error}"})


def judge(row: Row, value: float | None, op: str, target: float, unit: str, digits: int = 1) -> Row:
    """Fill value/target/status/margin: ``op`` is ">=", ">", "<=" or "<"; None is n/a."""
    row.value, row.unit, row.target = value, unit, f"{op} {target:g} {unit}".strip()
    if value is None:
        row.status, row.margin = "n/a", "not reported"
        return row
    better = value - target if op.startswith(">") else target - value
    met = better > 0 or (better == 0 and "=" in op)
    row.status = "met" if met else "missed"
    relative = f" ({abs(better) / target:.0%} of the target)" if target and unit not in ("%", "x") else ""
    row.margin = f"{'met' if met else 'missed'} by {abs(better):.{digits}f} {unit}{relative}".replace("  ", " ")
    if better == 0:
        row.margin = "met exactly" if met else "missed (at the limit)"
    return row


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without FACE01D_* overrides or systemd variables, plus ``extra``."""
    drop = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CACHE_DIRECTORY", "RUNTIME_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACE01D_") and k not in drop}
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.update(extra)
    return env


@dataclass
class Completed:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float


def run_process(args: list[str], timeout: float, env: dict[str, str] | None = None, check: bool = True) -> Completed:
    """Run to completion within ``timeout`` seconds (wall time measured around it).

    On timeout the whole process group is killed and ``BenchError`` raised;
    with ``check`` a non-zero exit raises too, quoting the end of stderr.
    """
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                               env=env if env is not None else clean_env(), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(args[:4])}") from None
    wall = time.perf_counter() - started
    done = Completed(args, process.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
                     wall)
    if check and done.returncode != 0:
        raise BenchError(f"exit {done.returncode} from {' '.join(args[:4])}: {last_lines(done.stderr)}")
    return done


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group of a process this suite started, then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        pass


def last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])[-400:] or "(no output)"


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among ``text``'s lines (native libraries print other lines too)."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def run_script(script: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``bench/<script>`` with this Python; its last stdout line is its JSON result."""
    done = run_process([PYTHON, str(BENCH / script), *args], timeout)
    records = json_lines(done.stdout)
    if not records:
        raise BenchError(f"{script} printed no result: {last_lines(done.stderr)}")
    return records[-1]


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class Context:
    """What the rows share: the scratch folder, timeouts, and results later rows use."""

    tmp: Path
    timeout_scale: float = 1.0
    live_detector: str = "mediapipe"
    baseline_fps: float | None = None  # the example as written: every other frame analysed
    baseline_every_frame_fps: float | None = None  # the same loop analysing every frame
    camera_reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # run name → the report

    def timeout(self, seconds: float) -> float:
        return seconds * self.timeout_scale
