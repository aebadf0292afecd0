"""The encoding cache: only new/changed content is encoded, corruption is survived."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from structlog.testing import capture_logs

from gallery_helpers import SETTINGS_KEY, copy_into
from face01d.gallery import CACHE_DIRNAME, build_gallery
from face01d.gallery.cache import CACHE_FILENAME, load_cache
from face01d.vision.image import DETECTION_MAX_PIXELS, decode_key


def small_gallery(folder: Path, data) -> dict[str, Path]:
    names = ("安倍晋三_1.png", "金正恩_67.png", "麻生太郎_default.png")
    return {n: copy_into(folder, data.face01_gallery / n, n) for n in names}


class CountingEncoder:
    """Wraps the real encoder to count how many images it was asked to analyse."""

    def __init__(self, encode) -> None:
        self.encode, self.calls = encode, 0

    def __call__(self, rgb: np.ndarray):
        self.calls += 1
        return self.encode(rgb)


def test_rebuild_encodes_only_changed_files_and_forgets_deleted(tmp_path, data, encode_faces) -> None:
    files = small_gallery(tmp_path, data)
    counting = CountingEncoder(encode_faces)
    first, report = build_gallery(tmp_path, counting, SETTINGS_KEY)
    assert counting.calls == 3 and len(report.encoded_now) == 3
    changed = files["麻生太郎_default.png"]
    flipped = cv2.flip(cv2.imread(str(changed)), 1)
    assert cv2.imencode(".png", flipped)[1].tofile(str(changed)) is None
    second, report = build_gallery(tmp_path, counting, SETTINGS_KEY)
    assert counting.calls == 4 and report.encoded_now == (changed,)
    assert set(report.from_cache) == {files["安倍晋三_1.png"], files["金正恩_67.png"]}
    row = second.paths.index(changed)
    assert not np.allclose(second.encodings[row], first.encodings[first.paths.index(changed)])
    files["金正恩_67.png"].unlink()
    third, report = build_gallery(tmp_path, counting, SETTINGS_KEY)
    assert counting.calls == 4 and third.people == ("安倍晋三", "麻生太郎")
    assert len(load_cache(tmp_path / CACHE_DIRNAME, SETTINGS_KEY, decode_key(DETECTION_MAX_PIXELS))) == 2


def test_cached_encodings_equal_fresh_ones(tmp_path, data, encode_faces) -> None:
    small_gallery(tmp_path, data)
    fresh, _ = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    cached, report = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    assert report.encoded_now == () and len(report.from_cache) == 3
    np.testing.assert_array_equal(fresh.encodings, cached.encodings)
    assert fresh.names == cached.names


def test_other_settings_key_reencodes(tmp_path, data, encode_faces) -> None:
    small_gallery(tmp_path, data)
    build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    _, report = build_gallery(tmp_path, encode_faces, "large/j5")
    assert len(report.encoded_now) == 3 and report.from_cache == ()


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path, data, encode_faces) -> None:
    small_gallery(tmp_path, data)
    reference, _ = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    cache_file = tmp_path / CACHE_DIRNAME / CACHE_FILENAME
    cache_file.write_bytes(cache_file.read_bytes()[:200])  # truncated by a power cut
    with capture_logs() as logs:
        gallery, report = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["gallery_cache_corrupt"]
    assert report.cache_problem and "corrupt" in report.cache_problem
    assert len(report.encoded_now) == 3
    np.testing.assert_array_equal(gallery.encodings, reference.encodings)
    _, healed = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    assert healed.cache_problem is None and len(healed.from_cache) == 3


class _Tripwire:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_cache_never_unpickles(tmp_path, data, encode_faces) -> None:
    """A pickle planted in the cache is refused as corrupt, never executed."""
    small_gallery(tmp_path, data)
    cache_dir = tmp_path / CACHE_DIRNAME
    cache_dir.mkdir()
    marker = tmp_path / "pwned"
    planted = np.empty(1, dtype=object)
    planted[0] = _Tripwire(marker)
    np.savez(cache_dir / CACHE_FILENAME, meta=planted, digests=planted, faces=planted, encodings=planted)
    _, report = build_gallery(tmp_path, encode_faces, SETTINGS_KEY)
    assert not marker.exists()
    assert report.cache_problem and len(report.encoded_now) == 3


def test_cache_is_private(tmp_path: Path, data, encode_faces) -> None:
    """Encodings are biometric data: the cache is 0600 in a 0700 folder, whatever the umask."""
    small_gallery(tmp_path / "people", data)
    cache = tmp_path / "cache" / "nested"
    old_umask = os.umask(0o022)
    try:
        build_gallery(tmp_path / "people", encode_faces, SETTINGS_KEY, cache_dir=cache)
    finally:
        os.umask(old_umask)
    assert (cache / CACHE_FILENAME).stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700


def test_an_interrupted_build_resumes_from_its_checkpoint(tmp_path: Path, data, encode_faces, monkeypatch) -> None:
    """A stop during a long build (progress raises) keeps what was encoded up to the last checkpoint."""
    from face01d.gallery import build

    monkeypatch.setattr(build, "CHECKPOINT_EVERY", 2)
    small_gallery(tmp_path / "people", data)

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    cache = tmp_path / "cache"
    try:
        build_gallery(tmp_path / "people", encode_faces, SETTINGS_KEY, cache_dir=cache, progress=stop_after_two)
    except KeyboardInterrupt:
        pass
    counting = CountingEncoder(encode_faces)
    _, report = build_gallery(tmp_path / "people", counting, SETTINGS_KEY, cache_dir=cache)
    assert counting.calls == 1 and len(report.from_cache) == 2
