"""A patient deadline: does waiting on looks that lean to someone cost a wrong name?

    .venv/bin/python bench/lean.py

(needs bench/open_set.py's cache, or encodes the clip and LFW as it does;
the first run also encodes ~1,000 LFW strangers' photos: ~100 s on busy
cores, then ~2 s.)

At the sample's own pace a second track of 金正恩 (he laughs) has looks
nearest to him and within the tolerance, only the margin short, for longer
than ``decision_deadline_s``, and is announced ``unknown``. The rule in
face01d.recognition.decision lets a track whose window *leans* to one person
(``leans_to``) go on looking up to the hard deadline instead. This replays
the tracker's schedule on the clip's per-frame votes (bench/open_set.py's
cached encodings, HOG and mediapipe) for a track starting at every frame,
with the rule off ("impatient", before), on ("patient": a waiting track
looks at the unknown pace, as TrackIdentity.wants_look has it), and on with
waiting tracks looking as often as the encoder is free ("eager", the
variant not taken):

- a pending track has a look land every ``every`` frames (the encoder's pace
  at 30 fps: 3 ≈ 100 ms, 5 ≈ 170 ms, 8 ≈ 270 ms); it is decided when a look
  lands (it is in flight otherwise); the deadline is 30 frames (1 s) and K
  looks, the hard one 5 × 30 frames; an unknown (or waiting) track looks
  again every 30 frames (better views, which also trigger a look, are not
  modelled) and may still become known; a known one stops; the clip's end
  ends the track, decided or not;
- 金正恩 enrolled: every ``unknown`` is spurious, every other name wrong;
- 金正恩 removed (a stranger who resembles 安倍晋三 and 麻生太郎): every name is
  wrong; also at tolerances above the default, where his looks do lean, to
  see whether the extra looks turn into a name.

Each row: tracks, first announcement unknown / 金正恩 / a wrong name / none
by the clip's end, tracks ever named wrong, and the median and largest age
(frames) of the first announcement.

Then LFW View 1 (bench/open_set.py's split and galleries, one photo
enrolled): a person's photos as the looks of one track at its deadline.
Strangers are the people with 3 or more photos who are not enrolled (up to
5 photos each, encoded once and cached); genuine tracks are the enrolled
people's other photos (3 at most, so K = 3 needs all of them). Counted: how
many tracks the rule keeps waiting (their window leans) instead of calling
unknown, and to whom they lean.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from open_set import (  # noqa: E402
    CACHE,
    KIM,
    LARGE,
    SMALL,
    DetectorConfig,
    DetectorKind,
    FaceAnalyzer,
    Gallery,
    GalleryConfig,
    LfwSplit,
    Looks,
    Matcher,
    _enrolment,
    _without,
    cached,
    clip_votes,
    data_root,
    encode_clip,
    encode_largest,
    lfw_looks,
    lfw_split,
    load_image,
    video_frames,
    vision_version,
)

from face01d.faces import Vote  # noqa: E402
from face01d.recognition.decision import (  # noqa: E402
    DEFAULT_GATES,
    DEFAULT_POLICY,
    DecisionPolicy,
    TrackState,
    decide,
    leans_to,
)
from face01d.recognition.identity import HARD_DEADLINE  # noqa: E402
from face01d.recognition.recognizer import load_gallery  # noqa: E402

FPS = 30
DEADLINE = FPS  # frames: decision_deadline_s = 1.0
REENCODE = FPS  # frames: reencode_s = 1.0
EVERY = (3, 5, 8)
TOLERANCES = (DEFAULT_POLICY.tolerance, 0.52, 0.53, 0.55)
TRACK_PHOTOS = 5  # LFW strangers: photos per track


RULES = ("impatient", "patient", "eager")  # before; the rule; the rule with waiting tracks looking at full pace


@dataclass(frozen=True)
class Outcome:
    first: TrackState | None  # the first announced state (None: none by the clip's end)
    name: str | None  # the first name, if KNOWN
    at: int | None  # track age (frames) at the first announcement
    ever_wrong: bool  # named someone else at any time


def replay(votes: dict[int, Vote], start: int, end: int, policy: DecisionPolicy, every: int, rule: str,
           right: str | None) -> Outcome:
    """One track from ``start`` to ``end`` (frames), as TrackIdentity.decide and wants_look would run it."""
    state, waiting, ever_wrong = TrackState.PENDING, False, False
    first: tuple[TrackState, str | None, int] | None = None
    window: list[Vote] = []
    frame = start
    while (landed := frame + every) <= end:
        window.append(votes[frame])
        age = landed - start
        hard = age >= DEADLINE * HARD_DEADLINE
        passed = hard or (age >= DEADLINE and len(window) >= policy.votes_needed)
        verdict = decide(window, policy, deadline_passed=passed, patient=rule != "impatient" and not hard)
        new = _next_state(state, verdict.state, passed)
        waiting |= passed and new is TrackState.PENDING and rule == "patient"
        if new is TrackState.KNOWN and state is not TrackState.KNOWN:
            ever_wrong |= verdict.name != right
        if new is not state and first is None:
            first = (new, verdict.name if new is TrackState.KNOWN else None, age)
        state = new
        if state is TrackState.KNOWN:
            break
        frame = landed if state is TrackState.PENDING and not waiting else frame + REENCODE
    return Outcome(*(first or (None, None, None)), ever_wrong)


def _next_state(state: TrackState, verdict: TrackState, passed: bool) -> TrackState:
    """TrackIdentity.decide's transitions: unknown waits for the deadline; no way back to pending or from known."""
    if verdict is TrackState.UNKNOWN and not passed:
        verdict = TrackState.PENDING
    if verdict is TrackState.PENDING and state is not TrackState.PENDING:
        return state
    if verdict is TrackState.UNKNOWN and state is TrackState.KNOWN:
        return state
    return verdict


def row(label: str, votes: dict[int, Vote], policy: DecisionPolicy, every: int, rule: str, right: str | None) -> str:
    end = max(votes)
    outcomes = [replay(votes, s, end, policy, every, rule, right) for s in range(0, end - DEADLINE + 1)]
    first = [o.first for o in outcomes]
    unknown = first.count(TrackState.UNKNOWN)
    named_right = sum(o.first is TrackState.KNOWN and o.name == right for o in outcomes)
    named_wrong = sum(o.first is TrackState.KNOWN and o.name != right for o in outcomes)
    ages = [o.at for o in outcomes if o.at is not None]
    return (f"  {label:22s} tol {policy.tolerance:.2f} every {every}  {rule:9s} | {len(outcomes):3d} tracks: "
            f"unknown {unknown:3d}  金正恩 {named_right:3d}  wrong {named_wrong:2d}  none {first.count(None):2d} | "
            f"ever wrong {sum(o.ever_wrong for o in outcomes):2d} | first at median {median(ages):5.1f} "
            f"max {max(ages):3d} frames")


def stranger_tracks(root: Path, split: LfwSplit) -> Looks:
    """Up to TRACK_PHOTOS photos of every person with ≥ 3 who is not enrolled (cached like open_set's)."""
    images, enrolled = root / "images", set(split.enrolled)
    people = [d.name for d in sorted(images.iterdir()) if d.is_dir() and d.name not in enrolled
              and len(list(d.glob("*.jpg"))) >= 3]
    files = [f for person in people for f in sorted((images / person).glob("*.jpg"))[:TRACK_PHOTOS]]
    keys = [f"{f.parent.name}/{f.name}" for f in files]

    def encode() -> Looks:
        analyzer = FaceAnalyzer(DetectorConfig(kind=DetectorKind.HOG, upsampling=1), "small", 1)
        return encode_largest(analyzer, keys, (load_image(f) for f in files))

    return cached(f"lfw-stranger-tracks-{TRACK_PHOTOS}", False, encode)


def _tracks(looks: Looks) -> dict[str, np.ndarray]:
    """Each person's found encodings, in file order."""
    person = np.array([k.split("/")[0] for k in looks.keys])
    found = looks.found()
    return {name: looks.encodings[found & (person == name)] for name in dict.fromkeys(person)}


def lfw_rows(root: Path) -> None:
    split = lfw_split(root / "lfw_view1")
    enrolled_looks = lfw_looks(root / "lfw_view1", split, False)
    strangers = {n: e for n, e in _tracks(stranger_tracks(root / "lfw_view1", split)).items() if len(e) >= 3}
    person = np.array([k.split("/")[0] for k in enrolled_looks.keys])
    found = enrolled_looks.found()
    for size in (SMALL, LARGE):
        counts = {"stranger": _Counts(), "genuine": _Counts()}
        for start in range(0, len(split.enrolled), size):
            enrol, probes = _enrolment(found, person, split.enrolled[start : start + size])
            gallery = Gallery(enrolled_looks.encodings[enrol], tuple(person[enrol]), tuple(enrolled_looks.keys[enrol]))
            matcher = Matcher(gallery, 0.6)
            for encodings in strangers.values():
                counts["stranger"].add(matcher.votes(encodings), None)
            for name in dict.fromkeys(person[probes]):
                rows = [i for i in probes if person[i] == name and found[i]]
                if len(rows) >= DEFAULT_POLICY.votes_needed:
                    counts["genuine"].add(matcher.votes(enrolled_looks.encodings[rows]), name)
        for kind, c in counts.items():
            print(f"  LFW {size:3d} enrolled, {kind:8s} tracks {c.tracks:5d}: named right {c.right:4d}  "
                  f"named wrong {c.wrong:3d}  unknown {c.unknown:5d}  kept waiting {c.lean_right + c.lean_wrong:3d} "
                  f"(leaning to the right person {c.lean_right}, to someone else {c.lean_wrong})")


@dataclass
class _Counts:
    tracks: int = 0
    right: int = 0
    wrong: int = 0
    unknown: int = 0
    lean_right: int = 0
    lean_wrong: int = 0

    def add(self, votes: list[Vote], truth: str | None) -> None:
        """One track's verdict at its deadline, with the rule on: what it is, and to whom it leans if waiting."""
        window = votes[: DEFAULT_POLICY.window]
        verdict = decide(window, DEFAULT_POLICY, deadline_passed=True, patient=True)
        self.tracks += 1
        if verdict.known:
            self.right += verdict.name == truth
            self.wrong += verdict.name != truth
        elif verdict.state is TrackState.UNKNOWN:
            self.unknown += 1
        elif leans_to(window, DEFAULT_POLICY) == truth:
            self.lean_right += 1
        else:
            self.lean_wrong += 1


def main() -> None:
    root = data_root()
    frames: list = []

    def encode(kind: DetectorKind):  # noqa: ANN202
        if not frames:
            frames.extend(video_frames(root / "face01" / "video" / "kim_jong_un_alone.mp4"))
        return encode_clip(kind, frames)

    clips = {kind.value: cached(f"clip-{kind.value}", False, lambda kind=kind: encode(kind))
             for kind in (DetectorKind.HOG, DetectorKind.MEDIAPIPE)}
    face01 = GalleryConfig(path=root / "face01" / "gallery", cache_dir=CACHE / vision_version() / "face01-gallery")
    gallery, _ = load_gallery(face01)
    without = _without(gallery, KIM)
    p = DEFAULT_POLICY
    for detector, looks in clips.items():
        enrolled, removed = clip_votes(looks, gallery, DEFAULT_GATES), clip_votes(looks, without, DEFAULT_GATES)
        for every in EVERY:
            for rule in RULES:
                print(row(f"{detector} 金正恩 enrolled", enrolled, p, every, rule, KIM))
        for tolerance in TOLERANCES:
            policy = DecisionPolicy(tolerance, p.margin, p.votes_needed, p.window)
            for every in EVERY:
                for rule in RULES:
                    print(row(f"{detector} 金正恩 removed", removed, policy, every, rule, None))
    lfw_rows(root)


if __name__ == "__main__":
    main()
