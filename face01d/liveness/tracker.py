"""One face track's liveness: a cue a picture cannot give before a deadline, else not live.

Fed the track's Face Mesh landmarks (frame pixels) with their capture times,
``LivenessTracker.update`` returns the verdict so far:

- ``live`` as soon as one cue a flat picture cannot give is seen: a blink
  (``eyes``), a glance of both irises (``gaze``), or, when enabled,
  ``nonrigid_pairs`` frame pairs whose motion no single homography explains
  (``motion``);
- ``not_live`` once ``deadline_s`` has passed since the first usable frame,
  with enough frames seen and no such cue;
- ``undecided`` before that, and after it while too few frames had usable
  landmarks (a face too small, turned away, or frames too far apart to see
  a 100 ms blink: below ``min_rate_hz``).

A decided verdict does not change: another attempt is another tracker. Pure:
no I/O, no clock (times come with the landmarks), no model; one tracker per
track, used from one thread at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from face01d.liveness.eyes import CLOSE_RATIO, BlinkDetector, eye_openness
from face01d.liveness.gaze import SHIFT, GlanceDetector
from face01d.liveness.motion import NOISE_RATIO, RESIDUAL_MIN, NonRigidMeter, inter_ocular

State = Literal["live", "not_live", "undecided"]


@dataclass(frozen=True, slots=True)
class LivenessSettings:
    """The judge's thresholds; the cue thresholds' defaults were measured by bench/liveness.py."""

    deadline_s: float = 3.0  # from the first usable frame to not_live
    # frame pairs over the non-rigid thresholds needed for live; 0: the cue is off (the default: a print
    # flexed harder than bench/attacks.py's passes any threshold a talking face passes; README)
    nonrigid_pairs: int = 0
    min_rate_hz: float = 8.0  # fewer usable frames per second than this: stay undecided
    min_inter_ocular_px: float = 24.0  # landmarks of a smaller face are too coarse: frame skipped
    blink_close_ratio: float = CLOSE_RATIO
    glance_shift: float = SHIFT
    residual_min: float = RESIDUAL_MIN
    noise_ratio: float = NOISE_RATIO


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the tracker says now, and on what evidence."""

    state: State
    reason: str  # live: blink | glance | nonrigid; not_live: no_cue; undecided: waiting | too_few_frames | too_small
    elapsed_s: float = 0.0  # since the first usable frame
    frames: int = 0  # usable frames seen
    small_frames: int = 0  # frames whose face was under min_inter_ocular_px (skipped)
    blinks: int = 0
    glances: int = 0
    nonrigid_pairs: int = 0
    max_residual: float = 0.0


@dataclass
class _Cues:
    blinks: BlinkDetector
    glances: GlanceDetector
    motion: NonRigidMeter
    first: float | None = field(default=None)


class LivenessTracker:
    """Per track: ``update(t, landmarks)`` with each analysed frame, in time order."""

    def __init__(self, settings: LivenessSettings | None = None) -> None:
        s = self.settings = settings or LivenessSettings()
        self._cues = _Cues(
            BlinkDetector(close_ratio=s.blink_close_ratio),
            GlanceDetector(shift=s.glance_shift),
            NonRigidMeter(minimum=s.residual_min, ratio=s.noise_ratio),
        )
        self._verdict = Verdict("undecided", "waiting")

    @property
    def verdict(self) -> Verdict:
        return self._verdict

    def update(self, t: float, landmarks: np.ndarray | None) -> Verdict:
        """Take one frame's landmarks (None: no mesh on this frame) and return the verdict."""
        if self._verdict.state != "undecided":
            return self._verdict
        if landmarks is not None and inter_ocular(landmarks) >= self.settings.min_inter_ocular_px:
            self._observe(t, landmarks)
        elif landmarks is not None:
            self._verdict = replace(self._verdict, small_frames=self._verdict.small_frames + 1)
        self._verdict = self._judge(t)
        return self._verdict

    def _observe(self, t: float, landmarks: np.ndarray) -> None:
        cues, v = self._cues, self._verdict
        if cues.first is None:
            cues.first = t
        blink = cues.blinks.update(t, eye_openness(landmarks))
        glance = cues.glances.update(t, landmarks)
        residual = cues.motion.update(t, landmarks) if self.settings.nonrigid_pairs else 0.0
        self._verdict = replace(
            v, frames=v.frames + 1, blinks=v.blinks + (blink is not None), glances=v.glances + (glance is not None),
            nonrigid_pairs=v.nonrigid_pairs + (residual > 0), max_residual=max(v.max_residual, residual),
        )

    def _judge(self, t: float) -> Verdict:
        v, s, first = self._verdict, self.settings, self._cues.first
        elapsed = 0.0 if first is None else t - first
        if v.blinks or v.glances or 0 < s.nonrigid_pairs <= v.nonrigid_pairs:
            reason = "blink" if v.blinks else "glance" if v.glances else "nonrigid"
            return replace(v, state="live", reason=reason, elapsed_s=elapsed)
        if first is None:
            return replace(v, reason="too_small" if v.small_frames else "waiting")
        if elapsed < s.deadline_s:
            return replace(v, elapsed_s=elapsed)
        if v.frames < s.min_rate_hz * elapsed:
            return replace(v, reason="too_few_frames", elapsed_s=elapsed)
        return replace(v, state="not_live", reason="no_cue", elapsed_s=elapsed)
