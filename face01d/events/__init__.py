"""Recognition events: the schema (``model``) and when to emit them (``presence``)."""

from face01d.events.model import UNKNOWN, Event, EventType, utc_iso
from face01d.events.presence import PresenceTracker, Sighting

__all__ = ["UNKNOWN", "Event", "EventType", "PresenceTracker", "Sighting", "utc_iso"]
