"""MqttSink and Home Assistant against a real mosquitto: what HA needs of each
platform, presence that reads OFF, the birth message, removal, triggers, stats."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from types import SimpleNamespace

import paho.mqtt.publish as paho_publish
from mqtt_helpers import CAMERAS, NODE, PEOPLE, fast_timing, make_event, make_sink, wait_until  # noqa: F401

from face01d.events.model import EventType
from face01d.sinks.discovery import EVENT_TEMPLATE, EVENT_TYPES

BASE = f"face01/{NODE}"
# What Home Assistant requires per platform (its MQTT docs, "Configuration Variables").
REQUIRED = {
    "binary_sensor": {"state_topic", "unique_id", "device", "payload_on", "payload_off"},
    "sensor": {"state_topic", "unique_id", "device"},
    "event": {"state_topic", "event_types", "unique_id", "device"},
    "image": {"image_topic", "content_type", "unique_id", "device"},
    "device_automation": {"automation_type", "topic", "type", "subtype", "device"},
}


def configs_of(messages: list) -> dict[str, dict]:
    """Discovery configs by topic; an empty (deleting) config maps to {}."""
    return {m.topic: json.loads(m.payload) if m.payload else {} for m in messages if m.topic.endswith("/config")}


def expected_configs(cameras: int, people: int, snapshots: bool = False) -> int:
    return cameras * (4 if snapshots else 3) + cameras * people * 2


def birth(broker, payload: str = "online") -> None:
    paho_publish.single("homeassistant/status", payload, qos=1, hostname=broker.host, port=broker.port)


def render_event(template: str, event: dict) -> dict:
    """The event template evaluated the way Jinja would: its body is a dict literal."""
    body = template.removeprefix("{{").removesuffix("}}").rsplit("|", 1)[0]
    return eval(body.replace("value_json.", "v."), {}, {"v": SimpleNamespace(**event)})  # noqa: S307


async def test_every_platform_carries_what_home_assistant_requires(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port, publish_snapshots=True, friendly_name="Front door")
    await sink.start()
    total = expected_configs(len(CAMERAS), len(PEOPLE), snapshots=True)
    await wait_until(lambda: sink.stats["published"] >= 1 + total)
    late = mqtt_recorder(mosquitto, "homeassistant/#")  # after the fact: retained copies only
    configs = configs_of(await late.wait_for(lambda ms: len(ms) >= total))
    assert all(m.retain for m in late.messages())
    platforms = {topic.split("/")[1] for topic in configs}
    assert platforms == set(REQUIRED)
    for topic, payload in configs.items():
        assert REQUIRED[topic.split("/")[1]] <= payload.keys(), topic
        assert payload["device"]["name"] == "Front door"
    by_platform = lambda name: [p for t, p in configs.items() if t.split("/")[1] == name]  # noqa: E731
    assert {p["state_topic"] for p in by_platform("event")} == {f"{BASE}/{c}/event" for c in CAMERAS}
    assert all(p["event_types"] == EVENT_TYPES for p in by_platform("event"))
    assert {p["image_topic"] for p in by_platform("image")} == {f"{BASE}/{c}/snapshot" for c in CAMERAS}
    assert all(p["content_type"] == "image/jpeg" for p in by_platform("image"))
    occupancy = [p for p in by_platform("binary_sensor") if p.get("device_class") == "occupancy"]
    assert len(occupancy) == 4 and all(p["off_delay"] >= 10 and "expire_after" not in p for p in occupancy)
    triggers = by_platform("device_automation")
    expected = {("recognized", f"{n} at {c}") for c in CAMERAS for n in PEOPLE}
    assert {(p["type"], p["subtype"]) for p in triggers} == expected
    assert {p["topic"] for p in triggers} == {f"{BASE}/{c}/recognized/{n}" for c in CAMERAS for n in PEOPLE}


async def test_presence_reads_off_at_start_for_every_person_and_camera(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    late = mqtt_recorder(mosquitto, f"{BASE}/+/person/#")
    messages = await late.wait_for(lambda ms: len(ms) >= len(CAMERAS) * len(PEOPLE))
    assert {(m.topic, m.text, m.retain, m.expiry) for m in messages} == {
        (f"{BASE}/{c}/person/{n}", "OFF", True, None) for c in CAMERAS for n in PEOPLE
    }


async def test_a_reconnect_says_off_and_never_replays_an_old_on(mosquitto, mqtt_recorder, make_sink):
    topic = f"{BASE}/door/person/Alice"
    sink = make_sink(mosquitto.port, presence_expire_s=1.0)
    await sink.start()
    sink.set_presence("door", "Alice", True)
    live = mqtt_recorder(mosquitto, topic)
    await live.wait_for(lambda ms: any(m.text == "ON" for m in ms))
    mosquitto.stop()  # no persistence: the broker forgets every retained message
    await asyncio.sleep(1.5)  # the ON's life ends while the broker is away
    mosquitto.start()
    late = mqtt_recorder(mosquitto, f"{BASE}/+/person/#")
    messages = await late.wait_for(lambda ms: len(ms) >= len(CAMERAS) * len(PEOPLE))
    assert {m.text for m in messages} == {"OFF"}
    assert sink.stats["reconnects"] >= 1


async def test_birth_message_republishes_discovery_and_state(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port)
    sink.camera_status("door", True)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    sink.publish_event(make_event(1))  # a last recognition to say again
    await wait_until(lambda: sink.stats["published"] >= 1 + expected_configs(2, 2) + 4 + 4)
    recorder = mqtt_recorder(mosquitto, "#")
    total = expected_configs(len(CAMERAS), len(PEOPLE))
    await recorder.wait_for(lambda ms: len(configs_of(ms)) >= total)
    await asyncio.sleep(0.2)
    before = len(recorder.messages())

    birth(mosquitto, "offline")  # only "online" counts
    await asyncio.sleep(0.3)
    assert [m.topic for m in recorder.messages()[before:]] == ["homeassistant/status"]  # only the birth itself
    birth(mosquitto)
    state_last = f"{BASE}/{CAMERAS[-1]}/person/{PEOPLE[-1]}"  # the connect messages' last topic
    fresh = await recorder.wait_for(lambda ms: len(configs_of(ms[before:])) >= total
                                    and any(m.topic == state_last for m in ms[before:]))
    again = {m.topic: m.text for m in fresh[before:] if not m.topic.startswith("homeassistant/")}
    assert again[f"{BASE}/status"] == "online"
    assert again[f"{BASE}/door/status"] == "online"
    assert json.loads(again[f"{BASE}/door/last_recognized"])["id"] == "event-0001"
    assert {t for t, text in again.items() if "/person/" in t and text == "OFF"} == {
        f"{BASE}/{c}/person/{n}" for c in CAMERAS for n in PEOPLE
    }


async def test_removed_person_loses_entities_and_presence(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    recorder = mqtt_recorder(mosquitto, "#")
    await recorder.wait_for(lambda ms: len(configs_of(ms)) >= expected_configs(2, 2))
    sink.people_changed(["金正恩", "Bob"])
    bob = f"{BASE}/door/person/Bob"
    await recorder.wait_for(lambda ms: sum(m.payload == b"" for m in ms) >= 6 and bob in {m.topic for m in ms})

    late = mqtt_recorder(mosquitto, "#")  # what stays retained
    retained = await late.wait_for(lambda ms: len(configs_of(ms)) >= expected_configs(2, 2))
    await asyncio.sleep(0.2)
    topics = {m.topic for m in late.messages()}
    assert not [t for t in topics if "alice" in t.lower()], sorted(topics)
    assert any("bob" in t for t in configs_of(retained))
    assert {m.text for m in late.messages() if m.topic.endswith("/person/Bob")} == {"OFF"}


async def test_recognition_fires_trigger_and_sets_last_recognised_only_on_recognized(
    mosquitto, mqtt_recorder, make_sink
):
    recorder = mqtt_recorder(mosquitto, f"{BASE}/#")
    sink = make_sink(mosquitto.port)
    await sink.start()
    sink.publish_event(make_event(1, name="Alice"))
    sink.publish_event(replace(make_event(2, name="金正恩"), type=EventType.LEFT))
    sink.publish_event(replace(make_event(3, name="unknown"), type=EventType.UNKNOWN))
    trigger = f"{BASE}/door/recognized/Alice"
    messages = await recorder.wait_for(lambda ms: any(m.topic == trigger for m in ms)
                                       and sum(m.topic == f"{BASE}/door/event" for m in ms) == 3)
    (fired,) = [m for m in messages if m.topic == trigger]
    assert not fired.retain and json.loads(fired.payload)["id"] == "event-0001"
    assert not [m for m in messages if "/recognized/" in m.topic and m.topic != trigger]

    late = mqtt_recorder(mosquitto, f"{BASE}/door/last_recognized")
    (last,) = await late.wait_for(lambda ms: ms)
    assert last.retain and json.loads(last.payload)["name"] == "Alice"  # not the one who left

    for message in (m for m in messages if m.topic == f"{BASE}/door/event"):  # the event entity's template
        event = json.loads(message.payload)
        rendered = render_event(EVENT_TEMPLATE, event)
        assert rendered["event_type"] == event["type"] and rendered["event_type"] in EVENT_TYPES
        assert {"name", "percentage", "track_id", "snapshot", "captured_at"} <= rendered.keys()


async def test_snapshot_reaches_the_image_entity_topic(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port, publish_snapshots=True)
    await sink.start()
    late = mqtt_recorder(mosquitto, "homeassistant/image/#")
    (config_message, *_) = await late.wait_for(lambda ms: ms)
    image_topic = json.loads(config_message.payload)["image_topic"]
    recorder = mqtt_recorder(mosquitto, image_topic)
    camera = image_topic.split("/")[2]
    sink.publish_snapshot(camera, b"\xff\xd8jpeg\xff\xd9")
    (message,) = await recorder.wait_for(lambda ms: ms)
    assert message.payload == b"\xff\xd8jpeg\xff\xd9"


async def test_publish_stats_qos0_not_retained(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, f"{BASE}/stats")
    sink = make_sink(mosquitto.port)
    await sink.start()
    payload = {"frames": 12, "fps": 4.5, "camera": "玄関"}
    sink.publish_stats(payload)
    (message,) = await recorder.wait_for(lambda ms: ms)
    assert (message.payload, message.qos, message.retain) == (json.dumps(payload).encode(), 0, False)
    late = mqtt_recorder(mosquitto, f"{BASE}/stats")
    await asyncio.sleep(0.3)
    assert late.messages() == []
