"""One outgoing MQTT message, and the small helpers every sender shares.

A module of its own because both halves of the MQTT sink build and send
these: the connection and state side (``mqtt.py``) and the event delivery
from the durable outbox (``delivery.py``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.sinks.link import check_packet_size


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    expires_at: float | None = None  # time.monotonic(); None: never

    def properties(self) -> Properties | None:
        """MQTT 5 Message Expiry Interval for what is left of this message's life."""
        if self.expires_at is None:
            return None
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = max(1, math.ceil(self.expires_at - time.monotonic()))
        return properties

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.monotonic()

    async def publish(self, client: aiomqtt.Client) -> None:
        """Publish; ``PacketTooLarge`` for a message the broker announced it would refuse."""
        check_packet_size(client, self.topic, self.payload)
        await client.publish(self.topic, self.payload, self.qos, self.retain, self.properties())


def to_json(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
