"""The retained presence topics (``<prefix>/<node>/<camera>/person/<name>``): what to say, and when.

ON carries a message expiry, so a broker that replays it after a reconnect
never presents an old sighting as fresh, and Home Assistant's ``off_delay``
turns the sensor off if the daemon dies mid-sighting. The camera tells the
sink who is present after every frame: a repeated ON is said again only
after ``REFRESH_FRACTION`` of its life, which keeps it alive without
flooding the broker. OFF is retained without expiry.

Pure bookkeeping on the machine clock (``now`` is ``time.monotonic()``):
``MqttSink`` sends the messages.
"""

from __future__ import annotations

import math

from face01d.sinks.messages import Message
from face01d.sinks.topics import Topics

REFRESH_FRACTION = 1 / 3  # a repeated ON is re-sent after this share of its expiry


class PresenceTopics:
    def __init__(self, topics: Topics, expire_s: float, qos: int) -> None:
        self._topics = topics
        self._expire_s = expire_s
        self._qos = qos
        self._fresh_until: dict[str, float] = {}  # per topic: a repeated ON waits until then
        self._on_until: dict[str, float] = {}  # per topic: the expiry of the ON last said

    def say(self, camera: str, name: str, present: bool, now: float) -> Message | None:
        """The message that says ``present``; None for an ON repeated too soon."""
        topic = self._topics.person(camera, name)
        if present and now < self._fresh_until.get(topic, -math.inf):
            return None
        if not present:
            self._forget(topic)
            return Message(topic, b"OFF", self._qos, True)
        self._fresh_until[topic] = now + self._expire_s * REFRESH_FRACTION
        self._on_until[topic] = expires_at = now + self._expire_s
        return Message(topic, b"ON", self._qos, True, expires_at)

    def current(self, camera: str, name: str, now: float) -> Message:
        """The presence to say again (a reconnect, Home Assistant's birth).

        ON with what is left of its life, else OFF.
        """
        topic = self._topics.person(camera, name)
        on_until = self._on_until.get(topic, -math.inf)
        if on_until > now:
            return Message(topic, b"ON", self._qos, True, on_until)
        return Message(topic, b"OFF", self._qos, True)

    def remove(self, camera: str, name: str) -> Message:
        """A person left the gallery: an empty retained message deletes the topic."""
        topic = self._topics.person(camera, name)
        self._forget(topic)
        return Message(topic, b"", 1, True)

    def clear(self) -> list[Message]:
        """OFF for every topic said ON: retained ON must not outlive the daemon that vouched for it."""
        topics = list(self._on_until)
        for topic in topics:
            self._forget(topic)
        return [Message(topic, b"OFF", self._qos, True) for topic in topics]

    def _forget(self, topic: str) -> None:
        self._on_until.pop(topic, None)
        self._fresh_until.pop(topic, None)
