"""What is known about one track's identity: its looks, its votes, its verdict.

A track asks for a look (an encoding) when it is confirmed, then as often
as the encoder is free while it is pending; once decided unknown, again
every ``reencode_s`` or when a clearly better view arrives (a stranger who
turns to the camera may turn out to be registered); once known, never:
the name is settled and the encoder is left to the other faces.
Looks that fail the quality gates are counted but do not vote.

A track still pending at the deadline whose looks lean to one person
(``decision.leans_to``: only the margin short, as when a registered person
laughs) is not announced unknown yet: it *waits*, up to the hard deadline,
looking at the unknown pace. It thus gets exactly the looks an unknown
track would get, so it can be named only when the old rule would have
named it too (after a false ``unknown``); what changes is that the false
``unknown`` is not sent, and a leaning stranger's ``unknown`` comes later.

No verdict without evidence: a track that has no encoded look has no
deadline (an encoder that is hung, dead or busy elsewhere is no sign of a
stranger), and time the encoder spent not delivering (``pause``) does not
count towards any track's deadline, so that looks arriving after a hung
worker comes back get the time the track would have had.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from face01d.config.models import TrackingConfig
from face01d.faces import UNKNOWN, EncodedFace, Identification
from face01d.recognition.decision import DecisionPolicy, QualityGates, TrackState, Verdict, Vote, decide, leans_to
from face01d.tracking.track import Look, Track

PENDING = Verdict(TrackState.PENDING, UNKNOWN, None, 0)
HARD_DEADLINE = 5.0  # × decision_deadline_s: pending this long is unknown, however few looks were possible,
# and however much its looks lean to someone (decision.leans_to): a laugh passes within it, a stranger waits it out


def policy_from(config: TrackingConfig, tolerance: float) -> DecisionPolicy:
    return DecisionPolicy(
        tolerance=tolerance, margin=config.margin, votes_needed=config.votes_needed, window=config.vote_window
    )


def gates_from(config: TrackingConfig) -> QualityGates:
    return QualityGates(min_face_px=config.min_face_px, min_sharpness=config.min_sharpness, max_yaw=config.max_yaw)


@dataclass(slots=True)
class TrackIdentity:
    track: Track
    window: int
    votes: deque[Vote] = field(init=False)
    encodings: deque[np.ndarray] = field(init=False)
    verdict: Verdict = PENDING
    announced: TrackState = TrackState.PENDING  # the last verdict turned into an event
    in_flight: bool = False
    looks: int = 0
    rejected: int = 0  # looks that failed the quality gates
    last_look_at: float | None = None
    best_quality: float = 0.0
    waiting: bool = False  # pending past the deadline on looks that lean to someone: looks at the unknown pace
    leaning: str | None = None  # who the looks lean to (decision.leans_to), as of the last decision
    starved: bool = False  # looks were lost (the encoder failed) while it was pending
    clock_from: float = field(init=False)  # its deadline counts from here: first seen, moved on by pauses

    def __post_init__(self) -> None:
        self.votes = deque(maxlen=self.window)
        self.encodings = deque(maxlen=self.window)
        self.clock_from = self.track.first_seen_mono

    def wants_look(self, config: TrackingConfig) -> bool:
        """Should this frame's detection of the track be encoded?"""
        if self.in_flight or not self.track.confirmed or self.verdict.state is TrackState.KNOWN:
            return False
        if (self.verdict.state is TrackState.PENDING and not self.waiting) or self.last_look_at is None:
            return True
        look = self.track.look
        due = look.captured_at - self.last_look_at >= config.reencode_s
        return due or look.quality >= self.best_quality * config.better_view

    def add_look(self, look: Look, encoded: EncodedFace, vote: Vote | None) -> None:
        """Record one look; ``vote`` is None when it failed the quality gates."""
        self.looks += 1
        self.last_look_at = look.captured_at
        self.best_quality = max(self.best_quality, look.quality)
        if vote is None:
            self.rejected += 1
            return
        self.votes.append(vote)
        self.encodings.append(encoded.encoding)

    def deadline_passed(self, policy: DecisionPolicy, now_mono: float, deadline_s: float) -> bool:
        """Pending long enough: ``deadline_s`` and the chance of K looks, or in any case ``HARD_DEADLINE`` × it.

        Measured on the machine's clock (``time.monotonic``), not the video's:
        a file read faster than real time must still give the encoder its
        second. The looks matter when frames are sparse (frame_skip, a slow
        camera): one look a second must not turn every face unknown.
        """
        if self.in_flight or not self.looks:  # no look encoded yet: nothing to call it unknown on
            return False
        age = now_mono - self.clock_from
        return self._hard_deadline_passed(now_mono, deadline_s) or (
            age >= deadline_s and self.looks >= policy.votes_needed
        )

    def _hard_deadline_passed(self, now_mono: float, deadline_s: float) -> bool:
        return now_mono - self.clock_from >= deadline_s * HARD_DEADLINE

    def pause(self, start: float, end: float) -> None:
        """The encoder delivered nothing from ``start`` to ``end`` (monotonic): that time is not the track's."""
        if self.clock_from < start:
            self.clock_from += end - start
        else:  # first seen during the outage: its clock starts when looks can come again
            self.clock_from = max(self.clock_from, end)

    def decide(self, policy: DecisionPolicy, now_mono: float, deadline_s: float) -> bool:
        """Update the verdict; True when it changed to something not yet announced.

        Between ``deadline_s`` and the hard deadline the decision is patient:
        looks that lean to one person keep the track pending (``waiting``),
        for a false "stranger" is an event too.
        """
        passed = self.deadline_passed(policy, now_mono, deadline_s)
        patient = not self._hard_deadline_passed(now_mono, deadline_s)
        verdict = decide(list(self.votes), policy, deadline_passed=passed, patient=patient)
        self.leaning = leans_to(list(self.votes), policy)
        self.waiting |= passed and verdict.state is TrackState.PENDING
        if verdict.state is TrackState.UNKNOWN and not passed:
            # The window may already rule a name out, but three looks of a laugh
            # are not a stranger: unknown waits for the deadline, looking on.
            verdict = PENDING
        if verdict.state is TrackState.PENDING and self.verdict.state is not TrackState.PENDING:
            return False  # a decided track does not go back to pending
        if verdict.state is TrackState.UNKNOWN and self.verdict.state is TrackState.KNOWN:
            return False  # nor a named one to unknown: K looks agreed
        self.verdict = verdict
        return verdict.state is not TrackState.PENDING and verdict.state is not self.announced

    def give_up(self, policy: DecisionPolicy) -> None:
        """The track ended while waiting: decide now, without patience (it is unknown)."""
        self.verdict = decide(list(self.votes), policy, deadline_passed=True)

    def identification(self, look: Look, frame_size: tuple[int, int], now_mono: float) -> Identification:
        """The verdict as the events stage wants it; marks it announced."""
        self.announced = self.verdict.state
        return Identification(
            track_id=self.track.id,
            name=self.verdict.name if self.verdict.state is TrackState.KNOWN else UNKNOWN,
            distance=self.verdict.distance,
            percentage=self.verdict.percentage,
            votes=self.verdict.votes,
            box=look.box,
            frame_width=frame_size[0],
            frame_height=frame_size[1],
            captured_at=look.captured_at,
            latency_ms=round((now_mono - self.track.first_seen_mono) * 1000.0, 1),
            encoding=np.mean(self.encodings, axis=0) if self.encodings else None,
            leaning=None if self.verdict.state is TrackState.KNOWN else self.leaning,
        )
