"""MqttSink against a real mosquitto: delivery, availability, presence, discovery."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from mqtt_helpers import NODE, PEOPLE, fast_timing, make_event, make_sink, wait_until  # noqa: F401

from face01d.events.model import EventType, utc_iso

STATUS = f"face01/{NODE}/status"
EVENT_DOOR = f"face01/{NODE}/door/event"


async def test_event_is_published_qos1_not_retained_complete_json(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, "face01/#")
    sink = make_sink(mosquitto.port)
    await sink.start()
    event = make_event(1)
    before = time.time()
    sink.publish_event(event)

    messages = await recorder.wait_for(lambda ms: any(m.topic == EVENT_DOOR for m in ms))
    (message,) = [m for m in messages if m.topic == EVENT_DOOR]
    assert message.qos == 1 and not message.retain
    assert "金正恩".encode() in message.payload  # ensure_ascii=False
    body = json.loads(message.payload)
    expected = event.to_dict(published_at=0)
    del body["published_at"], expected["published_at"]
    assert body == expected
    published_at = json.loads(message.payload)["published_at"]
    assert utc_iso(before - 0.001) <= published_at <= utc_iso(time.time() + 0.001)


async def test_online_retained_on_connect_with_discovery_and_camera_status(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port)
    sink.camera_status("door", True)
    sink.camera_status("玄関", False)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"] and sink.stats["published"] >= 3)
    await asyncio.sleep(0.2)

    late = mqtt_recorder(mosquitto, "#")  # subscribes after the fact: only retained copies arrive
    configs_expected = 3 * 2 + 2 * 2 * len(PEOPLE)  # per camera 3, per camera × person 2
    messages = await late.wait_for(
        lambda ms: len([m for m in ms if m.topic.startswith("homeassistant/")]) >= configs_expected
    )
    retained = {m.topic: m.text for m in messages if m.retain}
    assert retained[STATUS] == "online"
    assert retained[f"face01/{NODE}/door/status"] == "online"
    assert retained[f"face01/{NODE}/玄関/status"] == "offline"
    configs = [m for m in messages if m.topic.startswith("homeassistant/")]
    assert len(configs) == configs_expected
    assert all(m.retain for m in configs)
    names = {json.loads(m.payload).get("name") for m in configs}
    assert "金正恩 at 玄関" in names


async def test_stop_publishes_offline_retained_within_timeout(mosquitto, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto.port)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    for index in range(50):
        sink.publish_event(make_event(index))

    started = time.monotonic()
    await sink.stop(timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert sink.stats["queued"] == 0  # flushed before saying offline

    late = mqtt_recorder(mosquitto, STATUS)
    messages = await late.wait_for(lambda ms: ms)
    assert [(m.text, m.retain) for m in messages] == [("offline", True)]


async def test_stop_returns_within_timeout_when_broker_is_down(mosquitto, make_sink):
    mosquitto.kill()
    sink = make_sink(mosquitto.port)
    await sink.start()
    sink.publish_event(make_event(1))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await sink.stop(timeout=1.0)
    assert time.monotonic() - started < 1.0


async def test_presence_on_expires_on_the_broker(mosquitto, mqtt_recorder, make_sink):
    topic = f"face01/{NODE}/door/person/金正恩"
    live = mqtt_recorder(mosquitto, "face01/#")
    sink = make_sink(mosquitto.port, presence_expire_s=2.0)
    await sink.start()
    sink.set_presence("door", "金正恩", True)
    (on,) = [m for m in await live.wait_for(lambda ms: any(m.topic == topic for m in ms)) if m.topic == topic]
    assert on.text == "ON" and on.expiry is not None and 1 <= on.expiry <= 2

    early = mqtt_recorder(mosquitto, "face01/#")  # within the expiry: the retained ON is there
    assert [m.text for m in await early.wait_for(lambda ms: any(m.topic == topic for m in ms)) if m.topic == topic] == ["ON"]

    await asyncio.sleep(max(0.0, on.at + 2.5 - time.monotonic()))
    late = mqtt_recorder(mosquitto, "face01/#")
    messages = await late.wait_for(lambda ms: any(m.topic == STATUS for m in ms))  # retained burst arrived
    await asyncio.sleep(0.2)
    assert [m for m in late.messages() if m.topic == topic] == [], messages


async def test_presence_off_is_retained_without_expiry(mosquitto, mqtt_recorder, make_sink):
    topic = f"face01/{NODE}/door/person/Alice"
    sink = make_sink(mosquitto.port, presence_expire_s=1.0)
    await sink.start()
    sink.set_presence("door", "Alice", True)
    sink.set_presence("door", "Alice", False)  # latest state wins
    await wait_until(lambda: sink.stats["connected"] and sink.stats["published"] >= 3)
    await asyncio.sleep(1.5)
    late = mqtt_recorder(mosquitto, topic)
    (message,) = await late.wait_for(lambda ms: ms)
    assert (message.text, message.retain, message.expiry) == ("OFF", True, None)


async def test_a_left_event_and_the_stop_turn_presence_off(mosquitto, mqtt_recorder, make_sink):
    """Presence is the MQTT sink's own business: ON from the per-frame news, OFF from ``left`` and at stop."""
    door, hall = (f"face01/{NODE}/{camera}/person/金正恩" for camera in ("door", "玄関"))
    live = mqtt_recorder(mosquitto, f"face01/{NODE}/+/person/#")
    sink = make_sink(mosquitto.port, presence_expire_s=30.0)
    await sink.start()
    sink.presence("door", frozenset({"金正恩"}))
    sink.presence("玄関", frozenset({"金正恩"}))
    await live.wait_for(lambda ms: {(m.topic, m.text) for m in ms} >= {(door, "ON"), (hall, "ON")})
    sink.publish_event(dataclasses.replace(make_event(0, camera="door"), type=EventType.LEFT))
    await live.wait_for(lambda ms: [m.text for m in ms if m.topic == door][-1:] == ["OFF"])
    await sink.stop(timeout=5.0)  # the daemon stopped looking: no ON may outlive it
    late = mqtt_recorder(mosquitto, hall)
    (message,) = await late.wait_for(lambda ms: ms)
    assert (message.text, message.retain, message.expiry) == ("OFF", True, None)


async def test_snapshot_published_only_when_enabled(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, "face01/#")
    quiet = make_sink(mosquitto.port, client_id="quiet")
    loud = make_sink(mosquitto.port, client_id="loud", publish_snapshots=True, topic_prefix="loud")
    await quiet.start()
    await loud.start()
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
    quiet.publish_snapshot("door", jpeg)
    loud.publish_snapshot("door", jpeg)
    recorder_loud = mqtt_recorder(mosquitto, "loud/#")
    loud.publish_snapshot("door", jpeg + b"2")
    messages = await recorder_loud.wait_for(lambda ms: any(m.topic.endswith("/snapshot") for m in ms))
    assert [m.payload for m in messages if m.topic == f"loud/{NODE}/door/snapshot"][-1] == jpeg + b"2"
    await asyncio.sleep(0.3)
    assert not [m for m in recorder.messages() if m.topic.endswith("/snapshot")]


async def test_people_changed_adds_and_removes_discovery(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, "homeassistant/#")
    sink = make_sink(mosquitto.port)
    await sink.start()
    await recorder.wait_for(lambda ms: len(ms) >= 8)
    sink.people_changed(["金正恩", "Bob"])
    messages = await recorder.wait_for(lambda ms: any(m.payload == b"" for m in ms) and any(b"Bob at" in m.payload for m in ms))
    removed = {m.topic for m in messages if m.payload == b""}
    assert len(removed) == 4 and all("alice" in topic for topic in removed)  # occupancy + trigger, per camera


async def test_repeated_sightings_refresh_presence_without_flooding(mosquitto, mqtt_recorder, make_sink):
    topic = f"face01/{NODE}/door/person/Alice"
    sink = make_sink(mosquitto.port, presence_expire_s=1.5)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    recorder = mqtt_recorder(mosquitto, topic)
    await recorder.wait_for(lambda ms: [m.text for m in ms] == ["OFF"])  # said at start
    for _ in range(20):  # 20 sightings within 0.4 s: one ON
        sink.set_presence("door", "Alice", True)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # now past a third of the expiry: the next sighting refreshes
    sink.set_presence("door", "Alice", True)
    await asyncio.sleep(0.1)
    sink.set_presence("door", "Alice", False)
    await recorder.wait_for(lambda ms: len(ms) >= 4)
    sink.set_presence("door", "Alice", True)  # back right after OFF: not throttled
    messages = await recorder.wait_for(lambda ms: len(ms) >= 5)
    await asyncio.sleep(0.3)
    assert [m.text for m in recorder.messages()] == ["OFF", "ON", "ON", "OFF", "ON"], messages


async def test_unchanged_camera_status_is_not_republished(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, f"face01/{NODE}/door/status")
    sink = make_sink(mosquitto.port)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    for online in (True, True, True, False, False, True):
        sink.camera_status("door", online)
        await asyncio.sleep(0.05)
    await recorder.wait_for(lambda ms: len(ms) >= 3)
    await asyncio.sleep(0.3)
    assert [m.text for m in recorder.messages()] == ["online", "offline", "online"]
