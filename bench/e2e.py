"""Rows 2 and 3: the whole daemon on the 1080p sample, as fast as it can read it.

``face01d run --once`` with the sample video at ``pace = "none"`` (every
frame analysed, none dropped), the gallery cache warm. Two frames/s from
the same run, both over the frames the camera read (its exit report; never
a number written here): over the process's whole wall time (start-up
included: the ≥ 30 frames/s row), and over its frame loop, from the first
frame read to the last frame analysed (the camera report's
``first_frame_at`` and ``last_analysed_at``), which is how the baseline is
timed (bench/baseline.py: its clock runs from its first frame to its last
analysis; imports, models and gallery before it) and so what the ratios
use. detected/s is the frames the detector itself ran on: HOG detects one
frame in five and the tracks follow the faces between, which frames/s alone
would hide. The same run's exit report gives the per-stage times. A second pair of runs
uses a gallery without 金正恩: every ``recognized`` event is then wrong,
and the row counts only when the face was seen (an ``unknown`` event).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from common import GALLERY, KIM, KIM_VIDEO, BenchError, Context, Row, fmt, judge
from daemon import CameraSpec, DaemonRun, DaemonSpec, gallery_without, timed_run

E2E_TIMEOUT_S = 300
FPS_TARGET = 30.0
RATIO_TARGET = 5.0
STAGES = ("detect", "encode", "match")


def _spec(ctx: Context, detector: str, gallery_name: str = "full") -> DaemonSpec:
    gallery = GALLERY if gallery_name == "full" else gallery_without(GALLERY, KIM, ctx.tmp / f"gallery-{gallery_name}")
    return DaemonSpec((CameraSpec("sample", KIM_VIDEO, "none"),), gallery, ctx.tmp / f"cache-{gallery_name}",
                      detector=detector)


def _names(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(event.get("name")) for event in events)


def _names_text(names: Counter[str]) -> str:
    return ", ".join(f"{name}×{count}" for name, count in names.most_common()) or "none"


def e2e_rows(ctx: Context, detector: str) -> list[Row]:
    """frames/s and detected/s, the ratios to both baselines and the names recognised, for one detector."""
    run = timed_run(_spec(ctx, detector), ctx.tmp / f"e2e-{detector}", "run", ctx.timeout(E2E_TIMEOUT_S))
    report = run.reports.get("sample", {})
    ctx.camera_reports[detector] = report
    frames, detected = _counted(report)
    fps = frames / run.wall_s
    details = _run_details(run, report, frames)
    fps_row = judge(Row(f"e2e.{detector}.fps", f"face01d {detector} (set_width 640), whole process", details=details),
                    fps, ">=", FPS_TARGET, "frames/s")
    events = ", ".join(f"{kind} {count}" for kind, count in details["events"].items()) or "none"
    fps_row.note = (f"{frames} frames read in {run.wall_s:.1f} s wall, analysed {fmt(report.get('analysed'))}, "
                    f"detected {detected} ({detected / run.wall_s:.1f} detected/s); events: {events}; "
                    f"gallery images encoded at start: {fmt(run.gallery_encoded_now())} (0 = cache warm)")
    loop_s = _loop_seconds(report)
    loop_row = Row(f"e2e.{detector}.loop_fps", f"face01d {detector}, first frame → last analysed",
                   round(frames / loop_s, 1), "frames/s", status="info", details={"loop_s": round(loop_s, 3)})
    loop_row.note = (f"{frames} frames in {loop_s:.2f} s, detected {detected} ({detected / loop_s:.1f} detected/s): "
                     "the window the baseline's frames/s is counted over, and what the ratios below use")
    every_frame = detected == frames
    return [fps_row, loop_row, *_ratio_rows(ctx, detector, frames / loop_s, every_frame),
            names_row(f"e2e.{detector}.names", f"face01d {detector}: names recognized", run)]


def _loop_seconds(report: dict[str, Any]) -> float:
    """First frame read → last frame analysed, from the camera's exit report; BenchError when it does not say."""
    first, last = report.get("first_frame_at"), report.get("last_analysed_at")
    if not isinstance(first, (int, float)) or not isinstance(last, (int, float)) or last <= first:
        raise BenchError(f"the camera report has no first_frame_at / last_analysed_at window: {first!r}, {last!r}")
    return float(last) - float(first)


def _counted(report: dict[str, Any]) -> tuple[int, int]:
    """(frames read, frames detected) from the camera's exit report; BenchError when it does not say."""
    frames, detected = report.get("frames_read"), report.get("frames_detected")
    if not isinstance(frames, int) or not frames or not isinstance(detected, int):
        raise BenchError(f"the camera report has no frames_read / frames_detected: {sorted(report)}")
    return frames, detected


def _ratio_rows(ctx: Context, detector: str, fps: float, every_frame: bool) -> list[Row]:
    """Against the example as written (every other frame) and against the same loop over every frame.

    The as-written target holds only for a run that detected every frame; a detector that
    skips frames (HOG) gets the ratio as information, with its detected frames beside it."""
    written = judge(Row(f"e2e.{detector}.ratio_written", f"face01d {detector} / baseline as written"),
                    fps / ctx.baseline_fps if ctx.baseline_fps else None, ">=", RATIO_TARGET, "x", 2)
    if not every_frame and written.value is not None:
        written.status, written.target = "info", ""
        written.margin = "information: not every frame detected (see the frames/s row)"
    every = judge(Row(f"e2e.{detector}.ratio", f"face01d {detector} / baseline over every frame"),
                  fps / ctx.baseline_every_frame_fps if ctx.baseline_every_frame_fps else None,
                  ">=", RATIO_TARGET, "x", 2)
    for row in (written, every):
        if row.value is None:
            row.margin = "no baseline measured in this run"
    return [written, every]


def _run_details(run: DaemonRun, report: dict[str, Any], frames: int) -> dict[str, Any]:
    return {"wall_s": round(run.wall_s, 3), "frames": frames, "camera_report": report,
            "gallery_encoded_now": run.gallery_encoded_now(),
            "events": dict(Counter(str(event.get("type")) for event in run.events))}


def names_row(row_id: str, label: str, run: DaemonRun) -> Row:
    names = _names(run.recognized())
    extra = sorted(set(names) - {KIM})
    met = set(names) == {KIM}
    row = Row(row_id, label, value=_names_text(names), target=f"{KIM} only", status="met" if met else "missed",
              details={"recognized": dict(names)})
    problems = ([f"wrong: {', '.join(extra)}"] if extra else []) + ([] if KIM in names else [f"{KIM} missing"])
    row.margin = "met" if met else "missed: " + "; ".join(problems)
    return row


def open_set_rows(ctx: Context, detector: str) -> list[Row]:
    """The gallery without 金正恩: any ``recognized`` event is a false accept; a run that raised no
    ``unknown`` never saw the face and proves nothing."""
    run = timed_run(_spec(ctx, detector, "no-kim"), ctx.tmp / f"open-{detector}", "run", ctx.timeout(E2E_TIMEOUT_S))
    wrong = run.recognized()
    unknown = [event for event in run.events if event.get("type") == "unknown"]
    row = judge(Row(f"open.{detector}.recognized", f"face01d {detector}, no {KIM} in gallery: recognized"),
                len(wrong), "<=", 0, "events", 0)
    row.note = f"names: {_names_text(_names(wrong))}; unknown events: {len(unknown)}"
    if not unknown:
        row.status, row.margin = "missed", "missed: the face was never seen (no unknown event)"
    row.details = {"recognized": dict(_names(wrong)), "unknown": len(unknown), "wall_s": round(run.wall_s, 3)}
    return [row]


def _pair(value: Any) -> str:
    """``{"p50": .., "p99": .., "n": ..}`` as text; n/a for anything else."""
    if not isinstance(value, dict):
        return "n/a"
    text = f"p50 {fmt(_number(value.get('p50')))}, p99 {fmt(_number(value.get('p99')))} ms"
    return text + (f", n={value['n']}" if "n" in value else "")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stage_rows(ctx: Context, detector: str) -> list[Row]:
    """Row 3: whatever latency and per-stage times the exit report of the e2e run carries."""
    if detector not in ctx.camera_reports:
        return [Row(f"stage.{detector}", f"{detector}: per stage", status="error",
                    margin="error: the end-to-end run did not complete")]
    report = ctx.camera_reports[detector]
    stages = report.get("stage_ms") if isinstance(report.get("stage_ms"), dict) else {}
    rows = [Row(f"stage.{detector}.latency", f"{detector}: frame read → result", value=_pair(report.get("latency_ms")),
                details={"latency_ms": report.get("latency_ms")})]
    for stage in STAGES:
        rows.append(Row(f"stage.{detector}.{stage}", f"{detector}: {stage}", value=_pair(stages.get(stage)),
                        details={stage: stages.get(stage)}))
    for stage in sorted(set(stages) - set(STAGES)):  # stages added later are shown too
        rows.append(Row(f"stage.{detector}.{stage}", f"{detector}: {stage}", value=_pair(stages[stage]),
                        details={stage: stages[stage]}))
    for row in rows:
        row.status = "info" if row.value != "n/a" else "n/a"
    return rows
