"""Pre-processing: colour order, decoding errors, set_width and set_area."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from face01d.config.models import SetArea
from face01d.errors import ImageReadError
from face01d.vision.image import crop_area, load_image, resize_to_width, to_rgb

PIXEL_RGB = (10, 120, 230)


def _solid(channels: tuple[int, ...], dtype=np.uint8) -> np.ndarray:  # noqa: ANN001
    return np.tile(np.array(channels, dtype=dtype), (4, 6, 1))


@pytest.mark.parametrize(
    ("image", "color"),
    [
        (_solid(PIXEL_RGB[::-1]), "bgr"),
        (_solid(PIXEL_RGB), "rgb"),
        (_solid(PIXEL_RGB[::-1] + (255,)), "bgr"),
        (_solid(PIXEL_RGB + (0,)), "rgb"),
        (_solid(tuple(v * 257 for v in PIXEL_RGB[::-1]), np.uint16), "bgr"),
    ],
)
def test_to_rgb_colour_layouts(image: np.ndarray, color: str) -> None:
    out = to_rgb(image, color)
    assert out.dtype == np.uint8 and out.shape == (4, 6, 3) and out.flags.c_contiguous
    assert tuple(out[0, 0]) == PIXEL_RGB


@pytest.mark.parametrize("shape", [(4, 6), (4, 6, 1)])
def test_to_rgb_greyscale(shape: tuple[int, ...]) -> None:
    out = to_rgb(np.full(shape, 77, np.uint8))
    assert out.shape == (4, 6, 3) and (out == 77).all()


def test_to_rgb_rejects_non_images() -> None:
    with pytest.raises(ValueError):
        to_rgb(np.zeros((4, 6, 2), np.uint8))
    with pytest.raises(ValueError):
        to_rgb(np.zeros((4, 6, 3), np.uint8), "hsv")  # type: ignore[arg-type]


def test_load_image_matches_opencv(data) -> None:  # noqa: ANN001
    path = data("face_recognition/test_images/obama.jpg")
    image = load_image(path)
    assert image.shape == (1137, 910, 3)
    assert np.array_equal(image, cv2.imread(str(path))[:, :, ::-1])


def test_load_image_rgba_png(data) -> None:  # noqa: ANN001
    path = data("face_recognition/test_images/32bit.png")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (1200, 626, 4)  # the case under test: 4 channels on disk
    assert np.array_equal(load_image(path), raw[:, :, 2::-1])


def test_load_image_japanese_path(data, tmp_path) -> None:  # noqa: ANN001
    gallery_image = data("face01/gallery/金正恩_default.png")
    copy = tmp_path / "日本語のフォルダ" / "顔.png"
    copy.parent.mkdir()
    shutil.copyfile(gallery_image, copy)
    assert np.array_equal(load_image(copy), load_image(gallery_image))


def test_load_image_errors_name_the_path(tmp_path) -> None:  # noqa: ANN001
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    cases = {tmp_path / "missing.jpg": "no such file", text: "not a decodable", empty: "not a decodable"}
    cases[tmp_path] = "directory"
    for path, reason in cases.items():
        with pytest.raises(ImageReadError, match=reason) as info:
            load_image(path)
        assert str(path) in str(info.value)


def test_resize_to_width() -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    assert resize_to_width(image, 0)[1] == 1.0 and resize_to_width(image, 400)[0] is image
    assert resize_to_width(image, 800)[0] is image
    small, factor = resize_to_width(image, 100)
    assert small.shape == (75, 100, 3) and factor == 4.0


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        (SetArea.NONE, (0, 100, 0, 200)),
        (SetArea.TOP_LEFT, (0, 50, 0, 100)),
        (SetArea.TOP_RIGHT, (0, 50, 100, 200)),
        (SetArea.BOTTOM_LEFT, (50, 100, 0, 100)),
        (SetArea.BOTTOM_RIGHT, (50, 100, 100, 200)),
        (SetArea.CENTER, (25, 75, 50, 150)),
    ],
)
def test_crop_area(area: SetArea, expected: tuple[int, int, int, int]) -> None:
    rows, cols = np.mgrid[0:100, 0:200]
    image = np.dstack([rows, cols, rows]).astype(np.uint16)
    view, dy, dx = crop_area(image, area)
    top, bottom, left, right = expected
    assert (dy, dx) == (top, left) and view.shape[:2] == (bottom - top, right - left)
    assert view[0, 0, 0] == top and view[0, 0, 1] == left and view.base is not None
