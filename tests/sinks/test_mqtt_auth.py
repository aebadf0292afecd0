"""Credentials: password files, refusals logged once, no retry storm, no leaks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys

import pytest
import structlog
from mqtt_helpers import NODE, fast_timing, make_event, make_sink, wait_until  # noqa: F401
from support.broker import MQTT_PASSWORD, MQTT_USER

from face01d.errors import ConfigError

WRONG_PASSWORD = "wrong-Pa55word-xyzzy"
PAHO_LOGGER = "mqtt"  # aiomqtt hands paho this logger and sets it to WARNING


def _capture_all_stdlib_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=PAHO_LOGGER)


async def test_password_file_is_read_and_accepted(mosquitto_auth, mqtt_recorder, make_sink, tmp_path):
    secret = tmp_path / "mqtt.secret"
    secret.write_text(MQTT_PASSWORD + "\n")
    sink = make_sink(mosquitto_auth.port, username=MQTT_USER, password_file=secret)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    recorder = mqtt_recorder(mosquitto_auth, f"face01/{NODE}/status", auth=(MQTT_USER, MQTT_PASSWORD))
    assert [(m.text, m.retain) for m in await recorder.wait_for(lambda ms: ms)] == [("online", True)]


async def test_missing_password_file_is_a_clear_error(make_sink, tmp_path):
    missing = tmp_path / "nope" / "mqtt.secret"
    sink = make_sink(1883, username=MQTT_USER, password_file=missing)
    with pytest.raises(ConfigError, match=str(missing)):
        await sink.start()


async def test_bad_password_logs_one_error_and_does_not_hammer(mosquitto_auth, make_sink, caplog):
    _capture_all_stdlib_logs(caplog)
    sink = make_sink(mosquitto_auth.port, username=MQTT_USER, password=WRONG_PASSWORD)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["attempts"] >= 1 and any(e["event"] == "mqtt.auth_failed" for e in logs))
        await asyncio.sleep(1.5)  # with RECONNECT_MIN_S = 0.05 a storm would show here
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert [entry["event"] for entry in errors] == ["mqtt.auth_failed"]
    assert errors[0]["username"] == MQTT_USER
    assert sink.stats["attempts"] == 1 and not sink.stats["connected"]
    assert mosquitto_auth.count_log("Sending CONNACK") == 1  # the broker saw one CONNECT
    everything = repr(logs) + caplog.text + mosquitto_auth.log()
    assert WRONG_PASSWORD not in everything and MQTT_PASSWORD not in everything


async def test_auth_retry_happens_rarely(mosquitto_auth, make_sink, monkeypatch):
    from face01d.sinks import mqtt

    monkeypatch.setattr(mqtt, "AUTH_RETRY_S", 0.5)
    sink = make_sink(mosquitto_auth.port, username=MQTT_USER, password=WRONG_PASSWORD)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["attempts"] >= 3, timeout=5.0)
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == ["mqtt.auth_failed"]
    assert f"face01/{NODE}" not in repr([e for e in logs if e["log_level"] == "error"])


def test_only_a_connack_refusal_counts_as_bad_credentials():
    from aiomqtt import MqttCodeError
    from aiomqtt.exceptions import MqttConnectError
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    from face01d.sinks.link import is_auth_refusal

    assert is_auth_refusal(MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=134)))
    assert is_auth_refusal(MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=135)))
    assert is_auth_refusal(MqttConnectError(5))
    assert not is_auth_refusal(MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=136)))  # server unavailable
    assert not is_auth_refusal(MqttCodeError(4, "Could not publish message"))  # paho: not connected


@pytest.mark.parametrize("how", ["password", "password_file", "wrong password"])
async def test_the_password_is_in_no_log_line(mosquitto_auth, make_sink, caplog, tmp_path, how):
    """structlog's lines and every stdlib logger at DEBUG (paho's "mqtt" included), through a
    connect, an event, a broker restart and a stop — or a refusal."""
    _capture_all_stdlib_logs(caplog)
    password = WRONG_PASSWORD if how == "wrong password" else MQTT_PASSWORD
    credentials: dict[str, object] = {"password": password}
    if how == "password_file":
        (secret := tmp_path / "mqtt.secret").write_text(password + "\n")
        credentials = {"password_file": secret}
    sink = make_sink(mosquitto_auth.port, username=MQTT_USER, **credentials)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        if how == "wrong password":
            await wait_until(lambda: any(e["event"] == "mqtt.auth_failed" for e in logs))
        else:
            await _connect_publish_and_reconnect(sink, mosquitto_auth)
        await sink.stop(timeout=2.0)
    everything = repr(logs) + caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert "Sending CONNECT" in caplog.text  # paho's own debug lines were captured
    assert password not in everything


async def _connect_publish_and_reconnect(sink, broker) -> None:
    await wait_until(lambda: sink.stats["connected"])
    sink.publish_event(make_event(1))
    await wait_until(lambda: sink.stats["outbox"] == 0)
    broker.kill()
    await wait_until(lambda: not sink.stats["connected"])
    broker.start()
    await wait_until(lambda: sink.stats["connected"] and sink.stats["reconnects"] == 1)


def test_config_check_masks_the_password(tmp_path, monkeypatch):
    """``face01d config check`` prints the effective settings: the password as asterisks,
    whether it came from the file or from FACE01D_MQTT__PASSWORD."""
    (path := tmp_path / "face01d.toml").write_text(f'[mqtt]\nusername = "{MQTT_USER}"\npassword = "{MQTT_PASSWORD}"\n')
    from_env = {**os.environ, "FACE01D_MQTT__PASSWORD": WRONG_PASSWORD}
    for config_path, env in ((path, None), (tmp_path / "empty.toml", from_env)):
        config_path.touch()
        result = subprocess.run([sys.executable, "-m", "face01d", "config", "check", "-c", str(config_path)],
                                capture_output=True, text=True, env=env, timeout=60)
        settings = json.loads(result.stdout)["mqtt"]
        assert settings["password"] == "**********", result.stdout
        output = result.stdout + result.stderr
        assert MQTT_PASSWORD not in output and WRONG_PASSWORD not in output
