"""Scanning: both layouts, names, and what is skipped (no encoding needed)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from face01d.gallery import CACHE_DIRNAME, scan_gallery


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_flat_layout_names_defaults_and_skips(tmp_path: Path) -> None:
    touch(tmp_path / "山田太郎_1.PNG")
    touch(tmp_path / "山田太郎_default.jpg")
    touch(tmp_path / "Bob_smith_2.JpEg")
    touch(tmp_path / "Carol_x.webp")
    for name in ("noname.png", "Dan_1.gif", "Dan_2.txt", ".Eve_1.png", "_1.png"):
        touch(tmp_path / name)
    touch(tmp_path / CACHE_DIRNAME / "encodings-v1.npz")
    scan = scan_gallery(tmp_path)
    got = {(e.path.name, e.name, e.is_default) for e in scan.entries}
    assert got == {
        ("山田太郎_1.PNG", "山田太郎", False),
        ("山田太郎_default.jpg", "山田太郎", True),
        ("Bob_smith_2.JpEg", "Bob", False),
        ("Carol_x.webp", "Carol", False),
    }
    skipped = {path.name: why for path, why in scan.skipped}
    assert set(skipped) == {"noname.png", "Dan_1.gif", "Dan_2.txt", ".Eve_1.png", "_1.png", CACHE_DIRNAME}
    assert "cache" in skipped[CACHE_DIRNAME] and "hidden" in skipped[".Eve_1.png"]


def test_nfd_file_names_become_nfc(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "ジョゼ")  # macOS-style name
    assert decomposed != "ジョゼ"
    touch(tmp_path / f"{decomposed}_1.png")
    touch(tmp_path / "ジョゼ" / "a.jpg")
    names = {e.name for e in scan_gallery(tmp_path).entries}
    assert names == {"ジョゼ"}


def test_folder_per_person_layout(tmp_path: Path) -> None:
    touch(tmp_path / "obama" / "b.jpg")
    touch(tmp_path / "obama" / "default.PNG")
    touch(tmp_path / "obama" / "notes.txt")
    touch(tmp_path / "obama" / ".DS_Store")
    touch(tmp_path / "obama" / "old" / "c.jpg")
    touch(tmp_path / ".git" / "config")
    scan = scan_gallery(tmp_path)
    assert [(e.path.name, e.name, e.is_default) for e in scan.entries] == [
        ("b.jpg", "obama", False),
        ("default.PNG", "obama", True),
    ]
    assert {p.name for p, _ in scan.skipped} == {"notes.txt", ".DS_Store", "old", ".git"}


def test_custom_cache_dir_inside_gallery_is_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "cache" / "x_1.png")
    touch(tmp_path / "Ann_1.png")
    scan = scan_gallery(tmp_path, cache_dir=tmp_path / "cache")
    assert [e.name for e in scan.entries] == ["Ann"]
    assert [p.name for p, _ in scan.skipped] == ["cache"]
