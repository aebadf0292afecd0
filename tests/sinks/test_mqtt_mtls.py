"""Mutual TLS: the sink shows a client certificate (``certfile`` / ``keyfile``) to a broker that requires one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import structlog
from mqtt_helpers import NODE, fast_timing, make_event, make_sink, wait_until  # noqa: F401
from pydantic import ValidationError
from support.broker import Mosquitto, TlsFiles

from face01d.config.loader import load_config
from face01d.config.models import MqttConfig
from face01d.errors import ConfigError

WATCH_S = 1.5  # long enough for a retry storm to show with RECONNECT_MIN_S = 0.05
STORM_ATTEMPTS = 40  # far more attempts than full-jitter backoff makes in WATCH_S
PASSPHRASE = "k3y-Passphrase-plugh"


def _client_cert(broker: Mosquitto, files: TlsFiles | None = None) -> dict[str, object]:
    files = files or broker.tls
    return {"tls": True, "ca_file": broker.tls.ca, "certfile": files.client_cert, "keyfile": files.client_key}


async def test_connects_and_publishes_with_a_client_certificate(mosquitto_mtls, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto_mtls.port, **_client_cert(mosquitto_mtls))
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    recorder = mqtt_recorder(mosquitto_mtls, f"face01/{NODE}/#")
    sink.publish_event(make_event(1))
    messages = await recorder.wait_for(lambda ms: any(m.topic.endswith("/door/event") for m in ms))
    assert (f"face01/{NODE}/status", "online") in [(m.topic, m.text) for m in messages]


@pytest.mark.parametrize(("certificate", "why"), [("none", "certificate required"), ("other CA", "unknown ca")])
async def test_a_missing_or_foreign_client_certificate_is_refused_once_and_backed_off(
    mosquitto_mtls, make_sink, tmp_path, certificate, why
):
    if certificate == "none":
        config = {"tls": True, "ca_file": mosquitto_mtls.tls.ca}
    else:
        config = _client_cert(mosquitto_mtls, TlsFiles.create(tmp_path / "stranger"))
    sink = make_sink(mosquitto_mtls.port, **config)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["attempts"] >= 2, timeout=4.0)
        await asyncio.sleep(WATCH_S)
    assert not sink.stats["connected"] and sink.stats["attempts"] < STORM_ATTEMPTS
    loud = [e for e in logs if e["log_level"] in ("warning", "error")]
    assert [e["event"] for e in loud] == ["mqtt.unreachable"], loud
    # The broker's TLS alert names the cause; with TLS 1.3 the client's handshake is over before the broker
    # checks its certificate, so an attempt may read the broker's close ("EOF occurred") before the alert.
    reasons = [e["reason"].lower() for e in logs if e["event"] == "mqtt.unreachable"]
    assert any(why in text for text in reasons), reasons


async def test_an_encrypted_key_is_opened_with_keyfile_password_file(mosquitto_mtls, make_sink, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    (secret := tmp_path / "key.pass").write_text(PASSPHRASE + "\n")
    config = {**_client_cert(mosquitto_mtls), "keyfile": mosquitto_mtls.tls.encrypted_client_key(PASSPHRASE)}
    sink = make_sink(mosquitto_mtls.port, keyfile_password_file=secret, **config)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["connected"])
    assert PASSPHRASE not in repr(logs) + caplog.text


async def test_an_encrypted_key_without_its_passphrase_is_one_clear_warning(mosquitto_mtls, make_sink):
    """OpenSSL would prompt on the terminal (or fail with a bare EINVAL without one): never ask it to."""
    config = {**_client_cert(mosquitto_mtls), "keyfile": mosquitto_mtls.tls.encrypted_client_key(PASSPHRASE)}
    sink = make_sink(mosquitto_mtls.port, **config)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["attempts"] >= 2)
        await asyncio.sleep(WATCH_S)
    assert not sink.stats["connected"] and sink.stats["attempts"] < STORM_ATTEMPTS
    loud = [e for e in logs if e["log_level"] in ("warning", "error")]
    assert [e["event"] for e in loud] == ["mqtt.unreachable"], loud
    assert "is encrypted: set keyfile_password_file" in loud[0]["reason"]


@pytest.mark.parametrize("key", ["certfile", "keyfile", "keyfile_password_file"])
async def test_a_missing_tls_file_is_a_clear_error_at_start(mosquitto_mtls, make_sink, tmp_path, key):
    missing = tmp_path / "nope" / f"{key}.pem"
    sink = make_sink(mosquitto_mtls.port, **{**_client_cert(mosquitto_mtls), key: missing})
    try:
        await sink.start()
    except ConfigError as error:
        assert key in str(error) and str(missing) in str(error)
    else:
        raise AssertionError("start() accepted a missing TLS file")


def test_certfile_and_keyfile_come_together_and_need_tls(tmp_path):
    cert, key = tmp_path / "c.crt", tmp_path / "c.key"
    assert MqttConfig(tls=True, certfile=cert, keyfile=key).certfile == cert
    with pytest.raises(ValidationError, match="set both certfile and keyfile"):
        MqttConfig(tls=True, certfile=cert)
    with pytest.raises(ValidationError, match="set both certfile and keyfile"):
        MqttConfig(tls=True, keyfile=key)
    with pytest.raises(ValidationError, match="need tls = true"):
        MqttConfig(certfile=cert, keyfile=key)
    with pytest.raises(ValidationError, match="keyfile_password_file without a keyfile"):
        MqttConfig(tls=True, keyfile_password_file=tmp_path / "key.pass")


def test_certificate_paths_are_relative_to_the_config_file(tmp_path: Path):
    folder = tmp_path / "etc"
    folder.mkdir()
    (path := folder / "face01d.toml").write_text(
        '[mqtt]\ntls = true\nca_file = "tls/ca.crt"\ncertfile = "tls/node.crt"\nkeyfile = "tls/node.key"\n'
        'keyfile_password_file = "tls/node.pass"\n'
    )
    mqtt = load_config(path).mqtt
    files = (mqtt.ca_file, mqtt.certfile, mqtt.keyfile, mqtt.keyfile_password_file)
    assert files == tuple(folder / "tls" / name for name in ("ca.crt", "node.crt", "node.key", "node.pass"))
