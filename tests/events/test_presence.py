"""Presence and cooldown: exact, because time comes only from the arguments."""

from __future__ import annotations

from face01d.config.models import EventsConfig
from face01d.events import UNKNOWN, EventType, PresenceTracker, Sighting
from face01d.faces import FaceBox

BOX = FaceBox(10, 60, 60, 10)
CONFIG = EventsConfig(cooldown_s=30.0, presence_timeout_s=10.0)


def seen(name: str, distance: float = 0.4, box: FaceBox = BOX) -> Sighting:
    return Sighting(box=box, name=name, distance=distance, percentage=99.0 - distance)


def tracker() -> PresenceTracker:
    return PresenceTracker(CONFIG, node="node1", camera="door")


def kinds(events) -> list[tuple[str, str]]:
    return [(event.type.value, event.name) for event in events]


def test_appearance_gives_one_recognized_event_with_the_sighting():
    presence = tracker()
    [event] = presence.observe([seen("安倍晋三", 0.35)], captured_at=100.0, frame_width=640, frame_height=480)
    assert (event.type, event.name, event.camera, event.node) == (EventType.RECOGNIZED, "安倍晋三", "door", "node1")
    assert (event.distance, event.box, event.captured_at) == (0.35, BOX, 100.0)
    assert (event.frame_width, event.frame_height) == (640, 480)
    assert presence.present == frozenset({"安倍晋三"})


def test_staying_in_view_repeats_only_after_the_cooldown():
    presence = tracker()
    assert kinds(presence.observe([seen("obama")], 100.0, 640, 480)) == [("recognized", "obama")]
    for t in (105.0, 112.0, 120.0, 129.9):
        assert presence.observe([seen("obama")], t, 640, 480) == []
    assert kinds(presence.observe([seen("obama")], 130.0, 640, 480)) == [("recognized", "obama")]
    assert presence.observe([seen("obama")], 135.0, 640, 480) == []


def test_absence_longer_than_the_timeout_gives_left_with_the_last_sighting():
    presence = tracker()
    presence.observe([seen("obama", 0.5)], 100.0, 640, 480)
    last_box = FaceBox(20, 80, 80, 20)
    presence.observe([seen("obama", 0.3, last_box)], 104.0, 800, 600)
    assert presence.expire(113.9) == []
    [left] = presence.expire(114.0)
    assert (left.type, left.name, left.distance, left.box) == (EventType.LEFT, "obama", 0.3, last_box)
    assert (left.captured_at, left.frame_width, left.frame_height) == (104.0, 800, 600)
    assert presence.present == frozenset()
    assert presence.expire(200.0) == []


def test_reappearing_after_left_is_recognized_again_even_within_the_cooldown():
    presence = tracker()
    presence.observe([seen("obama")], 100.0, 640, 480)
    assert kinds(presence.expire(111.0)) == [("left", "obama")]
    assert kinds(presence.observe([seen("obama")], 115.0, 640, 480)) == [("recognized", "obama")]


def test_observe_expires_first_when_expire_was_not_called():
    presence = tracker()
    presence.observe([seen("obama")], 100.0, 640, 480)
    events = presence.observe([seen("obama"), seen("biden")], 150.0, 640, 480)
    assert kinds(events) == [("left", "obama"), ("recognized", "obama"), ("recognized", "biden")]


def test_two_known_and_one_unknown_in_one_frame():
    presence = tracker()
    frame = [seen("obama"), seen(UNKNOWN, 0.8), seen("biden")]
    events = presence.observe(frame, 100.0, 640, 480)
    assert sorted(kinds(events)) == [("recognized", "biden"), ("recognized", "obama"), ("unknown", UNKNOWN)]
    assert presence.present == frozenset({"obama", "biden"})


def test_duplicate_name_in_one_frame_gives_one_event_for_the_closest_match():
    presence = tracker()
    near, far = FaceBox(0, 50, 50, 0), FaceBox(100, 150, 150, 100)
    frame = [seen("obama", 0.55, far), seen("obama", 0.31, near), seen("obama", 0.42, far)]
    [event] = presence.observe(frame, 100.0, 640, 480)
    assert (event.distance, event.box) == (0.31, near)


def test_unknown_faces_share_one_camera_wide_cooldown_and_never_leave():
    presence = tracker()
    [first] = presence.observe([seen(UNKNOWN, 0.9), seen(UNKNOWN, 0.7)], 100.0, 640, 480)
    assert (first.type, first.distance) == (EventType.UNKNOWN, 0.7)
    assert presence.observe([seen(UNKNOWN)], 110.0, 640, 480) == []
    assert presence.observe([seen(UNKNOWN)], 129.0, 640, 480) == []
    assert kinds(presence.observe([seen(UNKNOWN)], 130.0, 640, 480)) == [("unknown", UNKNOWN)]
    assert presence.present == frozenset()
    assert presence.expire(1000.0) == []


def test_cooldowns_are_per_person():
    presence = tracker()
    presence.observe([seen("obama")], 100.0, 640, 480)
    events = presence.observe([seen("obama"), seen("biden")], 105.0, 640, 480)
    assert kinds(events) == [("recognized", "biden")]


def test_zero_cooldown_reports_every_frame():
    presence = PresenceTracker(EventsConfig(cooldown_s=0, presence_timeout_s=5), "n", "c")
    assert len(presence.observe([seen("obama")], 1.0, 10, 10)) == 1
    assert len(presence.observe([seen("obama")], 1.5, 10, 10)) == 1


def test_clock_stepped_backwards_does_not_silence_the_camera():
    presence = tracker()
    presence.observe([seen("obama")], 1000.0, 640, 480)
    assert kinds(presence.observe([seen("obama")], 500.0, 640, 480)) == [("recognized", "obama")]


def test_flush_gives_left_for_everyone_present_and_resets():
    presence = tracker()
    presence.observe([seen("obama"), seen("biden"), seen(UNKNOWN)], 100.0, 640, 480)
    assert sorted(kinds(presence.flush())) == [("left", "biden"), ("left", "obama")]
    assert presence.present == frozenset()
    assert presence.flush() == []
    assert len(presence.observe([seen(UNKNOWN)], 103.0, 640, 480)) == 1


def test_every_event_has_its_own_id():
    presence = PresenceTracker(EventsConfig(cooldown_s=0, presence_timeout_s=5), "n", "c")
    events = [e for t in range(5) for e in presence.observe([seen("a"), seen(UNKNOWN)], float(t), 10, 10)]
    assert len({event.id for event in events}) == len(events) == 10
