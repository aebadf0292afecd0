"""Unknown faces grouped, ignored and promoted: real LFW photos as kept crops, the real encoder,
a real gallery folder, and ``face01d`` run as a process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from face01d.config.models import GalleryConfig
from face01d.enrollment.crop_cache import CACHE_NAME
from face01d.enrollment.groups import GroupNotFound, UnknownGroup, UnknownGroups, folder_recognises, group_id
from face01d.enrollment.unknown import prune_unknown
from support.unknown_crops import keep_crop

PEOPLE = ("Colin_Powell", "Angelina_Jolie", "Hans_Blix")
PHOTOS = 4
DAY = 86400.0
START = 1_780_000_000.0


def crop_id(person: str, number: int) -> str:
    """A fixed event id (hex, like uuid4's) whose 9th digit says the person: photos are not in id order."""
    digest = hashlib.sha1(f"{person}/{number}".encode()).hexdigest()
    return digest[:8] + str(PEOPLE.index(person)) + digest[9:32]


def lfw_photo(data, person: str, number: int) -> Path:
    """The person's ``number``-th photo (1-based) in name order."""
    return sorted(data(f"lfw_view1/images/{person}").glob("*.jpg"))[number - 1]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, data) -> Path:
    """3 people × 4 photos kept as crops, encoded once for the module (the cache file included)."""
    folder = tmp_path_factory.mktemp("encoded") / "unknown"
    for number in range(1, PHOTOS + 1):
        for offset, person in enumerate(PEOPLE):
            keep_crop(folder, lfw_photo(data, person, number), crop_id(person, number), START + number * DAY + offset)
    UnknownGroups(folder, GalleryConfig(path=folder.parent / "gallery")).groups()
    assert (folder / CACHE_NAME).is_file()
    return folder


@pytest.fixture
def unknown(encoded: Path, tmp_path: Path) -> Path:
    """A test's own copy of the encoded crops (mtimes kept: the encoding cache stays valid)."""
    target = tmp_path / "unknown"
    shutil.copytree(encoded, target, copy_function=shutil.copy2)
    return target


def person_of(group: UnknownGroup) -> set[str]:
    return {dict(enumerate(PEOPLE)).get(int(crop.event_id[8], 16), "?") for crop in group.crops}


def test_three_people_form_three_groups_biggest_first_with_stable_ids(unknown: Path, tmp_path: Path, data) -> None:
    groups = UnknownGroups(unknown, GalleryConfig(path=tmp_path / "gallery"))
    first = groups.groups()
    assert [group.size for group in first] == [PHOTOS] * 3
    assert sorted(person_of(group).pop() for group in first) == sorted(PEOPLE)
    assert all(len(person_of(group)) == 1 for group in first)  # pure
    for group in first:
        seen = [crop.seen_at for crop in group.crops]
        assert seen == sorted(seen, reverse=True) and group.first_seen == seen[-1] and group.last_seen == seen[0]
        assert group.id == group_id(group.crops[-1].event_id)  # named after its oldest crop
        assert all(crop.encoding is not None and crop.camera == "door" for crop in group.crops)
    smallest = "0" * 8 + "2" + "0" * 23  # the smallest id of all, but the newest crop
    keep_crop(unknown, lfw_photo(data, "Hans_Blix", 5), smallest, START + 30 * DAY)
    second = groups.groups()
    assert [group.size for group in second] == [PHOTOS + 1, PHOTOS, PHOTOS]
    assert person_of(second[0]) == {"Hans_Blix"} and second[0].crops[0].event_id == smallest
    assert {group.id for group in second} == {group.id for group in first}  # a new crop changes no id


def test_ignore_hides_a_group_for_good(unknown: Path, tmp_path: Path) -> None:
    gallery = GalleryConfig(path=tmp_path / "gallery")
    groups = UnknownGroups(unknown, gallery)
    hidden = groups.groups()[1]
    groups.ignore(hidden.id)
    assert hidden.id not in {group.id for group in groups.groups()} and len(groups.groups()) == 2
    again = UnknownGroups(unknown, gallery)  # another process: the choice is on disk
    assert [group.id for group in again.groups()] == [group.id for group in groups.groups()]
    assert again.group(hidden.id) == hidden  # still there to enroll
    with pytest.raises(GroupNotFound):
        again.ignore("feedfacecafe")


def test_promote_enrolls_a_group_and_refuses_a_crop_without_a_face(unknown: Path, gallery_copy: Path,
                                                                   data) -> None:
    black = cv2.imread(str(data("face01/images/invalid_face_image.png")))
    cv2.imwrite(str(tmp := unknown.parent / "black.jpg"), black)
    keep_crop(unknown, tmp, "f" * 32, START)
    gallery = GalleryConfig(path=gallery_copy)
    groups = UnknownGroups(unknown, gallery)
    listed = groups.groups()
    blank = next(group for group in listed if group.crops[0].event_id == "f" * 32)
    assert blank.size == 1 and blank.crops[0].encoding is None  # no face: a group of its own
    refused = groups.promote(blank.id, "Nobody")
    assert refused.added == () and refused.written == ()
    assert refused.refused[0][0] == "f" * 32 and "no face found" in refused.refused[0][1]
    assert not list(gallery_copy.glob("Nobody*")) and (unknown / f"{'f' * 32}.jpg").exists()
    powell = next(group for group in listed if person_of(group) == {"Colin_Powell"})
    result = groups.promote(powell.id, "Powell")
    assert sorted(result.added) == sorted(crop.event_id for crop in powell.crops) and result.refused == ()
    assert sorted(path.name for path in gallery_copy.glob("Powell_*")) == [
        "Powell_1.jpg", "Powell_2.jpg", "Powell_3.jpg", "Powell_4.jpg", "Powell_default.jpg"]
    assert not any((unknown / f"{crop.event_id}{suffix}").exists() for crop in powell.crops
                   for suffix in (".jpg", ".json"))
    assert groups.group(powell.id) is None


def test_a_group_the_gallery_now_recognises_leaves_the_list(unknown: Path, gallery_copy: Path) -> None:
    gallery = GalleryConfig(path=gallery_copy)
    groups = UnknownGroups(unknown, gallery, folder_recognises(gallery))
    jolie = next(group for group in groups.groups() if person_of(group) == {"Angelina_Jolie"})
    chosen = [crop.event_id for crop in jolie.crops[:2]]
    result = groups.promote(jolie.id, "Jolie", [*chosen, "0123abcd"])
    assert sorted(result.added) == sorted(chosen)
    assert result.refused == (("0123abcd", f"0123abcd: not a crop of group {jolie.id}"),)
    still = [group for group in groups.groups() if person_of(group) == {"Angelina_Jolie"}]
    assert sum(group.size for group in still) == 2  # the old gallery: her other crops are still unknown
    now = UnknownGroups(unknown, gallery, folder_recognises(gallery))  # the gallery as reloaded
    remaining = now.groups()
    assert {frozenset(person_of(group)) for group in remaining} == {frozenset({"Colin_Powell"}),
                                                                    frozenset({"Hans_Blix"})}
    assert now.group(jolie.id) is None


def face01d(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "face01d", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def test_shell_lists_groups_as_json_lines_and_promotes_one(unknown: Path, gallery_copy: Path,
                                                           tmp_path: Path) -> None:
    where = ("--gallery", gallery_copy, "--unknown-dir", unknown)
    listed = face01d(tmp_path, "unknown", "groups", *where)
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [line["size"] for line in lines] == [PHOTOS] * 3
    assert set(lines[0]) == {"group", "size", "crops", "cameras", "first_seen", "last_seen"}
    assert lines[0]["cameras"] == ["door"] and lines[0]["first_seen"] < lines[0]["last_seen"]
    target = lines[2]
    promoted = face01d(tmp_path, "gallery", "promote", "--group", target["group"], "Blix", *where)
    assert promoted.returncode == 0, promoted.stderr
    assert len(promoted.stdout.splitlines()) == PHOTOS + 1  # NAME_default and NAME_1..4
    after = face01d(tmp_path, "unknown", "groups", *where)
    assert target["group"] not in after.stdout and len(after.stdout.splitlines()) == 2
    gone = face01d(tmp_path, "gallery", "promote", "--group", target["group"], "Blix", *where)
    assert gone.returncode == 4 and "no unknown group" in gone.stderr
    usage = face01d(tmp_path, "gallery", "promote", "--group", target["group"], "x", "Blix", *where)
    assert usage.returncode == 2


def test_encodings_are_cached_beside_the_crops(unknown: Path, tmp_path: Path) -> None:
    calls: list[int] = []

    def counting(rgb: np.ndarray) -> list:
        calls.append(1)
        return []

    groups = UnknownGroups(unknown, GalleryConfig(path=tmp_path / "gallery"), encode_faces=counting)
    assert len(groups.groups()) == 3 and calls == []  # all from .encodings.npz
    (unknown / f"{crop_id('Hans_Blix', 1)}.jpg").touch()  # changed on disk: encoded again
    groups.groups()
    assert calls == [1]


async def test_the_async_twins_answer_off_the_loop(unknown: Path, tmp_path: Path) -> None:
    groups = UnknownGroups(unknown, GalleryConfig(path=tmp_path / "gallery"))
    try:
        listed = await groups.async_groups()
        assert [group.id for group in listed] == [group.id for group in groups.groups()]
        assert await groups.async_group(listed[0].id) == listed[0]
        await groups.async_ignore(listed[0].id)
        assert len(await groups.async_groups()) == 2
    finally:
        groups.close()


def test_retention_leaves_the_cache_and_the_ignore_list_alone(unknown: Path, tmp_path: Path) -> None:
    groups = UnknownGroups(unknown, GalleryConfig(path=tmp_path / "gallery"))
    hidden = {crop.event_id for crop in groups.groups()[0].crops}
    groups.ignore(groups.groups()[0].id)
    assert prune_unknown(unknown, max_files=PHOTOS * len(PEOPLE), retention_days=0, now=START) == 0
    assert (unknown / CACHE_NAME).is_file() and (unknown / ".ignored-groups.json").is_file()
    assert prune_unknown(unknown, max_files=PHOTOS * len(PEOPLE) - 1, retention_days=0, now=START) == 1
    shown = {crop.event_id for group in groups.groups() for crop in group.crops}
    left = {path.stem for path in unknown.glob("*.jpg")}
    assert len(left) == PHOTOS * len(PEOPLE) - 1 and shown == left - hidden  # still ignored, whichever went
