"""Who is in view of one camera, and when that is worth an event.

Recognition decides each *track's* identity once; consumers want
*changes*: a person appeared, a stranger appeared, a person left. This
module turns track decisions and track ends into those events, the way
Viseron turns detections into ``detected``/``expired`` pairs.

It is pure and synchronous: time comes only from the arguments (the frames'
capture times), never from a clock, so the daemon calls it from the event
loop and tests are exact.

Decisions:
- ``recognized`` once per track, when the track is decided to be a
  registered person. A face that the tracker lost for a moment comes back
  as a new track; if that person is still present (one of their tracks is
  alive, or ended less than ``presence_timeout_s`` ago) and had a
  ``recognized`` within ``cooldown_s``, the new track is quiet.
- ``unknown`` once per track decided unknown, unless it is the same stranger
  as an ``unknown`` of the last ``cooldown_s`` (their mean encodings within
  ``SAME_STRANGER``): a stranger who lingers is announced once, two
  strangers twice. Nor is a track announced unknown whose looks leaned to
  a registered person who is present on this camera now (nearest to them
  and within the tolerance, only the margin short): that is most likely
  them, laughing, on a second track.
- ``left`` when a person has had no live track for ``presence_timeout_s``;
  it carries the capture time, box and track of the last sighting (the best
  estimate of when they left). Every ``left`` follows a ``recognized``.
- The end of a video file emits ``left`` for everyone present (``flush``).
  A daemon shutdown does not: nobody left, the daemon stopped looking.
- A clock stepped backwards (NTP) counts as "cooldown over", so a step can
  never silence a camera for hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from face01d.events.model import Event, EventType
from face01d.faces import FaceBox, Identification

if TYPE_CHECKING:
    from face01d.config.models import EventsConfig

SAME_STRANGER = 0.45  # mean encodings this close: the same unknown face (tolerance-like scale)


@dataclass(slots=True)
class _Person:
    """A registered person while present on this camera."""

    name: str
    tracks: set[str]
    last_track: str
    last_seen: float
    box: FaceBox
    frame_size: tuple[int, int]
    last_recognized: float

    def seen(self, track_id: str, at: float, box: FaceBox, frame_size: tuple[int, int]) -> None:
        """The latest sighting of this person: what a ``left`` will carry."""
        self.last_track, self.last_seen, self.box, self.frame_size = track_id, at, box, frame_size


@dataclass(slots=True)
class _Stranger:
    encoding: np.ndarray | None
    at: float


@dataclass(slots=True)
class TrackEnd:
    """What the events stage needs to know when a decided track ends."""

    track_id: str
    name: str
    last_seen: float
    box: FaceBox
    frame_size: tuple[int, int]


def cooldown_over(now: float, last: float | None, cooldown_s: float) -> bool:
    """True when an event may be repeated (also when the clock went backwards)."""
    if last is None:
        return True
    elapsed = now - last
    return elapsed >= cooldown_s or elapsed < 0


@dataclass
class Presence:
    """The presence state machine of one camera."""

    config: EventsConfig
    node: str
    camera: str
    _people: dict[str, _Person] = field(default_factory=dict)
    _strangers: list[_Stranger] = field(default_factory=list)

    @property
    def present(self) -> frozenset[str]:
        """Names of the registered people currently in view (or within the timeout)."""
        return frozenset(self._people)

    def identified(self, who: Identification) -> list[Event]:
        """A track was decided: a ``recognized`` or ``unknown`` event, or none (see the module doc)."""
        events = self.expire(who.captured_at)
        event = self._known(who) if who.known else self._stranger(who)
        return events + ([event] if event is not None else [])

    def track_ended(self, end: TrackEnd) -> None:
        """A decided track ended; its person stays present for the timeout unless another track holds them."""
        person = self._people.get(end.name)
        if person is None:
            return
        person.tracks.discard(end.track_id)
        if end.last_seen >= person.last_seen:
            person.seen(end.track_id, end.last_seen, end.box, end.frame_size)

    def expire(self, now: float) -> list[Event]:
        """``left`` for each person without a track, unseen for ``presence_timeout_s``."""
        timeout = self.config.presence_timeout_s
        gone = [p for p in self._people.values() if not p.tracks and now - p.last_seen >= timeout]
        for person in gone:
            del self._people[person.name]
        return [self._left(person) for person in gone]

    def flush(self) -> list[Event]:
        """``left`` for everyone still present (the source ended); the stranger memory is cleared too."""
        events = [self._left(person) for person in self._people.values()]
        self._people.clear()
        self._strangers.clear()
        return events

    def _known(self, who: Identification) -> Event | None:
        person = self._people.get(who.name)
        size = (who.frame_width, who.frame_height)
        if person is None:
            self._people[who.name] = _Person(who.name, {who.track_id}, who.track_id, who.captured_at, who.box, size,
                                             who.captured_at)
            return self._event(EventType.RECOGNIZED, who)
        person.tracks.add(who.track_id)
        person.seen(who.track_id, who.captured_at, who.box, size)
        if not cooldown_over(who.captured_at, person.last_recognized, self.config.cooldown_s):
            return None
        person.last_recognized = who.captured_at
        return self._event(EventType.RECOGNIZED, who)

    def _stranger(self, who: Identification) -> Event | None:
        if who.leaning is not None and who.leaning in self._people:
            return None  # looks that leaned to a person in view: most likely them, laughing
        now, cooldown = who.captured_at, self.config.cooldown_s
        self._strangers = [s for s in self._strangers if not cooldown_over(now, s.at, cooldown)]
        if any(_same_face(s.encoding, who.encoding) for s in self._strangers):
            return None
        self._strangers.append(_Stranger(who.encoding, now))
        return self._event(EventType.UNKNOWN, who)

    def _left(self, person: _Person) -> Event:
        return Event(
            type=EventType.LEFT, node=self.node, camera=self.camera, name=person.name,
            captured_at=person.last_seen, box=person.box, frame_width=person.frame_size[0],
            frame_height=person.frame_size[1], track_id=person.last_track,
        )

    def _event(self, kind: EventType, who: Identification) -> Event:
        return Event(
            type=kind, node=self.node, camera=self.camera, name=who.name, captured_at=who.captured_at,
            distance=who.distance, percentage=who.percentage, box=who.box, frame_width=who.frame_width,
            frame_height=who.frame_height, track_id=who.track_id, votes=who.votes, latency_ms=who.latency_ms,
        )


def _same_face(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Two strangers are the same when their mean encodings are close; unknown encodings never match."""
    if a is None or b is None:
        return False
    return float(np.linalg.norm(a - b)) < SAME_STRANGER
