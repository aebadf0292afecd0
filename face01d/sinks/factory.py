"""Which outputs a config asks for, built in the order they must stop in reverse.

The daemon hands every piece of news to one ``Outputs``; this module is the
only place that knows which sinks exist. Outputs that belong to other
stages (the live view, the unknown-face crops) are built by their own
packages and passed in as ``extra``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from face01d.config.models import Config
from face01d.metrics import Metrics
from face01d.sinks.base import Sink
from face01d.sinks.mqtt import MqttSink
from face01d.sinks.mqtt_snapshots import MqttSnapshots
from face01d.sinks.outputs import Outputs
from face01d.sinks.snapshots import SnapshotWriter
from face01d.sinks.stdout import StdoutSink


@dataclass(frozen=True)
class BuiltOutputs:
    outputs: Outputs
    mqtt: MqttSink | None  # for the metrics' connection and outbox figures
    snapshots: SnapshotWriter | None  # for the metrics' snapshot figures


def make_outputs(config: Config, people: Sequence[str], metrics: Metrics, *, stdout_events: bool,
                 extra: Sequence[Sink] = ()) -> BuiltOutputs:
    sinks: list[Sink] = [StdoutSink()] if stdout_events else []
    mqtt = _mqtt_sink(config, people) if config.mqtt.enabled else None
    if mqtt is not None:
        sinks.append(mqtt)
        if config.mqtt.publish_snapshots:  # after the MQTT sink: stops first, so its frames get out
            sinks.append(MqttSnapshots(mqtt, config.snapshots.jpeg_quality))
    sinks.extend(extra)
    snapshots = SnapshotWriter(config.snapshots) if config.snapshots.enabled else None
    return BuiltOutputs(Outputs(sinks, snapshots, metrics), mqtt, snapshots)


def _mqtt_sink(config: Config, people: Sequence[str]) -> MqttSink:
    return MqttSink(
        config.mqtt,
        config.daemon.node_id,
        cameras=[camera.name for camera in config.cameras if camera.enabled],
        people=list(people),
        presence_expire_s=config.events.presence_timeout_s,
        access_cameras=[camera.name for camera in config.cameras if camera.enabled and camera.access],
    )
