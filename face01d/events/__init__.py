"""Recognition events: the schema (``model``) and when to emit them (``presence``)."""

from face01d.events.model import UNKNOWN, Event, EventType, utc_iso
from face01d.events.presence import Presence, TrackEnd

__all__ = ["UNKNOWN", "Event", "EventType", "Presence", "TrackEnd", "utc_iso"]
