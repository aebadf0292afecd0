"""Config loading: validation errors name file, line and key; env overrides; masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from face01d.config.loader import load_config, masked
from face01d.config.models import CameraKind, Config
from face01d.errors import ConfigError, ExitCode

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO_ROOT / "config.toml")
    assert config.cameras[0].kind is CameraKind.FILE
    assert config.gallery.path.is_absolute()


def test_defaults_without_a_file() -> None:
    assert load_config(None) == Config.model_validate(load_config(None).model_dump())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nport = \n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML: .*line 2"):
        load_config(path)


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[daemon]\nnode_id = 'x'\n\n[mqtt]\nhost = 'h'\nport = 'abc'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:6: mqtt.port:" in str(caught.value)
    assert caught.value.exit_code is ExitCode.CONFIG


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[detector]\nupsample = 2\n")
    with pytest.raises(ConfigError, match=r"detector\.upsample: Extra inputs are not permitted"):
        load_config(path)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mqqt"):
        load_config(write(tmp_path, "[mqqt]\nhost = 'x'\n"))


def test_both_thresholds_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[gallery]\ntolerance = 0.5\nsimilar_percentage = 99.1\n")
    with pytest.raises(ConfigError, match="either tolerance or similar_percentage"):
        load_config(path)


def test_http_camera_needs_kind_and_error_points_at_its_table(tmp_path: Path) -> None:
    text = "[[cameras]]\nname='a'\nsource='a.mp4'\n\n[[cameras]]\nname='b'\nsource='http://cam/x'\n"
    with pytest.raises(ConfigError, match=r":5: cameras\.1: .*kind = 'mjpeg' or kind = 'snapshot'"):
        load_config(write(tmp_path, text))


def test_duplicate_camera_names(tmp_path: Path) -> None:
    text = "[[cameras]]\nname='a'\nsource='a.mp4'\n[[cameras]]\nname='a'\nsource='b.mp4'\n"
    with pytest.raises(ConfigError, match="camera names must be unique: a"):
        load_config(write(tmp_path, text))


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[gallery]\npath='people'\n[[cameras]]\nname='a'\nsource='v.mp4'\n")
    config = load_config(path)
    assert config.gallery.path == tmp_path / "people"
    assert config.cameras[0].source == str(tmp_path / "v.mp4")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[mqtt]\nport = 1883\npassword = 'from-file'\n")
    monkeypatch.setenv("FACE01D_MQTT__PASSWORD", "from-env")
    monkeypatch.setenv("FACE01D_MQTT__PORT", "1999")
    config = load_config(path)
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "from-env"
    assert config.mqtt.port == 1999


def test_bad_environment_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE01D_WORKERS__THREADS", "many")
    with pytest.raises(ConfigError, match="environment FACE01D_WORKERS__THREADS: workers.threads"):
        load_config(write(tmp_path, ""))


def test_masked_hides_secrets(tmp_path: Path) -> None:
    text = "[mqtt]\npassword='hunter2'\n[[cameras]]\nname='a'\nsource='rtsp://h/s'\npassword='cam-secret'\n"
    dumped = json.dumps(masked(load_config(write(tmp_path, text))))
    assert "hunter2" not in dumped and "cam-secret" not in dumped
    assert "**********" in dumped


def test_similar_percentage_sets_tolerance(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[gallery]\nsimilar_percentage = 99.1\n"))
    assert config.gallery.effective_tolerance == pytest.approx(0.3966, abs=1e-3)


def test_camera_password_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "cam.secret").write_text("s3cret\n")
    text = "[[cameras]]\nname='a'\nsource='rtsp://h/s'\nusername='u'\npassword_file='cam.secret'\n"
    camera = load_config(write(tmp_path, text)).cameras[0]
    assert camera.password is not None and camera.password.get_secret_value() == "s3cret"


def test_missing_camera_password_file_names_it(tmp_path: Path) -> None:
    text = "[[cameras]]\nname='a'\nsource='rtsp://h/s'\npassword_file='nope.secret'\n"
    with pytest.raises(ConfigError, match=r"nope\.secret: cannot read the password file of camera a"):
        load_config(write(tmp_path, text))


def test_camera_password_and_password_file_is_an_error(tmp_path: Path) -> None:
    text = "[[cameras]]\nname='a'\nsource='rtsp://h/s'\npassword='x'\npassword_file='y'\n"
    with pytest.raises(ConfigError, match="either password or password_file"):
        load_config(write(tmp_path, text))


def test_masked_hides_passwords_inside_camera_urls(tmp_path: Path) -> None:
    text = ("[[cameras]]\nname='a'\nsource='rtsp://admin:hunter2@10.0.0.5/s'\n"
            "[[cameras]]\nname='b'\nkind='snapshot'\nsource='http://cam/snap.cgi?user=admin&pwd=hunter3'\n")
    dumped = json.dumps(masked(load_config(write(tmp_path, text))))
    assert "hunter2" not in dumped and "hunter3" not in dumped
    assert "rtsp://admin:***@10.0.0.5/s" in dumped and "user=admin" in dumped


@pytest.mark.parametrize("name", ["front/door", "a+b", "a#", ".hidden", "tab\there", " padded"])
def test_camera_names_must_be_usable_as_topic_and_folder(tmp_path: Path, name: str) -> None:
    text = f"[[cameras]]\nname = {json.dumps(name)}\nsource = 'a.mp4'\n"
    with pytest.raises(ConfigError, match=r"cameras\.0\.name: Value error, must not contain"):
        load_config(write(tmp_path, text))


def test_japanese_camera_names_are_fine(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[[cameras]]\nname = '玄関'\nsource = 'a.mp4'\n")).cameras[0].name == "玄関"
