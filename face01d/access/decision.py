"""The door's rule: granted, or denied with every reason that applies. Pure: values in, an answer out.

Granted only when nothing is missing: a registered person (``unknown``),
matched well enough (``too_small``: a percentage under ``min_percentage`` or
fewer than ``min_votes`` looks), a face that came ``min_face_px`` wide
(``too_far``), and liveness judged ``live`` (``not_live``: no blink or
glance by the deadline; ``undecided``: too few usable frames, or the track
ended first). Every reason that applies is given, in ``REASONS`` order, so an
automation or a log can tell "a photo of Alice" from "a stranger".
"""

from __future__ import annotations

from dataclasses import dataclass

from face01d.config.access import AccessConfig
from face01d.events.model import Liveness
from face01d.faces import Identification
from face01d.liveness import Verdict

REASONS = ("not_live", "undecided", "unknown", "too_small", "too_far")


@dataclass(frozen=True, slots=True)
class Answer:
    granted: bool
    reasons: tuple[str, ...]  # empty when granted


def answer(rules: AccessConfig, who: Identification, face_px: int, verdict: Verdict | None) -> Answer:
    """The door's answer for one track: its identity, its widest face so far, its liveness (None: never measured)."""
    state = verdict.state if verdict is not None else "undecided"
    weak = (who.percentage or 0.0) < rules.min_percentage or who.votes < rules.min_votes
    found = {
        "not_live": state == "not_live",
        "undecided": state == "undecided",
        "unknown": not who.known,
        "too_small": who.known and weak,
        "too_far": face_px < rules.min_face_px,
    }
    reasons = tuple(reason for reason in REASONS if found[reason])
    return Answer(not reasons, reasons)


def liveness_of(verdict: Verdict) -> Liveness:
    """The verdict as events carry it."""
    return Liveness(verdict.state, verdict.reason, verdict.elapsed_s, verdict.blinks, verdict.glances)
