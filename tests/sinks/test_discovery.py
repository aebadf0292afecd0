"""Home Assistant discovery payloads carry what Home Assistant requires."""

from __future__ import annotations

import json
import re

from face01d.sinks.discovery import DiscoveryContext, all_configs, ascii_id, camera_configs, person_config
from face01d.sinks.topics import Topics

CTX = DiscoveryContext(Topics("face01", "node1"), "node1", "homeassistant", presence_expire_s=7.5)
CONFIG_TOPIC = re.compile(r"^homeassistant/(binary_sensor|sensor)/[a-z0-9_]+/[a-z0-9_]+/config$")
ASCII_ID = re.compile(r"^[a-z0-9_]+$")
COMMON = {"name", "unique_id", "default_entity_id", "availability_topic", "payload_available", "payload_not_available", "device", "origin", "state_topic"}


def assert_common(payload: dict, component: str) -> None:
    assert COMMON <= payload.keys()
    assert payload["availability_topic"] == "face01/node1/status"
    assert (payload["payload_available"], payload["payload_not_available"]) == ("online", "offline")
    assert payload["device"]["identifiers"] == ["face01d_node1"]
    assert payload["device"]["manufacturer"] == "face01d"
    assert {"name", "model", "sw_version"} <= payload["device"].keys()
    assert ASCII_ID.match(payload["unique_id"])
    domain, object_id = payload["default_entity_id"].split(".")
    assert domain == component and ASCII_ID.match(object_id)
    json.dumps(payload)  # serialisable as is


def test_person_presence_sensor_for_a_japanese_name() -> None:
    topic, payload = person_config(CTX, "front door", "金正恩")
    assert CONFIG_TOPIC.match(topic), topic
    assert_common(payload, "binary_sensor")
    assert payload["state_topic"] == "face01/node1/front door/person/金正恩"
    assert payload["name"] == "金正恩 at front door"  # readable name kept
    assert payload["device_class"] == "occupancy"
    assert (payload["payload_on"], payload["payload_off"]) == ("ON", "OFF")
    assert payload["expire_after"] == 8  # whole seconds, rounded up


def test_camera_connectivity_and_last_name_sensor() -> None:
    (online_topic, online), (last_topic, last) = camera_configs(CTX, "door")
    assert online_topic == "homeassistant/binary_sensor/node1/door_online/config"
    assert_common(online, "binary_sensor")
    assert online["device_class"] == "connectivity"
    assert online["state_topic"] == "face01/node1/door/status"
    assert (online["payload_on"], online["payload_off"]) == ("online", "offline")
    assert last_topic == "homeassistant/sensor/node1/door_last_name/config"
    assert_common(last, "sensor")
    assert last["state_topic"] == "face01/node1/door/event"
    assert last["value_template"] == "{{ value_json.name }}"


def test_unique_ids_are_unique_even_when_names_slug_alike() -> None:
    configs = all_configs(CTX, ["door", "Door"], ["金正恩", "習近平", "a b", "a_b", "A B"])
    topics = [topic for topic, _ in configs]
    unique_ids = [payload["unique_id"] for _, payload in configs]
    assert len(configs) == 2 * 2 + 2 * 5
    assert len(set(topics)) == len(topics)
    assert len(set(unique_ids)) == len(unique_ids)
    assert all(CONFIG_TOPIC.match(topic) for topic in topics)


def test_ascii_id() -> None:
    assert ascii_id("door") == "door"
    assert ascii_id("Front Door").startswith("front_door_")
    assert ASCII_ID.match(ascii_id("金正恩")) and ascii_id("金正恩") != ascii_id("習近平")
    assert ascii_id("金正恩") == ascii_id("金正恩")  # stable across runs: HA keys entities on it
