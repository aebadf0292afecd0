"""FACE01's drawing on a real frame: each option changes its own region, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.errors import ConfigError
from face01d.faces import UNKNOWN, FaceBox
from face01d.liveview.drawing import (KNOWN_COLOUR, UNDECIDED_COLOUR, UNKNOWN_COLOUR, DrawOptions, draw_overlay,
                                      label_text, scale_to_width, short_track_id, track_colour)
from face01d.liveview.fonts import Label, TextPainter, find_cjk_font
from face01d.liveview.thumbnails import THUMBNAIL_MAX_PX, ThumbnailCache
from face01d.sinks.base import TrackView

KIM = "金正恩"  # as in conftest.py: the gallery's name for the video's face

WIDTH = 960  # half of the video's 1920
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
NOTHING = DrawOptions(box=False, name=False, percentage=False, thumbnail=False, track_id=False)
EVERYTHING = DrawOptions(box=True, name=True, percentage=True, thumbnail=True, track_id=True)


def regions(box: FaceBox, label_px: int = 20) -> dict[str, tuple[slice, slice]]:
    """Where each drawing lands in a picture of ``WIDTH`` (the box already scaled)."""
    return {
        "box_edge": (slice(box.top - 1, box.top + 3), slice(box.left, box.right)),
        "inside": (slice(box.top + 5, box.bottom - 5), slice(box.left + 5, box.right - 5)),
        "below": (slice(box.bottom + 3, box.bottom + label_px), slice(box.left, box.right)),
        "above": (slice(box.top - label_px, box.top - 3), slice(box.left, box.left + 30)),
        "left": (slice(box.top + 5, box.bottom - 5), slice(box.left - box.width // 2, box.left - 5)),
    }


def changed(drawn: np.ndarray, plain: np.ndarray, region: tuple[slice, slice]) -> bool:
    return bool(np.any(drawn[region] != plain[region]))


def draw(scene, options: DrawOptions, tracks=None, painter: TextPainter | None = None,
         thumbnails=None) -> tuple[np.ndarray, np.ndarray]:
    """The drawn picture and the plain one, both at ``WIDTH``."""
    image = scene.frames[0]
    drawn = draw_overlay(image, scene.tracks() if tracks is None else tracks, options, WIDTH,
                         painter or TextPainter(LATIN_FONT), (lambda name: None) if thumbnails is None else thumbnails)
    return drawn, scale_to_width(image, WIDTH)[0]


@pytest.fixture
def thumbnails(thumbnail_paths) -> ThumbnailCache:
    return ThumbnailCache(thumbnail_paths)


def test_everything_drawn_lands_around_the_face_and_the_width_is_the_preview_width(scene, thumbnails) -> None:
    drawn, plain = draw(scene, EVERYTHING, thumbnails=thumbnails)
    assert drawn.shape == (540, WIDTH, 3)
    box = scene.box.scaled(WIDTH / 1920)
    where = regions(box)
    for name in ("box_edge", "below", "above", "left"):
        assert changed(drawn, plain, where[name]), name
    assert not changed(drawn, plain, where["inside"])  # the face itself stays visible
    assert np.array_equal(drawn[:, box.right + box.width:], plain[:, box.right + box.width:])  # far right: untouched


def test_nothing_is_drawn_when_every_option_is_off(scene, thumbnails) -> None:
    drawn, plain = draw(scene, NOTHING, tracks=scene.mixed_tracks(), thumbnails=thumbnails)
    assert np.array_equal(drawn, plain)


@pytest.mark.parametrize(("option", "region", "untouched"), [
    ("box", "box_edge", "below"),
    ("name", "below", "box_edge"),
    ("percentage", "below", "left"),
    ("thumbnail", "left", "below"),
    ("track_id", "above", "below"),
])
def test_each_option_draws_its_own_part(scene, thumbnails, option: str, region: str, untouched: str) -> None:
    options = DrawOptions(**{field: field == option for field in DrawOptions.__slots__})
    drawn, plain = draw(scene, options, thumbnails=thumbnails)
    where = regions(scene.box.scaled(WIDTH / 1920))
    assert changed(drawn, plain, where[region])
    assert not changed(drawn, plain, where[untouched])


def test_the_box_colour_tells_known_unknown_and_undecided_apart(scene) -> None:
    tracks = scene.mixed_tracks()
    drawn, _ = draw(scene, DrawOptions(box=True, name=False, percentage=False, thumbnail=False), tracks=tracks)
    for track, colour in zip(tracks, (KNOWN_COLOUR, UNKNOWN_COLOUR, UNDECIDED_COLOUR)):
        box = track.box.scaled(WIDTH / 1920)
        top_edge = drawn[box.top, box.left + 10: box.right - 10].astype(int)
        assert np.abs(top_edge - colour).max(axis=1).min() <= 10, (track.name, colour)
    assert len({track_colour(KIM), track_colour(UNKNOWN), track_colour(None)}) == 3


def test_the_camera_frame_is_left_as_it_was(scene, thumbnails) -> None:
    before = scene.frames[0].copy()
    draw_overlay(scene.frames[0], scene.mixed_tracks(), EVERYTHING, 0, TextPainter(LATIN_FONT), thumbnails)
    assert np.array_equal(scene.frames[0], before)


def test_width_zero_keeps_the_camera_size_and_no_picture_is_scaled_up(scene) -> None:
    assert draw_overlay(scene.frames[0], [], NOTHING, 0, TextPainter(None), lambda n: None).shape[1] == 1920
    assert draw_overlay(scene.frames[0], [], NOTHING, 4000, TextPainter(None), lambda n: None).shape[1] == 1920


def test_the_label_says_name_and_percentage_as_asked() -> None:
    track = TrackView("t1", FaceBox(0, 10, 10, 0), KIM, 99.25)
    assert label_text(track, EVERYTHING) == "金正恩 99.2%"
    assert label_text(track, DrawOptions(name=False)) == "99.2%"
    assert label_text(track, DrawOptions(percentage=False)) == KIM
    assert label_text(TrackView("t2", FaceBox(0, 10, 10, 0)), EVERYTHING) == ""  # undecided: no text yet
    assert short_track_id("door-04211-17") == "17" and short_track_id("t1") == "t1"


def test_a_face_at_the_picture_edge_keeps_its_labels_inside(scene) -> None:
    edge = FaceBox(top=900, right=400, bottom=1080, left=0)  # bottom-left corner of the 1920×1080 frame
    drawn, plain = draw(scene, EVERYTHING, tracks=[TrackView("t9", edge, KIM, 90.0)])
    assert drawn.shape == plain.shape
    assert changed(drawn, plain, (slice(450, 540), slice(0, 200)))


def test_japanese_names_are_drawn_with_the_font_the_machine_has(scene) -> None:
    """A CJK font where one is installed; otherwise OpenCV's letters and one warning, never a failure."""
    painter = TextPainter(find_cjk_font())
    with capture_logs() as logs:
        drawn, plain = draw(scene, DrawOptions(box=False, thumbnail=False), painter=painter)
        draw(scene, DrawOptions(box=False, thumbnail=False), painter=painter)
    assert changed(drawn, plain, regions(scene.box.scaled(WIDTH / 1920))["below"])
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == (0 if painter.font else 1), warnings


def test_a_configured_font_is_used_and_a_missing_one_is_a_config_error(tmp_path: Path) -> None:
    assert find_cjk_font(LATIN_FONT) == LATIN_FONT
    with pytest.raises(ConfigError, match="preview"):
        find_cjk_font(tmp_path / "missing.ttf")


def test_text_sizes_grow_with_the_font_size_in_both_painters() -> None:
    for painter in (TextPainter(LATIN_FONT), TextPainter(None)):
        small, large = painter.text_size("Unknown 41.0%", 12), painter.text_size("Unknown 41.0%", 36)
        assert large[0] > 2 * small[0] and large[1] > 2 * small[1]


def test_the_opencv_painter_draws_non_ascii_as_question_marks() -> None:
    canvas = np.zeros((60, 300, 3), np.uint8)
    with capture_logs():
        TextPainter(None).draw(canvas, [Label(KIM, 5, 5, KNOWN_COLOUR)], 20)
    assert np.any(canvas != 0)


def test_thumbnails_are_decoded_once_shrunk_and_bounded(thumbnail_paths) -> None:
    cache = ThumbnailCache(thumbnail_paths, capacity=2)
    first = cache(KIM)
    assert first is not None and first.shape[0] <= THUMBNAIL_MAX_PX and not first.flags.writeable
    assert cache(KIM) is first  # cached, not decoded again
    cache("安倍晋三"), cache("麻生太郎")
    assert len(cache) == 2 and cache(KIM) is not first  # evicted, then decoded again
    assert cache("nobody") is None


def test_a_replaced_thumbnail_is_read_again(tmp_path: Path, thumbnail_paths) -> None:
    path = tmp_path / f"{KIM}_default.png"
    path.write_bytes(thumbnail_paths(KIM).read_bytes())
    cache = ThumbnailCache(lambda name: path)
    first = cache(KIM)
    path.write_bytes(thumbnail_paths("安倍晋三").read_bytes())
    os.utime(path, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    second = cache(KIM)
    assert first is not None and second is not None and not np.array_equal(first, second)
    path.write_bytes(b"not a picture")
    os.utime(path, ns=(2, 2))
    with capture_logs() as logs:
        assert cache(KIM) is None
    assert logs[0]["event"] == "preview: thumbnail unreadable"
