"""face01d's benchmark suite: one command, every headline number, one run.

    bench/run [--json bench/results.json] [--only SECTIONS] [--skip SECTIONS]

Sections, in order: baseline, e2e, open, strangers, stage, live, cameras,
remote, gallery, startup, access, grouping (bench/README.md says what each measures). Each step runs
its subprocesses with timeouts; a step that fails becomes an "error: ..." row
and the suite goes on. Prints the table and writes the same rows as JSON;
exits 1 when a target was missed or a row failed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from access import access_rows
from cameras import camera_rows, camera_rows_remote
from common import BENCH, Context, Row, error_row
from e2e import e2e_rows, open_set_rows, stage_rows
from grouping_rows import GROUPING_TITLE, grouping_rows
from live import live_rows
from remote_rows import gallery_rows as gallery_share_rows
from remote_rows import killed_rows, worker_rows
from machine import load_average, machine_info
from report import SECTIONS, print_report, write_json
from script_rows import STRANGERS_TITLE, baseline_rows, full_resolution_rows, gallery_rows, strangers_rows
from startup import help_row, ready_row

SECTION_NAMES = ("baseline", "e2e", "open", "strangers", "stage", "live", "cameras", "remote", "gallery", "startup",
                 "access", "grouping")
SECTIONS.setdefault("strangers", STRANGERS_TITLE)  # the table's heading, unless report.py names it
SECTIONS.setdefault("remote", "11. Remote encoding and the shared gallery (face01d worker, loopback)")
SECTIONS.setdefault("grouping", GROUPING_TITLE)
SECTIONS.setdefault("access", "10. Access: photo attacks, genuine faces at the door, blinks, liveness cost")
DETECTORS = ("hog", "mediapipe")
LIVE_CAMERAS = (1, 2, 4)

Step = tuple[str, str, str, Callable[[Context], list[Row]]]  # section, row id, label, function


def steps(args: argparse.Namespace) -> list[Step]:
    plan: list[Step] = [("baseline", "baseline", "face_recognition fast loop", baseline_rows)]
    if not args.no_full_res:
        plan.append(("baseline", "baseline.full", "face_recognition loop, full resolution", full_resolution_rows))
    for kind in args.detectors:
        plan.append(("e2e", f"e2e.{kind}", f"face01d {kind} end to end", partial(e2e_rows, detector=kind)))
    for kind in args.detectors:
        plan.append(("open", f"open.{kind}", f"face01d {kind}, gallery without 金正恩",
                     partial(open_set_rows, detector=kind)))
    plan.append(("strangers", "strangers", "LFW View 1 open set (bench/open_set.py --summary-json)", strangers_rows))
    for kind in args.detectors:
        plan.append(("stage", f"stage.{kind}", f"{kind}: per stage", partial(stage_rows, detector=kind)))
    for count in LIVE_CAMERAS:
        plan.append(("live", f"live.{count}", f"live, {count} camera(s)", partial(live_rows, count=count)))
    plan.append(("cameras", "cameras", "live 1080p cameras, stepped up", camera_rows))
    plan.append(("cameras", "cameras.remote", "live 1080p cameras, stepped up, remote encoding", camera_rows_remote))
    plan.append(("remote", "remote.workers", "encode jobs/s: local, 1 and 2 remote workers", worker_rows))
    plan.append(("remote", "remote.killed", "decision latency, a worker killed mid-run", killed_rows))
    plan.append(("remote", "remote.gallery", "a gallery change reaches three nodes", gallery_share_rows))
    plan.append(("gallery", "gallery", "gallery scale", gallery_rows))
    plan.append(("startup", "startup.help", "face01d --help", lambda ctx: [help_row(ctx)]))
    for kind in args.detectors:
        plan.append(("startup", f"startup.ready.{kind}", f"spawn → READY, {kind}",
                     lambda ctx, kind=kind: [ready_row(ctx, kind)]))
    plan.append(("access", "access", "access camera: attacks, genuine, blinks, cost", access_rows))
    plan.append(("grouping", "grouping", "unknown faces grouped (bench/grouping.py)", grouping_rows))
    return [step for step in plan if step[0] in args.only and step[0] not in args.skip]


def run_step(step: Step, ctx: Context, started: float, budget: float) -> list[Row]:
    section, row_id, label, function = step
    if time.perf_counter() - started > budget:
        spent = f"error: skipped, the suite's {budget:.0f} s budget is spent"
        return [Row(row_id, label, status="error", margin=spent)]
    print(f"[bench] {row_id} ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    try:
        rows = function(ctx)
    except Exception as error:  # one failing row must not end the run
        rows = [error_row(row_id, label, error)]
    print(f"[bench] {row_id} done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    return rows


def sections(text: str) -> set[str]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(SECTION_NAMES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTION_NAMES)}")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=BENCH / "results.json", help="where to write the JSON results")
    parser.add_argument("--only", type=sections, default=set(SECTION_NAMES),
                        help=f"comma-separated sections to run: {', '.join(SECTION_NAMES)} (default all)")
    parser.add_argument("--skip", type=sections, default=set(), help="comma-separated sections to leave out")
    parser.add_argument("--detectors", type=lambda s: [d for d in s.split(",") if d], default=list(DETECTORS),
                        help="detectors for rows 2, 3 and 6 (default hog,mediapipe)")
    parser.add_argument("--live-detector", choices=DETECTORS, default="mediapipe", help="detector for row 4")
    parser.add_argument("--no-full-res", action="store_true", help="leave out the full-resolution baseline row")
    parser.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every subprocess timeout")
    parser.add_argument("--budget", type=float, default=840.0,
                        help="seconds after which the remaining steps are skipped (marked as errors)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the scratch folder (configs, caches)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="face01d-bench-"))
    ctx = Context(tmp, timeout_scale=args.timeout_scale, live_detector=args.live_detector)
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        for step in steps(args):
            rows.extend(run_step(step, ctx, started, args.budget))
    finally:
        if args.keep_tmp:
            print(f"[bench] scratch folder kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - started
    options = {key: sorted(value) if isinstance(value, set) else value for key, value in vars(args).items()}
    extra = {"load_average_at_end": load_average(), "options": options}
    write_json(args.json, machine, rows, seconds, extra)
    print_report(machine, rows, seconds)
    print(f"JSON: {args.json}", file=sys.stderr)
    return 1 if any(row.status in ("missed", "error") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
