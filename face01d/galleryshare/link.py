"""One MQTT connection kept up for the gallery's publisher or subscriber, on the sink's helpers.

The same TLS, credentials, MQTT 5 and CONNACK Maximum Packet Size as the
MQTT sink (``face01d.sinks.link``), but a connection of its own (client id
``face01d-<node>-gallery``): the gallery's large retained messages never queue
behind events, and the sink's connection stays as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiomqtt
import structlog

from face01d.backoff import Backoff
from face01d.config.models import MqttConfig
from face01d.sinks.link import BrokerClient, check_tls_files, is_auth_refusal, load_password, reason, tls_parameters

log = structlog.get_logger(__name__)

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
AUTH_RETRY_S = 300.0
CLIENT_TIMEOUT_S = 10.0

Session = Callable[[BrokerClient], Awaitable[None]]


class GalleryLink:
    """Connects, runs ``session(client)`` until it returns or the link is stopped, reconnects with backoff."""

    def __init__(self, config: MqttConfig, client_id: str) -> None:
        self._config = config
        self.client_id = client_id
        self._password: str | None = None
        self.connected = False
        self._stop = asyncio.Event()

    async def prepare(self) -> None:
        """Read the password and the TLS files now: ConfigError is the user's to fix, unlike an outage."""
        self._password = await load_password(self._config)
        await check_tls_files(self._config)

    def client(self) -> BrokerClient:
        config = self._config
        return BrokerClient(config.host, config.port, username=config.username, password=self._password,
                            identifier=self.client_id, protocol=aiomqtt.ProtocolVersion.V5,
                            keepalive=config.keepalive_s, timeout=CLIENT_TIMEOUT_S,
                            tls_params=tls_parameters(config))

    async def run(self, session: Session) -> None:
        """Until ``stop()``: each connection runs ``session``; a failure waits and connects again."""
        backoff = Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S, AUTH_RETRY_S)
        while not self._stop.is_set():
            delay = RECONNECT_MIN_S  # a session that ended by itself
            try:
                async with self.client() as client:
                    self.connected = True
                    backoff.reset()
                    log.info("gallery_share.connected", client_id=self.client_id, host=self._config.host,
                             maximum_packet_size=client.maximum_packet_size)
                    await _until(session(client), self._stop)
            except aiomqtt.MqttError as error:
                delay = backoff.auth_delay() if is_auth_refusal(error) else backoff.next_delay()
                log.warning("gallery_share.disconnected", client_id=self.client_id, reason=reason(error),
                            retry_in_s=round(delay, 2))
            except Exception:  # a bug must not end the gallery's updates for the months the daemon runs
                log.exception("gallery_share.link_error", client_id=self.client_id)
                delay = backoff.next_delay()
            finally:
                self.connected = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def stop(self) -> None:
        self._stop.set()


async def _until(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Run ``work`` until it ends or ``stop`` is set; its exception (a lost connection) is raised."""
    await first_of(work, stop.wait())


async def first_of(*works: Awaitable[object]) -> None:
    """Run ``works`` side by side until one ends; cancel the others; raise the first exception."""
    tasks = [asyncio.ensure_future(work) for work in works]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
