"""The pure cues on synthetic landmark series: what a blink, a glance and a flat sheet look like."""

from __future__ import annotations

import numpy as np
import cv2

from face01d.liveness import BlinkDetector, GlanceDetector, LivenessTracker, NonRigidMeter, plane_residual
from face01d.liveness.eyes import MESH_EYES, eye_openness


def _face(rng: np.random.Generator | None = None) -> np.ndarray:
    """478 points spread like a face 200 px wide, eyes open (EAR 0.3), irises centred."""
    base = np.random.default_rng(0).uniform(100, 300, size=(478, 2)).astype(np.float32)
    for (p1, p2, p3, p4, p5, p6), x in zip(MESH_EYES, (140.0, 220.0)):
        base[[p1, p4]] = [[x - 20, 150], [x + 20, 150]]
        base[[p2, p3]] = [[x - 7, 144], [x + 7, 144]]
        base[[p6, p5]] = [[x - 7, 156], [x + 7, 156]]
    base[[33, 263]] = [[120, 150], [240, 150]]  # outer corners: an inter-ocular distance of 120 px
    base[[133, 362]] = [[160, 150], [200, 150]]
    base[468], base[473] = [140, 150], [220, 150]
    return base if rng is None else base + rng.normal(0, 0.3, base.shape).astype(np.float32)


def _close(points: np.ndarray, share: float) -> np.ndarray:
    out = points.copy()
    for p1, p2, p3, p4, p5, p6 in MESH_EYES:
        for upper, lower in ((p2, p6), (p3, p5)):
            mid = (out[upper, 1] + out[lower, 1]) / 2
            out[upper, 1] = mid - (mid - out[upper, 1]) * (1 - share)
            out[lower, 1] = mid + (out[lower, 1] - mid) * (1 - share)
    return out


def test_a_short_dip_is_a_blink_and_a_long_one_is_not() -> None:
    detector, rng = BlinkDetector(), np.random.default_rng(1)
    ears = [eye_openness(_face(rng)) for _ in range(30)] + [0.1] * 4 + [0.3] * 10 + [0.1] * 30 + [0.3] * 5
    found = [b for i, e in enumerate(ears) if (b := detector.update(i / 30, e)) is not None]
    assert len(found) == 1  # the 4-frame dip (133 ms), not the 1 s one (eyes down)
    assert abs(found[0].start - 30 / 30) < 1e-9 and found[0].depth < 0.5


def test_a_narrow_eyed_face_never_blinks() -> None:
    """A squint or a blurry photo (open EAR 0.1) jitters by ±50 %: no blink is read into it."""
    detector, rng = BlinkDetector(), np.random.default_rng(2)
    found = [detector.update(i / 30, float(rng.uniform(0.05, 0.15))) for i in range(300)]
    assert not any(found)


def test_both_irises_moving_together_is_a_glance_one_or_apart_is_not() -> None:
    detector, face = GlanceDetector(), _face()
    glances = []
    for i in range(40):
        points = face.copy()
        if 10 <= i < 15:
            points[468, 0] += 12  # one iris alone: landmark noise
        if 20 <= i < 25:
            points[[468, 473], 0] += 8, -8  # apart (both toward the nose): not a glance
        if i >= 30:
            points[[468, 473], 0] += 8  # both the same way: a glance to the side
        glances.append(detector.update(i / 30, points))
    found = [g for g in glances if g is not None]
    assert len(found) == 1 and found[0].t == 31 / 30


def test_a_flat_sheet_fits_one_homography_and_a_turned_head_does_not() -> None:
    face = _face()
    tilt = cv2.getPerspectiveTransform(np.float32([[0, 0], [400, 0], [400, 400], [0, 400]]),
                                       np.float32([[10, 5], [390, 20], [380, 395], [5, 380]]))
    sheet = cv2.perspectiveTransform(face[None], tilt)[0]
    head = face.copy()
    head[:100] += (6, 0)  # a part moving on its own (a nose across the cheeks)
    assert plane_residual(face, sheet) < 1e-3
    assert plane_residual(face, head) > 0.01


def test_the_tracker_is_live_on_a_blink_and_not_live_on_a_still_face() -> None:
    rng = np.random.default_rng(3)
    live, still = LivenessTracker(), LivenessTracker()
    for i in range(120):
        face = _face(rng)
        live.update(i / 30, _close(face, 0.8) if 40 <= i < 44 else face)
        still.update(i / 30, face)
    assert (live.verdict.state, live.verdict.reason) == ("live", "blink")
    assert (still.verdict.state, still.verdict.reason) == ("not_live", "no_cue")


def test_too_few_frames_stay_undecided_and_no_face_decides_nothing() -> None:
    sparse, empty = LivenessTracker(), LivenessTracker()
    for i in range(0, 150, 10):  # 3 fps: a blink could fall between two frames
        sparse.update(i / 30, _face())
        empty.update(i / 30, None)
    assert (sparse.verdict.state, sparse.verdict.reason) == ("undecided", "too_few_frames")
    assert (empty.verdict.state, empty.verdict.frames) == ("undecided", 0)


def test_meter_counts_nothing_on_a_jittery_picture() -> None:
    meter, rng = NonRigidMeter(), np.random.default_rng(4)
    counted = [meter.update(i / 30, _face() + rng.normal(0, 2.0, (478, 2)).astype(np.float32)) for i in range(90)]
    assert not any(counted)  # 2 px of noise on every point: large residuals, but no larger than the jitter
