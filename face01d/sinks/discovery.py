"""Home Assistant MQTT discovery: the retained configs that make entities appear.

Field names follow Home Assistant's MQTT discovery documentation
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery,
.../integrations/binary_sensor.mqtt/ and .../integrations/sensor.mqtt/).
``default_entity_id`` ("<domain>.<object_id>") is used rather than
``object_id``, which Home Assistant 2025.10 deprecated and 2026.4 dropped.

Pure functions: they return ``(topic, payload)`` pairs and publish nothing.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from face01d import __version__
from face01d.sinks.topics import Topics

Config = tuple[str, dict[str, object]]

_NOT_ID = re.compile(r"[^a-z0-9]+")


def ascii_id(text: str) -> str:
    """A stable ``[a-z0-9_]`` id for any name, readable where the name allows.

    A lossy slug (case, spaces, 金正恩) gets a short hash of the original
    appended, so two names that slug alike still get distinct ids.
    """
    slug = _NOT_ID.sub("_", text.lower()).strip("_")
    if slug == text:
        return slug
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{slug}_{digest}" if slug else f"h{digest}"


@dataclass(frozen=True, slots=True)
class DiscoveryContext:
    """What every config of one node shares."""

    topics: Topics
    node_id: str
    discovery_prefix: str = "homeassistant"
    presence_expire_s: float = 10.0

    @property
    def node_key(self) -> str:
        return ascii_id(self.node_id)

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_key}/{object_id}/config"


def device_info(node_id: str) -> dict[str, object]:
    """One Home Assistant device per face01d node."""
    return {
        "identifiers": [f"face01d_{ascii_id(node_id)}"],
        "name": f"face01d {node_id}",
        "manufacturer": "face01d",
        "model": "face01d recognition node",
        "sw_version": __version__,
    }


def _entity(ctx: DiscoveryContext, component: str, object_id: str, name: str) -> dict[str, object]:
    """Fields every face01d entity carries: identity, availability, device."""
    unique = f"face01d_{ctx.node_key}_{object_id}"
    return {
        "name": name,
        "unique_id": unique,
        "default_entity_id": f"{component}.{unique}",
        "availability_topic": ctx.topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device_info(ctx.node_id),
        "origin": {"name": "face01d", "sw_version": __version__},
    }


def camera_configs(ctx: DiscoveryContext, camera: str) -> list[Config]:
    """A connectivity sensor and a "last recognised name" sensor for a camera."""
    cam = ascii_id(camera)
    online = _entity(ctx, "binary_sensor", f"{cam}_online", f"{camera} online") | {
        "state_topic": ctx.topics.camera_status(camera),
        "device_class": "connectivity",
        "payload_on": "online",
        "payload_off": "offline",
    }
    last = _entity(ctx, "sensor", f"{cam}_last_name", f"{camera} last recognised") | {
        "state_topic": ctx.topics.camera_event(camera),
        "value_template": "{{ value_json.name }}",
        "json_attributes_topic": ctx.topics.camera_event(camera),
        "icon": "mdi:face-recognition",
    }
    return [
        (ctx.config_topic("binary_sensor", f"{cam}_online"), online),
        (ctx.config_topic("sensor", f"{cam}_last_name"), last),
    ]


def person_config(ctx: DiscoveryContext, camera: str, name: str) -> Config:
    """An occupancy sensor: is ``name`` in front of ``camera`` now."""
    object_id = f"{ascii_id(camera)}_{ascii_id(name)}"
    payload = _entity(ctx, "binary_sensor", object_id, f"{name} at {camera}") | {
        "state_topic": ctx.topics.person(camera, name),
        "device_class": "occupancy",
        "payload_on": "ON",
        "payload_off": "OFF",
        "expire_after": max(1, math.ceil(ctx.presence_expire_s)),
    }
    return ctx.config_topic("binary_sensor", object_id), payload


def all_configs(ctx: DiscoveryContext, cameras: Sequence[str], people: Sequence[str]) -> list[Config]:
    """Every config of the node, cameras first, in a stable order."""
    configs = [config for camera in cameras for config in camera_configs(ctx, camera)]
    configs += [person_config(ctx, camera, name) for camera in cameras for name in people]
    return configs
