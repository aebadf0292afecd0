"""Building galleries from real images with the real HOG + dlib encoder."""

from __future__ import annotations

import json

import pytest

from gallery_helpers import SETTINGS_KEY, copy_into
from face01d.errors import GalleryError
from face01d.gallery import build_gallery


def test_knn_folder_per_person_gallery(knn_gallery) -> None:
    gallery, report = knn_gallery
    assert gallery.people == ("alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie")
    assert gallery.encodings.shape == (len(report.encoded_now), 128)
    assert len(gallery) == 9 and report.left_out == 0 and report.from_cache == ()
    assert not gallery.encodings.flags.writeable  # immutable: swapped whole on reload
    assert set(gallery.display_images) == set(gallery.people)


def test_face01_flat_gallery_with_japanese_names(face01_gallery, data) -> None:
    gallery, report = face01_gallery
    assert gallery.people == ("安倍晋三", "金正恩", "麻生太郎")
    # 麻生太郎_2/_3 are tight 224 px crops where HOG (face_recognition too, at any
    # upsampling) finds no face: reported and left out, the person still usable.
    folder = data.face01_gallery
    assert report.no_face == (folder / "麻生太郎_2.png", folder / "麻生太郎_3.png")
    assert len(gallery) == 5 and len(report.encoded_now) == 7
    for name in gallery.people:
        assert gallery.display_images[name] == data.face01_gallery / f"{name}_default.png"
    text = json.dumps({"people": list(gallery.people)}, ensure_ascii=False)
    assert "金正恩" in text and json.loads(text)["people"] == list(gallery.people)


def test_no_face_and_multiple_faces_are_reported_and_left_out(tmp_path, data, encode_faces) -> None:
    black = copy_into(tmp_path, data.face01_images / "invalid_face_image.png", "Black_1.png")
    pair = copy_into(tmp_path, data.fr_examples / "two_people.jpg", "Pair_1.jpg")
    copy_into(tmp_path, data.face01_gallery / "金正恩_67.png", "金正恩_67.png")
    broken = tmp_path / "Broken_1.jpg"
    broken.write_bytes(b"not a jpeg")
    gallery, report = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    assert gallery.people == ("金正恩",)
    assert report.no_face == (black,)
    assert report.multiple_faces == ((pair, 2),)
    assert [p for p, _ in report.unreadable] == [broken] and "decodable" in report.unreadable[0][1]
    # No-face / multiple-face verdicts are cached too: nothing re-analysed next time.
    _, again = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    assert again.encoded_now == () and again.no_face == (black,) and again.multiple_faces == ((pair, 2),)


def test_missing_folder_is_a_gallery_error(tmp_path, encode_faces) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(GalleryError, match=str(missing)):
        build_gallery(missing, encode_faces, SETTINGS_KEY)


def test_gallery_without_a_usable_face_is_an_error(tmp_path, data, encode_faces) -> None:
    with pytest.raises(GalleryError, match=str(tmp_path)):
        build_gallery(tmp_path, encode_faces, SETTINGS_KEY)  # empty folder
    copy_into(tmp_path, data.face01_images / "invalid_face_image.png", "Black_1.png")
    (tmp_path / "readme.txt").write_text("skipped")
    with pytest.raises(GalleryError, match="no image with exactly one usable face"):
        build_gallery(tmp_path, encode_faces, SETTINGS_KEY)


def test_build_gallery_reports_progress_and_caches_elsewhere(tmp_path, data, encode_faces) -> None:
    folder = tmp_path / "g"
    copy_into(folder, data.face01_gallery / "安倍晋三_1.png", "安倍晋三_1.png")
    copy_into(folder, data.face01_gallery / "安倍晋三_default.png", "安倍晋三_default.png")
    calls: list[tuple[int, int]] = []
    gallery, _ = build_gallery(folder, encode_faces, SETTINGS_KEY, cache_dir=tmp_path / "elsewhere",
                               progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)] and gallery.people == ("安倍晋三",)
    assert (tmp_path / "elsewhere").is_dir() and not (folder / ".face01d-cache").exists()
