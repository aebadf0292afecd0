"""A patient deadline: does waiting on looks that lean to someone cost a wrong name?

    .venv/bin/python bench/lean.py

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
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

from open_set import (  # noqa: E402
    CACHE,
    KIM,
    DetectorKind,
    GalleryConfig,
    _without,
    cached,
    clip_votes,
    data_root,
    encode_clip,
    video_frames,
    vision_version,
)

from face01d.faces import Vote  # noqa: E402
from face01d.recognition.decision import DEFAULT_GATES, DEFAULT_POLICY, DecisionPolicy, TrackState, decide  # noqa: E402
from face01d.recognition.identity import HARD_DEADLINE  # noqa: E402
from face01d.recognition.recognizer import load_gallery  # noqa: E402

FPS = 30
DEADLINE = FPS  # frames: decision_deadline_s = 1.0
REENCODE = FPS  # frames: reencode_s = 1.0
EVERY = (3, 5, 8)
TOLERANCES = (DEFAULT_POLICY.tolerance, 0.52, 0.53, 0.55)


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


if __name__ == "__main__":
    main()
