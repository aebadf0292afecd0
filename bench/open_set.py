"""Open-set recognition: how often a stranger is named, against how often a
registered person is, for the tolerance, margin and K-of-N vote of
face01d.recognition.decision. The defaults there are chosen from this output.

    .venv/bin/python bench/open_set.py [--fresh]

(a) LFW View 1: 300 people with ≥ 2 images, each enrolled with one photo, as
    thirty disjoint 10-person galleries and three 100-person galleries
    (results pooled); 400 other people, one photo each, as strangers: the
    strangers named as someone and the genuine photos named right, over
    tolerance × margin (one photo = one vote, K = N = 1).
(b) kim_jong_un_alone.mp4 with HOG and mediapipe: wrong names per frame and
    per K-of-N window of consecutive votes, with 金正恩 removed and enrolled.
(c) knn_examples: every probe still identified.
(d) quality gates: what a small, blurred or turned face does.
(e) Matcher.votes against 100,000 people.

Encodings are cached under .cache/bench/open_set/ (git-ignored); --fresh
encodes again. A first run encodes ~2,100 faces: 3-4 minutes on 2 idle
cores, ~6 on busy ones; later runs take ~30 s.

    .venv/bin/python bench/open_set.py --summary-json

computes only (a)'s numbers for face01d's DEFAULT_POLICY (tolerance, margin;
one look per photo) and for face_recognition's setting (0.6, no margin), at
10 and 100 enrolled, and prints them as one JSON object on stdout (progress
on stderr): what bench/run's "strangers" section reads. It needs only the
LFW encodings (~1,600 faces when the cache is stale: 2-3 minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from face01d.config.models import DetectorConfig, DetectorKind, GalleryConfig  # noqa: E402
from face01d.faces import FaceBox, Vote  # noqa: E402
from face01d.gallery import Gallery, Matcher  # noqa: E402
from face01d.recognition.decision import (  # noqa: E402
    DEFAULT_GATES,
    DEFAULT_POLICY,
    DecisionPolicy,
    QualityGates,
    TrackState,
    Verdict,
    decide,
)
from face01d.recognition.recognizer import load_gallery  # noqa: E402
from face01d.vision.analyzer import FaceAnalyzer  # noqa: E402
from face01d.vision.image import load_image  # noqa: E402
from face01d.vision.quality import sharpness  # noqa: E402

CACHE = REPO / ".cache" / "bench" / "open_set"
KIM = "金正恩"
ENROLLED, SMALL, LARGE, STRANGERS, MAX_PROBES = 300, 10, 100, 400, 3
TOLERANCES = (0.40, 0.44, 0.46, 0.48, 0.50, 0.51, 0.52, 0.53, 0.55, 0.60)
MARGINS = (0.0, 0.04, 0.06, 0.08, 0.10)
LFW_TARGET = DecisionPolicy(0.52, 0.08, 4, 7)  # the nearest policy that meets the LFW recall target (see (b))
CLIP_POLICIES = (
    DecisionPolicy(0.60, 0.0, 1, 1),  # face_recognition, per frame
    DecisionPolicy(0.60, 0.0, 3, 5),
    DecisionPolicy(DEFAULT_POLICY.tolerance, DEFAULT_POLICY.margin, 1, 1),
    DecisionPolicy(DEFAULT_POLICY.tolerance, DEFAULT_POLICY.margin, 2, 3),
    DEFAULT_POLICY,
    DecisionPolicy(DEFAULT_POLICY.tolerance, DEFAULT_POLICY.margin, 4, 7),
    DecisionPolicy(0.51, DEFAULT_POLICY.margin, DEFAULT_POLICY.votes_needed, DEFAULT_POLICY.window),
    DecisionPolicy(0.52, 0.04, 3, 5),
    DecisionPolicy(0.52, 0.08, 3, 5),
    LFW_TARGET,
    DecisionPolicy(0.53, 0.08, 4, 7),
)
VOTE_EVERY = (1, 3)  # a vote from every frame, or from every third (a track votes on a schedule)


def data_root() -> Path:
    return Path(os.environ.get("FACE01D_DATA", REPO.parent / "shared" / "data"))


def pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


# --------------------------------------------------------------------------- encoding, cached


@dataclass(frozen=True)
class Looks:
    """Encoded faces with what the quality gates look at; row i is one face."""

    keys: np.ndarray  # (n,) str: "person/file" for images, "frame:face" or "look:frame" for the clip
    frames: np.ndarray  # (n,) int: video frame (-1 for images)
    encodings: np.ndarray  # (n, 128); NaN rows: no face found
    boxes: np.ndarray  # (n, 4) top, right, bottom, left
    widths: np.ndarray  # (n,) px
    sharpness: np.ndarray  # (n,) vision.quality.sharpness
    yaws: np.ndarray  # (n,) vision.quality.yaw_from_points

    def found(self) -> np.ndarray:
        return ~np.isnan(self.encodings[:, 0])

    def passes(self, row: int, gates: QualityGates) -> bool:
        return gates.passes(int(self.widths[row]), float(self.sharpness[row]), float(self.yaws[row]))


def vision_version() -> str:
    """A hash of face01d/vision's source: a changed detector or encoder invalidates the cache."""
    digest = hashlib.sha256()
    for source in sorted((REPO / "face01d" / "vision").glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def cached(name: str, fresh: bool, compute: Callable[[], Looks]) -> Looks:
    path = CACHE / vision_version() / f"{name}.npz"
    names = [f.name for f in fields(Looks)]
    if path.exists() and not fresh:
        with np.load(path, allow_pickle=False) as saved:
            return Looks(**{field: saved[field] for field in names})
    started = time.perf_counter()
    looks = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{field: getattr(looks, field) for field in names})
    print(f"  (encoded {name}: {len(looks.keys)} faces in {time.perf_counter() - started:.0f} s, cached in {path})")
    return looks


def _looks(keys: list[str], frames: list[int], rows: list[tuple]) -> Looks:
    """Looks from rows of (encoding, FaceBox, sharpness, yaw)."""
    encodings = np.array([r[0] for r in rows]).reshape(len(rows), 128)
    boxes = np.array([r[1].as_tuple() for r in rows], dtype=int).reshape(len(rows), 4)
    columns = [np.array([r[i] for r in rows], dtype=float) for i in (2, 3)]
    widths = boxes[:, 1] - boxes[:, 3]
    return Looks(np.array(keys, dtype=str), np.array(frames, dtype=int), encodings, boxes, widths, *columns)


def encode_largest(analyzer: FaceAnalyzer, keys: Sequence[str], images: Iterable[np.ndarray]) -> Looks:
    """The largest face of each RGB image (a NaN row if none), as the LFW protocol does."""
    rows = []
    for image in images:
        detections = analyzer.detect(image, color="rgb")[:1]
        looks = analyzer.encode_with_pose(image, [d.box for d in detections], color="rgb")
        no_face = (np.full(128, np.nan), FaceBox(0, 0, 0, 0), 0.0, 1.0)
        rows.append((looks[0].encoding, detections[0].box, detections[0].sharpness, looks[0].yaw) if looks else no_face)
    return _looks(list(keys), [-1] * len(rows), rows)


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


def encode_clip(kind: DetectorKind, frames: list[np.ndarray]) -> Looks:
    """Every face of every frame as the daemon sees it: detected at set_width 640, encoded at full size."""
    analyzer = FaceAnalyzer(DetectorConfig(kind=kind, set_width=640), "small", 1)
    keys, indices, rows = [], [], []
    for index, bgr in enumerate(frames):
        detections = analyzer.detect(bgr)
        looks = analyzer.encode_with_pose(bgr, [d.box for d in detections])
        for face, (detection, look) in enumerate(zip(detections, looks)):
            keys.append(f"{index}:{face}")
            indices.append(index)
            rows.append((look.encoding, detection.box, detection.sharpness, look.yaw))
    return _looks(keys, indices, rows)


# --------------------------------------------------------------------------- (a) LFW open set


@dataclass(frozen=True)
class LfwSplit:
    enrolled: list[str]  # in gallery order: consecutive names form one gallery
    strangers: list[str]


def lfw_split(root: Path) -> LfwSplit:
    """Deterministic: people with ≥ 2 images spread evenly over the alphabet; strangers likewise from the rest."""
    people = sorted(p.name for p in (root / "images").iterdir() if p.is_dir())
    multi = [p for p in people if len(list((root / "images" / p).glob("*.jpg"))) >= 2]
    enrolled = [multi[round(i * len(multi) / ENROLLED)] for i in range(ENROLLED)]
    rest = [p for p in people if p not in set(enrolled)]
    return LfwSplit(enrolled, [rest[round(i * len(rest) / STRANGERS)] for i in range(STRANGERS)])


def lfw_looks(root: Path, split: LfwSplit, fresh: bool) -> Looks:
    files = [f for p in split.enrolled for f in sorted((root / "images" / p).glob("*.jpg"))[: 1 + MAX_PROBES]]
    files += [sorted((root / "images" / p).glob("*.jpg"))[0] for p in split.strangers]
    keys = [f"{f.parent.name}/{f.name}" for f in files]

    def encode() -> Looks:
        analyzer = FaceAnalyzer(DetectorConfig(kind=DetectorKind.HOG, upsampling=1), "small", 1)
        return encode_largest(analyzer, keys, (load_image(f) for f in files))

    return cached(f"lfw-{ENROLLED}-{STRANGERS}-{MAX_PROBES}", fresh, encode)


@dataclass(frozen=True)
class OpenSetTrial:
    """One gallery, its genuine probes and the strangers, as votes."""

    genuine: list[tuple[str, Vote | None]]  # (true name, vote; None: no face in the probe)
    strangers: list[Vote]


def lfw_trials(looks: Looks, split: LfwSplit, size: int, keep: np.ndarray | None = None) -> list[OpenSetTrial]:
    """One trial per gallery of ``size`` people: each one's first photo with a face enrolled, the
    others probe. With ``keep``, only those probes and strangers (photos without a face never)."""
    person = np.array([k.split("/")[0] for k in looks.keys])
    found = looks.found()
    keep = np.ones(len(person), dtype=bool) if keep is None else keep & found
    strangers = looks.encodings[found & keep & np.isin(person, split.strangers)]
    trials = []
    for start in range(0, len(split.enrolled), size):
        enrol, probes = _enrolment(found, person, split.enrolled[start : start + size])
        matcher = Matcher(Gallery(looks.encodings[enrol], tuple(person[enrol]), tuple(looks.keys[enrol])), 0.6)
        genuine = [(person[i], matcher.votes(looks.encodings[i])[0] if found[i] else None) for i in probes if keep[i]]
        trials.append(OpenSetTrial(genuine, matcher.votes(strangers)))
    return trials


def _enrolment(found: np.ndarray, person: np.ndarray, names: list[str]) -> tuple[list[int], list[int]]:
    enrol, probes = [], []
    for name in names:
        rows = list(np.flatnonzero(person == name))
        first = next((i for i in rows if found[i]), None)
        if first is not None:
            enrol.append(first)
            probes += [i for i in rows if i != first]
    return enrol, probes


@dataclass(frozen=True)
class OpenSetCounts:
    """Pooled over the trials: strangers named as someone, genuine probes named right."""

    strangers_named: int
    stranger_trials: int
    genuine_right: int
    genuine_trials: int
    genuine_wrong_name: int  # a genuine probe given someone else's name
    genuine_no_face: int  # a genuine probe without a face (a miss)


def open_set_counts(trials: list[OpenSetTrial], tolerance: float, margin: float) -> OpenSetCounts:
    policy = DecisionPolicy(tolerance, margin, 1, 1)
    genuine = [(name, v) for t in trials for name, v in t.genuine]
    return OpenSetCounts(
        sum(policy.supports(v) for t in trials for v in t.strangers),
        sum(len(t.strangers) for t in trials),
        sum(v is not None and v.name == name and policy.supports(v) for name, v in genuine),
        len(genuine),
        sum(v is not None and v.name != name and policy.supports(v) for name, v in genuine),
        sum(v is None for _, v in genuine),
    )


def open_set_rates(trials: list[OpenSetTrial], tolerance: float, margin: float) -> tuple[float, float]:
    """(% of strangers named as someone, % of genuine probes named right), pooled over the trials."""
    c = open_set_counts(trials, tolerance, margin)
    return pct(c.strangers_named, c.stranger_trials), pct(c.genuine_right, c.genuine_trials)


def print_open_set(looks: Looks, trials_10: list[OpenSetTrial], trials_100: list[OpenSetTrial]) -> None:
    genuine = sum(len(t.genuine) for t in trials_10)
    print(f"  {len(trials_10[0].strangers)} strangers (a face found in {len(trials_10[0].strangers)} of {STRANGERS}); "
          f"{genuine} genuine photos of the {ENROLLED} enrolled (no face found = a miss); "
          f"face width median {np.median(looks.widths[looks.found()]):.0f} px (LFW's 150x150 copies)")
    print(f"  10 enrolled: {len(trials_10)} galleries, {sum(len(t.strangers) for t in trials_10)} stranger trials; "
          f"100 enrolled: {len(trials_100)} galleries, {sum(len(t.strangers) for t in trials_100)} stranger trials")
    print("  tol   margin |  10 enrolled: strangers named  genuine right |"
          "  100 enrolled: strangers named  genuine right")
    for tolerance in TOLERANCES:
        for margin in MARGINS:
            fa10, ok10 = open_set_rates(trials_10, tolerance, margin)
            fa100, ok100 = open_set_rates(trials_100, tolerance, margin)
            print(f"  {tolerance:.2f}  {margin:.2f}   |               {fa10:5.2f} %        {ok10:5.1f} %   |"
                  f"                {fa100:5.2f} %        {ok100:5.1f} %")


# --------------------------------------------------------------------------- (b) the clip


def clip_votes(looks: Looks, gallery: Gallery, gates: QualityGates) -> dict[int, Vote]:
    """Per frame, the vote of the largest face that passes the gates (the one person's track)."""
    matcher = Matcher(gallery, 0.6)
    votes: dict[int, Vote] = {}
    for row in np.argsort(-looks.widths, kind="stable"):
        frame = int(looks.frames[row])
        if frame not in votes and looks.passes(row, gates):
            votes[frame] = matcher.votes(looks.encodings[row])[0]
    return votes


@dataclass(frozen=True)
class ClipScore:
    votes: int
    frames_wrong: int  # votes that alone support a name other than KIM
    frames_kim: int
    windows: int  # full windows of N consecutive votes
    windows_wrong: int  # KNOWN(not KIM)
    windows_kim: int  # KNOWN(KIM)
    windows_unknown: int
    first_kim: int | None  # the first frame at which a track from the first vote is KNOWN(KIM)


def score_clip(votes: dict[int, Vote], policy: DecisionPolicy, every: int = 1) -> ClipScore:
    """K-of-N over windows of consecutive votes (from every ``every``-th frame)."""
    frame_ids = [f for f in sorted(votes) if f % every == 0]
    one = DecisionPolicy(policy.tolerance, policy.margin, 1, 1)
    named = [votes[f].name for f in frame_ids if one.supports(votes[f])]
    verdicts = [_verdict([votes[f] for f in frame_ids[: end + 1]], policy) for end in range(len(frame_ids))]
    full = verdicts[policy.window - 1 :]
    first = next((frame_ids[i] - frame_ids[0] for i, v in enumerate(verdicts) if v.known and v.name == KIM), None)
    return ClipScore(
        len(frame_ids), sum(n != KIM for n in named), sum(n == KIM for n in named), len(full),
        sum(v.known and v.name != KIM for v in full), sum(v.known and v.name == KIM for v in full),
        sum(v.state is TrackState.UNKNOWN for v in full), first,
    )


def _verdict(votes: list[Vote], policy: DecisionPolicy) -> Verdict:
    return decide(votes, policy, deadline_passed=False)


def print_clip(clips: dict[str, Looks], gallery: Gallery) -> None:
    without = _without(gallery, KIM)
    for detector, looks in clips.items():
        dropped = sum(not looks.passes(row, DEFAULT_GATES) for row in range(len(looks.keys)))
        print(f"  {detector}: {len(looks.keys)} faces in {len(set(looks.frames))} frames; "
              f"the default gates drop {dropped}")
    print("  detector  tol  margin K/N every | 金正恩 removed: frames named  KNOWN windows | enrolled: frames 金正恩  "
          "wrong  KNOWN 金正恩  KNOWN wrong  UNKNOWN  first KNOWN (frames)")
    for detector, looks in clips.items():
        v_without, v_with = clip_votes(looks, without, DEFAULT_GATES), clip_votes(looks, gallery, DEFAULT_GATES)
        for policy in CLIP_POLICIES:
            for every in VOTE_EVERY if policy.window > 1 else (1,):
                print(_clip_row(detector, policy, every, score_clip(v_without, policy, every),
                                score_clip(v_with, policy, every)))
        for name, votes in (("removed", v_without), ("enrolled", v_with)):
            distances = [v.distance for v in votes.values()]
            margins = [v.margin for v in votes.values()]
            print(f"  {detector} 金正恩 {name}: nearest distance min {min(distances):.3f} "
                  f"p5 {np.percentile(distances, 5):.3f} median {np.median(distances):.3f} max {max(distances):.3f}; "
                  f"margin p5 {np.percentile(margins, 5):.3f} median {np.median(margins):.3f}")


def _clip_row(detector: str, policy: DecisionPolicy, every: int, stranger: ClipScore, kim: ClipScore) -> str:
    k_of_n = f"{policy.votes_needed}/{policy.window}"
    setting = f"{detector:9s} {policy.tolerance:.2f}  {policy.margin:.2f}  {k_of_n}  {every}"
    removed = f"{stranger.frames_wrong:3d}/{stranger.votes:3d}      {stranger.windows_wrong:3d}/{stranger.windows:3d}"
    enrolled = (f"{kim.frames_kim:3d}/{kim.votes:3d}    {kim.frames_wrong:3d}   {kim.windows_kim:3d}/{kim.windows:3d}"
                f"      {kim.windows_wrong:3d}        {kim.windows_unknown:3d}      "
                f"{'-' if kim.first_kim is None else kim.first_kim}")
    return f"  {setting}   |           {removed}   |      {enrolled}"


def _without(gallery: Gallery, name: str) -> Gallery:
    keep = [i for i, n in enumerate(gallery.names) if n != name]
    names, paths = tuple(gallery.names[i] for i in keep), tuple(gallery.paths[i] for i in keep)
    return Gallery(gallery.encodings[keep], names, paths)


# --------------------------------------------------------------------------- (c) knn_examples

KNN_EXPECTED = {
    "obama1.jpg": ["obama"],
    "alex_lacamoire1.jpg": ["alex_lacamoire"],
    "johnsnow_test1.jpg": ["kit_harington"],
    "obama_and_biden.jpg": ["Unknown", "biden", "obama"],  # the girl at the lower right is in no gallery
    "kit_with_rose.jpg": ["kit_harington", "rose_leslie"],
}


def print_knn() -> None:
    root = data_root() / "face_recognition" / "knn_examples"
    gallery, _ = load_gallery(GalleryConfig(path=root / "train", cache_dir=CACHE / vision_version() / "knn-gallery"))
    analyzer = FaceAnalyzer(DetectorConfig(kind=DetectorKind.HOG, upsampling=1), "small", 1)
    matcher = Matcher(gallery, 0.6)
    votes = {}
    for name in KNN_EXPECTED:
        faces = analyzer.analyze(load_image(root / "test" / name), color="rgb")
        votes[name] = matcher.votes(np.array([f.encoding for f in faces]))
    for policy in (DecisionPolicy(0.6, 0.0, 1, 1), DEFAULT_POLICY):
        right = sum(sorted(v.name if policy.supports(v) else "Unknown" for v in votes[name]) == expected
                    for name, expected in KNN_EXPECTED.items())
        print(f"  tol {policy.tolerance:.2f} margin {policy.margin:.2f}, one vote per face: "
              f"{right}/{len(KNN_EXPECTED)} images named exactly as expected")
    for name, image_votes in votes.items():
        print(f"    {name}: " + ", ".join(f"{v.name} {v.distance:.3f} (margin {v.margin:.3f})" for v in image_votes))


# --------------------------------------------------------------------------- (d) quality gates

WIDTHS = (24, 32, 40, 48, 56, 64, 96)  # px: the clip's face shrunk to this width
BLURS = (2.0, 4.0, 5.0, 6.0, 8.0)  # Gaussian sigma in px of the 1080p frame (faces ~270 px wide)
DEGRADE_EVERY = 4  # frames of the clip


def degraded_looks(frames: list[np.ndarray], hog: Looks) -> Looks:
    """The clip's largest HOG face, shrunk or blurred; keys "w40:frame", "b2.0:frame", "native:frame"."""
    encoder = FaceAnalyzer(DetectorConfig(kind=DetectorKind.HOG), "small", 1)  # only its encoder is used
    keys, indices, rows = [], [], []
    for index in range(0, len(frames), DEGRADE_EVERY):
        in_frame = np.flatnonzero(hog.frames == index)
        box = FaceBox(*(int(v) for v in hog.boxes[in_frame[np.argmax(hog.widths[in_frame])]]))
        for label, image, face in _degradations(frames[index], box):
            look = encoder.encode_with_pose(image, [face])[0]
            keys.append(f"{label}:{index}")
            indices.append(index)
            rows.append((look.encoding, face, sharpness(image, face, "bgr"), look.yaw))
    return _looks(keys, indices, rows)


def _degradations(bgr: np.ndarray, box: FaceBox) -> Iterable[tuple[str, np.ndarray, FaceBox]]:
    yield "native", bgr, box
    for width in WIDTHS:
        factor = width / box.width
        yield f"w{width}", cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), box.scaled(factor)
    for sigma in BLURS:
        yield f"blur{sigma:g}", cv2.GaussianBlur(bgr, (0, 0), sigma), box


def print_gates(degraded: Looks, lfw: Looks, split: LfwSplit, gallery: Gallery) -> None:
    policy = DEFAULT_POLICY
    with_kim, without_kim = Matcher(gallery, 0.6), Matcher(_without(gallery, KIM), 0.6)
    label = np.array([k.split(":")[0] for k in degraded.keys])
    print(f"  the clip's face (HOG box, every {DEGRADE_EVERY}th frame) shrunk or blurred; tol {policy.tolerance:.2f} "
          f"margin {policy.margin:.2f}, one vote per look")
    print("  look     width  sharpness | 金正恩 enrolled: median distance  votes for him | removed: nearest  "
          "votes for a wrong name")
    for name in dict.fromkeys(label):
        rows = label == name
        mine, theirs = with_kim.votes(degraded.encodings[rows]), without_kim.votes(degraded.encodings[rows])
        print(f"  {name:8s} {np.median(degraded.widths[rows]):5.0f}  {np.median(degraded.sharpness[rows]):7.0f}   |"
              f"                  {np.median([v.distance for v in mine]):.3f}    {_share(mine, policy, KIM):6.1f} %"
              f"    |"
              f"    {min(v.distance for v in theirs):.3f}   {_share(theirs, policy, None):6.1f} %")
    print(f"  LFW, 10-person galleries, tol {policy.tolerance:.2f} margin {policy.margin:.2f}, by the probe's "
          "yaw / sharpness / width: genuine right | strangers named")
    for column, edges in (("yaws", (0.0, 0.1, 0.2, 0.3, 9.0)), ("sharpness", (0.0, 150.0, 300.0, 600.0, 1e9)),
                          ("widths", (0.0, 56.0, 64.0, 72.0, 1e9))):
        values = getattr(lfw, column)
        for low, high in zip(edges, edges[1:]):
            trials = lfw_trials(lfw, split, SMALL, (values >= low) & (values < high))
            named, right = open_set_rates(trials, policy.tolerance, policy.margin)
            genuine, strangers = sum(len(t.genuine) for t in trials), len(trials[0].strangers)
            print(f"    {column:9s} [{low:g}, {high:g}): {right:5.1f} % of {genuine:3d} | {named:5.2f} % of "
                  f"{strangers:3d} strangers x {len(trials)} galleries")


def _share(votes: list[Vote], policy: DecisionPolicy, name: str | None) -> float:
    """Percent of votes that support ``name`` (None: any name)."""
    return pct(sum(policy.supports(v) and (name is None or v.name == name) for v in votes), len(votes))


# --------------------------------------------------------------------------- (e) speed


def print_speed(people: int = 100_000, batch: int = 4) -> None:
    """Matcher.votes on random unit vectors: best of 10 rounds (the machine is shared)."""
    rng = np.random.default_rng(0)
    encodings = rng.standard_normal((people, 128))
    encodings /= np.linalg.norm(encodings, axis=1, keepdims=True)
    matcher = Matcher(Gallery(encodings, tuple(f"p{i:06d}" for i in range(people)), ("",) * people), 0.6)
    for size in (1, batch):
        probes = rng.standard_normal((size, 128)) * 0.05 + encodings[:size]
        timings = []
        for _ in range(10):
            started = time.perf_counter()
            matcher.votes(probes)
            timings.append(time.perf_counter() - started)
        print(f"  {people:,} people, {size} face(s) per call: {1000 * min(timings) / size:.2f} ms per face "
              f"(median {1000 * float(np.median(timings)) / size:.2f})")


# --------------------------------------------------------------------------- main


def print_defaults(trials_10: list[OpenSetTrial], trials_100: list[OpenSetTrial], clips: dict[str, Looks],
                   gallery: Gallery) -> None:
    p, g = DEFAULT_POLICY, DEFAULT_GATES
    print(f"  DEFAULT_POLICY: tolerance {p.tolerance:.2f}, margin {p.margin:.2f}, K {p.votes_needed} of N {p.window}")
    print(f"  DEFAULT_GATES: face ≥ {g.min_face_px} px wide, sharpness ≥ {g.min_sharpness:g}, yaw ≤ {g.max_yaw}")
    without = _without(gallery, KIM)
    votes = {d: (clip_votes(looks, without, g), clip_votes(looks, gallery, g)) for d, looks in clips.items()}
    for name, policy in (("face_recognition", DecisionPolicy(0.6, 0.0, 1, 1)), ("0.60 voting", CLIP_POLICIES[1]),
                         ("default", p), ("LFW-target", LFW_TARGET)):
        fa10, ok10 = open_set_rates(trials_10, policy.tolerance, policy.margin)
        fa100, ok100 = open_set_rates(trials_100, policy.tolerance, policy.margin)
        clip = "; ".join(_clip_summary(d, *votes[d], policy) for d in clips)
        print(f"  {name:16s} {policy.tolerance:.2f}/{policy.margin:.2f} {policy.votes_needed}/{policy.window}: "
              f"LFW per photo: strangers named {fa10:.2f} % (100 enrolled: {fa100:.2f} %), "
              f"genuine right {ok10:.1f} % ({ok100:.1f} %)")
        print(f"  {'':16s} clip, a look per frame: {clip}")


def _clip_summary(detector: str, without: dict[int, Vote], enrolled: dict[int, Vote], policy: DecisionPolicy) -> str:
    stranger, kim = score_clip(without, policy), score_clip(enrolled, policy)
    return (f"{detector} stranger named in {stranger.windows_wrong}/{stranger.windows} windows, "
            f"金正恩 known at frame {kim.first_kim} (wrong {kim.windows_wrong})")


SUMMARY_POLICIES = {  # name → (tolerance, margin), one look per photo (K = N = 1)
    "default": (DEFAULT_POLICY.tolerance, DEFAULT_POLICY.margin),
    "face_recognition": (0.6, 0.0),
}


def summary(fresh: bool) -> dict[str, object]:
    """(a)'s numbers for the SUMMARY_POLICIES at 10 and 100 enrolled, as one JSON-ready object."""
    started = time.perf_counter()
    root = data_root()
    split = lfw_split(root / "lfw_view1")
    path = CACHE / vision_version() / f"lfw-{ENROLLED}-{STRANGERS}-{MAX_PROBES}.npz"
    cache_warm = path.exists() and not fresh
    lfw = lfw_looks(root / "lfw_view1", split, fresh)
    found = lfw.found()
    person = np.array([k.split("/")[0] for k in lfw.keys])
    galleries: dict[str, object] = {}
    for size in (SMALL, LARGE):
        trials = lfw_trials(lfw, split, size)
        galleries[str(size)] = {
            "galleries": len(trials),
            "strangers_per_gallery": len(trials[0].strangers),
            **{name: {"tolerance": tol, "margin": margin, **_rates(open_set_counts(trials, tol, margin))}
               for name, (tol, margin) in SUMMARY_POLICIES.items()},
        }
    p = DEFAULT_POLICY
    return {
        "policy": {"tolerance": p.tolerance, "margin": p.margin, "votes_needed": p.votes_needed, "window": p.window},
        "enrolled_people": ENROLLED,
        "strangers": STRANGERS,
        "strangers_with_face": int((found & np.isin(person, split.strangers)).sum()),
        "max_probes_per_person": MAX_PROBES,
        "images": len(lfw.keys),
        "no_face": int((~found).sum()),
        "face_width_median_px": float(np.median(lfw.widths[found])),
        "galleries": galleries,
        "cache": {"warm": cache_warm, "path": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)},
        "seconds": round(time.perf_counter() - started, 1),
    }


def _rates(c: OpenSetCounts) -> dict[str, object]:
    return {**{f.name: getattr(c, f.name) for f in fields(c)},
            "strangers_named_pct": pct(c.strangers_named, c.stranger_trials),
            "genuine_right_pct": pct(c.genuine_right, c.genuine_trials)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="encode again instead of using the cache")
    parser.add_argument("--summary-json", action="store_true",
                        help="only the LFW open-set numbers bench/run reports, as one JSON object on stdout")
    args = parser.parse_args()
    if args.summary_json:
        with contextlib.redirect_stdout(sys.stderr):  # progress lines; stdout carries only the JSON
            result = summary(args.fresh)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    started = time.perf_counter()
    root = data_root()
    split = lfw_split(root / "lfw_view1")
    lfw = lfw_looks(root / "lfw_view1", split, args.fresh)
    trials_10, trials_100 = lfw_trials(lfw, split, SMALL), lfw_trials(lfw, split, LARGE)
    print("(a) LFW View 1 open set: one photo enrolled per person, one photo per probe (one vote)")
    print_open_set(lfw, trials_10, trials_100)
    print("(b) kim_jong_un_alone.mp4: 272 frames, one vote per frame from the largest face that passes the gates")
    frames = video_frames(root / "face01" / "video" / "kim_jong_un_alone.mp4")
    clips = {kind.value: cached(f"clip-{kind.value}", args.fresh, lambda kind=kind: encode_clip(kind, frames))
             for kind in (DetectorKind.HOG, DetectorKind.MEDIAPIPE)}
    face01 = GalleryConfig(path=root / "face01" / "gallery", cache_dir=CACHE / vision_version() / "face01-gallery")
    gallery, _ = load_gallery(face01)
    print_clip(clips, gallery)
    print("(c) knn_examples (train: folder per person; test images)")
    print_knn()
    print("(d) quality gates")
    degraded = cached("degraded", args.fresh, lambda: degraded_looks(frames, clips["hog"]))
    print_gates(degraded, lfw, split, gallery)
    print("(e) Matcher.votes speed (nearest and runner-up person)")
    print_speed()
    print("chosen defaults (face01d.recognition.decision)")
    print_defaults(trials_10, trials_100, clips, gallery)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
