"""The durable outbox: nothing accepted is lost to an outage, a crash or a bad event.

Real mosquitto, real SQLite files; a crash is a real SIGKILL of a child process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from mqtt_helpers import NODE, event_ids, fast_timing, make_event, make_sink, wait_until  # noqa: F401

from face01d.events.model import Event
from support.broker import Mosquitto

REPO = Path(__file__).resolve().parents[2]
DOOR = f"face01/{NODE}/door/event"
GENKAN = f"face01/{NODE}/玄関/event"


class UnserialisableEvent(Event):
    __slots__ = ()

    def to_dict(self, published_at: float) -> dict[str, object]:
        raise ValueError("cannot serialise this one")


async def accept_while_down(mosquitto, make_sink, outbox: Path, events: list[Event]) -> None:
    """With the broker down, a sink accepts ``events``, commits them to ``outbox`` and stops."""
    mosquitto.kill()
    sink = make_sink(mosquitto.port, outbox_path=outbox)
    await sink.start()
    for event in events:
        sink.publish_event(event)
    await wait_until(lambda: sink.stats["outbox"] == len(events))
    await sink.stop(timeout=1.0)


async def test_events_accepted_during_an_outage_survive_a_restart(mosquitto, mqtt_recorder, make_sink, tmp_path):
    outbox = tmp_path / "outbox.sqlite3"
    await accept_while_down(mosquitto, make_sink, outbox,
                            [make_event(index, camera="door" if index % 2 else "玄関") for index in range(20)])

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    second = make_sink(mosquitto.port, outbox_path=outbox)
    await second.start()
    messages = await recorder.wait_for(lambda ms: len(event_ids(ms, DOOR)) + len(event_ids(ms, GENKAN)) >= 20)
    await wait_until(lambda: second.stats["queued"] == 0)
    assert event_ids(messages, DOOR) == [f"event-{i:04d}" for i in range(1, 20, 2)]
    assert event_ids(messages, GENKAN) == [f"event-{i:04d}" for i in range(0, 20, 2)]
    await second.stop(timeout=1.0)
    assert _rows(outbox) == 0


CHILD = """
import asyncio, sys, time
import structlog
from face01d.config.models import MqttConfig
from face01d.events.model import Event, EventType
from face01d.sinks.mqtt import MqttSink

async def main():
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    config = MqttConfig(port=int(sys.argv[1]), outbox_path=sys.argv[2])
    sink = MqttSink(config, "node1", ["door"], ["Alice"], 10.0)
    await sink.start()
    for index in range(33):
        sink.publish_event(Event(EventType.UNKNOWN, "node1", "door", "unknown", captured_at=1e9 + index, id=f"event-{index:04d}"))
    while sink.stats["outbox"] < 33:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_sigkill_during_an_outage_loses_nothing(mosquitto, mqtt_recorder, make_sink, tmp_path):
    mosquitto.kill()
    script, outbox = tmp_path / "child.py", tmp_path / "outbox.sqlite3"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, str(script), str(mosquitto.port), str(outbox)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline().strip() == b"ready"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    sink = make_sink(mosquitto.port, outbox_path=outbox)
    await sink.start()
    messages = await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 33)
    assert event_ids(messages) == [f"event-{i:04d}" for i in range(33)]
    first = json.loads(next(m.payload for m in messages if m.topic == DOOR))
    assert first["captured_at"] == "2001-09-09T01:46:40.000Z"  # the original capture time
    await wait_until(lambda: sink.stats["queued"] == 0)


async def test_the_count_bound_drops_the_oldest_and_counts(mosquitto, mqtt_recorder, make_sink):
    mosquitto.kill()
    sink = make_sink(mosquitto.port, outbox_max_events=5)
    await sink.start()
    for index in range(12):
        sink.publish_event(make_event(index))
        await wait_until(lambda: sink.stats["queued"] == sink.stats["outbox"])  # one commit each
    assert (sink.stats["outbox"], sink.stats["dropped"]) == (5, 7)

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 5)
    await wait_until(lambda: sink.stats["queued"] == 0)
    assert event_ids(recorder.messages()) == [f"event-{i:04d}" for i in range(7, 12)]


async def test_the_age_bound_drops_the_oldest_and_counts(mosquitto, mqtt_recorder, make_sink):
    mosquitto.kill()
    sink = make_sink(mosquitto.port, outbox_max_age_s=1.0)
    await sink.start()
    for index in range(3):
        sink.publish_event(make_event(index))
    await wait_until(lambda: sink.stats["outbox"] == 3)
    await asyncio.sleep(1.2)
    mosquitto.start()  # blocking: the sink cannot reconnect before the new events are accepted
    recorder = mqtt_recorder(mosquitto, "face01/#")
    for index in range(3, 5):
        sink.publish_event(make_event(index))
    await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 2)
    assert event_ids(recorder.messages()) == ["event-0003", "event-0004"]
    assert sink.stats["aged_out"] == 3


async def test_the_default_outbox_is_private(mosquitto, make_sink, tmp_path):
    sink = make_sink(mosquitto.port, outbox_path=None)  # the default, under $XDG_STATE_HOME (conftest)
    await sink.start()
    sink.publish_event(make_event(0))
    await wait_until(lambda: sink.stats["published"] >= 1 and sink.stats["queued"] == 0)
    assert sink.outbox_path == tmp_path / "xdg-state" / "face01d" / f"{NODE}-outbox.sqlite3"
    assert stat.S_IMODE(sink.outbox_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(sink.outbox_path.parent.stat().st_mode) == 0o700
    for companion in sink.outbox_path.parent.glob("*-outbox.sqlite3-*"):  # -wal, -shm
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion


async def test_an_unserialisable_event_does_not_block_the_next(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, "face01/#")
    sink = make_sink(mosquitto.port)
    await sink.start()
    good = make_event(0)
    sink.publish_event(UnserialisableEvent(good.type, good.node, good.camera, good.name, good.captured_at, id="poison"))
    sink.publish_event(make_event(1))
    await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 1)
    assert event_ids(recorder.messages()) == ["event-0001"]
    assert sink.stats["unserialisable"] == 1


async def test_a_stored_event_the_broker_cannot_take_is_set_aside(mosquitto, mqtt_recorder, make_sink, tmp_path):
    """A row that cannot become a message (here: a damaged payload) is moved aside, not retried forever."""
    outbox = tmp_path / "outbox.sqlite3"
    await accept_while_down(mosquitto, make_sink, outbox, [make_event(index) for index in range(3)])
    with sqlite3.connect(outbox) as db:
        db.execute("UPDATE events SET payload = ? WHERE id = 'event-0001'", (b"\xff not json",))

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    second = make_sink(mosquitto.port, outbox_path=outbox)
    await second.start()
    await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 2)
    await wait_until(lambda: second.stats["queued"] == 0)
    assert event_ids(recorder.messages()) == ["event-0000", "event-0002"]
    assert second.stats["rejected"] == 1
    await second.stop(timeout=1.0)
    with sqlite3.connect(outbox) as db:
        assert [row[0] for row in db.execute("SELECT id FROM rejected")] == ["event-0001"]


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]


class SmallPacketMosquitto(Mosquitto):
    """A broker that refuses packets over 2 kB by closing the connection (MQTT 5: 0x95)."""

    def _write_conf(self) -> None:
        super()._write_conf()
        self.conf.write_text(self.conf.read_text() + "max_packet_size 2000\n")


async def test_an_event_too_large_for_the_broker_is_set_aside_without_losing_the_connection(mqtt_recorder, make_sink, tmp_path):
    workdir = tmp_path / "small-broker"
    workdir.mkdir()
    broker = SmallPacketMosquitto(workdir)
    broker.start()
    try:
        recorder = mqtt_recorder(broker, "face01/#")
        sink = make_sink(broker.port)
        await sink.start()
        sink.publish_event(make_event(0, name="x" * 5000))
        sink.publish_event(make_event(1))
        await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 1, timeout=15)
        assert event_ids(recorder.messages()) == ["event-0001"]
        assert sink.stats["rejected"] == 1
        assert sink.stats["state_rejected"] == 1  # its device trigger, as large, is dropped too
        assert sink.stats["reconnects"] == 0  # known from the CONNACK's Maximum Packet Size: never sent
    finally:
        broker.kill()
