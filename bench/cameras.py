"""Row 9: how many live 1080p30 cameras one node detects on every frame.

Copies of the 1080p sample played at their own pace (``pace = "native"``,
as cameras deliver them), mediapipe at ``set_width = 640``, stepped up
1, 2, 4, 6, 8 cameras until the worst camera has more than 5 % of its
frames undetected (read, but not run through the detector: dropped as
stale, or tracked by prediction when the detection cadence fell back).
The row is the largest count that stayed under 5 %; when a step misses
after one held two cameras below it (4 held, 6 missed), 5 is run too. The second row takes
the same steps with encoding on one ``face01d worker`` (bench/remote_rows.py), reported: that
worker encodes on the node's own two cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import GALLERY, KIM_VIDEO, Context, Row, fmt, judge, percentile
from daemon import CameraSpec, DaemonSpec, timed_run
from remote_rows import HEALTHY_P99_TARGET_S, latencies_s, latency_row, remote_sections, workers_online

Sections = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]  # DaemonSpec.sections

STEPS = (1, 2, 4, 6, 8)
UNDETECTED_LIMIT_PCT = 5.0
CAMERAS_TARGET = 5
STEP_TIMEOUT_S = 240


def undetected_pct(report: dict[str, Any]) -> float | None:
    """(read − detected) / read, in %; None when the report does not say."""
    read, detected = report.get("frames_read"), report.get("frames_detected")
    if not isinstance(read, int) or not isinstance(detected, int) or read == 0:
        return None
    return 100.0 * (read - detected) / read


def _step(ctx: Context, count: int, folder: Path, sections: Sections = ()) -> dict[str, Any]:
    """One run of ``count`` cameras: each camera's undetected share and the worst."""
    cameras = tuple(CameraSpec(f"cam{i + 1}", KIM_VIDEO, "native") for i in range(count))
    spec = DaemonSpec(cameras, GALLERY, ctx.tmp / "cache-full", detector="mediapipe", sections=sections)
    run = timed_run(spec, folder / f"cameras-{count}", "run", ctx.timeout(STEP_TIMEOUT_S))
    shares = {camera.name: undetected_pct(run.reports.get(camera.name, {})) for camera in cameras}
    known = [share for share in shares.values() if share is not None]
    worst = max(known) if len(known) == count else None
    return {"cameras": count, "worst_undetected_pct": worst, "undetected_pct": shares,
            "recognized": len(run.recognized()), "wall_s": round(run.wall_s, 1),
            "latency_s": latencies_s(run.events)}


def _held(step: dict[str, Any]) -> bool:
    worst = step["worst_undetected_pct"]
    return worst is not None and worst <= UNDETECTED_LIMIT_PCT


def _stepped(ctx: Context, row_id: str, label: str, folder: Path, sections: Sections = ()) -> Row:
    """Step up until a step has more than 5 % undetected (or does not report it); then the counts between
    the last step held and the first missed, one by one, so that the row is the count, not the grid's."""
    steps: list[dict[str, Any]] = []
    for count in STEPS:
        steps.append(_step(ctx, count, folder, sections))
        if not _held(steps[-1]):
            break
    if len(steps) > 1 and not _held(steps[-1]) and _held(steps[-2]):
        for count in range(steps[-2]["cameras"] + 1, steps[-1]["cameras"]):
            steps.insert(-1, _step(ctx, count, folder, sections))
            if not _held(steps[-2]):
                break
    held = [s["cameras"] for s in steps if _held(s)]
    row = judge(Row(row_id, label), max(held) if held else 0, ">=", CAMERAS_TARGET, "cameras", 0)
    row.note = "; ".join(f"{s['cameras']}: worst {fmt(s['worst_undetected_pct'])} % undetected, "
                         f"{s['recognized']} recognized" for s in steps)
    row.details = {"steps": steps}
    return row


def camera_rows(ctx: Context) -> list[Row]:
    label = "live 1080p30 cameras, mediapipe, < 5 % undetected (local encoding)"
    return [_stepped(ctx, "cameras.1080p", label, ctx.tmp)]


def camera_rows_remote(ctx: Context) -> list[Row]:
    """The same steps with encoding on one ``face01d worker`` on loopback, and the healthy-worker latency row.

    The cameras row is reported, not judged: the worker's encoder shares the node's two cores here, which
    is not the set-up remote encoding is for (the target of row 9 is the node's, judged on the local row).
    The latency row is judged on the recognitions of the steps the node held (< 5 % undetected): a node
    keeps its decision latency within what it can take; the steps beyond it are in the note."""
    folder = ctx.tmp / "cameras-remote"
    with workers_online(folder, 1) as (port, _):
        label = "live 1080p30 cameras, mediapipe, < 5 % undetected (remote encoding)"
        row = _stepped(ctx, "cameras.1080p_remote", label, folder, remote_sections(port, folder))
    if row.value is not None:
        row.status, row.target = "info", ""
        row.margin = "reported: the worker shares the node's cores on loopback"
    steps = row.details["steps"]
    held_steps = [step for step in steps if _held(step)]
    held = [x for step in held_steps for x in step["latency_s"]]
    every = [x for step in steps for x in step["latency_s"]]
    latency = latency_row("cameras.latency_remote", "decision latency p99, remote encoding, healthy worker",
                          held, HEALTHY_P99_TARGET_S)
    latency.note += (f" (the steps held: {', '.join(str(s['cameras']) for s in held_steps)} cameras); "
                     f"with the steps beyond: p99 {fmt(percentile(every, 99), 2)} s over {len(every)}")
    latency.details["every_step_s"] = [round(x, 3) for x in every]
    return [row, latency]
