"""A real daemon with an access camera: the ``access`` answer goes out on the camera's event topic, in
the event schema, and Home Assistant's event entity for that camera knows the ``access`` type."""

from __future__ import annotations

import json

from support.event_schema import parse_event

KIM = "金正恩"


def test_an_access_camera_publishes_its_answer(data, daemon_config, run_daemon, mosquitto, mqtt_recorder):
    recorder = mqtt_recorder(mosquitto, "#")
    camera = {"name": "door", "source": str(data.kim_video), "pace": "none", "access": True}
    config = daemon_config([camera], broker=mosquitto, detector={"kind": "mediapipe"})
    daemon = run_daemon(config, "--stdout", "--once")
    assert daemon.wait(240) == 0, daemon.stderr[-3000:]

    answers = [event for event in daemon.events() if event["type"] == "access"]
    granted = [event for event in answers if event["granted"]]
    assert granted and {event["name"] for event in granted} == {KIM}, answers
    assert granted[0]["reasons"] == [] and granted[0]["liveness"]["state"] == "live"
    recognized = [event for event in daemon.events() if event["type"] == "recognized"]
    assert recognized and recognized[0]["liveness"] is not None  # computed on this camera: carried

    topic = "face01/e2e/door/event"
    published = recorder.wait_for_sync(
        lambda msgs: any(m.topic == topic and parse_event(m.text)["type"] == "access" for m in msgs), timeout=10)
    sent = [parse_event(m.text) for m in published if m.topic == topic and parse_event(m.text)["type"] == "access"]
    assert {event["id"] for event in sent} == {event["id"] for event in answers}  # through the outbox, each once
    [entity] = [json.loads(m.text) for m in recorder.messages("homeassistant/event/e2e/door_event/config")][:1]
    assert entity["event_types"] == ["recognized", "unknown", "left", "access"]
    assert entity["default_entity_id"] == "event.e2e_door_recognition"
