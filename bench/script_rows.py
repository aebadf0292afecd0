"""Rows 1 and 5: measured by stand-alone scripts run as subprocesses (with a
timeout, and their imports and memory out of the suite's process)."""

from __future__ import annotations

from typing import Any

from common import Context, Row, fmt, judge, run_script

BASELINE_TIMEOUT_S = 420
FULL_RES_FRAMES = 30
GALLERY_TIMEOUT_S = 180
GALLERY_TARGET_MS = 5.0
GALLERY_SIZES = (1000, 10000, 100000)


def _names(result: dict[str, Any]) -> str:
    names = result.get("names") or {}
    return ", ".join(f"{name}×{count}" for name, count in names.items()) or "none"


def _baseline_row(row_id: str, label: str, result: dict[str, Any]) -> Row:
    note = (f"{result['frames']} frames in {result['seconds']:.1f} s, {result['faces']} faces; names per frame: "
            f"{_names(result)}; gallery: {result['gallery_encodings']} images encoded")
    if result.get("gallery_without_face"):
        note += f", no face found in {', '.join(result['gallery_without_face'])}"
    return Row(row_id, label, value=result["fps"], unit="frames/s", note=note, details=result)


def baseline_rows(ctx: Context) -> list[Row]:
    """face_recognition's facerec_from_webcam_faster.py loop, on every frame of the 1080p sample."""
    result = run_script("baseline.py", ["--scale", "0.25"], ctx.timeout(BASELINE_TIMEOUT_S))
    ctx.baseline_fps = result["fps"]
    return [_baseline_row("baseline.quarter", "face_recognition fast loop: 1/4 scale, HOG, every frame", result)]


def full_resolution_rows(ctx: Context) -> list[Row]:
    """The same loop without the 1/4 downscale, on the first FULL_RES_FRAMES frames (information only)."""
    result = run_script("baseline.py", ["--scale", "1.0", "--frames", str(FULL_RES_FRAMES)],
                        ctx.timeout(BASELINE_TIMEOUT_S))
    label = f"face_recognition loop: full 1080p, first {FULL_RES_FRAMES} frames"
    return [_baseline_row("baseline.full", label, result)]


def gallery_rows(ctx: Context) -> list[Row]:
    sizes = ",".join(map(str, GALLERY_SIZES))
    result = run_script("gallery_scale.py", ["--sizes", sizes], ctx.timeout(GALLERY_TIMEOUT_S))
    rows = []
    for size in GALLERY_SIZES:
        measured = result["sizes"][str(size)]
        label = f"Matcher.{measured['method']}, {size // 1000}k identities, per face (median)"
        row = Row(f"gallery.{size // 1000}k", label, value=measured["ms_median"], unit="ms/face", details=measured)
        if size == max(GALLERY_SIZES):
            row = judge(row, measured["ms_median"], "<=", GALLERY_TARGET_MS, "ms/face", 2)
        row.note = (f"{measured['calls']} calls: min {fmt(measured['ms_min'], 3)}, "
                    f"p90 {fmt(measured['ms_p90'], 3)} ms")
        rows.append(row)
    return rows
