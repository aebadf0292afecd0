"""Home Assistant MQTT discovery: the retained configs that make entities appear.

Field names follow Home Assistant's MQTT discovery documentation
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery, and per
platform .../integrations/<platform>.mqtt/: binary_sensor, sensor, event,
image, device_trigger).
``default_entity_id`` ("<domain>.<object_id>") is used rather than
``object_id``, which Home Assistant 2025.10 deprecated and 2026.4 dropped.
It is the id Home Assistant builds itself from the names when it ignores
the key (before 2025.10): ``<domain>.<slug(device name)>_<slug(entity
name)>`` (``ha_slug``), so every version gives an entity the same id and
the README's automations can name it. Where a name has letters that
Home Assistant transliterates (金正恩 → "jin_zheng_en", by a table face01d
does not carry), the key is left out and Home Assistant builds the id.

Pure functions: they return ``(topic, payload)`` pairs and publish nothing.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
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


def ha_slug(text: str) -> str | None:
    """Home Assistant's ``slugify`` for text of Latin letters, digits and punctuation; None for other letters.

    Its rules (python-slugify with ``_``): accents dropped, lower case,
    apostrophes removed, a comma between digits removed, every other run of
    non-alphanumerics one ``_``, none at the ends; "unknown" when nothing is left.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    if any(unicodedata.category(c)[0] in "LN" for c in unicodedata.normalize("NFKD", text) if not c.isascii()):
        return None  # letters Home Assistant would transliterate (unidecode): not reproduced here
    folded = re.sub(r"(?<=\d),(?=\d)", "", folded.lower().replace("'", ""))
    return _NOT_ID.sub("_", folded).strip("_") or "unknown"


def ha_entity_id(component: str, device_name: str, entity_name: str) -> str | None:
    """The entity id Home Assistant builds for an entity named ``entity_name`` on a device ``device_name``."""
    device, entity = ha_slug(device_name), ha_slug(entity_name)
    return None if device is None or entity is None else f"{component}.{device}_{entity}"


@dataclass(frozen=True, slots=True)
class DiscoveryContext:
    """What every config of one node shares."""

    topics: Topics
    node_id: str
    discovery_prefix: str = "homeassistant"
    presence_expire_s: float = 10.0
    friendly_name: str | None = None  # the device's name in Home Assistant; None: the node id
    snapshots: bool = False  # an image entity per camera
    access_cameras: frozenset[str] = frozenset()  # cameras with access = true: their event entity has "access"
    qos: int = 1

    @property
    def node_key(self) -> str:
        return ascii_id(self.node_id)

    @property
    def birth_topic(self) -> str:
        """Where Home Assistant says ``online`` when it (re)starts."""
        return f"{self.discovery_prefix}/status"

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_key}/{object_id}/config"


def device_info(node_id: str, friendly_name: str | None = None) -> dict[str, object]:
    """One Home Assistant device per face01d node; entity names are shown after its name."""
    return {
        "identifiers": [f"face01d_{ascii_id(node_id)}"],
        "name": friendly_name or node_id,
        "manufacturer": "face01d",
        "model": "face01d recognition node",
        "sw_version": __version__,
    }


def _entity(ctx: DiscoveryContext, component: str, object_id: str, name: str) -> dict[str, object]:
    """Fields every face01d entity carries: identity, availability, device."""
    unique = f"face01d_{ctx.node_key}_{object_id}"
    device = device_info(ctx.node_id, ctx.friendly_name)
    entity_id = ha_entity_id(component, str(device["name"]), name)
    return {
        "name": name,
        "unique_id": unique,
        **({"default_entity_id": entity_id} if entity_id is not None else {}),
        "availability_topic": ctx.topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
        "origin": {"name": "face01d", "sw_version": __version__},
    }


# The event JSON (README, "Event schema") as Home Assistant's event payload: it wants
# ``event_type``; the other keys become the event's attributes (``captured_at`` lets an
# automation refuse an event the outbox delivers late; ``granted`` and ``reasons`` are an
# access camera's answer, null otherwise). The wire schema stays as is.
EVENT_TEMPLATE = (
    "{{ {'event_type': value_json.type, 'name': value_json.name, 'percentage': value_json.percentage,"
    " 'track_id': value_json.track_id, 'snapshot': value_json.snapshot, 'captured_at': value_json.captured_at,"
    " 'granted': value_json.granted, 'reasons': value_json.reasons} | to_json }}"
)
EVENT_TYPES = ["recognized", "unknown", "left"]
ACCESS_EVENT_TYPES = [*EVENT_TYPES, "access"]  # a camera with access = true
# A present person's ON is repeated every third of the presence timeout (mqtt.py): an ON
# not repeated within 1.5 timeouts means nobody vouches for it any more.
OFF_DELAY_FACTOR = 1.5


def camera_configs(ctx: DiscoveryContext, camera: str) -> list[Config]:
    """Per camera: connectivity, the last recognised name, an event entity, and the
    last face crop when snapshots are published."""
    cam = ascii_id(camera)
    online = _entity(ctx, "binary_sensor", f"{cam}_online", f"{camera} online") | {
        "state_topic": ctx.topics.camera_status(camera),
        "device_class": "connectivity",
        "payload_on": "online",
        "payload_off": "offline",
    }
    last = _entity(ctx, "sensor", f"{cam}_last_name", f"{camera} last recognised") | {
        "state_topic": ctx.topics.last_recognized(camera),  # written on ``recognized`` only
        "value_template": "{{ value_json.name }}",
        "json_attributes_topic": ctx.topics.last_recognized(camera),
        "icon": "mdi:face-recognition",
    }
    event = _entity(ctx, "event", f"{cam}_event", f"{camera} recognition") | {
        "state_topic": ctx.topics.camera_event(camera),
        "event_types": ACCESS_EVENT_TYPES if camera in ctx.access_cameras else EVENT_TYPES,
        "value_template": EVENT_TEMPLATE,
        "icon": "mdi:face-recognition",
    }
    configs = [
        (ctx.config_topic("binary_sensor", f"{cam}_online"), online),
        (ctx.config_topic("sensor", f"{cam}_last_name"), last),
        (ctx.config_topic("event", f"{cam}_event"), event),
    ]
    if ctx.snapshots:
        image = _entity(ctx, "image", f"{cam}_snapshot", f"{camera} last face") | {
            "image_topic": ctx.topics.snapshot(camera),
            "content_type": "image/jpeg",
        }
        configs.append((ctx.config_topic("image", f"{cam}_snapshot"), image))
    return configs


def person_config(ctx: DiscoveryContext, camera: str, name: str) -> Config:
    """An occupancy sensor: is ``name`` in front of ``camera`` now.

    ``off_delay`` turns a sensor whose ON is no longer refreshed back to OFF
    (a daemon that died while someone was in view); ``expire_after`` would
    make it ``unavailable`` instead, which is not what "nobody there" means.
    """
    object_id = f"{ascii_id(camera)}_{ascii_id(name)}"
    payload = _entity(ctx, "binary_sensor", object_id, f"{name} at {camera}") | {
        "state_topic": ctx.topics.person(camera, name),
        "device_class": "occupancy",
        "payload_on": "ON",
        "payload_off": "OFF",
        "off_delay": max(1, math.ceil(ctx.presence_expire_s * OFF_DELAY_FACTOR)),
    }
    return ctx.config_topic("binary_sensor", object_id), payload


def trigger_config(ctx: DiscoveryContext, camera: str, name: str) -> Config:
    """A device trigger: "``name`` was just recognised at ``camera``".

    Home Assistant wants ``type`` and ``subtype`` unique per device, so the
    subtype names the camera too. Device triggers take no name, unique id or
    availability: only the documented keys are sent.
    """
    object_id = f"{ascii_id(camera)}_{ascii_id(name)}_recognized"
    payload: dict[str, object] = {
        "automation_type": "trigger",
        "topic": ctx.topics.trigger(camera, name),
        "type": "recognized",
        "subtype": f"{name} at {camera}",
        "qos": ctx.qos,
        "device": device_info(ctx.node_id, ctx.friendly_name),
    }
    return ctx.config_topic("device_automation", object_id), payload


def gallery_version_config(ctx: DiscoveryContext, state_topic: str) -> Config:
    """A diagnostic sensor: the version of the shared gallery this node runs (face01d/galleryshare says it)."""
    payload = _entity(ctx, "sensor", "gallery_version", "gallery version") | {
        "state_topic": state_topic,
        "entity_category": "diagnostic",
        "icon": "mdi:account-group",
    }
    return ctx.config_topic("sensor", "gallery_version"), payload


def all_configs(ctx: DiscoveryContext, cameras: Sequence[str], people: Sequence[str]) -> list[Config]:
    """Every config of the node, cameras first, in a stable order."""
    configs = [config for camera in cameras for config in camera_configs(ctx, camera)]
    for camera in cameras:
        for name in people:
            configs += [person_config(ctx, camera, name), trigger_config(ctx, camera, name)]
    return configs
