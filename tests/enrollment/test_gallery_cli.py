"""``face01d gallery add / promote / remove`` on a real gallery copy, with the real detector."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner, Result

from face01d.cli import cli
from face01d.enrollment.unknown import UnknownCrops
from face01d.events.model import Event, EventType
from face01d.faces import FaceBox, Frame
from face01d.oneshot import list_people

from support.listing import names

OBAMA = "face_recognition/test_images/obama.jpg"


def face01d(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def people(gallery: Path) -> dict[str, int]:
    return {person["name"]: person["images"] for person in list_people(gallery)}


def test_add_new_person_writes_numbered_files_and_a_default(gallery_copy: Path, data) -> None:
    result = face01d("gallery", "add", "オバマ", data(OBAMA), data("face_recognition/test_images/obama2.jpg"),
                     "--gallery", gallery_copy)
    assert result.exit_code == 0, result.output
    added = ["オバマ_1.jpg", "オバマ_2.jpg", "オバマ_default.jpg"]
    assert [Path(line).name for line in result.output.split()] == [added[2], added[0], added[1]]
    assert set(added) <= set(names(gallery_copy))
    assert (gallery_copy / "オバマ_1.jpg").read_bytes() == data(OBAMA).read_bytes()  # stored as given
    assert stat.S_IMODE((gallery_copy / "オバマ_1.jpg").stat().st_mode) == 0o600
    assert people(gallery_copy)["オバマ"] == 3


def test_add_to_existing_person_continues_the_numbers(gallery_copy: Path, data) -> None:
    result = face01d("gallery", "add", "金正恩", data("face01/images/person1.png"), "--gallery", gallery_copy)
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip()).name == "金正恩_68.png"  # after 金正恩_67.png; the default is kept
    assert people(gallery_copy)["金正恩"] == 3


@pytest.mark.parametrize("name", ["a_b", "", "  ", "Unknown", "unknown", "a/b", "x\ny", ".hidden", "a\\b",
                                  "ＵＮＫＮＯＷＮ", "a\u2028b", "a\u2029b", "a\ufffdb"])
def test_bad_names_are_usage_errors(gallery_copy: Path, data, name: str) -> None:
    before = names(gallery_copy)
    result = face01d("gallery", "add", name, data(OBAMA), "--gallery", gallery_copy)
    assert result.exit_code == 2
    assert result.output.startswith("face01d: error: ") and result.output.count("\n") == 1
    assert names(gallery_copy) == before


def test_one_bad_image_adds_nothing(gallery_copy: Path, data) -> None:
    before = names(gallery_copy)
    for bad, why in (("face_recognition/examples/two_people.jpg", "2 faces found"),
                     ("face01/images/invalid_face_image.png", "no face found")):
        result = face01d("gallery", "add", "obama", data(OBAMA), data(bad), "--gallery", gallery_copy)
        assert result.exit_code == 4, result.output
        assert why in result.output
    assert names(gallery_copy) == before


def test_not_an_image_and_missing_files(gallery_copy: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for path, why in ((text, "not a decodable image"), (tmp_path / "nope.jpg", "no such file")):
        result = face01d("gallery", "add", "obama", path, "--gallery", gallery_copy)
        assert result.exit_code == 4 and why in result.output, result.output


def test_other_formats_are_stored_as_png(gallery_copy: Path, tmp_path: Path, data) -> None:
    bmp = tmp_path / "obama.bmp"
    cv2.imwrite(str(bmp), cv2.imread(str(data(OBAMA))))
    result = face01d("gallery", "add", "obama", bmp, "--gallery", gallery_copy)
    assert result.exit_code == 0, result.output
    assert {"obama_1.png", "obama_default.png"} <= set(names(gallery_copy))


def test_missing_gallery_is_exit_5(tmp_path: Path, data) -> None:
    result = face01d("gallery", "add", "obama", data(OBAMA), "--gallery", tmp_path / "nowhere")
    assert result.exit_code == 5 and "gallery folder not found" in result.output


def test_without_gallery_or_config_says_what_to_give(tmp_path: Path, data, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = face01d("gallery", "remove", "obama")
    assert result.exit_code == 2 and "--gallery" in result.output


def test_remove_flat_and_folder_people(gallery_copy: Path, data) -> None:
    folder = gallery_copy / "obama"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(data(OBAMA).read_bytes())
    for name in ("麻生太郎", "obama"):
        result = face01d("gallery", "remove", name, "--gallery", gallery_copy)
        assert result.exit_code == 0, result.output
    assert set(people(gallery_copy)) == {"安倍晋三", "金正恩"}
    assert not folder.exists()
    again = face01d("gallery", "remove", "obama", "--gallery", gallery_copy)
    assert again.exit_code == 5 and "not in the gallery" in again.output


def test_add_into_a_person_folder(gallery_copy: Path, data) -> None:
    (gallery_copy / "obama").mkdir()
    result = face01d("gallery", "add", "obama", data(OBAMA), "--gallery", gallery_copy)
    assert result.exit_code == 0, result.output
    assert names(gallery_copy / "obama") == ["obama_1.jpg", "obama_default.jpg"]


def test_a_fullwidth_name_is_stored_normalised(gallery_copy: Path, data) -> None:
    result = face01d("gallery", "add", "ＯＢＡＭＡ", data(OBAMA), "--gallery", gallery_copy)
    assert result.exit_code == 0, result.output
    assert "OBAMA_1.jpg" in names(gallery_copy) and people(gallery_copy)["OBAMA"] == 2


def test_a_symlinked_person_folder_is_neither_written_nor_emptied(gallery_copy: Path, tmp_path: Path, data) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.jpg").write_bytes(data(OBAMA).read_bytes())
    (gallery_copy / "eve").symlink_to(outside)
    for command in (("add", "eve", data(OBAMA)), ("remove", "eve")):
        result = face01d("gallery", *command, "--gallery", gallery_copy)
        assert result.exit_code == 5 and "a symlink, not a folder of the gallery" in result.output, result.output
    assert names(outside) == ["keep.jpg"]
    assert face01d("gallery", "remove", "麻生太郎", "--gallery", gallery_copy).exit_code == 0  # the rest is editable


def test_a_fifo_given_as_an_image_is_refused_at_once(gallery_copy: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "face.jpg"
    os.mkfifo(fifo)
    result = face01d("gallery", "add", "eve", fifo, "--gallery", gallery_copy)
    assert result.exit_code != 0 and f"{fifo}: a FIFO, not a regular file" in result.output


def keep_unknown_crop(directory: Path, image_path: Path, box: FaceBox) -> Event:
    """Run the real sink once: an unknown event on a real frame leaves its crop in ``directory``."""
    event = Event(type=EventType.UNKNOWN, node="n", camera="door", name="Unknown", captured_at=time.time(),
                  box=box, track_id="door-1")

    async def run() -> None:
        sink = UnknownCrops(directory, max_files=10, retention_days=0)
        await sink.start()
        sink.publish_event(event, Frame("door", 1, cv2.imread(str(image_path)), time.time()))
        await sink.stop(5)

    asyncio.run(run())
    return event


def test_promote_by_prefix_with_a_config(gallery_copy: Path, tmp_path: Path, data) -> None:
    unknown = tmp_path / "unknown"
    event = keep_unknown_crop(unknown, data(OBAMA), FaceBox(142, 617, 409, 349))
    config = tmp_path / "config.toml"
    config.write_text(f'[gallery]\npath = "gallery"\n[enrollment]\nunknown_dir = "{unknown}"\n')
    result = face01d("gallery", "promote", event.id[:8], "obama", "-c", config)
    assert result.exit_code == 0, result.output
    assert people(gallery_copy)["obama"] == 2  # obama_1.jpg and obama_default.jpg
    assert names(unknown) == []  # promoted: no longer an unknown face


def test_promote_unknown_and_ambiguous_ids(gallery_copy: Path, tmp_path: Path, data) -> None:
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for stem in ("abc1", "abc2"):
        (unknown / f"{stem}.jpg").write_bytes(data(OBAMA).read_bytes())
    common = ("--gallery", gallery_copy, "--unknown-dir", unknown)
    for event_id, why in (("abc", "ambiguous"), ("fff", "no unknown face"), ("../x", "not an event id")):
        result = face01d("gallery", "promote", event_id, "obama", *common)
        assert result.exit_code == 4 and why in result.output, result.output
    assert face01d("gallery", "promote", "abc2", "obama", *common).exit_code == 0
    assert names(unknown) == ["abc1.jpg"]


def test_errors_are_one_line_without_traceback(gallery_copy: Path, data) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "face01d", "gallery", "add", "x", str(data("face_recognition/examples/two_people.jpg")),
         "--gallery", str(gallery_copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 4
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "2 faces found" in result.stderr
