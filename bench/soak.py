"""Soak: the daemon on 4 looping loopback cameras for N minutes, the broker killed every 2 minutes.

    .venv/bin/python bench/soak.py --minutes 10        # the figure in bench/README.md
    .venv/bin/python bench/soak.py --minutes 1 --restart-every 25 --warmup 20   # a quick try

A benchmark, not a test: it prints figures against the goals of issue 7 item
6 (RSS growth after warm-up < 20 MB, threads and fds flat, 0 events lost).

The scene, all on 127.0.0.1: the 1080p sample cut to 640 px at 12 fps with
5 s of black added, so the face comes and goes and ``recognized`` / ``left``
keep flowing, looped by tests/support's ``RtspCamera`` (2 cameras) and
``MjpegServer`` (2 cameras); tests/support's mosquitto (persistence off);
the real daemon (``python -m face01d run -c CONFIG``, mediapipe at
set_width 640, XDG state and cache in a temporary folder) publishing
through a ``Gate`` (see soak_tools.py) so the recorder is always subscribed
before the daemon can deliver; a recorder subscribed to ``face01/#``.

Every 10 s: VmRSS, Threads and open fds of the daemon and of all processes
below it (the forkserver encoder pool) from /proc. Every ``--restart-every``
seconds (not in the last 30 s): mosquitto SIGKILLed, 5 s down, started on
the same port. At the end: until every event the daemon logged has arrived
(at most 30 s), then SIGTERM. Accepted = ids of the daemon's ``event`` log
lines; received = ids on ``.../event`` topics; lost = accepted − received.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import GALLERY, KIM_VIDEO, PYTHON, REPO, clean_env, json_lines, kill_group, last_lines
from machine import machine_info
from report import machine_lines
from soak_tools import EventRecorder, Gate, Mosquitto, TreeSample, sample_tree  # puts tests/ on sys.path
from support.servers import MjpegServer, RtspCamera, jpeg_frames
from support.toml_text import render_config

RSS_GOAL_MB = 20.0
FLAT_TOLERANCE = {"threads": 2, "fds": 5}  # "flat": max after warm-up ≤ the value at warm-up end + this
SAMPLE_EVERY_S = 10.0
BROKER_DOWN_S = 5.0
NO_RESTART_IN_LAST_S = 30.0
DRAIN_S = 30.0
CLIP_FPS = 12
FACE_GAP_S = 5.0
NODE, PREFIX = "soak", "face01"


class SoakError(Exception):
    """The soak could not go on (a server or the daemon did not start)."""


def make_clip(folder: Path) -> Path:
    """The sample at 640 px and CLIP_FPS, then FACE_GAP_S of black: the face comes and goes."""
    clip = folder / "kim-gap.mp4"
    pad = f"tpad=stop_duration={FACE_GAP_S}:stop_mode=add:color=black"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(KIM_VIDEO), "-an",
                    "-vf", f"fps={CLIP_FPS},scale=640:-2,{pad}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", str(CLIP_FPS), "-pix_fmt", "yuv420p", str(clip)], check=True, timeout=120)
    return clip


@dataclass
class Rig:
    """Everything the soak started; ``close()`` stops what is still running."""

    folder: Path
    broker: Mosquitto
    gate: Gate
    recorder: EventRecorder
    cameras: list[Any]
    camera_tables: list[dict[str, Any]]
    daemon: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)  # seconds into the soak

    @property
    def stdout(self) -> Path:
        return self.folder / "daemon.stdout"

    @property
    def stderr(self) -> Path:
        return self.folder / "daemon.stderr"

    def logs(self) -> list[dict[str, Any]]:
        return [*json_lines(self.stdout.read_text(encoding="utf-8", errors="replace")),
                *json_lines(self.stderr.read_text(encoding="utf-8", errors="replace"))]

    def restart_broker(self, at_s: float) -> None:
        """SIGKILL, BROKER_DOWN_S down, start on the same port; the daemon's way opens once the recorder is back."""
        before = self.recorder.subscriptions
        self.broker.kill()
        self.gate.close()
        time.sleep(BROKER_DOWN_S)
        self.broker.start()
        if not self.recorder.wait_subscription(before, 30):
            raise SoakError("the recorder did not subscribe again within 30 s of the broker's restart")
        self.gate.open()
        self.restarts.append(at_s)

    def close(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            kill_group(self.daemon)
        self.recorder.close()
        self.gate.close()
        self.broker.kill()
        for camera in self.cameras:
            camera.stop()


def start_rig(folder: Path) -> Rig:
    clip = make_clip(folder)
    broker = Mosquitto(folder / "mosquitto")
    broker.workdir.mkdir()
    broker.start()
    recorder = EventRecorder(broker, f"{PREFIX}/#").connect()
    gate = Gate(broker.port)
    gate.open()
    frames = jpeg_frames(clip, limit=10_000)
    rtsp = [RtspCamera(clip, folder).start() for _ in range(2)]
    mjpeg = [MjpegServer(frames, fps=CLIP_FPS).start() for _ in range(2)]
    tables = [_camera(f"rtsp{i}", cam.url) for i, cam in enumerate(rtsp, 1)]
    tables += [_camera(f"mjpeg{i}", cam.url, kind="mjpeg") for i, cam in enumerate(mjpeg, 1)]
    return Rig(folder, broker, gate, recorder, [*rtsp, *mjpeg], tables)


def _camera(name: str, url: str, **extra: str) -> dict[str, Any]:
    return {"name": name, "source": url, "stall_timeout_s": 5.0, "reconnect_max_s": 5.0, **extra}


def write_config(rig: Rig) -> Path:
    sections: dict[str, dict[str, Any]] = {
        "daemon": {"node_id": NODE, "log_format": "json", "log_level": "info",
                   "lock_file": str(rig.folder / "face01d.lock")},
        "gallery": {"path": str(GALLERY), "cache_dir": str(rig.folder / "gallery-cache")},
        "detector": {"kind": "mediapipe", "set_width": 640},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": rig.gate.port, "topic_prefix": PREFIX, "qos": 1},
        "snapshots": {"enabled": True, "dir": str(rig.folder / "snapshots")},
        "events": {"cooldown_s": 5.0, "presence_timeout_s": 2.0},
    }
    path = rig.folder / "config.toml"
    path.write_text(render_config(sections, rig.camera_tables), encoding="utf-8")
    return path


def start_daemon(rig: Rig, config: Path) -> None:
    env = clean_env(XDG_STATE_HOME=str(rig.folder / "xdg-state"), XDG_CACHE_HOME=str(rig.folder / "xdg-cache"),
                    PYTHONUNBUFFERED="1")
    with open(rig.stdout, "wb") as out, open(rig.stderr, "wb") as err:
        rig.daemon = subprocess.Popen([PYTHON, "-m", "face01d", "run", "-c", str(config)], stdout=out, stderr=err,
                                      cwd=REPO, env=env, start_new_session=True)


def watch(rig: Rig, duration_s: float, restart_every_s: float) -> list[TreeSample]:
    """Sample every SAMPLE_EVERY_S and restart the broker on schedule, until ``duration_s`` or the daemon exits."""
    assert rig.daemon is not None
    started, samples = time.monotonic(), []
    next_sample, next_restart = 0.0, restart_every_s
    while (now := time.monotonic() - started) < duration_s and rig.daemon.poll() is None:
        if now >= next_sample:
            if (sample := sample_tree(rig.daemon.pid, now)) is not None:
                samples.append(sample)
                progress(rig, sample)
            next_sample += SAMPLE_EVERY_S
        elif now >= next_restart:
            if now < duration_s - NO_RESTART_IN_LAST_S:
                rig.restart_broker(now)
                print(f"  {now:5.0f} s  broker killed and restarted ({len(rig.restarts)})", file=sys.stderr)
            next_restart += restart_every_s
        else:
            time.sleep(0.2)
    return samples


def progress(rig: Rig, s: TreeSample) -> None:
    accepted = sum(1 for r in json_lines(rig.stdout.read_text(errors="replace")) if r.get("event") == "event")
    print(f"  {s.at_s:5.0f} s  RSS {s.main_rss_mb:6.1f} / {s.total_rss_mb:6.1f} MB  threads {s.main_threads:3d} / "
          f"{s.total_threads:3d}  fds {s.main_fds:3d} / {s.total_fds:3d}  processes {s.processes}  "
          f"events accepted {accepted}, received {sum(rig.recorder.event_ids().values())}",
          file=sys.stderr, flush=True)


def accepted_ids(rig: Rig) -> list[str]:
    return [str(r.get("event_id")) for r in json_lines(rig.stdout.read_text(errors="replace"))
            if r.get("event") == "event"]


def finish(rig: Rig) -> int | None:
    """Let the outbox catch up (at most DRAIN_S), SIGTERM, wait; the daemon's exit code (None: killed)."""
    assert rig.daemon is not None
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and set(accepted_ids(rig)) - set(rig.recorder.event_ids()):
        time.sleep(1)
    rig.daemon.send_signal(signal.SIGTERM)
    try:
        code = rig.daemon.wait(60)
    except subprocess.TimeoutExpired:
        kill_group(rig.daemon)
        code = None
    time.sleep(2)  # what the daemon flushed on its way out reaches the recorder
    return code


@dataclass(frozen=True)
class Verdict:
    label: str
    measured: str
    goal: str
    passed: bool | None  # None: information


def at_or_after(samples: list[TreeSample], at_s: float) -> list[TreeSample]:
    return [s for s in samples if s.at_s >= at_s - 1e-6]


def resource_verdicts(samples: list[TreeSample], warmup_s: float) -> list[Verdict]:
    after = at_or_after(samples, warmup_s)
    if len(after) < 2:
        return [Verdict("resources", f"{len(after)} samples after warm-up", "≥ 2", False)]
    warm, end = after[0], after[-1]
    verdicts = []
    for who in ("main", "total"):
        rss = getattr(end, f"{who}_rss_mb") - getattr(warm, f"{who}_rss_mb")
        verdicts.append(Verdict(f"RSS growth, {_who(who)}", f"{getattr(warm, f'{who}_rss_mb'):.1f} → "
                                f"{getattr(end, f'{who}_rss_mb'):.1f} MB: {rss:+.1f} MB", f"< {RSS_GOAL_MB:g} MB",
                                rss < RSS_GOAL_MB))
    verdicts.append(Verdict("RSS trend after warm-up, least squares",
                            f"{_slope(after, 'main_rss_mb'):+.2f} MB/min daemon, "
                            f"{_slope(after, 'total_rss_mb'):+.2f} MB/min daemon + children", "-", None))
    for kind in ("threads", "fds"):
        for who in ("main", "total"):
            values = [getattr(s, f"{who}_{kind}") for s in after]
            tolerance = FLAT_TOLERANCE[kind]
            verdicts.append(Verdict(f"{kind}, {_who(who)}", f"{values[0]} at warm-up end, {min(values)}–{max(values)} "
                                    f"after, {values[-1]} at end", f"max ≤ {values[0]} + {tolerance}",
                                    max(values) <= values[0] + tolerance))
    return verdicts


def _slope(samples: list[TreeSample], attribute: str) -> float:
    """MB per minute: a slow leak shows here before the end-to-end growth reaches the goal."""
    return statistics.linear_regression([s.at_s / 60 for s in samples], [getattr(s, attribute) for s in samples]).slope


def _who(who: str) -> str:
    return "daemon" if who == "main" else "daemon + children"


def event_verdicts(rig: Rig, logs: list[dict[str, Any]]) -> list[Verdict]:
    accepted = accepted_ids(rig)
    received = rig.recorder.event_ids()
    lost = sorted(set(accepted) - set(received))
    kept = sum(int(r.get("events") or 0) for r in logs if r.get("event") == "mqtt.outbox_kept")
    types = Counter(r.get("type") for r in logs if r.get("event") == "event")
    lost_note = f"; lost ids: {', '.join(lost[:5])}{' …' if len(lost) > 5 else ''}" if lost else ""
    return [
        Verdict("events lost", f"{len(lost)} of {len(set(accepted))} accepted ({len(received)} ids received)"
                f"{lost_note}", "0", not lost),
        Verdict("events received twice or more (at-least-once)",
                f"{sum(n - 1 for n in received.values())} extra copies of {sum(n > 1 for n in received.values())} ids",
                "-", None),
        Verdict("ids received that the daemon never logged", str(len(set(received) - set(accepted))), "-", None),
        Verdict("left in the outbox at stop (mqtt.outbox_kept)", str(kept), "-", None),
        Verdict("events by type", ", ".join(f"{t} {n}" for t, n in sorted(types.items())) or "none", "-", None),
    ]


def run_verdicts(rig: Rig, logs: list[dict[str, Any]], code: int | None) -> list[Verdict]:
    reports = [r for r in logs if r.get("event") == "camera report"]
    cameras = "; ".join(f"{r.get('camera')} read {r.get('frames_read')}, reconnects {r.get('reconnects')}"
                        for r in reports) or "no camera report"
    connected = sum(1 for r in logs if r.get("event") == "mqtt.connected")
    problems = Counter(r.get("event") for r in logs if r.get("level") in ("warning", "error", "critical"))
    return [
        Verdict("broker restarts (SIGKILL, 5 s down)", f"{len(rig.restarts)} at "
                f"{', '.join(f'{t:.0f}' for t in rig.restarts) or '-'} s", "-", None),
        Verdict("daemon MQTT connections", str(connected), "-", None),
        Verdict("daemon exit code after SIGTERM", "killed after 60 s" if code is None else str(code), "0",
                code == 0),
        Verdict("cameras", cameras, "-", None),
        Verdict("warnings and errors logged", ", ".join(f"{e}×{n}" for e, n in problems.most_common()) or "none",
                "-", None),
    ]


def print_table(verdicts: list[Verdict], header: list[str]) -> bool:
    print("\n".join(header))
    print(f"\n{'':2}{'measure':<48} {'goal':<22} result")
    for v in verdicts:
        result = "-" if v.passed is None else ("PASS" if v.passed else "FAIL")
        print(f"  {v.label:<48} {v.goal:<22} {result}\n      {v.measured}")
    judged = [v.passed for v in verdicts if v.passed is not None]
    print(f"\ngoals: {sum(judged)} passed, {len(judged) - sum(judged)} failed")
    return all(judged)


def header_lines(args: argparse.Namespace, started: str, warmup_s: float) -> list[str]:
    lines = machine_lines(machine_info())
    lines[0] = (f"face01d soak, {started}: {args.minutes:g} min, 4 cameras (2 RTSP, 2 MJPEG, {CLIP_FPS} fps), "
                f"broker killed every {args.restart_every:g} s, warm-up {warmup_s:g} s, samples every "
                f"{SAMPLE_EVERY_S:g} s")
    tolerance = ", ".join(f"{k} +{v}" for k, v in FLAT_TOLERANCE.items())
    return [*lines, f"flat = the highest sample after warm-up ≤ the sample at warm-up end + ({tolerance}); "
            "RSS is VmRSS (children: summed, shared pages counted in each)"]


def soak(args: argparse.Namespace, folder: Path) -> bool:
    warmup_s = min(args.warmup, args.minutes * 30)
    started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    header = header_lines(args, started, warmup_s)  # the load average before anything starts
    rig = start_rig(folder)
    try:
        start_daemon(rig, write_config(rig))
        samples = watch(rig, args.minutes * 60, args.restart_every)
        code = finish(rig)
        logs = rig.logs()
        if code is not None and code != 0 or not samples:
            print(f"daemon stderr: {last_lines(rig.stderr.read_text(errors='replace'), 8)}", file=sys.stderr)
        verdicts = [*resource_verdicts(samples, warmup_s), *event_verdicts(rig, logs), *run_verdicts(rig, logs, code)]
        if args.json:
            args.json.write_text(json.dumps({"header": header, "samples": [s.__dict__ for s in samples],
                                             "verdicts": [v.__dict__ for v in verdicts]}, indent=1,
                                            ensure_ascii=False) + "\n", encoding="utf-8")
        return print_table(verdicts, header)
    finally:
        rig.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the daemon runs (default 10)")
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds before the reference sample (default 120; at most half the run)")
    parser.add_argument("--restart-every", type=float, default=120.0, help="seconds between broker kills (120)")
    parser.add_argument("--json", type=Path, help="also write the samples and verdicts here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, config) and print it")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="face01d-soak-"))
    try:
        return 0 if soak(args, folder) else 1
    finally:
        if args.keep:
            print(f"scratch folder kept: {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
