"""A face count cached under other decode settings is recomputed, not trusted until the file changes.

Before the pixel cap, an 8000-px photo was decoded at full size and HOG
found "3 faces" in it; that verdict, cached by file content, would have
kept the photo out of the gallery for good. The cache is real (the file the
daemon writes), the stale entry is written into it, the encoder is the real
HOG + dlib one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from face01d.errors import GalleryError
from face01d.gallery import build_gallery
from face01d.gallery.cache import CACHE_FILENAME, FORMAT_VERSION, CachedResult, file_digest, load_cache, save_cache
from face01d.vision.image import DETECTION_MAX_PIXELS, decode_key
from gallery_helpers import SETTINGS_KEY, copy_into

STALE_FACES = 3  # what the full-size decode said


def write_pre_decode_key_cache(cache_dir: Path, results: dict[str, CachedResult]) -> None:
    """A cache as written before decode keys existed: its meta names the settings only."""
    save_cache(cache_dir, SETTINGS_KEY, "unused", results)
    path = cache_dir / CACHE_FILENAME
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["meta"] = np.array(json.dumps({"format": FORMAT_VERSION, "settings_key": SETTINGS_KEY}))
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


class CountingEncoder:
    def __init__(self, encode) -> None:  # noqa: ANN001
        self.encode, self.calls = encode, 0

    def __call__(self, rgb: np.ndarray):  # noqa: ANN204
        self.calls += 1
        return self.encode(rgb)


@pytest.mark.parametrize("stale_key", [None, decode_key(None)], ids=["cache-before-decode-keys", "full-size-decode"])
def test_a_verdict_cached_under_other_decode_settings_is_recomputed(
    tmp_path: Path, huge_face: Path, encode_faces, stale_key: str | None
) -> None:
    image = copy_into(tmp_path / "g", huge_face, "obama_1.jpg")
    cache = tmp_path / "cache"
    stale = {file_digest(image): CachedResult(STALE_FACES, None)}
    if stale_key is None:
        write_pre_decode_key_cache(cache, stale)
    else:
        save_cache(cache, SETTINGS_KEY, stale_key, stale)
    counting = CountingEncoder(encode_faces)
    gallery, report = build_gallery(tmp_path / "g", counting, SETTINGS_KEY, cache_dir=cache)
    assert counting.calls == 1 and report.encoded_now == (image,) and report.multiple_faces == ()
    assert gallery.people == ("obama",)
    [fresh] = load_cache(cache, SETTINGS_KEY, decode_key(DETECTION_MAX_PIXELS)).values()
    assert fresh.faces == 1 and fresh.encoding is not None


def test_a_verdict_cached_under_the_same_decode_settings_is_kept(tmp_path: Path, huge_face: Path, encode_faces):
    """The control: same key, the cache is trusted (so the key, not chance, decides)."""
    image = copy_into(tmp_path / "g", huge_face, "obama_1.jpg")
    cache = tmp_path / "cache"
    save_cache(cache, SETTINGS_KEY, decode_key(DETECTION_MAX_PIXELS), {file_digest(image): CachedResult(3, None)})
    counting = CountingEncoder(encode_faces)
    with pytest.raises(GalleryError, match="several faces: 1"):
        build_gallery(tmp_path / "g", counting, SETTINGS_KEY, cache_dir=cache)
    assert counting.calls == 0


def test_a_custom_loader_is_cached_under_its_own_name(tmp_path: Path, data, encode_faces) -> None:
    from face01d.vision.image import load_image

    copy_into(tmp_path / "g", data.face01_images / "person1.png", "alice_1.png")
    cache, counting = tmp_path / "cache", CountingEncoder(encode_faces)
    build_gallery(tmp_path / "g", counting, SETTINGS_KEY, cache_dir=cache)
    build_gallery(tmp_path / "g", counting, SETTINGS_KEY, cache_dir=cache, load=load_image, decode_key="full")
    build_gallery(tmp_path / "g", counting, SETTINGS_KEY, cache_dir=cache, load=load_image, decode_key="full")
    assert counting.calls == 2  # the default loader once, "full" once, then "full" from the cache
