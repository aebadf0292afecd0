"""The door's rule on values: granted only when nothing is missing, else every reason that applies, in order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from face01d.access import REASONS, answer
from face01d.config.access import AccessConfig
from face01d.faces import UNKNOWN, FaceBox, Identification
from face01d.liveness import Verdict

RULES = AccessConfig(min_votes=3, min_percentage=98.6, min_face_px=100)
ALICE = Identification("door-1", "Alice", 0.40, 99.1, 3, FaceBox(0, 150, 150, 0), 640, 480, 0.0, 500.0)
LIVE = Verdict("live", "blink", 1.0, frames=20, blinks=1)


def test_a_live_registered_near_well_matched_face_is_granted() -> None:
    result = answer(RULES, ALICE, 150, LIVE)
    assert result.granted and result.reasons == ()


@pytest.mark.parametrize(("who", "face_px", "verdict", "reasons"), [
    (ALICE, 150, Verdict("not_live", "no_cue", 3.0, frames=30), ("not_live",)),
    (ALICE, 150, Verdict("undecided", "too_few_frames", 3.2, frames=5), ("undecided",)),
    (ALICE, 150, None, ("undecided",)),  # never measured: never at the door long enough
    (replace(ALICE, name=UNKNOWN, percentage=None), 150, LIVE, ("unknown",)),
    (replace(ALICE, percentage=98.0), 150, LIVE, ("too_small",)),
    (replace(ALICE, votes=2), 150, LIVE, ("too_small",)),
    (ALICE, 99, LIVE, ("too_far",)),
    (replace(ALICE, name=UNKNOWN), 60, Verdict("not_live", "no_cue", 3.0), ("not_live", "unknown", "too_far")),
])
def test_every_reason_that_applies_in_order(who: Identification, face_px: int, verdict: Verdict | None,
                                            reasons: tuple[str, ...]) -> None:
    result = answer(RULES, who, face_px, verdict)
    assert not result.granted and result.reasons == reasons
    assert list(result.reasons) == sorted(result.reasons, key=REASONS.index)


def test_the_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="min_face_px"):
        AccessConfig(min_face_px=0)
    with pytest.raises(ValueError, match="liveness_deadline_s"):
        AccessConfig(liveness_deadline_s=0)
    with pytest.raises(ValueError, match="extra"):
        AccessConfig(min_vote=3)
