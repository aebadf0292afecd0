"""``face01d report``: events in the real wire format (``Event.to_dict``) → timeline segments, then a PNG.

The pure part is checked exactly; the command runs as a real process and its
picture is decoded with OpenCV.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.errors import ExitCode
from face01d.events.model import UNKNOWN, Event, EventType
from face01d.report import Bar, Decision, Sighting, build_timeline, cjk_font_for

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z
KIM = "金正恩"
NOT_EVENTS = ["face01d/node/availability online", "not json at all", '{"type": "stats", "cameras": {}}']


def event(kind: EventType, camera: str, name: str, offset: float) -> Event:
    return Event(type=kind, node="node", camera=camera, name=name, captured_at=T0 + offset, track_id=f"{camera}-1")


def wire(one: Event, topic: bool = False) -> str:
    """One line as ``run --stdout`` prints it, or as ``mosquitto_sub -v`` does."""
    text = json.dumps(one.to_dict(one.captured_at + 0.2), ensure_ascii=False)
    return f"face01d/node/{one.camera}/event {text}" if topic else text


def day() -> list[str]:
    """Two cameras, a stay that ends and one that does not, repeats, replays, noise, out of order."""
    arrive = event(EventType.RECOGNIZED, "door", KIM, 0)
    leave = event(EventType.LEFT, "door", KIM, 60)
    lines = [
        wire(arrive),
        wire(event(EventType.UNKNOWN, "door", UNKNOWN, 5), topic=True),
        wire(leave),  # in the file before the repeat below, which happened earlier
        wire(event(EventType.RECOGNIZED, "door", KIM, 10)),  # still present: no new bar
        wire(event(EventType.RECOGNIZED, "garage", "obama", 20), topic=True),
        wire(leave, topic=True),  # an outbox replay: the same id again
        "",
        wire(event(EventType.RECOGNIZED, "door", KIM, 100)),
        wire(event(EventType.LEFT, "garage", "biden", 110)),  # never arrived in this file: nothing drawn
        wire(event(EventType.UNKNOWN, "garage", UNKNOWN, 120), topic=True),
    ]
    return [*lines[:3], NOT_EVENTS[0], *lines[3:6], NOT_EVENTS[1], *lines[6:], NOT_EVENTS[2]]


def test_lines_become_stays_and_unknown_marks() -> None:
    timeline = build_timeline(day())
    assert timeline.bars == (
        Bar("door", KIM, T0, T0 + 60),
        Bar("door", KIM, T0 + 100, T0 + 120, open=True),  # runs to the last timestamp in the file
        Bar("garage", "obama", T0 + 20, T0 + 120, open=True),
    )
    assert timeline.unknown == (Sighting("door", T0 + 5), Sighting("garage", T0 + 120))
    assert timeline.skipped == len(NOT_EVENTS)
    assert timeline.span == (T0, T0 + 120)
    assert timeline.rows() == [("door", KIM), ("door", UNKNOWN), ("garage", "obama"), ("garage", UNKNOWN)]


def door_decisions() -> list[str]:
    """A door's day: 金正恩 arrives and is let in; a stranger is turned away; 金正恩 leaves."""
    arrive, leave = event(EventType.RECOGNIZED, "door", KIM, 0), event(EventType.LEFT, "door", KIM, 60)
    let_in = replace(event(EventType.ACCESS, "door", KIM, 1), granted=True, reasons=())
    turned_away = replace(event(EventType.ACCESS, "door", UNKNOWN, 30), granted=False, reasons=("unknown",))
    return [wire(arrive), wire(let_in, topic=True), wire(turned_away), wire(leave)]


def test_access_decisions_are_marks_on_the_persons_row() -> None:
    timeline = build_timeline(door_decisions())
    assert timeline.access == (Decision("door", KIM, T0 + 1, granted=True),
                               Decision("door", UNKNOWN, T0 + 30, granted=False))
    assert timeline.bars == (Bar("door", KIM, T0, T0 + 60),) and timeline.skipped == 0
    assert timeline.rows() == [("door", KIM), ("door", UNKNOWN)]  # a turned-away stranger has the unknown row


def test_no_events_is_an_empty_timeline() -> None:
    timeline = build_timeline(NOT_EVENTS)
    assert (timeline.bars, timeline.unknown, timeline.skipped, timeline.span) == ((), (), 3, None)


def report(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "face01d", "report", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def report_of(lines: list[str], folder: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``face01d report`` of these lines as a file; its result and the picture's path."""
    events, out = folder / "events.jsonl", folder / "timeline.png"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = report(events, "--out", out)
    assert result.returncode == 0, result.stderr
    return result, out


def test_report_draws_a_timeline_png(tmp_path: Path) -> None:
    result, out = report_of(day(), tmp_path)
    assert result.stdout.strip() == f"{out}: 4 rows, 2 people, 3 stays, 2 unknown faces"
    assert result.stderr.count("lines were not face01d events") == 1 and "3 lines" in result.stderr
    assert "Traceback" not in result.stderr
    picture = cv2.imread(str(out))
    assert picture is not None
    height, width = picture.shape[:2]
    assert width == 1200 and 250 <= height <= 600
    ink = (picture < 200).any(axis=2).mean()
    colour = (np.ptp(picture.astype(int), axis=2) > 60).mean()  # the bars are coloured, the text is not
    assert 0.01 < ink < 0.6 and colour > 0.005


def test_report_counts_and_draws_access_decisions(tmp_path: Path) -> None:
    result, out = report_of(door_decisions(), tmp_path)
    assert result.stdout.strip() == f"{out}: 2 rows, 1 people, 1 stays, 0 unknown faces, 2 access decisions"
    picture = cv2.imread(str(out)).astype(int)
    blue, green, red = picture[..., 0], picture[..., 1], picture[..., 2]
    assert ((green > 100) & (red < 60) & (blue < 60)).sum() > 20  # the green mark: granted
    assert ((red > 200) & (green < 60) & (blue < 60)).sum() > 20  # the red mark: denied


@pytest.mark.parametrize("make_path, message", [
    (lambda tmp: tmp / "missing.jsonl", "cannot read"),
    (lambda tmp: tmp, "cannot read"),
    (lambda tmp: (tmp / "noise.jsonl", (tmp / "noise.jsonl").write_text("\n".join(NOT_EVENTS)))[0],
     "no face01d events in it (3 other lines)"),
])
def test_a_bad_input_file_exits_4_with_one_line(tmp_path: Path, make_path, message: str) -> None:
    path = make_path(tmp_path)
    result = report(path, "--out", tmp_path / "out.png")
    assert result.returncode == ExitCode.INPUT
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert result.stderr.startswith(f"face01d: error: {path}") and not (tmp_path / "out.png").exists()


def test_japanese_names_get_a_font_that_has_them() -> None:
    font = cjk_font_for([KIM])
    assert font is not None, "no CJK font found: scripts/bootstrap installs fonts-ipafont-gothic"
    from matplotlib.ft2font import FT2Font

    face = FT2Font(font.get_file())
    assert all(face.get_char_index(ord(ch)) for ch in KIM)


def test_latin_names_keep_the_default_font_and_missing_glyphs_warn() -> None:
    assert cjk_font_for(["obama", "Zoë"]) is None
    with capture_logs() as logs:
        assert cjk_font_for(["\U0010fffd"]) is None  # private use: no installed font draws it
    assert [entry["log_level"] for entry in logs] == ["warning"] and "boxes" in logs[0]["event"]


@pytest.mark.parametrize("line", [
    '{"type": "recognized", "camera": "door", "name": "x", "captured_at": "0001-01-01T00:00:00+05:00"}',
    '{"type": "recognized", "camera": "door", "name": "x", "captured_at": "yesterday"}',
    '{"type": "seen", "camera": "door", "name": "x", "captured_at": "2026-11-29T10:00:00Z"}',
    '{"type": "left", "camera": "", "name": "x", "captured_at": "2026-11-29T10:00:00Z"}',
    "[" * 100_000,
    "face01d/node/door/presence/kim ON",
])
def test_lines_that_are_not_events_are_counted_not_raised(line: str) -> None:
    assert build_timeline([line]).skipped == 1
