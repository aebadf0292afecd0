"""MqttSink when the broker is away, restarts, or the daemon dies.

Broker starts and recorder connections below are deliberately blocking: while
they run the event loop (and so the sink) cannot act, which guarantees the
recorder is subscribed before the sink reconnects — no race, no sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mqtt_helpers import NODE, event_ids, fast_timing, make_event, make_sink, wait_until  # noqa: F401

STATUS = f"face01/{NODE}/status"
REPO = Path(__file__).resolve().parents[2]


async def test_start_returns_at_once_and_queued_events_arrive_in_order(mosquitto, mqtt_recorder, make_sink):
    mosquitto.kill()
    sink = make_sink(mosquitto.port)
    started = time.monotonic()
    await sink.start()
    assert time.monotonic() - started < 0.5
    for index in range(20):
        sink.publish_event(make_event(index))
    await wait_until(lambda: sink.stats["attempts"] >= 2)
    assert not sink.stats["connected"] and sink.stats["queued"] == 20

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    messages = await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 20)
    assert event_ids(messages) == [f"event-{i:04d}" for i in range(20)]
    await wait_until(lambda: sink.stats["queued"] == 0)  # the last PUBACK may follow the recorder's copy
    assert sink.stats["dropped"] == 0


async def test_full_outbox_drops_the_oldest_and_counts(mosquitto, mqtt_recorder, make_sink):
    mosquitto.kill()
    sink = make_sink(mosquitto.port, queue_size=5)
    await sink.start()
    for index in range(12):
        sink.publish_event(make_event(index))
    assert (sink.stats["queued"], sink.stats["dropped"]) == (5, 7)

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    messages = await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 5)
    await asyncio.sleep(0.3)
    assert event_ids(recorder.messages()) == [f"event-{i:04d}" for i in range(7, 12)], messages


async def test_reconnects_after_broker_restart(mosquitto, mqtt_recorder, make_sink):
    recorder = mqtt_recorder(mosquitto, "face01/#")
    sink = make_sink(mosquitto.port)
    await sink.start()
    for index in range(5):
        sink.publish_event(make_event(index))
    await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 5)

    mosquitto.stop()
    await wait_until(lambda: not sink.stats["connected"])
    for index in range(5, 10):
        sink.publish_event(make_event(index))
    mosquitto.start()
    after = mqtt_recorder(mosquitto, "face01/#")
    messages = await after.wait_for(lambda ms: len(event_ids(ms)) >= 5)
    assert event_ids(messages) == [f"event-{i:04d}" for i in range(5, 10)]
    assert sink.stats["reconnects"] >= 1
    assert [m.text for m in messages if m.topic == STATUS] == ["online"]  # re-announced


async def test_event_published_during_outage_is_not_lost_when_unnoticed(mosquitto, mqtt_recorder, make_sink):
    """Events queued before the sink notices the broker died are delivered after it returns."""
    sink = make_sink(mosquitto.port)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    mosquitto.kill()
    for index in range(3):
        sink.publish_event(make_event(index))  # at once, before the disconnect is seen
    await wait_until(lambda: not sink.stats["connected"])
    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    messages = await recorder.wait_for(lambda ms: len(event_ids(ms)) >= 3)
    assert event_ids(messages)[-3:] == [f"event-{i:04d}" for i in range(3)]


CHILD = """
import asyncio, sys
import structlog
from face01d.config.models import MqttConfig
from face01d.sinks.mqtt import MqttSink

async def main():
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout says "ready"
    sink = MqttSink(MqttConfig(port=int(sys.argv[1])), "node1", ["door"], ["Alice"], 10.0)
    await sink.start()
    while not sink.stats["connected"] or sink.stats["published"] < 1:
        await asyncio.sleep(0.02)
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_last_will_says_offline_when_the_process_is_killed(mosquitto, mqtt_recorder, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    recorder = mqtt_recorder(mosquitto, STATUS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, str(script), str(mosquitto.port)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline().strip() == b"ready"
        recorder.wait_for_sync(lambda ms: [m.text for m in ms] == ["online"])
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        messages = recorder.wait_for_sync(lambda ms: len(ms) >= 2)
        assert [m.text for m in messages] == ["online", "offline"]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    late = mqtt_recorder(mosquitto, STATUS)
    assert [(m.text, m.retain) for m in late.wait_for_sync(lambda ms: ms)] == [("offline", True)]
