"""Presence and cooldown from track decisions: exact, because time comes only from the arguments."""

from __future__ import annotations

import dataclasses

import numpy as np

from face01d.config.models import EventsConfig
from face01d.events import UNKNOWN, EventType, Presence, TrackEnd
from face01d.faces import FaceBox, Identification

BOX = FaceBox(10, 60, 60, 10)
CONFIG = EventsConfig(cooldown_s=30.0, presence_timeout_s=10.0)


def decided(name: str, track: str, at: float, distance: float = 0.4, box: FaceBox = BOX,
            encoding: np.ndarray | None = None) -> Identification:
    return Identification(track_id=track, name=name, distance=distance, percentage=99.0, votes=3, box=box,
                          frame_width=640, frame_height=480, captured_at=at, latency_ms=250.0, encoding=encoding)


def ended(name: str, track: str, at: float, box: FaceBox = BOX) -> TrackEnd:
    return TrackEnd(track, name, at, box, (800, 600))


def presence(config: EventsConfig = CONFIG) -> Presence:
    return Presence(config, node="node1", camera="door")


def kinds(events) -> list[tuple[str, str]]:
    return [(event.type.value, event.name) for event in events]


def face(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128)
    return vector / np.linalg.norm(vector)


def test_a_decided_track_gives_one_recognized_event_with_track_votes_and_latency():
    book = presence()
    [event] = book.identified(decided("安倍晋三", "t1", 100.0, 0.35))
    assert (event.type, event.name, event.camera, event.node) == (EventType.RECOGNIZED, "安倍晋三", "door", "node1")
    assert (event.distance, event.box, event.captured_at) == (0.35, BOX, 100.0)
    assert (event.track_id, event.votes, event.latency_ms) == ("t1", 3, 250.0)
    assert event.to_dict(101.0)["track_id"] == "t1" and event.to_dict(101.0)["latency_ms"] == 250.0
    assert book.present == frozenset({"安倍晋三"})


def test_a_new_track_of_a_present_person_is_quiet_within_the_cooldown():
    book = presence()
    book.identified(decided("obama", "t1", 100.0))
    book.track_ended(ended("obama", "t1", 101.0))
    assert book.identified(decided("obama", "t2", 103.0)) == []  # the tracker lost and found him
    assert kinds(book.identified(decided("obama", "t3", 131.0))) == [("recognized", "obama")]


def test_left_comes_after_the_timeout_without_any_track_and_carries_the_last_sighting():
    book = presence()
    book.identified(decided("obama", "t1", 100.0))
    book.identified(decided("obama", "t2", 102.0))
    last_box = FaceBox(20, 80, 80, 20)
    book.track_ended(ended("obama", "t1", 105.0))
    assert book.expire(200.0) == []  # t2 is still alive: he is still here
    book.track_ended(ended("obama", "t2", 104.0, last_box))
    [left] = book.expire(200.0)
    assert (left.type, left.name, left.track_id, left.captured_at) == (EventType.LEFT, "obama", "t1", 105.0)
    assert book.present == frozenset()


def test_left_waits_for_the_presence_timeout():
    book = presence()
    book.identified(decided("obama", "t1", 100.0))
    book.track_ended(ended("obama", "t1", 104.0))
    assert book.expire(113.9) == []
    [left] = book.expire(114.0)
    assert (left.captured_at, left.frame_width, left.frame_height) == (104.0, 800, 600)


def test_reappearing_after_left_is_recognized_again_even_within_the_cooldown():
    book = presence()
    book.identified(decided("obama", "t1", 100.0))
    book.track_ended(ended("obama", "t1", 100.5))
    assert kinds(book.expire(111.0)) == [("left", "obama")]
    assert kinds(book.identified(decided("obama", "t2", 115.0))) == [("recognized", "obama")]


def test_identified_expires_first_when_expire_was_not_called():
    book = presence()
    book.identified(decided("obama", "t1", 100.0))
    book.track_ended(ended("obama", "t1", 100.0))
    assert kinds(book.identified(decided("obama", "t2", 150.0))) == [("left", "obama"), ("recognized", "obama")]


def test_one_stranger_lingering_is_announced_once_two_strangers_twice():
    book = presence()
    stranger, other = face(1), face(2)
    assert kinds(book.identified(decided(UNKNOWN, "t1", 100.0, encoding=stranger))) == [("unknown", UNKNOWN)]
    assert book.identified(decided(UNKNOWN, "t2", 110.0, encoding=stranger + 0.01)) == []  # the same face again
    assert kinds(book.identified(decided(UNKNOWN, "t3", 111.0, encoding=other))) == [("unknown", UNKNOWN)]
    assert kinds(book.identified(decided(UNKNOWN, "t4", 131.0, encoding=stranger))) == [("unknown", UNKNOWN)]
    assert book.present == frozenset() and book.expire(1000.0) == []


def test_strangers_without_an_encoding_are_never_merged():
    book = presence()
    assert len(book.identified(decided(UNKNOWN, "t1", 100.0))) == 1
    assert len(book.identified(decided(UNKNOWN, "t2", 100.5))) == 1


def test_cooldowns_are_per_person():
    book = presence()
    book.identified(decided("obama", "t1", 100.0))
    assert book.identified(decided("obama", "t2", 105.0)) == []
    assert kinds(book.identified(decided("biden", "t3", 105.0))) == [("recognized", "biden")]


def test_clock_stepped_backwards_does_not_silence_the_camera():
    book = presence()
    book.identified(decided("obama", "t1", 1000.0))
    assert kinds(book.identified(decided("obama", "t2", 500.0))) == [("recognized", "obama")]


def test_flush_gives_left_for_everyone_present_and_resets():
    book = presence()
    for name, track in (("obama", "t1"), ("biden", "t2"), (UNKNOWN, "t3")):
        book.identified(decided(name, track, 100.0, encoding=face(7)))
    assert sorted(kinds(book.flush())) == [("left", "biden"), ("left", "obama")]
    assert book.present == frozenset() and book.flush() == []
    assert len(book.identified(decided(UNKNOWN, "t4", 103.0, encoding=face(7)))) == 1  # stranger memory cleared


def test_an_ended_track_of_someone_not_present_is_ignored():
    book = presence()
    book.track_ended(ended("obama", "t9", 100.0))
    assert book.present == frozenset() and book.expire(1000.0) == []


def test_every_event_has_its_own_id():
    book = presence(EventsConfig(cooldown_s=0, presence_timeout_s=5))
    events = [e for t in range(5) for e in book.identified(decided("a", f"t{t}", float(t)))]
    events += [e for t in range(5) for e in book.identified(decided(UNKNOWN, f"u{t}", float(t), encoding=face(t)))]
    assert len({event.id for event in events}) == len(events) == 10


def test_a_stranger_who_leaned_to_a_person_in_view_is_not_announced_one_who_leaned_to_nobody_there_is():
    book = presence()
    assert kinds(book.identified(decided("金正恩", "t1", 100.0))) == [("recognized", "金正恩")]
    laughing = dataclasses.replace(decided(UNKNOWN, "t2", 101.0, encoding=face(1)), leaning="金正恩")
    assert book.identified(laughing) == []  # 金正恩 is in view: his second track, laughing
    lookalike = dataclasses.replace(decided(UNKNOWN, "t3", 102.0, encoding=face(2)), leaning="安倍晋三")
    assert kinds(book.identified(lookalike)) == [("unknown", UNKNOWN)]  # 安倍晋三 is not here
