"""Enrollment from any node: an MQTT 5 request to the publisher, answered on a response topic.

A node whose gallery comes from the broker cannot write a folder that
matters; ``POST /gallery/{name}``, ``DELETE /gallery/{name}`` and
``face01d gallery add/promote/remove`` there send the image (or the removal)
to ``<prefix>/gallery-requests`` instead, with the action and the name as
user properties, a response topic of the node's own and correlation data.
The publisher applies it to its folder with the same code as its own
enrollment routes (one face per image, checked before anything is
written), reloads, republishes, and answers with the HTTP status its own
route would give. Requests and responses are never retained.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.enrollment.gallery_edit import check_upload, remove_person, valid_name, write_uploads
from face01d.enrollment.routes import _STATUS as ROUTE_STATUS  # the publisher answers as its own routes would
from face01d.errors import Face01dError
from face01d.galleryshare.link import GalleryLink
from face01d.galleryshare.manifest import GalleryTopics
from face01d.sinks.link import MessageRefused, check_packet_size, reason

log = structlog.get_logger(__name__)

REQUEST_TIMEOUT_S = 120.0  # the publisher checks the face with the gallery's detector: seconds, more for the CNN
ACTIONS = {"add": 201, "remove": 200}

Answer = dict[str, Any]


class RequestFailed(Face01dError):
    """The publisher did not answer, or the broker refused the request; ``status`` for HTTP."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


def _properties(**values: object) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    for key, value in values.items():
        setattr(properties, key, value)
    return properties


async def send_request(mqtt: MqttConfig, node_id: str, action: str, name: str, data: bytes = b"",
                       timeout: float = REQUEST_TIMEOUT_S) -> Answer:
    """One request on a connection of its own; the publisher's answer (``status``, ``files`` or ``error``)."""
    topics, request_id = GalleryTopics(mqtt.topic_prefix), uuid.uuid4().hex
    link = GalleryLink(mqtt, f"face01d-{node_id}-gallery-request-{request_id[:8]}")
    await link.prepare()
    reply_to = topics.responses(node_id, request_id)
    properties = _properties(ResponseTopic=reply_to, CorrelationData=request_id.encode(),
                             UserProperty=[("action", action), ("name", name)])
    try:
        async with link.client() as client:
            await client.subscribe(reply_to, qos=1)
            check_packet_size(client, topics.requests, data)
            await client.publish(topics.requests, data, qos=1, properties=properties)
            return await _answer(client, request_id.encode(), timeout)
    except (aiomqtt.MqttError, MessageRefused) as error:
        raise RequestFailed(f"the gallery's publisher is not reachable through the broker: {reason(error)}",
                            413 if "maximum packet size" in str(error) else 503) from None


async def _answer(client: aiomqtt.Client, correlation: bytes, timeout: float) -> Answer:
    try:
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                if getattr(message.properties, "CorrelationData", None) == correlation:
                    return json.loads(bytes(message.payload))  # type: ignore[arg-type]
    except TimeoutError:
        pass
    raise RequestFailed(f"no answer from the gallery's publisher within {timeout:.0f} s (is it running?)", 504)


class EditHandler:
    """The publisher's side: apply one request to the folder, reload; the answer."""

    def __init__(self, config: GalleryConfig, reload: Callable[[], Awaitable[None]]) -> None:
        self._config = config
        self._reload = reload
        self._checker = ThreadPoolExecutor(1, thread_name_prefix="face01d-enroll-remote")  # one set of models
        self._editing = asyncio.Lock()

    async def __call__(self, action: str, name: str, data: bytes) -> Answer:
        try:
            name = valid_name(name)
            if action not in ACTIONS:
                return {"status": 400, "error": f"unknown action {action!r}"}
            files = await (self._add(name, data) if action == "add" else self._remove(name))
            await self._reload()
        except Face01dError as error:
            status = next((code for kind, code in ROUTE_STATUS if isinstance(error, kind)), 500)
            log.info("gallery_share.request_refused", action=action, status=status, error=str(error))
            return {"status": status, "error": str(error)}
        log.info("gallery_share.request_applied", action=action, name=name, files=files)
        return {"status": ACTIONS[action], "name": name, "files": files}

    async def _add(self, name: str, data: bytes) -> list[str]:
        loop = asyncio.get_running_loop()
        upload = await loop.run_in_executor(self._checker, check_upload, self._config, data, "the upload")
        async with self._editing:
            return [path.name for path in await asyncio.to_thread(write_uploads, self._config, name, [upload])]

    async def _remove(self, name: str) -> list[str]:
        async with self._editing:
            return [path.name for path in await asyncio.to_thread(remove_person, self._config, name)]

    def close(self) -> None:
        self._checker.shutdown(wait=False, cancel_futures=True)


async def answer_request(client: aiomqtt.Client, message: aiomqtt.Message, handler: EditHandler) -> None:
    """Run one request through ``handler`` and publish the answer where the request asked."""
    props = message.properties
    reply_to, correlation = getattr(props, "ResponseTopic", None), getattr(props, "CorrelationData", None)
    if not reply_to:
        log.warning("gallery_share.request_ignored", reason="no response topic")
        return
    fields = dict(getattr(props, "UserProperty", None) or [])
    payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
    answer = await handler(str(fields.get("action", "")), str(fields.get("name", "")), payload)
    body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
    await client.publish(reply_to, body, qos=1, properties=_properties(CorrelationData=correlation or b"",
                                                                        ContentType="application/json"))
