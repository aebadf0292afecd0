"""Section "access": the door end to end, in-process, on the real pipeline, models and clips.

    .venv/bin/python bench/run --only access       # in the suite
    .venv/bin/python bench/access.py [--json out.json]

An access camera (``access = true``, ``[access]`` defaults, mediapipe, every
frame at pace "none") watches:

- a small photo-attack set built with bench/attacks.py (each FACE01 person's
  display photo as a print, a phone and a flexed print, 5 s each; kept under
  ``.cache/bench/access/``, git-ignored, so a rerun only judges): the row is
  the clips with any track ``granted`` (target: 0 of all);
- the annotated genuine clips (bench/blinks.json: the 金正恩 sample and the
  Hamilton clip, with Lin-Manuel Miranda and Alex Lacamoire enrolled from
  face_recognition's example photos): tracks of registered people answered,
  and the share ``granted`` within 3 s of their first frame at the door
  (the event's ``latency_ms``; target ≥ 90 %);
- blink detection precision and recall against bench/blinks.json
  (bench/liveness.py's scoring, landmarks cached there);
- the liveness cost per face and frame: the door's own wall time (crop,
  colour conversion, Face Mesh, verdict) as the pipeline measured it, and
  bench/liveness.py's CPU probe.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import attacks as attack_set  # noqa: E402
from common import DATA, GALLERY, HAMILTON_VIDEO, KIM_VIDEO, REPO, Context, Row, judge  # noqa: E402

CACHE = REPO / ".cache" / "bench" / "access"
ATTACK_SECONDS = 5.0
WITHIN_S = 3.0
GENUINE_TARGET_PCT = 90.0
EXTRA_PEOPLE = {"LinManuelMiranda": "lin-manuel-miranda.png", "AlexLacamoire": "alex-lacamoire.png"}


def attack_clips() -> list[Path]:
    """The gallery photos in every style, built once into the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in attack_set.attack_specs(DATA, 0, ATTACK_SECONDS):
        if not Path(spec.still).stem.endswith("_default"):
            continue  # the display photo of each person is enough for a 2-minute section
        path = CACHE / f"{spec.name}.mp4"
        if not path.exists():
            attack_set.encode(spec, path)
        clips.append(path)
    return clips


def gallery_folder(tmp: Path) -> Path:
    """The FACE01 gallery and the two Hamilton people (the annotated clips' registered faces)."""
    folder = tmp / "access-gallery"
    folder.mkdir(parents=True, exist_ok=True)
    for image in GALLERY.iterdir():
        shutil.copy(image, folder / image.name)
    for name, file in EXTRA_PEOPLE.items():
        shutil.copy(DATA / "face_recognition" / "examples" / file, folder / f"{name}_default.png")
    return folder


async def run_door(video: Path, recognizer: Any, config: Any, workers: Any) -> dict[str, Any]:  # noqa: ANN401
    """One clip through an access camera: its access events and the door's stats."""
    from face01d.config.models import CameraConfig
    from face01d.events.model import EventType
    from face01d.pipeline import CameraPipeline
    from face01d.sinks.base import Sink
    from face01d.sinks.outputs import Outputs

    class Kept(Sink):
        """Keeps the events it is told (a real Sink behind the daemon's Outputs)."""

        def __init__(self) -> None:
            self.events: list[Any] = []

        def publish_event(self, event: Any, frame: Any = None) -> None:  # noqa: ANN401
            self.events.append(event)

    camera = CameraConfig(name="door", source=str(video), pace="none", access=True)
    kept = Kept()
    pipeline = CameraPipeline(camera, config=config, recognizer=recognizer, workers=workers, outputs=Outputs([kept]))
    await pipeline.run()
    answers = [e for e in kept.events if e.type is EventType.ACCESS]
    return {"answers": [{"name": e.name, "granted": e.granted, "reasons": list(e.reasons or ()),
                         "latency_ms": e.latency_ms, "percentage": e.percentage, "votes": e.votes,
                         "liveness": e.liveness.as_dict() if e.liveness else None} for e in answers],
            "stats": pipeline.stats()["access"]}


async def measure(tmp: Path) -> dict[str, Any]:
    from face01d.config.models import CameraConfig, Config, DetectorConfig, GalleryConfig
    from face01d.recognition.recognizer import Recognizer, load_gallery
    from face01d.workers import ThreadWorkers, VisionSettings

    gallery = GalleryConfig(path=gallery_folder(tmp), cache_dir=tmp / "access-gallery-cache")
    config = Config(gallery=gallery, detector=DetectorConfig(kind="mediapipe"),
                    cameras=[CameraConfig(name="door", source="x.mp4", access=True)])
    loaded, _report = await asyncio.to_thread(load_gallery, gallery)
    recognizer = Recognizer(config.detector, gallery, loaded)
    workers = ThreadWorkers(VisionSettings(config.detector), threads=2)
    await workers.start()
    try:
        attacks = {p.name: await run_door(p, recognizer, config, workers) for p in attack_clips()}
        genuine = {p.name: await run_door(p, recognizer, config, workers) for p in (KIM_VIDEO, HAMILTON_VIDEO)}
    finally:
        await workers.stop()
    return {"attacks": attacks, "genuine": genuine}


def attack_row(attacks: dict[str, Any]) -> Row:
    granted = sorted(name for name, run in attacks.items() if any(a["granted"] for a in run["answers"]))
    row = judge(Row("access.attacks", "photo attacks granted (clips)"), len(granted), "<=", 0, "clips", 0)
    denied = {name: [a["reasons"] for a in run["answers"]] for name, run in attacks.items()}
    row.note = f"of {len(attacks)} clips; granted: {', '.join(granted) or 'none'}"
    row.details = {"clips": len(attacks), "granted": granted, "answers": denied}
    return row


def genuine_row(genuine: dict[str, Any]) -> Row:
    known = [a | {"clip": clip} for clip, run in genuine.items() for a in run["answers"] if a["name"] != "Unknown"]
    within = [a for a in known if a["granted"] and a["latency_ms"] is not None and a["latency_ms"] <= WITHIN_S * 1000]
    share = 100.0 * len(within) / len(known) if known else None
    row = judge(Row("access.genuine", f"genuine tracks granted within {WITHIN_S:g} s"), share, ">=",
                GENUINE_TARGET_PCT, "%")
    times = sorted(a["latency_ms"] for a in known if a["granted"])
    row.note = f"{len(within)} of {len(known)} tracks of registered people; time to granted (ms): {times}"
    row.details = {"tracks": known, "unknown_answers": sum(len(r["answers"]) for r in genuine.values()) - len(known)}
    return row


def blink_rows() -> list[Row]:
    import liveness as liveness_bench

    clips = liveness_bench.load_clips([DATA / g for g in liveness_bench.GENUINE])
    report = liveness_bench.blink_report(dict(zip(liveness_bench.GENUINE, clips.values())), 3)
    rows = []
    for key in ("precision", "recall"):
        value = None if report[key] is None else round(100.0 * report[key], 1)
        row = Row(f"access.blinks.{key}", f"blink {key} (bench/blinks.json)", value, "%")  # 2 blinks: no target
        row.note = (f"{report['detected']} detected, {report['annotated']} annotated, "
                    f"±{report['tolerance_frames']} frames")
        row.details = report
        rows.append(row)
    return rows


def cost_row(genuine: dict[str, Any]) -> Row:
    import liveness as liveness_bench

    probe = liveness_bench.probe_cost(KIM_VIDEO)
    door = genuine[KIM_VIDEO.name]["stats"]["mesh_ms"] or {}
    row = Row("access.cost", "liveness per face and frame (wall p50, door)", door.get("p50"), "ms")
    row.note = (f"door p99 {door.get('p99')} ms over {door.get('n')} faces; CPU probe: mesh+crop "
                f"{probe['mesh_and_crop']['cpu_ms']} ms, verdict {probe['tracker']['cpu_ms']} ms")
    row.details = {"door": door, "probe": probe}
    return row


def access_rows(ctx: Context) -> list[Row]:
    results = asyncio.run(measure(ctx.tmp))
    return [attack_row(results["attacks"]), genuine_row(results["genuine"]), *blink_rows(),
            cost_row(results["genuine"])]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="face01d-access-") as tmp:
        rows = access_rows(Context(Path(tmp)))
    for row in rows:
        print(f"{row.id:24} {row.value!s:>10} {row.unit:6} {row.target:12} {row.status:7} {row.note}")
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
