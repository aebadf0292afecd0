"""The outbox against the daemon's worst moments (issue 13, item 1).

An event printed on --stdout is an event in the outbox: SIGKILL the instant a line appears, and
every printed id still reaches the broker after a restart. A corrupt outbox file does not stop
the daemon: it is moved aside and what it still holds is delivered.

Real daemons reading the sample video, a real mosquitto, a real pipe: the test reads the daemon's
stdout line by line and kills it with SIGKILL as soon as the line it waits for arrives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.event_schema import parse_event

from face01d.events.model import Event, EventType
from face01d.sinks.messages import to_json
from face01d.sinks.outbox import Outbox, Pending

RUNS = 3  # killed daemons; run k is killed on its (k+1)-th printed line
CAMERAS = ["door", "hall", "gate"]  # three cameras on the same file: three recognitions close together
EVENT_TOPIC = "face01/e2e/+/event"


def cameras(data) -> list[dict[str, object]]:
    return [{"name": name, "source": str(data.kim_video), "pace": "none", "frame_skip": 9} for name in CAMERAS]


def run_until_line(config: Path, line_number: int, timeout: float = 120) -> tuple[list[str], str]:
    """Start ``face01d run --stdout``, SIGKILL it the instant line ``line_number`` is read;
    the ids printed, and its stderr."""
    stderr = config.with_suffix(f".{line_number}.stderr")
    with open(stderr, "wb") as err:
        daemon = subprocess.Popen([sys.executable, "-m", "face01d", "run", "-c", str(config), "--stdout"],
                                  stdout=subprocess.PIPE, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(lines) < line_number and time.monotonic() < deadline:
            if not (line := daemon.stdout.readline()):
                break  # the daemon ended before printing that many lines
            lines.append(line)
    finally:
        os.kill(daemon.pid, signal.SIGKILL)  # first thing after the read: nothing else runs in between
        daemon.wait(10)
        daemon.stdout.close()
    return [parse_event(line.decode("utf-8"))["id"] for line in lines], stderr.read_text(errors="replace")


def received_ids(recorder) -> list[str]:
    return [json.loads(message.payload)["id"] for message in recorder.messages() if message.topic.endswith("/event")]


def test_every_printed_event_reaches_the_broker_though_killed_as_it_was_printed(
    data, daemon_config, run_daemon, mosquitto, mqtt_recorder, tmp_path: Path
):
    recorder = mqtt_recorder(mosquitto, EVENT_TOPIC)  # connected through every run
    mqtt = {"outbox_path": str(tmp_path / "state" / "outbox.sqlite3")}
    config = daemon_config(cameras(data), broker=mosquitto, mqtt=mqtt)
    printed: list[str] = []
    for run in range(RUNS):
        ids, stderr = run_until_line(config, run + 1)
        assert len(ids) == run + 1, stderr[-3000:]
        printed += ids
    time.sleep(0.5)  # what a killed daemon had already sent reaches the recorder
    before_restart = set(received_ids(recorder))

    nothing_new = {"name": "door", "source": str(tmp_path / "missing.mp4")}  # a camera that yields no event
    final = run_daemon(daemon_config([nothing_new], broker=mosquitto, mqtt=mqtt), "--stdout")
    opened = final.wait_for_log("mqtt.outbox_opened")
    recorder.wait_for_sync(lambda _: set(printed) <= set(received_ids(recorder)), timeout=60)
    missing_before = set(printed) - before_restart
    assert opened["events"] >= len(missing_before)  # read back from the outbox, not from memory
    print(f"printed {len(printed)}: {len(set(printed) & before_restart)} on the broker before the restart, "
          f"{len(missing_before)} after it; the outbox read back {opened['events']} events")
    final.signal(signal.SIGTERM)
    final.wait(30)


def fill_outbox(path: Path, count: int) -> list[str]:
    """An outbox holding ``count`` events of node ``e2e``, as a daemon killed during an outage leaves it."""
    events = [Event(EventType.UNKNOWN, "e2e", "door", "unknown", captured_at=time.time()) for _ in range(count)]

    async def fill() -> None:
        outbox = Outbox(path, 10_000, 3600.0)
        await outbox.open()
        await outbox.add([Pending(e.id, e.camera, to_json(e.to_dict(time.time())), time.time()) for e in events])
        await outbox.close()

    asyncio.run(fill())
    return [event.id for event in events]


def test_a_corrupt_outbox_is_moved_aside_and_the_daemon_starts(
    data, daemon_config, run_daemon, mosquitto, mqtt_recorder, tmp_path: Path
):
    outbox = tmp_path / "state" / "outbox.sqlite3"
    ids = fill_outbox(outbox, 100)
    with open(outbox, "r+b") as file:  # garbage in a page of rows
        file.seek(5 * 4096 + 100)
        file.write(b"\xab" * 3000)
    recorder = mqtt_recorder(mosquitto, EVENT_TOPIC)

    nothing_new = {"name": "door", "source": str(tmp_path / "missing.mp4")}
    daemon = run_daemon(daemon_config([nothing_new], broker=mosquitto, mqtt={"outbox_path": str(outbox)}), "--stdout")
    corrupt = daemon.wait_for_log("mqtt.outbox_corrupt")
    assert corrupt["level"] == "error" and corrupt["path"] == str(outbox)
    assert Path(corrupt["moved_to"]).exists() and 0 < corrupt["carried"] < 100
    daemon.wait_for_log("daemon started")
    recorder.wait_for_sync(lambda _: len(received_ids(recorder)) >= corrupt["carried"], timeout=30)
    assert received_ids(recorder) == [event_id for event_id in ids if event_id in received_ids(recorder)]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0, daemon.stderr[-3000:]
