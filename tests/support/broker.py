"""Mosquitto broker fixtures: a real broker per test on a free loopback port.

No mocked broker: retained messages, Last Will, message expiry and CONNACK
refusals are the broker's behaviour, and that is what the sink relies on.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.ports import free_port

__all__ = [
    "MOSQUITTO",
    "Mosquitto",
    "MqttRecorder",
    "Received",
    "TlsFiles",
    "free_port",
    "write_password_file",
    "mosquitto",
    "mosquitto_acl",
    "mosquitto_auth",
    "mosquitto_mtls",
    "mosquitto_tls",
    "HA_PASSWORD",
    "HA_USER",
    "MQTT_PASSWORD",
    "MQTT_USER",
    "mqtt_recorder",
]

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
START_TIMEOUT_S = 10.0


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
CLIENT_CN = "face01d-node1"  # the client certificate's subject (mosquitto's use_identity_as_username would use it)


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate (mTLS), both signed by it."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def create(cls, folder: Path) -> TlsFiles:
        folder.mkdir(parents=True, exist_ok=True)
        ca, ca_key, ext = folder / "ca.crt", folder / "ca.key", folder / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        _openssl("req", "-x509", *_EC_KEY, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=face01d test CA")
        cert, key = _signed(folder, "server", "/CN=127.0.0.1", ca, ca_key, ext)
        (client_ext := folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        client_cert, client_key = _signed(folder, "client", f"/CN={CLIENT_CN}", ca, ca_key, client_ext)
        return cls(ca, cert, key, client_cert, client_key)

    def encrypted_client_key(self, passphrase: str) -> Path:
        """The client key again, encrypted (AES-256) with ``passphrase``."""
        encrypted = self.client_key.with_name("client-encrypted.key")
        _openssl("pkey", "-in", self.client_key, "-aes256", "-passout", f"pass:{passphrase}", "-out", encrypted)
        return encrypted


def _signed(folder: Path, name: str, subject: str, ca: Path, ca_key: Path, ext: Path) -> tuple[Path, Path]:
    """A new key and a certificate for it, signed by the CA: ``(cert, key)``."""
    cert, key, csr = folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.csr"
    _openssl("req", *_EC_KEY, "-keyout", key, "-out", csr, "-subj", subject)
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
             "-extfile", ext)
    return cert, key


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def write_password_file(path: Path, users: dict[str, str]) -> Path:
    """A mosquitto password file (0600) holding ``{user: password}``."""
    path.unlink(missing_ok=True)
    for user, password in users.items():
        create = ["-c"] if not path.exists() else []
        subprocess.run([MOSQUITTO_PASSWD, *create, "-b", str(path), user, password], check=True)
    path.chmod(0o600)
    return path


@dataclass
class Mosquitto:
    """One mosquitto process; restartable on the same port, like a real broker reboot."""

    workdir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    password_file: Path | None = None
    tls: TlsFiles | None = None
    require_certificate: bool = False  # mTLS: refuse clients without a certificate signed by ``tls.ca``
    acl_file: Path | None = None  # mosquitto's acl_file: with it, only what it grants is allowed
    process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type all",
            "user root",
        ]
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca}", f"certfile {self.tls.cert}", f"keyfile {self.tls.key}"]
            lines.append(f"require_certificate {str(self.require_certificate).lower()}")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        """Start (or restart) and wait until the port accepts connections."""
        self._write_conf()
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not start on port {self.port}: {self.log()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM) and wait for the port to close."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def count_log(self, text: str) -> int:
        """How often the broker logged ``text`` — e.g. connection attempts."""
        return self.log().count(text)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    properties: Any
    at: float  # time.monotonic() on receipt

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    @property
    def expiry(self) -> int | None:
        return getattr(self.properties, "MessageExpiryInterval", None)


class MqttRecorder:
    """A real paho MQTT 5 client that records every message matching ``topic_filter``."""

    def __init__(
        self, broker: Mosquitto, topic_filter: str = "#", client_id: str = "", auth: tuple[str, str] | None = None
    ) -> None:
        self.broker = broker
        self.topic_filter = topic_filter
        self._messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        if auth is not None:
            self._client.username_pw_set(*auth)
        if broker.tls is not None:
            files = broker.tls
            cert = (str(files.client_cert), str(files.client_key)) if broker.require_certificate else (None, None)
            self._client.tls_set(str(files.ca), *cert)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.subscribe(self.topic_filter, qos=2)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        item = Received(message.topic, message.payload, bool(message.retain), message.qos, message.properties, time.monotonic())
        with self._lock:
            self._messages.append(item)

    def connect(self, timeout: float = 10.0) -> MqttRecorder:
        """Connect and return once the subscription is acknowledged."""
        self._client.connect(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"recorder not subscribed to {self.topic_filter!r} within {timeout} s")
        return self

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None:
        """Say something as this client, e.g. Home Assistant's birth message."""
        self._client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(timeout=5.0)

    def messages(self, topic_prefix: str = "") -> list[Received]:
        with self._lock:
            return [m for m in self._messages if m.topic.startswith(topic_prefix)]

    def payloads(self, topic: str) -> list[str]:
        return [m.text for m in self.messages() if m.topic == topic]

    async def wait_for(self, predicate: Callable[[list[Received]], Any], timeout: float = 10.0) -> list[Received]:
        """Poll (without blocking the event loop) until ``predicate(messages)`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.messages()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s; received: {self._summary()}")
            await asyncio.sleep(0.02)
        return self.messages()

    def wait_for_sync(self, predicate: Callable[[list[Received]], Any], timeout: float = 10.0) -> list[Received]:
        """The blocking twin of ``wait_for``, for tests without an event loop."""
        deadline = time.monotonic() + timeout
        while not predicate(self.messages()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s; received: {self._summary()}")
            time.sleep(0.02)
        return self.messages()

    def _summary(self) -> list[tuple[str, bytes, bool]]:
        return [(m.topic, m.payload[:80], m.retain) for m in self.messages()]


def _broker(tmp_path: Path, password_file: Path | None = None, tls: TlsFiles | None = None,
            **options: Any) -> Iterator[Mosquitto]:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir(exist_ok=True)
    broker = Mosquitto(workdir, password_file=password_file, tls=tls, **options)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """An anonymous mosquitto on a free 127.0.0.1 port."""
    yield from _broker(tmp_path)


MQTT_USER = "face01d"
MQTT_PASSWORD = "s3cret-Pa55"


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[Mosquitto]:
    """A mosquitto that only accepts MQTT_USER / MQTT_PASSWORD (see those constants)."""
    yield from _broker(tmp_path, write_password_file(tmp_path / "passwd", {MQTT_USER: MQTT_PASSWORD}))


HA_USER = "homeassistant"
HA_PASSWORD = "h0me-Ass1stant"


@pytest.fixture
def mosquitto_acl(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Factory: ``mosquitto_acl(acl_text, users={...})`` → a started mosquitto with that
    ``acl_file`` and a password file of MQTT_USER, HA_USER and ``users``; killed at teardown."""
    brokers: list[Mosquitto] = []

    def make(acl: str, users: dict[str, str] | None = None) -> Mosquitto:
        workdir = tmp_path / f"mosquitto-acl-{len(brokers)}"
        workdir.mkdir()
        (acl_file := workdir / "acl").write_text(acl)
        users = {MQTT_USER: MQTT_PASSWORD, HA_USER: HA_PASSWORD, **(users or {})}
        broker = Mosquitto(workdir, password_file=write_password_file(workdir / "passwd", users), acl_file=acl_file)
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[Mosquitto]:
    """A mosquitto speaking only TLS; ``.tls.ca`` is the CA file clients need."""
    yield from _broker(tmp_path, tls=TlsFiles.create(tmp_path / "tls"))


@pytest.fixture
def mosquitto_mtls(tmp_path: Path) -> Iterator[Mosquitto]:
    """TLS with ``require_certificate``: clients need ``.tls.client_cert`` / ``.tls.client_key``."""
    yield from _broker(tmp_path, tls=TlsFiles.create(tmp_path / "tls"), require_certificate=True)


@pytest.fixture
def mqtt_recorder() -> Iterator[Callable[..., MqttRecorder]]:
    """Factory: ``mqtt_recorder(broker, "face01/#")`` → a connected recorder, closed at teardown."""
    recorders: list[MqttRecorder] = []

    def make(broker: Mosquitto, topic_filter: str = "#", client_id: str = "", auth: tuple[str, str] | None = None) -> MqttRecorder:
        recorder = MqttRecorder(broker, topic_filter, client_id, auth)
        recorders.append(recorder)
        return recorder.connect()

    yield make
    for recorder in recorders:
        recorder.close()
