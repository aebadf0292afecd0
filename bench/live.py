"""Row 4: live mode. Video files played at their own pace (``pace = "native"``),
as a camera delivers them, by 1, 2 and 4 cameras at once.

From each camera's exit report: frames read against frames analysed (the
rest were dropped as stale, or skipped), and the frame → result latency when
the report has it; from each ``recognized`` event, ``latency_ms`` (first
sight of the person → decision) when the event has it.
"""

from __future__ import annotations

from typing import Any

from common import GALLERY, HAMILTON_VIDEO, KIM_VIDEO, Context, Row, fmt, judge
from daemon import CameraSpec, DaemonRun, DaemonSpec, timed_run

LIVE_TIMEOUT_S = 180
DROPPED_TARGET_PCT = 5.0
LATENCY_P99_TARGET_MS = 250.0
FIRST_SIGHT_TARGET_MS = 1000.0


def cameras(count: int) -> tuple[CameraSpec, ...]:
    """1: the 1080p sample; 2: it and the Hamilton clip; 4: two of each."""
    sources = [("kim", KIM_VIDEO), ("hamilton", HAMILTON_VIDEO)]
    chosen = [sources[i % 2] for i in range(count)] if count > 1 else sources[:1]
    return tuple(CameraSpec(f"{name}{i // 2 + 1}", path, "native") for i, (name, path) in enumerate(chosen))


def dropped_pct(report: dict[str, Any]) -> float | None:
    read, analysed = report.get("frames_read"), report.get("analysed")
    if not isinstance(read, int) or not isinstance(analysed, int) or read == 0:
        return None
    return 100.0 * (read - analysed) / read


def _p(report: dict[str, Any], key: str) -> float | None:
    value = report.get("latency_ms")
    number = value.get(key) if isinstance(value, dict) else None
    return float(number) if isinstance(number, (int, float)) else None


def live_rows(ctx: Context, count: int) -> list[Row]:
    spec = DaemonSpec(cameras(count), GALLERY, ctx.tmp / "cache-full", detector=ctx.live_detector)
    run = timed_run(spec, ctx.tmp / f"live-{count}", "run", ctx.timeout(LIVE_TIMEOUT_S))
    names = [camera.name for camera in spec.cameras]
    prefix = f"{count} camera{'s' if count > 1 else ''}, {ctx.live_detector}"
    return [_dropped_row(run, names, count, prefix), _latency_row(run, names, count, prefix),
            _first_sight_row(run, count, prefix)]


def _worst(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _dropped_row(run: DaemonRun, names: list[str], count: int, prefix: str) -> Row:
    per_camera = {}
    for name in names:
        report = run.reports.get(name, {})
        per_camera[name] = {key: report.get(key) for key in
                            ("frames_read", "analysed", "frames_dropped", "frames_skipped", "analysis_failed")}
        per_camera[name]["dropped_pct"] = dropped_pct(report)
    row = judge(Row(f"live.{count}.dropped", f"{prefix}: frames not analysed"),
                _worst([c["dropped_pct"] for c in per_camera.values()]), "<", DROPPED_TARGET_PCT, "%")
    row.note = "; ".join(f"{name} {fmt(c['analysed'])}/{fmt(c['frames_read'])} analysed, dropped "
                         f"{fmt(c['frames_dropped'])}, skipped {fmt(c['frames_skipped'])}"
                         for name, c in per_camera.items())
    row.details = {"cameras": per_camera, "wall_s": round(run.wall_s, 3)}
    return row


def _latency_row(run: DaemonRun, names: list[str], count: int, prefix: str) -> Row:
    p50 = {name: _p(run.reports.get(name, {}), "p50") for name in names}
    p99 = {name: _p(run.reports.get(name, {}), "p99") for name in names}
    row = judge(Row(f"live.{count}.latency_p99", f"{prefix}: frame → result p99"),
                _worst(list(p99.values())), "<=", LATENCY_P99_TARGET_MS, "ms", 0)
    row.note = "; ".join(f"{name} p50 {fmt(p50[name], 0)} / p99 {fmt(p99[name], 0)} ms" for name in names)
    row.details = {"p50_ms": p50, "p99_ms": p99}
    return row


def _first_sight_row(run: DaemonRun, count: int, prefix: str) -> Row:
    recognized = run.recognized()
    latencies = [float(e["latency_ms"]) for e in recognized if isinstance(e.get("latency_ms"), (int, float))]
    row = judge(Row(f"live.{count}.first_sight", f"{prefix}: first sight → recognized"),
                _worst(latencies), "<=", FIRST_SIGHT_TARGET_MS, "ms", 0)
    row.note = (f"{len(recognized)} recognized events, {len(latencies)} with latency_ms: "
                + (", ".join(f"{e.get('camera')}:{e.get('name')} {fmt(e.get('latency_ms'), 0)}" for e in recognized)
                   or "none"))
    row.details = {"events": [{k: e.get(k) for k in ("camera", "name", "distance", "latency_ms")} for e in recognized]}
    return row
