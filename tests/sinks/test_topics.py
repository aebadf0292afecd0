"""Topic layout and segment sanitising."""

from __future__ import annotations

import pytest

from face01d.sinks.topics import MAX_SEGMENT_CHARS, Topics, sanitize_segment


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("front door", "front door"),
        ("a/b", "a_b"),
        ("+", "_"),
        ("#", "_"),
        ("x+y#z/w", "x_y_z_w"),
        ("nul\x00here", "nul_here"),
        ("tab\tnew\nline\x7f", "tab_new_line_"),
        ("c1\x85x", "c1_x"),
        ("", "_"),
        ("   ", "_"),
        ("金正恩", "金正恩"),
        ("Émilie Dubois", "Émilie Dubois"),
        ("non\ufffechar", "non_char"),
        ("lone\ud800surrogate", "lone_surrogate"),
    ],
)
def test_sanitize_segment(raw: str, expected: str) -> None:
    assert sanitize_segment(raw) == expected


def test_sanitize_segment_caps_length_and_stays_encodable() -> None:
    long = "長" * 500
    cleaned = sanitize_segment(long)
    assert cleaned == "長" * MAX_SEGMENT_CHARS
    cleaned.encode("utf-8")  # would raise on a surrogate


def test_topic_layout() -> None:
    topics = Topics("face01", "node1")
    assert topics.status == "face01/node1/status"
    assert topics.camera_event("door") == "face01/node1/door/event"
    assert topics.camera_status("door") == "face01/node1/door/status"
    assert topics.person("door", "金正恩") == "face01/node1/door/person/金正恩"
    assert topics.snapshot("door") == "face01/node1/door/snapshot"


def test_every_segment_is_sanitised() -> None:
    topics = Topics("home/face01", "no/de")
    topic = topics.person("cam/+1", "a#b")
    assert topic == "home/face01/no_de/cam__1/person/a_b"
    assert topic.count("/") == 5 and "+" not in topic and "#" not in topic


@pytest.mark.parametrize("prefix", ["", "/", "a/+/b", "a#", "nul\x00"])
def test_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        Topics(prefix, "node")
