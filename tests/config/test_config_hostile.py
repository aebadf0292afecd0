"""Hostile or careless configs: each gets one clear ConfigError naming the file or key, never a traceback."""

from __future__ import annotations

import pytest

from face01d.config.loader import load_config, no_camera_problem, require_enabled_camera
from face01d.errors import ConfigError, ExitCode


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_directory_is_not_a_config_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: is a directory, not a config file$") as caught:
        load_config(tmp_path)
    assert caught.value.exit_code is ExitCode.CONFIG


@pytest.mark.parametrize("text, key", [
    ("[[cameras]]\nname = 'a'\nsource = 'a.mp4'\nenabled = 'yes'\n", r":4: cameras\.0\.enabled"),
    ("[snapshots]\nsave_frame = 1\n", r":2: snapshots\.save_frame"),
    ("[mqtt]\ntls = 'true'\n", r":2: mqtt\.tls"),
])
def test_booleans_are_strict(tmp_path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}: Input should be true or false"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("value, expected", [("true", True), ("FALSE", False), (" True ", True)])
def test_environment_booleans_are_read_as_toml_would(tmp_path, monkeypatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("FACE01D_SNAPSHOTS__SAVE_FRAME", value)
    monkeypatch.setenv("FACE01D_MQTT__TLS", value)
    config = load_config(write(tmp_path, "[snapshots]\nsave_frame = false\n"))
    assert config.snapshots.save_frame is expected and config.mqtt.tls is expected


def test_an_environment_boolean_other_than_true_or_false_names_the_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FACE01D_SNAPSHOTS__ENABLED", "yes")
    with pytest.raises(ConfigError, match="environment FACE01D_SNAPSHOTS__ENABLED: snapshots.enabled"):
        load_config(write(tmp_path, ""))


def test_environment_strings_stay_strings(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FACE01D_DAEMON__NODE_ID", "true")  # a str key: "true" is a name here
    monkeypatch.setenv("FACE01D_MQTT__PASSWORD", "12345")
    config = load_config(write(tmp_path, ""))
    assert config.daemon.node_id == "true"
    assert config.mqtt.password is not None and config.mqtt.password.get_secret_value() == "12345"


@pytest.mark.parametrize("node_id", ["p/#+", "a+b", "#", ".x", "tab\there", " pad"])
def test_node_id_follows_the_camera_name_rules(tmp_path, node_id: str) -> None:
    text = f"[daemon]\nnode_id = {node_id!r}\n".replace("'tab\\there'", '"tab\\there"')
    with pytest.raises(ConfigError, match=r":2: daemon\.node_id: Value error, must not contain"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("text, problem", [
    ("", "no [[cameras]] table"),
    ("[gallery]\npath = 'people'\n", "no [[cameras]] table"),
    ("[[cameras]]\nname = 'a'\nsource = 'a.mp4'\nenabled = false\n", "every camera has enabled = false"),
])
def test_nothing_to_watch_is_an_error_for_run(tmp_path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    config = load_config(path)  # valid as such: `config check` only warns
    assert problem in (no_camera_problem(config) or "")
    with pytest.raises(ConfigError, match=rf"^{path}: cameras: .*nothing to watch") as caught:
        require_enabled_camera(config, path)
    assert caught.value.exit_code is ExitCode.CONFIG


def test_one_enabled_camera_is_enough(tmp_path) -> None:
    text = "[[cameras]]\nname = 'a'\nsource = 'a.mp4'\nenabled = false\n[[cameras]]\nname = 'b'\nsource = 'b.mp4'\n"
    config = load_config(write(tmp_path, text))
    assert no_camera_problem(config) is None
    require_enabled_camera(config, None)


@pytest.mark.parametrize("text, key", [
    ('[gallery]\npath = "a\\u0000b"\n', r":2: gallery\.path: not a usable path"),
    ('[[cameras]]\nname = "a"\nsource = "v\\u0000.mp4"\n', r":3: cameras\.0\.source: not a usable path"),
    ('[[cameras]]\nname = "a"\nsource = "rtsp://h/s"\npassword_file = "p\\u0000"\n',
     r":4: cameras\.0\.password_file: not a usable path"),
])
def test_unusable_paths_name_the_key(tmp_path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, text))
