"""Liveness benchmark: photo attacks judged live, genuine faces judged live (and how soon), blinks, cost.

    .venv/bin/python bench/attacks.py /tmp/attacks          # once: the attack set
    .venv/bin/python bench/liveness.py /tmp/attacks [--json out.json]

Every clip is read at its own 30 fps, every frame analysed as an access
camera would: mediapipe BlazeFace ("full") finds the faces, a small IoU
tracker follows them, and each face's crop goes through Face Mesh
(face01d.liveness.mesh); each track's landmarks then feed a
``LivenessTracker``. Landmarks are cached per clip under
``.cache/bench/liveness/`` (git-ignored), so changing a threshold and
rerunning costs seconds. Prints one JSON object:

- ``attacks``: clips with a track judged live (target: 0 of all), per clip
  the verdict and the largest cue values, so the margin to each threshold shows;
- ``genuine``: tracks of the real clips (face01/video/kim_jong_un_alone.mp4,
  face_recognition/examples/short_hamilton_clip.mp4) with at least
  ``--min-track-s`` of landmarks: how many were judged live and how many
  within 3 s of first sight (target ≥ 90 %), with each track's time to live;
- ``blinks``: precision and recall of the blink detector against
  bench/blinks.json (a blink counts as found when a detected one overlaps the
  annotated frames widened by ``--tolerance`` frames);
- ``cost_ms``: per frame and face, wall time of Face Mesh on the crop (crop
  included, measured when the landmarks were extracted, however busy the
  machine was then) and of the tracker's update while undecided; ``probe``:
  wall and CPU time of both on 90 frames of the 金正恩 clip, now;
- ``with_nonrigid_cue``: the same attacks and genuine tracks with the
  non-rigid motion cue on (off by default: README).

``--step N`` judges every N-th frame only (a camera analysed at 30/N fps).
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
import pickle
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from face01d.faces import FaceBox  # noqa: E402
from face01d.liveness import LivenessSettings, LivenessTracker, MeshLandmarker, face_crop  # noqa: E402
from face01d.liveness.eyes import eye_openness, find_blinks  # noqa: E402
from face01d.liveness.motion import inter_ocular  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CACHE = REPO / ".cache" / "bench" / "liveness"
BLINKS = REPO / "bench" / "blinks.json"
GENUINE = ("face01/video/kim_jong_un_alone.mp4", "face_recognition/examples/short_hamilton_clip.mp4")
CACHE_VERSION = 2
TRACK_IOU = 0.3
TRACK_GAP = 5  # frames a track may miss before it ends


@dataclass
class TrackSeries:
    """One face followed through a clip: per analysed frame, its index, time, box and landmarks."""

    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[FaceBox] = field(default_factory=list)
    landmarks: list[np.ndarray | None] = field(default_factory=list)
    mesh_ms: list[float] = field(default_factory=list)

    def usable_seconds(self, settings: LivenessSettings) -> float:
        """From the first to the last frame with landmarks of a face large enough to judge."""
        seen = [t for t, p in zip(self.times, self.landmarks) if _usable(p, settings)]
        return seen[-1] - seen[0] if seen else 0.0


def _usable(points: np.ndarray | None, settings: LivenessSettings) -> bool:
    return points is not None and inter_ocular(points) >= settings.min_inter_ocular_px


def _iou(a: FaceBox, b: FaceBox) -> float:
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    inter = max(w, 0) * max(h, 0)
    return inter / (a.area + b.area - inter) if inter else 0.0


def _assign(active: list[TrackSeries], boxes: list[FaceBox], index: int) -> list[TrackSeries]:
    """Greedy IoU matching of this frame's boxes to live tracks; new tracks for the rest."""
    out, free = [], [t for t in active if index - t.frames[-1] <= TRACK_GAP]
    for box in boxes:
        best = max(free, key=lambda t: _iou(t.boxes[-1], box), default=None)
        if best is not None and _iou(best.boxes[-1], box) >= TRACK_IOU:
            free.remove(best)
            out.append(best)
        else:
            out.append(TrackSeries())
    return out


def extract(video: Path, detector, landmarker: MeshLandmarker) -> list[TrackSeries]:  # noqa: ANN001
    """Every track of ``video`` with Face Mesh landmarks on each of its frames."""
    capture, tracks, index = cv2.VideoCapture(str(video)), [], 0
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        boxes = [d.box for d in detector.detect(rgb)]
        for track, box in zip(_assign(tracks, boxes, index), boxes):
            if not track.frames:
                tracks.append(track)
            _add(track, rgb, box, index, index / fps, landmarker)
        index += 1
    capture.release()
    return tracks


def _add(track: TrackSeries, rgb: np.ndarray, box: FaceBox, index: int, t: float, landmarker: MeshLandmarker) -> None:
    start = time.perf_counter()
    crop = face_crop(rgb, box)
    points = landmarker.landmarks(crop) if crop is not None else None
    track.mesh_ms.append((time.perf_counter() - start) * 1000)
    track.frames.append(index)
    track.times.append(t)
    track.boxes.append(box)
    track.landmarks.append(points)


def cached_tracks(video: Path, detector, landmarker: MeshLandmarker) -> list[TrackSeries]:  # noqa: ANN001
    """``extract``'s result, from the cache when the clip has not changed (plain data, pickled)."""
    stat = video.stat()
    key = CACHE / f"{video.stem}-{stat.st_size}-{int(stat.st_mtime)}-v{CACHE_VERSION}.pkl"
    if key.exists():
        return [_from_plain(t) for t in pickle.loads(key.read_bytes())]
    tracks = extract(video, detector, landmarker)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(pickle.dumps([_to_plain(t) for t in tracks]))
    return tracks


def _to_plain(track: TrackSeries) -> dict:
    return {**vars(track), "boxes": [b.as_tuple() for b in track.boxes]}


def _from_plain(plain: dict) -> TrackSeries:
    return TrackSeries(**{**plain, "boxes": [FaceBox(*b) for b in plain["boxes"]]})


def judge(track: TrackSeries, settings: LivenessSettings) -> dict:
    """Replay a track through a LivenessTracker: the verdict, when it came, the cues, the cost."""
    tracker, first_live, cost = LivenessTracker(settings), None, []
    first_seen = next((t for t, p in zip(track.times, track.landmarks) if _usable(p, settings)), None)
    for t, points in zip(track.times, track.landmarks):
        start, deciding = time.perf_counter(), tracker.verdict.state == "undecided"
        verdict = tracker.update(t, points)
        if deciding:  # a decided tracker returns at once: not a cost worth averaging in
            cost.append((time.perf_counter() - start) * 1000)
        if verdict.state == "live" and first_live is None:
            first_live = t - (t if first_seen is None else first_seen)
    v = tracker.verdict
    return {
        "first_frame": track.frames[0], "last_frame": track.frames[-1], "state": v.state, "reason": v.reason,
        "live_after_s": None if first_live is None else round(first_live, 3), "usable_frames": v.frames,
        "usable_s": round(track.usable_seconds(settings), 2), "blinks": v.blinks, "glances": v.glances,
        "nonrigid_pairs": v.nonrigid_pairs, "max_residual": round(v.max_residual, 4), "_cost": cost,
    }


def _summary(values: list[float]) -> dict:
    if not values:
        return {}
    return {"median": round(float(np.median(values)), 3), "p90": round(float(np.percentile(values, 90)), 3)}


def attack_report(clips: dict[str, list[TrackSeries]], settings: LivenessSettings) -> dict:
    """Each attack clip's tracks judged; a clip fails when any of its tracks is judged live."""
    per_clip = {name: [judge(t, settings) for t in tracks] for name, tracks in clips.items()}
    live = sorted(name for name, judged in per_clip.items() if any(j["state"] == "live" for j in judged))
    states = Counter(f"{j['state']}:{j['reason']}" for judged in per_clip.values() for j in judged)
    return {
        "clips": len(per_clip), "judged_live": len(live), "live_clips": live, "target": 0,
        "clips_not_live": sum(any(j["state"] == "not_live" for j in judged) for judged in per_clip.values()),
        "tracks_by_verdict": dict(sorted(states.items())),
        "live_tracks": {name: [_public(j) for j in judged if j["state"] == "live"] for name, judged in per_clip.items()
                        if name in live},
    }


def genuine_report(clips: dict[str, list[TrackSeries]], settings: LivenessSettings, min_track_s: float) -> dict:
    """Tracks of the real clips long enough to judge: judged live, and live within 3 s of first sight."""
    judged = [{"clip": name, **judge(t, settings)} for name, tracks in clips.items() for t in tracks
              if t.usable_seconds(settings) >= min_track_s]
    within = [j for j in judged if j["live_after_s"] is not None and j["live_after_s"] <= 3.0]
    every = sum(len(tracks) for tracks in clips.values())
    return {
        "tracks": len(judged), "left_out_short_or_small": every - len(judged),
        "judged_live": sum(j["state"] == "live" for j in judged),
        "live_within_3s": len(within), "share_within_3s": round(len(within) / len(judged), 3) if judged else None,
        "target_share": 0.9, "per_track": [_public(j) for j in judged],
    }


def _brief(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("per_track", "tracks_by_verdict")}


def _public(judged: dict) -> dict:
    return {k: v for k, v in judged.items() if not k.startswith("_")}


def _track_near(tracks: list[TrackSeries], frame: int, near: tuple[float, float]) -> TrackSeries | None:
    """The track with a box on ``frame`` closest to the point ``near``."""
    def distance(track: TrackSeries) -> float:
        box = track.boxes[track.frames.index(frame)]
        return float(np.hypot((box.left + box.right) / 2 - near[0], (box.top + box.bottom) / 2 - near[1]))
    holding = [t for t in tracks if frame in t.frames]
    return min(holding, key=distance, default=None)


def detected_blinks(track: TrackSeries, fps: float = 30.0) -> list[tuple[int, int]]:
    """The blink detector over a whole track, as (first, last) frame numbers."""
    times = np.array([t for t, p in zip(track.times, track.landmarks) if p is not None])
    ears = np.array([eye_openness(p) for p in track.landmarks if p is not None])
    return [(round(b.start * fps), round(b.end * fps)) for b in find_blinks(times, ears)]


def blink_report(clips: dict[str, list[TrackSeries]], tolerance: int) -> dict:
    """Precision and recall of detected blinks against bench/blinks.json, within ``tolerance`` frames."""
    annotations = json.loads(BLINKS.read_text(encoding="utf-8"))
    true_pos = found_truth = detected = truth = 0
    faces = []
    for clip, entries in ((k, v) for k, v in annotations.items() if not k.startswith("_")):
        for entry in entries:
            track = _track_near(clips[clip], entry["at_frame"], entry["near"])
            first, last = entry["annotated"]
            found = [b for b in detected_blinks(track) if first <= b[0] <= last] if track else []
            hit = [any(_overlap(b, a, tolerance) for a in entry["blinks"]) for b in found]
            got = [any(_overlap(b, a, tolerance) for b in found) for a in entry["blinks"]]
            true_pos, found_truth = true_pos + sum(hit), found_truth + sum(got)
            detected, truth = detected + len(found), truth + len(entry["blinks"])
            faces.append({"clip": clip, "face": entry["face"], "annotated": entry["blinks"], "detected": found})
    return {
        "annotated": truth, "detected": detected, "tolerance_frames": tolerance,
        "precision": round(true_pos / detected, 3) if detected else None,
        "recall": round(found_truth / truth, 3) if truth else None, "faces": faces,
    }


def _overlap(found: tuple[int, int], truth: list[int], tolerance: int) -> bool:
    return found[0] <= truth[1] + tolerance and found[1] >= truth[0] - tolerance


def cost_report(clips: dict[str, list[TrackSeries]], settings: LivenessSettings) -> dict:
    """Per frame and face, wall time: Face Mesh on the crop (when extracted) and the tracker's update (now)."""
    mesh = [ms for tracks in clips.values() for t in tracks for ms in t.mesh_ms]
    update = [ms for tracks in clips.values() for t in tracks for ms in judge(t, settings)["_cost"]]
    return {"mesh_wall_ms": _summary(mesh), "tracker_wall_ms": _summary(update), "faces_measured": len(mesh),
            "probe": probe_cost(DATA / GENUINE[0])}


def probe_cost(video: Path, frames: int = 90) -> dict:
    """Wall and CPU time per face, in this process, on one clip's first frames (CPU: unhurt by other load)."""
    from face01d.vision.detectors import MediapipeDetector

    capture, detector, images = cv2.VideoCapture(str(video)), MediapipeDetector("full", 0.5), []
    for _ in range(frames):
        images.append(cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB))
    capture.release()
    boxes = [max((d.box for d in detector.detect(rgb)), key=lambda b: b.area) for rgb in images]
    with MeshLandmarker() as landmarker:
        landmarker.landmarks(face_crop(images[0], boxes[0]))  # the graph's first run is slower
        mesh, points = _timed(lambda: [landmarker.landmarks(face_crop(i, b)) for i, b in zip(images, boxes)])
    out = {"mesh_and_crop": mesh}
    never = LivenessSettings(deadline_s=1e9, glance_shift=1e9, blink_close_ratio=0.0)  # measures, never decides
    variants = (("tracker", never), ("tracker_with_nonrigid", replace(never, nonrigid_pairs=10**6)))
    for name, settings in variants:
        tracker = LivenessTracker(settings)
        out[name] = _timed(lambda: [tracker.update(k / 30, p) for k, p in enumerate(points)])[0]
    return {k: {"wall_ms": round(v[0] / frames, 3), "cpu_ms": round(v[1] / frames, 3)} for k, v in out.items()}


def _timed(work) -> tuple[tuple[float, float], list]:  # noqa: ANN001
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000), result


def load_clips(paths: list[Path]) -> dict[str, list[TrackSeries]]:
    """Tracks of each clip, from the cache or measured now (one detector and landmarker, this thread)."""
    from face01d.vision.detectors import MediapipeDetector

    detector, out = MediapipeDetector("full", 0.5), {}
    with MeshLandmarker() as landmarker:
        for path in paths:
            out[path.name] = cached_tracks(path, detector, landmarker)
    return out


def _every(clips: dict[str, list[TrackSeries]], step: int) -> dict[str, list[TrackSeries]]:
    """Each track with only every ``step``-th of its frames: a camera analysed at 30 / step fps."""
    def thin(track: TrackSeries) -> TrackSeries:
        keep = [i for i, frame in enumerate(track.frames) if frame % step == 0]
        fields = ("frames", "times", "boxes", "landmarks", "mesh_ms")
        return TrackSeries(*([getattr(track, f)[i] for i in keep] for f in fields))
    return {name: [t for t in map(thin, tracks) if t.frames] for name, tracks in clips.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attacks", type=Path, help="the folder bench/attacks.py wrote")
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    parser.add_argument("--min-track-s", type=float, default=1.0, help="genuine tracks shorter than this are left out")
    parser.add_argument("--tolerance", type=int, default=3, help="frames of slack when matching blinks")
    parser.add_argument("--step", type=int, default=1, help="judge every STEP-th frame only (2: 15 fps, 3: 10 fps)")
    args = parser.parse_args(argv)
    settings, variant = LivenessSettings(), LivenessSettings(nonrigid_pairs=3)
    attack_clips = _every(load_clips(sorted(args.attacks.glob("*.mp4"))), args.step)
    genuine_clips = _every(dict(zip(GENUINE, load_clips([DATA / g for g in GENUINE]).values())), args.step)
    report = {
        "fps": round(30 / args.step, 1),
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)},
        "settings": {k: getattr(settings, k) for k in settings.__slots__},
        "attacks": attack_report(attack_clips, settings),
        "genuine": genuine_report(genuine_clips, settings, args.min_track_s),
        "blinks": blink_report(genuine_clips, args.tolerance),
        "cost_ms": cost_report({**attack_clips, **genuine_clips}, settings),
        "with_nonrigid_cue": {
            "nonrigid_pairs": variant.nonrigid_pairs,
            "attacks": _brief(attack_report(attack_clips, variant)),
            "genuine": _brief(genuine_report(genuine_clips, variant, args.min_track_s)),
        },
    }
    text = json.dumps(report, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
