"""What the MQTT sink's connection task asks of the broker link, holding no state.

Apart from ``mqtt.py`` so that the sink there reads as its connection loop
and state: how the credentials are read, whether a refused CONNECT was for
them (retry rarely) or not (back off), and when a connection has dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from face01d.config.models import MqttConfig
from face01d.errors import ConfigError

PUBLISH_OVERHEAD = 1 + 4 + 2 + 2 + 4 + 5  # fixed header, length, topic length, packet id, properties, expiry

# CONNACK codes meaning "your credentials are wrong": MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_AUTH_REFUSED = frozenset({4, 5, 134, 135})


def is_auth_refusal(exc: aiomqtt.MqttError) -> bool:
    """True when the broker refused the CONNECT for the credentials.

    Only a CONNACK counts: paho's own error numbers overlap (4 is also
    "not connected" when a publish meets a dropped connection).
    """
    rc = getattr(exc, "rc", None)
    return isinstance(exc, MqttConnectError) and getattr(rc, "value", rc) in _AUTH_REFUSED


async def load_password(config: MqttConfig) -> str | None:
    """The configured password, or ``password_file``'s first line; ConfigError if unreadable."""
    path = config.password_file
    if path is None:
        return None if config.password is None else config.password.get_secret_value()
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"mqtt password_file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"mqtt password_file unreadable: {path}: {exc.strerror}") from None
    return text.rstrip("\r\n")



class BrokerClient(aiomqtt.Client):
    """aiomqtt's client, keeping the MQTT 5 Maximum Packet Size of the broker's CONNACK (aiomqtt drops it).

    A broker closes the connection on a packet over its maximum (0x95);
    knowing the limit, the sink sets such a message aside before sending it,
    instead of recognising it after a reconnect per attempt.
    """

    maximum_packet_size: int | None = None

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,  # noqa: ANN401
                    properties: Any = None) -> None:
        size = getattr(properties, "MaximumPacketSize", None)
        self.maximum_packet_size = int(size) if size else None
        super()._on_connect(client, userdata, flags, reason_code, properties)


class PacketTooLarge(ValueError):
    """A message the broker said it would refuse: set it aside, keep the connection."""


def check_packet_size(client: aiomqtt.Client, topic: str, payload: bytes) -> None:
    """Raise ``PacketTooLarge`` when the PUBLISH would exceed the broker's maximum (an upper bound of its size)."""
    limit = getattr(client, "maximum_packet_size", None)
    size = PUBLISH_OVERHEAD + len(topic.encode("utf-8")) + len(payload)
    if limit is not None and size > limit:
        raise PacketTooLarge(f"{size} bytes is over the broker's maximum packet size of {limit}")
