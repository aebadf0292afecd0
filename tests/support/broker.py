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

__all__ = [
    "MOSQUITTO",
    "Mosquitto",
    "MqttRecorder",
    "Received",
    "TlsFiles",
    "free_port",
    "mosquitto",
    "mosquitto_auth",
    "mosquitto_tls",
    "MQTT_PASSWORD",
    "MQTT_USER",
    "mqtt_recorder",
]

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, folder: Path) -> TlsFiles:
        folder.mkdir(parents=True, exist_ok=True)
        ca, ca_key, cert, key, csr, ext = (folder / n for n in ("ca.crt", "ca.key", "server.crt", "server.key", "server.csr", "san.ext"))
        ext.write_text("subjectAltName=IP:127.0.0.1\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=face01d test CA")
        _openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
        _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        return cls(ca, cert, key)


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@dataclass
class Mosquitto:
    """One mosquitto process; restartable on the same port, like a real broker reboot."""

    workdir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    password_file: Path | None = None
    tls: TlsFiles | None = None
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
            self._client.tls_set(ca_certs=str(broker.tls.ca))

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


def _broker(tmp_path: Path, password_file: Path | None = None, tls: TlsFiles | None = None) -> Iterator[Mosquitto]:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir(exist_ok=True)
    broker = Mosquitto(workdir, password_file=password_file, tls=tls)
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
    password_file = tmp_path / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", str(password_file), MQTT_USER, MQTT_PASSWORD], check=True)
    password_file.chmod(0o600)
    yield from _broker(tmp_path, password_file)


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[Mosquitto]:
    """A mosquitto speaking only TLS; ``.tls.ca`` is the CA file clients need."""
    yield from _broker(tmp_path, tls=TlsFiles.create(tmp_path / "tls"))


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
