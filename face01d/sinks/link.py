"""What the MQTT sink's connection task asks of the broker link, holding no state.

Apart from ``mqtt.py`` so that the sink there reads as its connection loop
and state: how the credentials are read, whether a refused CONNECT was for
them (retry rarely) or not (back off), and when a connection has dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiomqtt
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.client import MQTT_LOG_ERR

from face01d.backoff import Backoff
from face01d.config.models import MqttConfig
from face01d.errors import ConfigError

PUBLISH_OVERHEAD = 1 + 4 + 2 + 2 + 4 + 5  # fixed header, length, topic length, packet id, properties, expiry

log = structlog.get_logger("face01d.sinks.mqtt")

# CONNACK codes meaning "your credentials are wrong": MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_AUTH_REFUSED = frozenset({4, 5, 134, 135})


def reason(exc: BaseException | None) -> str:
    """The underlying cause: aiomqtt wraps a dropped connection in a generic message."""
    return str(exc.__cause__ or exc) if exc is not None else "unexpected error"


def is_auth_refusal(exc: aiomqtt.MqttError) -> bool:
    """True when the broker refused the CONNECT for the credentials.

    Only a CONNACK counts: paho's own error numbers overlap (4 is also
    "not connected" when a publish meets a dropped connection).
    """
    rc = getattr(exc, "rc", None)
    return isinstance(exc, MqttConnectError) and getattr(rc, "value", rc) in _AUTH_REFUSED


async def load_password(config: MqttConfig) -> str | None:
    """The configured password, or ``password_file``'s first line; ConfigError if unreadable."""
    path = config.password_file
    if path is None:
        return None if config.password is None else config.password.get_secret_value()
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"mqtt password_file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"mqtt password_file unreadable: {path}: {exc.strerror}") from None
    return text.rstrip("\r\n")


async def check_tls_files(config: MqttConfig) -> None:
    """Read each configured TLS file once at start; ConfigError naming the key and the file.

    paho opens them on every connect and reports a missing one as a bare
    "No such file or directory", as a broker outage retried forever.
    """
    if not config.tls:
        return
    for key in ("ca_file", "certfile", "keyfile", "keyfile_password_file"):
        path = getattr(config, key)
        if path is None:
            continue
        try:
            await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ConfigError(f"mqtt {key} unreadable: {path}: {exc.strerror}") from None


def tls_parameters(config: MqttConfig) -> aiomqtt.TLSParameters | None:
    """TLS for the broker link: the CA to trust and, for mTLS, the client certificate and key.

    The key's passphrase is a callable: OpenSSL calls it only for an encrypted
    key, and without one it would prompt on the terminal (or fail with a bare
    EINVAL under systemd). An OSError from it reaches the log as the reason.
    """
    if not config.tls:
        return None

    def passphrase() -> str:
        path = config.keyfile_password_file
        if path is None:
            raise OSError(f"keyfile {config.keyfile} is encrypted: set keyfile_password_file")
        if not (line := next(iter(path.read_text(encoding="utf-8").splitlines()), "")):
            raise OSError(f"keyfile_password_file {path} is empty")
        return line

    return aiomqtt.TLSParameters(
        ca_certs=str(config.ca_file) if config.ca_file else None,
        certfile=str(config.certfile) if config.certfile else None,
        keyfile=str(config.keyfile) if config.keyfile else None,
        keyfile_password=passphrase if config.keyfile else None,  # type: ignore[arg-type]
    )


class BrokerClient(aiomqtt.Client):
    """aiomqtt's client, keeping what aiomqtt drops: the MQTT 5 Maximum Packet Size of
    the broker's CONNACK, a PUBACK's failure reason code, and why a connection closed
    before its CONNACK.

    A broker closes the connection on a packet over its maximum (0x95);
    knowing the limit, the sink sets such a message aside before sending it,
    instead of recognising it after a reconnect per attempt. A PUBACK of 0x87
    (an ACL denies the topic) must not count as delivered. A broker that
    closes a new connection (mTLS: no or an untrusted client certificate) would
    otherwise leave the connect waiting for its whole timeout, with the TLS
    reason only in paho's own log.
    """

    maximum_packet_size: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self._refused: dict[int, Any] = {}  # mid → the PUBACK's failure reason code
        self._socket_error: str | None = None  # paho's last error, e.g. the TLS alert
        self._client.on_log = self._on_log

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,  # noqa: ANN401
                    properties: Any = None) -> None:
        size = getattr(properties, "MaximumPacketSize", None)
        self.maximum_packet_size = int(size) if size else None
        super()._on_connect(client, userdata, flags, reason_code, properties)

    def _on_log(self, client: Any, userdata: Any, level: int, message: str) -> None:  # noqa: ANN401
        if level == MQTT_LOG_ERR:
            self._socket_error = message

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,  # noqa: ANN401
                       properties: Any = None) -> None:
        if not self._connected.done():
            why = self._socket_error or f"closed before CONNACK: {reason_code}"
            self._connected.set_exception(aiomqtt.MqttError(why))
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any,  # noqa: ANN401
                    properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            self._refused[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    @contextlib.contextmanager
    def _pending_call(self, mid: int, value: Any, pending_dict: dict[int, Any]) -> Iterator[None]:  # noqa: ANN401
        """aiomqtt's ``publish`` waits for its PUBACK inside this: raise there for a refused one."""
        try:
            with super()._pending_call(mid, value, pending_dict):
                yield
        finally:
            refused = self._refused.pop(mid, None)
        if refused is not None:
            raise PublishRefused(f"the broker refused it: {refused} (0x{refused.value:02X})")


class MessageRefused(ValueError):
    """A message the broker will not take: set it aside, keep the connection."""


class PacketTooLarge(MessageRefused):
    """A message over the broker's maximum packet size, refused before sending it."""


class PublishRefused(MessageRefused):
    """A PUBACK with a failure reason code, e.g. 0x87 Not authorized (an ACL denies the topic)."""


def check_packet_size(client: aiomqtt.Client, topic: str, payload: bytes) -> None:
    """Raise ``PacketTooLarge`` when the PUBLISH would exceed the broker's maximum (an upper bound of its size)."""
    limit = getattr(client, "maximum_packet_size", None)
    size = PUBLISH_OVERHEAD + len(topic.encode("utf-8")) + len(payload)
    if limit is not None and size > limit:
        raise PacketTooLarge(f"{size} bytes is over the broker's maximum packet size of {limit}")


class Outages:
    """How a lost or refused connection is told: one line per outage at full level (an
    error for bad credentials, else a warning), the repeats at debug; and how long to wait."""

    def __init__(self, config: MqttConfig, backoff: Backoff) -> None:
        self._config = config
        self._backoff = backoff
        self._logged: str | None = None  # the outage already logged at full level

    def failed(self, exc: aiomqtt.MqttError | None, was_connected: bool) -> float:
        """Log this failure; the seconds to wait before the next attempt."""
        if exc is not None and is_auth_refusal(exc):
            delay = self._backoff.auth_delay()
            self._log("mqtt.auth_failed", exc, delay, error=True)
            return delay
        delay = self._backoff.next_delay()
        self._log("mqtt.connection_lost" if was_connected else "mqtt.unreachable", exc, delay, error=False)
        return delay

    def connected(self) -> None:
        self._backoff.reset()
        self._logged = None

    def _log(self, event: str, exc: BaseException | None, retry_in: float, *, error: bool) -> None:
        fields = {"host": self._config.host, "port": self._config.port, "reason": reason(exc),
                  "retry_in_s": round(retry_in, 2)}
        if self._logged == event:
            log.debug(event, **fields)
            return
        self._logged = event
        if error:
            log.error(event, username=self._config.username, **fields)
        else:
            log.warning(event, **fields)

