"""The version a node runs, told to people: ``<prefix>/<node>/gallery/version`` and a Home Assistant sensor.

Retained and said again at every connect, on the gallery's own connection:
the MQTT sink's state and discovery stay as they are. The sensor's config
comes from ``sinks.discovery`` (same device, availability and naming as the
node's other entities).
"""

from __future__ import annotations

import aiomqtt
import structlog

from face01d.config.models import MqttConfig
from face01d.sinks.discovery import DiscoveryContext, gallery_version_config
from face01d.sinks.link import MessageRefused
from face01d.sinks.messages import to_json
from face01d.sinks.topics import Topics

log = structlog.get_logger(__name__)


def version_topic(mqtt: MqttConfig, node_id: str) -> str:
    return f"{Topics(mqtt.topic_prefix, node_id).base}/gallery/version"


async def say_version(client: aiomqtt.Client, mqtt: MqttConfig, node_id: str, version: int | None) -> None:
    """Publish the version (retained) and, with ``[mqtt] discovery``, the sensor that shows it.

    A refusal (an ACL without these topics) is logged: the gallery itself matters more than its sensor.
    """
    if version is None:
        return
    topic = version_topic(mqtt, node_id)
    messages = [(topic, str(version).encode())]
    if mqtt.discovery:
        context = DiscoveryContext(Topics(mqtt.topic_prefix, node_id), node_id, mqtt.discovery_prefix,
                                   friendly_name=mqtt.friendly_name)
        config_topic, payload = gallery_version_config(context, topic)
        messages.append((config_topic, to_json(payload)))
    for message_topic, payload_bytes in messages:
        try:
            await client.publish(message_topic, payload_bytes, qos=1, retain=True)
        except MessageRefused as error:
            log.warning("gallery_share.version_not_said", topic=message_topic, error=str(error))
