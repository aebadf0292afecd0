"""``Outputs.event``: the other outputs and the ``event`` log line hear of an event only once the MQTT
outbox has committed it, in the order the events came. A real MqttSink and its SQLite outbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import structlog
from mqtt_helpers import fast_timing, make_event, make_sink, wait_until  # noqa: F401

from face01d.events.model import Event
from face01d.faces import Frame
from face01d.sinks.base import Sink
from face01d.sinks.outputs import Outputs
from support.recorder import Recorder


class OnDiskWhenTold(Sink):
    """Records, for each event it is told of, whether the outbox file holds it at that moment."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.told: list[tuple[str, bool]] = []

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        with sqlite3.connect(self.outbox) as db:  # a second connection: sees only what is committed
            stored = db.execute("SELECT count(*) FROM events WHERE id = ?", (event.id,)).fetchone()[0]
        self.told.append((event.id, stored == 1))


async def test_an_event_is_told_to_the_others_only_once_committed_and_in_order(mosquitto, make_sink, tmp_path):
    mosquitto.kill()  # nothing leaves the outbox: each event stays there to be seen
    outbox = tmp_path / "outbox.sqlite3"
    mqtt = make_sink(mosquitto.port, outbox_path=outbox)
    witness = OnDiskWhenTold(outbox)
    outputs = Outputs([witness, mqtt])  # the witness first, as stdout is: order in the list is not order in time
    await outputs.start()
    events = [make_event(index, camera="door" if index % 2 else "玄関") for index in range(40)]
    with structlog.testing.capture_logs() as logs:
        for event in events:
            outputs.event(event, None)
        assert witness.told == []  # nothing told before a commit
        await wait_until(lambda: len(witness.told) == len(events))
    assert witness.told == [(event.id, True) for event in events]
    logged = [entry for entry in logs if entry["event"] == "event"]
    assert [(entry["event_id"], entry["outbox"]) for entry in logged] == [(event.id, True) for event in events]
    await outputs.stop(2.0)


def test_without_a_durable_output_an_event_is_told_at_once():
    recorder = Recorder()
    Outputs([recorder]).event(make_event(0), None)  # no event loop needed: nothing waits
    assert [event.id for event in recorder.events] == ["event-0000"]
