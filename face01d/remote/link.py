"""The broker connections of remote encoding, built on the MQTT sink's link.

Node and worker each hold one MQTT 5 connection of their own, beside (not
inside) the sink's, but with the same TLS, credentials and error handling
(``face01d.sinks.link``): one way to reach a broker in face01d. A worker's
connection acknowledges a job only when its answer is out (manual PUBACK),
so the broker, honouring the worker's Receive Maximum, never hands it more
jobs than it runs at once, and a worker that dies mid-job takes no job
silently with it: the node resends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.backoff import AUTH_RETRY_S, Backoff
from face01d.config.models import MqttConfig
from face01d.sinks.link import BrokerClient, Outages, check_tls_files, load_password, tls_parameters

log = structlog.get_logger(__name__)

# Module level so tests can shorten them.
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
CLIENT_TIMEOUT_S = 10.0
# Jobs and answers are request and reply: with Nagle's algorithm, a small packet waits for the
# peer's delayed ACK (40 ms on Linux) at each hop; measured on loopback, a 1 kB round trip
# through mosquitto took 88 ms without TCP_NODELAY, 1 ms with it here and set_tcp_nodelay in mosquitto.
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


class JobClient(BrokerClient):
    """The sink's client, with MQTT 5 Receive Maximum and, for workers, acknowledgement by hand."""

    def __init__(self, *args: object, receive_maximum: int | None = None, **kwargs: object) -> None:
        if receive_maximum is not None:
            properties = Properties(PacketTypes.CONNECT)
            properties.ReceiveMaximum = receive_maximum
            kwargs["properties"] = properties
        super().__init__(*args, **kwargs)
        if receive_maximum is not None:
            self._client.manual_ack_set(True)

    async def subscribe_or_fail(self, topic: str) -> None:
        """Subscribe at QoS 1; a refusal (an ACL: 0x87) is an MqttError, so the link says it and tries again
        later, rather than sitting connected and deaf."""
        codes = await self.subscribe(topic, qos=1)
        refused = [code for code in codes if getattr(code, "is_failure", False) or (isinstance(code, int) and code > 2)]
        if refused:
            raise aiomqtt.MqttError(f"the broker refused the subscription to {topic}: {refused[0]}")

    def ack(self, message: aiomqtt.Message) -> None:
        """PUBACK a QoS 1 job now that it is answered (or refused): the broker may send the next."""
        if message.qos == 1:
            self._client.ack(message.mid, 1)


class Link:
    """One connection kept up in the background: ``session(client)`` runs while connected.

    The session raises MqttError when the connection drops; the link logs
    it once per outage (the sink's ``Outages``), waits with full jitter and
    connects again, until ``stop``.
    """

    def __init__(self, config: MqttConfig, client_id: str, will: aiomqtt.Will | None = None,
                 receive_maximum: int | None = None) -> None:
        self._config = config
        self.client_id = client_id
        self._will = will
        self._receive_maximum = receive_maximum
        self._password: str | None = None
        self._outages = Outages(config, Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S, AUTH_RETRY_S))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.client: JobClient | None = None  # the connected client, None between connections

    async def start(self, session: Callable[[JobClient], Awaitable[None]]) -> None:
        """Read the credentials and TLS files (ConfigError now, not later), then connect in the background."""
        self._password = await load_password(self._config)
        await check_tls_files(self._config)
        self._task = asyncio.create_task(self._run(session), name=f"mqtt:{self.client_id}")

    async def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=0.5)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _new_client(self) -> JobClient:
        config = self._config
        return JobClient(
            config.host, config.port, username=config.username, password=self._password,
            identifier=self.client_id, protocol=aiomqtt.ProtocolVersion.V5, will=self._will,
            keepalive=config.keepalive_s, timeout=CLIENT_TIMEOUT_S, tls_params=tls_parameters(config),
            receive_maximum=self._receive_maximum, socket_options=NO_DELAY,
        )

    async def _run(self, session: Callable[[JobClient], Awaitable[None]]) -> None:
        while not self._stop.is_set():
            delay = await self._attempt(session)
            if delay is None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _attempt(self, session: Callable[[JobClient], Awaitable[None]]) -> float | None:
        """One connection; the wait before the next, or None once stopping."""
        was_connected = False
        try:
            async with self._new_client() as client:
                self.client, was_connected = client, True
                self._outages.connected()
                log.info("mqtt.connected", client_id=self.client_id, host=self._config.host, port=self._config.port)
                await self._until_stopped(session(client))
            return None
        except aiomqtt.MqttError as exc:
            return None if self._stop.is_set() else self._outages.failed(exc, was_connected)
        except Exception:  # a bug must not end the link for the months the service runs
            log.exception("remote.link_error", client_id=self.client_id)
            return self._outages.failed(None, was_connected)
        finally:
            self.client = None

    async def _until_stopped(self, session: Awaitable[None]) -> None:
        """The session until it ends (MqttError: the connection dropped) or a stop is asked for."""
        work = asyncio.ensure_future(session)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stop):
                task.cancel()
            await asyncio.gather(work, stop, return_exceptions=True)
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]
