"""The command line as a script sees it: real processes, stdout JSON lines, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FACE01D = [sys.executable, "-m", "face01d"]


def face01d(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FACE01D, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_detect_names_obama_and_biden(data) -> None:
    result = face01d("detect", data.knn_test / "obama_and_biden.jpg", "--gallery", data.knn_train)
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    named = sorted(record["name"] for record in records if record["name"] != "Unknown")
    assert named == ["biden", "obama"]
    for record in records:
        assert set(record) == {"source", "frame", "box", "name", "distance", "percentage"}
        assert 0 < record["distance"] and 90 < record["percentage"] <= 100
    assert not list(data.knn_train.glob(".face01d*")), "the gallery's cache must not be written into the gallery"


def test_detect_without_gallery_prints_boxes(data) -> None:
    result = face01d("detect", data("face_recognition/test_images/obama.jpg"))
    assert result.returncode == 0, result.stderr
    [record] = json_lines(result.stdout)
    assert record["box"] == {"top": 142, "right": 617, "bottom": 409, "left": 349}
    assert record["name"] is None


def test_detect_video_frames(data) -> None:
    result = face01d("detect", data.kim_video, "--gallery", data.face01_gallery, "--set-width", "640",
                     "--frame-skip", "100", "--tolerance", "0.5")
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    assert {record["frame"] for record in records} <= {0, 101, 202}
    assert "金正恩" in {record["name"] for record in records}
    assert {record["name"] for record in records} <= {"金正恩", "Unknown"}


@pytest.mark.parametrize("make_path, message", [
    (lambda tmp: tmp / "missing.jpg", "no such file"),
    (lambda tmp: tmp, "not a file"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hello"))[0], "not an image or a video"),
    (lambda tmp: (tmp / "fake.jpg", (tmp / "fake.jpg").write_text("hello"))[0], "fake.jpg"),
])
def test_detect_bad_input_exits_4(tmp_path: Path, make_path, message: str) -> None:
    path = make_path(tmp_path)
    result = face01d("detect", path)
    assert result.returncode == 4
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("face01d: error: ")


def test_detect_missing_gallery_exits_5(tmp_path: Path, data) -> None:
    result = face01d("detect", data("face_recognition/test_images/obama.jpg"), "--gallery", tmp_path / "none")
    assert result.returncode == 5
    assert "gallery folder not found" in result.stderr and "Traceback" not in result.stderr


def test_detect_empty_gallery_exits_5(tmp_path: Path, data) -> None:
    result = face01d("detect", data("face_recognition/test_images/obama.jpg"), "--gallery", tmp_path)
    assert result.returncode == 5 and "Traceback" not in result.stderr


def test_detect_two_thresholds_exits_3(tmp_path: Path, data) -> None:
    result = face01d("detect", data("face_recognition/test_images/obama.jpg"), "--gallery", data.knn_train,
                     "--tolerance", "0.5", "--similar-percentage", "99")
    assert result.returncode == 3 and "either tolerance or similar_percentage" in result.stderr


def test_gallery_list_round_trips_japanese_names(data) -> None:
    result = face01d("gallery", "list", data.face01_gallery)
    assert result.returncode == 0, result.stderr
    people = {record["name"]: record for record in json_lines(result.stdout)}
    assert set(people) == {"金正恩", "麻生太郎", "安倍晋三"}
    assert people["麻生太郎"]["images"] == 3
    assert people["金正恩"]["default"].endswith("金正恩_default.png")
    assert "金正恩" in result.stdout  # not \\u-escaped: readable in a pipe


def test_gallery_check_accepts_the_face01_sample_gallery(data) -> None:
    result = face01d("gallery", "check", data.face01_gallery)  # two tight crops only dlib's CNN finds
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gallery ok" in result.stdout


def test_gallery_check_reports_a_faceless_image(tmp_path: Path, data) -> None:
    shutil.copy(data.face01_images / "person1.png", tmp_path / "alice_1.png")
    shutil.copy(data.face01_images / "invalid_face_image.png", tmp_path / "bob_1.png")
    result = face01d("gallery", "check", tmp_path)
    assert result.returncode == 5
    assert "bob_1.png: no face found, left out" in result.stdout


def test_gallery_build_then_cached(tmp_path: Path, data) -> None:
    shutil.copy(data.face01_images / "person1.png", tmp_path / "alice_1.png")
    first = face01d("gallery", "build", tmp_path)
    assert first.returncode == 0, first.stderr
    assert "1 people, 1 encodings (1 encoded now)" in first.stdout
    second = face01d("gallery", "build", tmp_path)
    assert "(0 encoded now)" in second.stdout


def test_gallery_missing_folder_exits_5(tmp_path: Path) -> None:
    result = face01d("gallery", "build", tmp_path / "nope")
    assert result.returncode == 5 and "gallery folder not found" in result.stderr


def test_self_check_passes_here() -> None:
    result = face01d("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    for topic in ("python", "dlib", "mediapipe"):
        assert topic in result.stdout.lower()


def test_config_check_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mqtt]\npassword = 'hunter2'\n")
    result = face01d("config", "check", "-c", path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mqtt"]["password"] == "**********"
    assert "hunter2" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [("config", "check"), ("run",)])
@pytest.mark.parametrize("text, message", [
    (None, "config file not found"),
    ("[mqtt\n", "not valid TOML"),
    ("[mqtt]\nport = 'x'\n", "c.toml:2: mqtt.port"),
    ("[detector]\nkind = 'yolo'\n", "detector.kind"),
])
def test_config_errors_exit_3(tmp_path: Path, command: tuple[str, ...], text: str | None, message: str) -> None:
    path = tmp_path / "c.toml"
    if text is not None:
        path.write_text(text)
    result = face01d(*command, "-c", path)
    assert result.returncode == 3
    assert message in result.stderr and "Traceback" not in result.stderr


def test_the_detector_choices_of_the_command_line_are_the_config_kinds() -> None:
    """cli.py spells them out so that --help imports no pydantic; this keeps the two lists in step."""
    from face01d.cli import DETECTOR_KINDS
    from face01d.config.models import DetectorKind

    assert set(DETECTOR_KINDS) == {kind.value for kind in DetectorKind}
