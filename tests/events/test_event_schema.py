"""face01d/events/event.schema.json says exactly what Event.to_dict sends."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from support.event_schema import EVENT_SCHEMA_PATH, event_validator, validate_event

from face01d.events.model import UNKNOWN, Event, EventType, Liveness
from face01d.faces import FaceBox

NOW = 1_760_000_000.123


def full_event(kind: EventType) -> Event:
    return Event(kind, "node", "door", "金正恩" if kind is not EventType.UNKNOWN else UNKNOWN, NOW - 1.5,
                 distance=0.41234567, percentage=99.4321, box=FaceBox(10, 120, 130, 5), frame_width=1920,
                 frame_height=1080, snapshot="/var/snapshots/door/x.jpg", track_id="door-7", votes=3, latency_ms=812.5)


def left_event() -> Event:  # what the presence tracker sends: nothing but who, where and when
    return Event(EventType.LEFT, "node", "door", "金正恩", NOW)


def schema() -> dict:
    return json.loads(EVENT_SCHEMA_PATH.read_text(encoding="utf-8"))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    event_validator()  # check_schema raises on an invalid schema


@pytest.mark.parametrize("event", [full_event(t) for t in EventType] + [left_event()], ids=lambda e: e.type.value)
def test_every_event_type_validates(event: Event):
    payload = event.to_dict(published_at=NOW)
    validate_event(payload)
    validate_event(json.loads(json.dumps(payload, ensure_ascii=False)))  # as it goes over the wire


def test_schema_properties_are_exactly_to_dicts_keys_and_all_required():
    keys = set(left_event().to_dict(NOW))
    assert set(schema()["properties"]) == keys
    assert set(schema()["required"]) == keys
    assert schema()["additionalProperties"] is False


def test_the_type_enum_is_event_type():
    assert schema()["properties"]["type"]["enum"] == [t.value for t in EventType]


@pytest.mark.parametrize("change", [
    {"type": "seen"}, {"id": "not-hex"}, {"extra": 1}, {"captured_at": "2025-01-01 00:00:00"},
    {"box": {"top": 1, "right": 2, "bottom": 3}}, {"frame": {"width": 1.5, "height": 2}}, {"votes": "3"},
])
def test_a_broken_event_fails(change: dict):
    payload = {**full_event(EventType.RECOGNIZED).to_dict(NOW), **change}
    with pytest.raises(AssertionError, match="does not match"):
        validate_event(payload)


def test_a_missing_key_fails():
    payload = full_event(EventType.RECOGNIZED).to_dict(NOW)
    del payload["latency_ms"]
    with pytest.raises(AssertionError, match="latency_ms"):
        validate_event(payload)


def access_event(granted: bool) -> Event:
    """An access camera's answer, with the track's liveness."""
    reasons = () if granted else ("not_live", "too_far")
    live = Liveness("live", "blink", 1.2, blinks=1) if granted else Liveness("not_live", "no_cue", 3.0)
    return replace(full_event(EventType.ACCESS), granted=granted, reasons=reasons, liveness=live)


@pytest.mark.parametrize("granted", [True, False])
def test_an_access_event_carries_its_answer_reasons_and_liveness(granted: bool):
    payload = validate_event(access_event(granted).to_dict(NOW))
    assert payload["type"] == "access" and payload["granted"] is granted
    assert payload["reasons"] == ([] if granted else ["not_live", "too_far"])
    assert payload["liveness"]["state"] == ("live" if granted else "not_live")


def test_the_other_types_carry_null_answers_and_liveness_only_where_computed():
    plain = validate_event(full_event(EventType.RECOGNIZED).to_dict(NOW))
    assert (plain["granted"], plain["reasons"], plain["liveness"]) == (None, None, None)
    at_the_door = replace(full_event(EventType.RECOGNIZED), liveness=Liveness("undecided", "waiting", 0.4))
    assert validate_event(at_the_door.to_dict(NOW))["liveness"] == {
        "state": "undecided", "reason": "waiting", "elapsed_s": 0.4, "blinks": 0, "glances": 0}


@pytest.mark.parametrize("change", [{"reasons": ["photo"]}, {"granted": "yes"}, {"liveness": {"state": "live"}},
                                    {"reasons": ["unknown", "unknown"]}])
def test_a_broken_access_event_fails(change: dict):
    with pytest.raises(AssertionError):
        validate_event({**access_event(False).to_dict(NOW), **change})


def test_the_reasons_enum_is_the_decisions_order():
    from face01d.access import REASONS

    assert schema()["properties"]["reasons"]["oneOf"][1]["items"]["enum"] == list(REASONS)
