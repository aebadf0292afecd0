"""Rows 1, 5 and 8: measured by stand-alone scripts run as subprocesses (with a
timeout, and their imports and memory out of the suite's process)."""

from __future__ import annotations

from typing import Any

from common import Context, Row, fmt, judge, run_script

BASELINE_TIMEOUT_S = 420
FULL_RES_FRAMES = 30
GALLERY_TIMEOUT_S = 180
GALLERY_TARGET_MS = 5.0
GALLERY_SIZES = (1000, 10000, 100000)
STRANGERS_TIMEOUT_S = 480  # ~1 s with open_set.py's LFW cache warm; 2-3 min (more when busy) to encode it
STRANGERS_TITLE = "8. Strangers: LFW View 1 open set, one look per photo"
STRANGERS_NAMED_TARGET_PCT = 0.5  # at most, 10 enrolled, default policy
GENUINE_RIGHT_TARGET_PCT = 85.0  # at least, 10 enrolled, default policy


def _names(result: dict[str, Any]) -> str:
    names = result.get("names") or {}
    return ", ".join(f"{name}×{count}" for name, count in names.items()) or "none"


def _baseline_row(row_id: str, label: str, result: dict[str, Any]) -> Row:
    note = (f"{result['frames']} frames read, {result['analysed']} analysed "
            f"({fmt(result['analysed_fps'])} analysed/s), in {result['seconds']:.1f} s; {result['faces']} faces; "
            f"names per frame: {_names(result)}; gallery: {result['gallery_encodings']} images encoded")
    if result.get("gallery_without_face"):
        note += f", no face found in {', '.join(result['gallery_without_face'])}"
    return Row(row_id, label, value=result["fps"], unit="frames/s", note=note, details=result)


def baseline_rows(ctx: Context) -> list[Row]:
    """face_recognition's facerec_from_webcam_faster.py loop on the 1080p sample: as the example is
    written (every other frame analysed) and over every frame. Both count frames read per second."""
    written = run_script("baseline.py", ["--scale", "0.25", "--every", "2"], ctx.timeout(BASELINE_TIMEOUT_S))
    every = run_script("baseline.py", ["--scale", "0.25", "--every", "1"], ctx.timeout(BASELINE_TIMEOUT_S))
    ctx.baseline_fps, ctx.baseline_every_frame_fps = written["fps"], every["fps"]
    return [_baseline_row("baseline.written", "face_recognition fast loop as written: HOG, every other frame", written),
            _baseline_row("baseline.every", "face_recognition fast loop: HOG, every frame", every)]


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


def strangers_rows(ctx: Context) -> list[Row]:
    """bench/open_set.py's section (a) at face01d's DEFAULT_POLICY and at face_recognition's 0.6 (no margin)."""
    result = run_script("open_set.py", ["--summary-json"], ctx.timeout(STRANGERS_TIMEOUT_S))
    rows = []
    for policy in ("default", "face_recognition"):
        for size in ("10", "100"):
            rows += _strangers_pair(result, policy, size)
    cache = result.get("cache", {})
    rows[0].note += (f"; {result['strangers_with_face']} of {result['strangers']} strangers with a face, "
                     f"{result['no_face']} of {result['images']} photos without; LFW cache "
                     f"{'warm' if cache.get('warm') else 'encoded in this run'}, {result['seconds']:.1f} s")
    return rows


def _strangers_pair(result: dict[str, Any], policy: str, size: str) -> list[Row]:
    """Strangers named and genuine named right for one policy and gallery size."""
    trials = result["galleries"][size]
    measured = trials[policy]
    setting = f"{measured['tolerance']:.2f}" + (f"/{measured['margin']:.2f}" if measured["margin"] else "")
    who = "default" if policy == "default" else "face_recognition"
    prefix = "strangers" if policy == "default" else "strangers.fr"
    details = {"policy": policy, "enrolled": int(size), "galleries": trials["galleries"], **measured}
    named = Row(f"{prefix}.{size}.named", f"{size} enrolled, {who} {setting}: strangers named",
                value=round(measured["strangers_named_pct"], 3), unit="%", details=details)
    right = Row(f"{prefix}.{size}.genuine", f"{size} enrolled, {who} {setting}: genuine right",
                value=round(measured["genuine_right_pct"], 2), unit="%", details=details)
    if policy == "default" and size == "10":
        named = judge(named, named.value, "<=", STRANGERS_NAMED_TARGET_PCT, "%", 2)
        right = judge(right, right.value, ">=", GENUINE_RIGHT_TARGET_PCT, "%", 1)
    elif policy == "default":
        named.margin = right.margin = "reported"
    else:
        named.margin = right.margin = "for comparison"
    named.note = (f"{measured['strangers_named']} of {measured['stranger_trials']} stranger trials "
                  f"({measured['strangers_named_pct']:.2f} %: {trials['strangers_per_gallery']} strangers × "
                  f"{trials['galleries']} galleries of {size})")
    right.note = (f"{measured['genuine_right']} of {measured['genuine_trials']} genuine photos; "
                  f"named as someone else {measured['genuine_wrong_name']}, no face {measured['genuine_no_face']}")
    if not measured["margin"]:
        named.note += "; no margin"
    return [named, right]
