"""Home Assistant discovery payloads carry what Home Assistant requires."""

from __future__ import annotations

import json
import re

from face01d.sinks.discovery import (
    EVENT_TEMPLATE,
    DiscoveryContext,
    all_configs,
    ascii_id,
    camera_configs,
    device_info,
    ha_entity_id,
    ha_slug,
    person_config,
    trigger_config,
)
from face01d.sinks.topics import Topics

CTX = DiscoveryContext(Topics("face01", "node1"), "node1", "homeassistant", presence_expire_s=7.5)
CONFIG_TOPIC = re.compile(
    r"^homeassistant/(binary_sensor|sensor|event|image|device_automation)/[a-z0-9_]+/[a-z0-9_]+/config$"
)
ASCII_ID = re.compile(r"^[a-z0-9_]+$")
COMMON = {"name", "unique_id", "availability_topic", "payload_available", "payload_not_available", "device", "origin", "state_topic"}


def assert_common(payload: dict, component: str) -> None:
    assert COMMON <= payload.keys()
    assert payload["availability_topic"] == "face01/node1/status"
    assert (payload["payload_available"], payload["payload_not_available"]) == ("online", "offline")
    assert payload["device"]["identifiers"] == ["face01d_node1"]
    assert payload["device"]["manufacturer"] == "face01d"
    assert {"name", "model", "sw_version"} <= payload["device"].keys()
    assert ASCII_ID.match(payload["unique_id"])
    if "default_entity_id" in payload:  # left out where Home Assistant would transliterate a name
        domain, object_id = payload["default_entity_id"].split(".")
        assert domain == component and ASCII_ID.match(object_id)
        assert payload["default_entity_id"] == ha_entity_id(component, payload["device"]["name"], payload["name"])
    json.dumps(payload)  # serialisable as is


def test_person_presence_sensor_for_a_japanese_name() -> None:
    topic, payload = person_config(CTX, "front door", "金正恩")
    assert CONFIG_TOPIC.match(topic), topic
    assert_common(payload, "binary_sensor")
    assert payload["state_topic"] == "face01/node1/front door/person/金正恩"
    assert payload["name"] == "金正恩 at front door"  # readable name kept
    assert payload["device_class"] == "occupancy"
    assert (payload["payload_on"], payload["payload_off"]) == ("ON", "OFF")
    assert payload["off_delay"] == 12  # 1.5 × the presence timeout, whole seconds, rounded up
    assert "expire_after" not in payload  # it would read "unavailable", not "off"


def test_camera_connectivity_and_last_name_sensor() -> None:
    (online_topic, online), (last_topic, last), _event = camera_configs(CTX, "door")
    assert online_topic == "homeassistant/binary_sensor/node1/door_online/config"
    assert_common(online, "binary_sensor")
    assert online["device_class"] == "connectivity"
    assert online["state_topic"] == "face01/node1/door/status"
    assert (online["payload_on"], online["payload_off"]) == ("online", "offline")
    assert last_topic == "homeassistant/sensor/node1/door_last_name/config"
    assert_common(last, "sensor")
    assert last["state_topic"] == "face01/node1/door/last_recognized"  # written on `recognized` only
    assert last["json_attributes_topic"] == last["state_topic"]
    assert last["value_template"] == "{{ value_json.name }}"


def test_unique_ids_are_unique_even_when_names_slug_alike() -> None:
    configs = all_configs(CTX, ["door", "Door"], ["金正恩", "習近平", "a b", "a_b", "A B"])
    topics = [topic for topic, _ in configs]
    unique_ids = [payload.get("unique_id", topic) for topic, payload in configs]  # triggers have none
    assert len(configs) == 2 * 3 + 2 * 5 * 2  # per camera 3, per camera × person 2
    assert len(set(topics)) == len(topics)
    assert len(set(unique_ids)) == len(unique_ids)
    assert all(CONFIG_TOPIC.match(topic) for topic in topics)


def test_ascii_id() -> None:
    assert ascii_id("door") == "door"
    assert ascii_id("Front Door").startswith("front_door_")
    assert ASCII_ID.match(ascii_id("金正恩")) and ascii_id("金正恩") != ascii_id("習近平")
    assert ascii_id("金正恩") == ascii_id("金正恩")  # stable across runs: HA keys entities on it


def test_event_entity_per_camera() -> None:
    event_topic, event = camera_configs(CTX, "door")[2]
    assert event_topic == "homeassistant/event/node1/door_event/config"
    assert_common(event, "event")
    assert event["state_topic"] == "face01/node1/door/event"
    assert event["event_types"] == ["recognized", "unknown", "left"]
    assert event["value_template"] == EVENT_TEMPLATE
    for key in ("event_type", "value_json.type", "value_json.name", "value_json.percentage",
                "value_json.track_id", "value_json.snapshot", "value_json.captured_at", "to_json"):
        assert key in EVENT_TEMPLATE


def test_image_entity_only_with_snapshots() -> None:
    assert len(camera_configs(CTX, "door")) == 3
    ctx = DiscoveryContext(Topics("face01", "node1"), "node1", snapshots=True)
    image_topic, image = camera_configs(ctx, "door")[3]
    assert image_topic == "homeassistant/image/node1/door_snapshot/config"
    assert_common({**image, "state_topic": None}, "image")
    assert image["image_topic"] == "face01/node1/door/snapshot"
    assert image["content_type"] == "image/jpeg"


def test_device_trigger_per_person_and_camera() -> None:
    topic, trigger = trigger_config(CTX, "front door", "金正恩")
    assert CONFIG_TOPIC.match(topic) and topic.startswith("homeassistant/device_automation/node1/")
    assert trigger == {
        "automation_type": "trigger",
        "topic": "face01/node1/front door/recognized/金正恩",
        "type": "recognized",
        "subtype": "金正恩 at front door",  # type + subtype must be unique per device
        "qos": 1,
        "device": device_info("node1"),
    }
    subtypes = [p["subtype"] for _, p in all_configs(CTX, ["door", "gate"], ["a", "b"]) if "subtype" in p]
    assert len(subtypes) == 4 == len(set(subtypes))


def test_device_name_is_readable() -> None:
    assert device_info("face01d")["name"] == "face01d"
    assert device_info("node1", "Front door")["name"] == "Front door"
    ctx = DiscoveryContext(Topics("face01", "node1"), "node1", friendly_name="Front door")
    configs = all_configs(ctx, ["door"], ["Alice"])
    assert {payload["device"]["name"] for _, payload in configs} == {"Front door"}
    assert not any("Front door" in str(payload.get("name", "")) for _, payload in configs)


def test_entity_ids_are_the_ones_home_assistant_builds_from_the_names() -> None:
    """Before 2025.10 Home Assistant ignores default_entity_id and builds <domain>.<slug(device)>_<slug(name)>:
    the key says the same, so every version gives the same id (the README's automations depend on it)."""
    event = camera_configs(DiscoveryContext(Topics("face01", "face01d"), "face01d"), "door")[2][1]
    assert event["default_entity_id"] == "event.face01d_door_recognition"  # what HA Core 2025.4 built
    online = camera_configs(CTX, "front door")[0][1]
    assert online["default_entity_id"] == "binary_sensor.node1_front_door_online"
    ctx = DiscoveryContext(Topics("face01", "node1"), "node1", friendly_name="Front door")
    assert person_config(ctx, "door", "Alice")[1]["default_entity_id"] == "binary_sensor.front_door_alice_at_door"


def test_home_assistants_slug_rules() -> None:
    assert ha_slug("Front Door") == "front_door"
    assert ha_slug("  a--b__c  ") == "a_b_c"
    assert ha_slug("Kim's door") == "kims_door"  # apostrophes go, they do not split
    assert ha_slug("1,000 doors") == "1000_doors"
    assert ha_slug("Zoë at Café") == "zoe_at_cafe"  # accents dropped, as unidecode does
    assert ha_slug("?!") == "unknown"
    assert ha_slug("金正恩 at door") is None  # transliterated by Home Assistant: not guessed here


def test_a_name_home_assistant_would_transliterate_leaves_the_id_to_it() -> None:
    _, payload = person_config(CTX, "door", "金正恩")
    assert "default_entity_id" not in payload and payload["unique_id"]


def test_an_access_camera_has_the_access_event_type() -> None:
    ctx = DiscoveryContext(Topics("face01", "node1"), "node1", access_cameras=frozenset({"door"}))
    assert camera_configs(ctx, "door")[2][1]["event_types"] == ["recognized", "unknown", "left", "access"]
    assert camera_configs(ctx, "garden")[2][1]["event_types"] == ["recognized", "unknown", "left"]
    assert "value_json.granted" in EVENT_TEMPLATE and "value_json.reasons" in EVENT_TEMPLATE
