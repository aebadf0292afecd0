"""Who is in view of one camera, and when that is worth an event.

Recognition runs on every analysed frame, but consumers want *changes*: a
person appeared, is still here (now and then), left. This module turns the
per-frame stream of sightings into those events, the way Viseron turns
detections into ``detected``/``expired`` pairs.

It is pure and synchronous: time comes only from the arguments (the frames'
capture times), never from a clock, so the daemon can call it from the event
loop and tests can be exact. It keys on names, so a later tracking stage can
feed it one sighting per track with the track's voted identity.

Decisions:
- A person who *appears* (was not present) always gets a ``recognized`` event,
  even within the cooldown: it follows a ``left``, so every ``left`` is
  preceded by its ``recognized`` and presence counters stay balanced.
- ``left`` carries the capture time, box and distance of the last sighting:
  the moment someone was last in view is the best estimate of when they
  left; the time the timeout expired only says when we noticed.
- The end of a video file emits ``left`` for everyone present (``flush``):
  nobody is seen any more. A daemon shutdown does not: nobody left, the
  daemon just stopped looking; it turns the retained presence topics OFF
  and its availability goes offline instead.
- A clock stepped backwards (NTP) counts as "cooldown over", so a step can
  never silence a camera for hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from face01d.events.model import UNKNOWN, Event, EventType
from face01d.faces import Sighting

if TYPE_CHECKING:
    from face01d.config.models import EventsConfig


@dataclass(slots=True)
class _Presence:
    """What is remembered about a known person while they are present."""

    sighting: Sighting
    last_seen: float
    last_event: float
    frame_size: tuple[int, int]  # (width, height) of the frame last seen in


def closest_per_name(sightings: Iterable[Sighting]) -> dict[str, Sighting]:
    """One sighting per name: the closest match (lowest distance) wins."""
    best: dict[str, Sighting] = {}
    for sighting in sightings:
        current = best.get(sighting.name)
        if current is None or sighting.distance < current.distance:
            best[sighting.name] = sighting
    return best


def cooldown_over(now: float, last: float | None, cooldown_s: float) -> bool:
    """True when an event may be repeated (also when the clock went backwards)."""
    if last is None:
        return True
    elapsed = now - last
    return elapsed >= cooldown_s or elapsed < 0


class PresenceTracker:
    """The presence state machine of one camera."""

    def __init__(self, config: EventsConfig, node: str, camera: str) -> None:
        self._config = config
        self._node = node
        self._camera = camera
        self._people: dict[str, _Presence] = {}
        self._last_unknown: float | None = None

    @property
    def present(self) -> frozenset[str]:
        """Names of the known people currently in view (within the timeout)."""
        return frozenset(self._people)

    def observe(
        self, sightings: Iterable[Sighting], captured_at: float, frame_width: int, frame_height: int
    ) -> list[Event]:
        """Events caused by one analysed frame.

        Expiry is checked first, so a person absent longer than the timeout
        gets ``left`` and then a fresh ``recognized`` even if the daemon has
        not called ``expire`` in between.
        """
        events = self.expire(captured_at)
        size = (frame_width, frame_height)
        for name, sighting in closest_per_name(sightings).items():
            if name == UNKNOWN:
                event = self._observe_unknown(sighting, captured_at, size)
            else:
                event = self._observe_known(sighting, captured_at, size)
            if event is not None:
                events.append(event)
        return events

    def expire(self, now: float) -> list[Event]:
        """``left`` for each known person not seen for ``presence_timeout_s``."""
        timeout = self._config.presence_timeout_s
        gone = [name for name, p in self._people.items() if now - p.last_seen >= timeout]
        return [self._left(self._people.pop(name)) for name in gone]

    def flush(self) -> list[Event]:
        """``left`` for everyone still present (the source ended).

        Like every ``left``, these carry the last-seen time. The unknown
        cooldown is reset too.
        """
        events = [self._left(presence) for presence in self._people.values()]
        self._people.clear()
        self._last_unknown = None
        return events

    def _observe_known(self, sighting: Sighting, now: float, size: tuple[int, int]) -> Event | None:
        presence = self._people.get(sighting.name)
        if presence is None:
            self._people[sighting.name] = _Presence(sighting, now, now, size)
            return self._event(EventType.RECOGNIZED, sighting, now, size)
        presence.sighting, presence.last_seen, presence.frame_size = sighting, now, size
        if not cooldown_over(now, presence.last_event, self._config.cooldown_s):
            return None
        presence.last_event = now
        return self._event(EventType.RECOGNIZED, sighting, now, size)

    def _observe_unknown(self, sighting: Sighting, now: float, size: tuple[int, int]) -> Event | None:
        """Camera-wide cooldown: without tracking, unknown faces can't be told apart."""
        if not cooldown_over(now, self._last_unknown, self._config.cooldown_s):
            return None
        self._last_unknown = now
        return self._event(EventType.UNKNOWN, sighting, now, size)

    def _left(self, presence: _Presence) -> Event:
        return self._event(EventType.LEFT, presence.sighting, presence.last_seen, presence.frame_size)

    def _event(self, kind: EventType, sighting: Sighting, at: float, size: tuple[int, int]) -> Event:
        return Event(
            type=kind,
            node=self._node,
            camera=self._camera,
            name=sighting.name,
            captured_at=at,
            distance=sighting.distance,
            percentage=sighting.percentage,
            box=sighting.box,
            frame_width=size[0],
            frame_height=size[1],
        )
