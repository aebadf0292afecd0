"""Naming one camera's tracks: ask for looks, vote, decide, announce.

The pipeline tells the namer which tracks were confirmed, seen or ended in
each frame; the namer keeps one ``TrackIdentity`` per confirmed track,
starts at most one encode job at a time (the worker pool is shared, and one
job per camera in flight is what keeps it fair), turns the encodings into
votes against the current gallery, and calls ``announce`` when a track's
verdict is new. It never waits for an encoding: frames go on being detected
and tracked while a look is in a worker.

No verdict without evidence. A look whose encoding fails (its worker died,
hung past the job timeout, or the pool has none) is *lost*: it is counted
(``looks_lost``), and the encoder counts as down until a look arrives again;
so does one whose look has been in the encoder over ``STALLED_LOOK_S`` (a
stopped worker, before its job times out). While it is down no deadline is
called, and when it is back the time it was down is given back to every
pending track (``TrackIdentity.pause``): they are decided on the looks that
arrive, never announced ``unknown`` for want of looks. A track that ends
still pending after losing looks is counted (``tracks_undecided``), not
announced: it was nobody's verdict.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np
import structlog

from face01d.config.models import TrackingConfig
from face01d.faces import UNKNOWN, Identification
from face01d.recognition.decision import TrackState
from face01d.recognition.identity import TrackIdentity, gates_from, policy_from
from face01d.recognition.recognizer import Recognizer
from face01d.stats import Percentiles
from face01d.throttle import Throttle
from face01d.tracking import Look, Track
from face01d.workers.base import VisionWorkers

log = structlog.get_logger(__name__)

MAX_FACES_PER_LOOK = 4  # tracks encoded together in one job (the batch runs the network once)
STALLED_LOOK_S = 2.0  # a look in the encoder this long means it is down (p99 of a look: < 0.4 s; queued: ~1 s)
LOST_LOG_EVERY_S = 60.0  # lost looks: the first is logged, then one line per this with the count


class Picture(Protocol):
    """What the namer needs of a frame (capture's ``Frame`` is one)."""

    @property
    def image(self) -> np.ndarray: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


P = TypeVar("P", bound=Picture)


class TrackNamer(Generic[P]):
    def __init__(
        self,
        camera: str,
        tracking: TrackingConfig,
        tolerance: float,
        recognizer: Recognizer,
        workers: VisionWorkers,
        announce: Callable[[Identification, P | None], None],
    ) -> None:
        self.stage_ms = {"encode": Percentiles(), "match": Percentiles()}
        self._camera = camera
        self._tracking = tracking
        self._policy = policy_from(tracking, tolerance)
        self._gates = gates_from(tracking)
        self._recognizer = recognizer
        self._workers = workers
        self._announce = announce
        self._identities: dict[str, TrackIdentity] = {}
        self._encoding: asyncio.Task[None] | None = None
        self.looks_lost = 0  # looks whose encoding failed
        self.tracks_undecided = 0  # tracks that ended pending after losing looks
        self._sent_at: float | None = None  # when the look in the encoder was sent
        self._down_since: float | None = None  # the encoder has delivered nothing since (monotonic)
        self._failing = False  # the last look was lost
        self._lost_log = Throttle(LOST_LOG_EVERY_S)

    def confirmed(self, tracks: list[Track]) -> None:
        for track in tracks:
            self._identities[track.id] = TrackIdentity(track, self._tracking.vote_window, starved=self._failing)

    def ended(self, track: Track, frame_size: tuple[int, int]) -> str | None:
        """Forget a track; the registered person it was named as, if any.

        A track that ends while *waiting* (its looks leaned to somebody past
        the deadline) was a face nobody could name: it is announced unknown
        now, carrying whom it leaned to, so that a stranger who leaves early
        is never unannounced (the events stage keeps quiet if that person is
        present: then it was most likely them, laughing). ``frame_size`` is
        the camera's (width, height), which that event carries.
        """
        identity = self._identities.pop(track.id, None)
        if identity is None:
            return None
        if identity.verdict.state is TrackState.PENDING and identity.waiting:
            identity.give_up(self._policy)
            self._announce(identity.identification(track.look, frame_size, time.monotonic()), None)
        elif identity.verdict.state is TrackState.PENDING and identity.starved:
            self.tracks_undecided += 1
            log.info("track ended undecided: its looks could not be encoded", track=track.id, looks=identity.looks,
                     looks_lost=self.looks_lost)
        if identity.verdict.state is not TrackState.KNOWN:
            return None
        return identity.verdict.name

    def verdict_of(self, track_id: str) -> tuple[str | None, float | None]:
        """A track's name and percentage now: (None, None) while undecided, UNKNOWN for a stranger."""
        identity = self._identities.get(track_id)
        if identity is None or identity.verdict.state is TrackState.PENDING:
            return None, None
        verdict = identity.verdict
        return (verdict.name, verdict.percentage) if verdict.known else (UNKNOWN, None)

    def frame_done(self, frame: P, seen: list[Track]) -> None:
        """After each frame: decide overdue tracks (not while the encoder is down), and look again at
        those detected in it that want it."""
        self._notice_stall(time.monotonic())
        if self._down_since is None:
            for identity in self._identities.values():
                if identity.verdict.state is TrackState.PENDING and not identity.in_flight:
                    self._decide(identity, frame)
        if self._encoding is None or self._encoding.done():
            self._look_again(frame, seen)

    def _notice_stall(self, now: float) -> None:
        """A look in the encoder over STALLED_LOOK_S: the encoder is down from then on (until a look arrives)."""
        if self._sent_at is not None and self._down_since is None and now - self._sent_at > STALLED_LOOK_S:
            self._down_since = self._sent_at + STALLED_LOOK_S

    async def finish(self) -> None:
        """A look being encoded may still decide a track: let it land."""
        if self._encoding is not None:
            await asyncio.gather(self._encoding, return_exceptions=True)

    def _look_again(self, frame: P, seen: list[Track]) -> None:
        wanting = [self._identities[t.id] for t in seen if t.id in self._identities]
        wanting = [identity for identity in wanting if identity.wants_look(self._tracking)]
        if not wanting:
            return
        wanting.sort(key=lambda identity: (identity.looks, -identity.track.look.quality))  # fewest looks first
        batch = wanting[:MAX_FACES_PER_LOOK]
        for identity in batch:
            identity.in_flight = True
        looks = [identity.track.look for identity in batch]
        self._encoding = asyncio.create_task(self._encode(frame, batch, looks), name=f"encode:{self._camera}")

    async def _encode(self, frame: P, batch: list[TrackIdentity], looks: list[Look]) -> None:
        sent = self._sent_at = time.monotonic()
        try:
            encoded = await self._workers.encode(self._camera, frame.image, [look.box for look in looks])
            self.stage_ms["encode"].add((time.monotonic() - sent) * 1000.0)
            started = time.monotonic()
            votes = self._recognizer.votes([face.encoding for face in encoded])
            self.stage_ms["match"].add((time.monotonic() - started) * 1000.0)
        except Exception as error:  # noqa: BLE001 - a lost look: counted; the tracks look again with the next frame
            self._lost(batch, error, sent)
            return
        finally:
            self._sent_at = None
        self._encoder_back(sent)
        for identity, look, face, vote in zip(batch, looks, encoded, votes):
            identity.in_flight = False
            passes = self._gates.passes(look.box.width, look.sharpness, face.yaw)
            identity.add_look(look, face, vote if passes else None)
            self._decide(identity, frame)

    def _lost(self, batch: list[TrackIdentity], error: Exception, sent: float) -> None:
        """Looks that could not be encoded: counted, the encoder down since they were sent, the pending
        tracks marked as having lost looks; the first failure is logged, then one line a minute."""
        self.looks_lost += len(batch)
        self._down_since = sent if self._down_since is None else min(self._down_since, sent)
        self._failing = True
        for identity in batch:
            identity.in_flight = False
        for identity in self._identities.values():
            identity.starved |= identity.verdict.state is TrackState.PENDING
        if self._lost_log.due():
            log.warning("encoding failed", error=repr(error), tracks=[i.track.id for i in batch],
                        looks_lost=self.looks_lost, failures_not_logged=self._lost_log.take_suppressed())

    def _encoder_back(self, sent: float) -> None:
        """A look arrived: the time the encoder was down (lost looks, or this look's own stall) is given
        back to the pending tracks, whose deadlines count on from where they were."""
        now = time.monotonic()
        if self._down_since is None and now - sent > STALLED_LOOK_S:
            self._down_since = sent + STALLED_LOOK_S
        if self._down_since is None:
            return
        for identity in self._identities.values():
            if identity.verdict.state is TrackState.PENDING:
                identity.pause(self._down_since, now)
        if self._failing:
            log.info("encoding works again", looks_lost=self.looks_lost, down_s=round(now - self._down_since, 1))
        self._down_since, self._failing = None, False
        self._lost_log.reset()

    def _decide(self, identity: TrackIdentity, frame: P) -> None:
        now = time.monotonic()
        if identity.decide(self._policy, now, self._tracking.decision_deadline_s):
            who = identity.identification(identity.track.look, (frame.width, frame.height), now)
            log.debug("track decided", track=who.track_id, name=who.name, votes=who.votes, latency_ms=who.latency_ms)
            self._announce(who, frame)
