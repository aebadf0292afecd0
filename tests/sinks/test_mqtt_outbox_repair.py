"""A damaged outbox file costs the events it can no longer give, never the daemon's start.

Real SQLite files damaged the ways disks and people damage them (cut short, garbage in a
page, a zeroed header, a 0-byte file, a -wal deleted after a crash), a real mosquitto.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from mqtt_helpers import event_ids, fast_timing, make_event, make_sink, wait_until  # noqa: F401

from face01d.errors import ConfigError
from face01d.metrics import Figures, Metrics
from face01d.sinks.outbox_repair import PAGE_SIZE
from test_mqtt_outbox import accept_while_down

EVENTS = 120  # ~10 pages of rows: a damaged page leaves others to read


def cut_in_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def garbage_in_a_page(path: Path) -> None:
    with open(path, "r+b") as file:
        file.seek(5 * PAGE_SIZE + 100)  # a page of rows, past the schema's pages
        file.write(b"\xab" * 3000)


def zeroed_header(path: Path) -> None:
    with open(path, "r+b") as file:
        file.write(bytes(100))


@pytest.mark.parametrize("damage", [cut_in_half, garbage_in_a_page, zeroed_header])
async def test_a_corrupt_outbox_is_moved_aside_and_its_readable_events_delivered(
    damage: Callable[[Path], None], mosquitto, mqtt_recorder, make_sink, tmp_path
):
    outbox = tmp_path / "outbox.sqlite3"
    events = [make_event(index) for index in range(EVENTS)]
    await accept_while_down(mosquitto, make_sink, outbox, events)  # stopped cleanly: all in the main file
    damage(outbox)
    damaged = outbox.read_bytes()

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/#")
    sink = make_sink(mosquitto.port, outbox_path=outbox)
    with structlog.testing.capture_logs() as logs:
        await sink.start()  # no ConfigError: the daemon starts
    [error] = [entry for entry in logs if entry["event"] == "mqtt.outbox_corrupt"]
    assert error["log_level"] == "error" and error["path"] == str(outbox)
    aside = Path(error["moved_to"])
    assert aside.parent == tmp_path and aside.name.startswith("outbox.sqlite3.corrupt-")
    assert aside.read_bytes() == damaged  # kept as it was found, for a person to look at
    assert 0 < error["carried"] <= EVENTS
    assert sink.stats["outbox_corrupt"] == 1
    assert b"face01d_mqtt_outbox_corrupt_total 1.0" in exposition(sink.stats)

    await recorder.wait_for(lambda ms: len(event_ids(ms)) >= error["carried"])
    await wait_until(lambda: sink.stats["queued"] == 0)
    delivered = event_ids(recorder.messages())
    assert len(delivered) == error["carried"]
    all_ids = [event.id for event in events]
    assert delivered == [event_id for event_id in all_ids if event_id in delivered]  # real ones, in order
    print(f"{damage.__name__}: {error['carried']} of {EVENTS} events carried over")

    sink.publish_event(make_event(EVENTS))  # the fresh outbox works
    await recorder.wait_for(lambda ms: f"event-{EVENTS:04d}" in event_ids(ms))


def exposition(mqtt_stats: dict[str, object]) -> bytes:
    """/metrics as the daemon renders it, from these MQTT figures."""
    return Metrics(lambda: Figures(cameras={}, mqtt=mqtt_stats)).exposition()


async def test_an_outbox_that_cannot_be_written_still_stops_the_start_with_its_path(mosquitto, make_sink, tmp_path):
    (blocker := tmp_path / "not-a-folder").write_text("a file where the outbox's folder should be")
    sink = make_sink(mosquitto.port, outbox_path=blocker / "outbox.sqlite3")
    with pytest.raises(ConfigError, match=r"mqtt outbox unusable: .*not-a-folder/outbox.sqlite3"):
        await sink.start()


async def test_an_outbox_cut_to_zero_bytes_is_said(mosquitto, mqtt_recorder, make_sink, tmp_path):
    outbox = tmp_path / "outbox.sqlite3"
    await accept_while_down(mosquitto, make_sink, outbox, [make_event(0)])
    os.truncate(outbox, 0)
    mosquitto.start()
    sink = make_sink(mosquitto.port, outbox_path=outbox)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
    [warning] = [entry for entry in logs if entry["event"] == "mqtt.outbox_found_empty"]
    assert warning["log_level"] == "warning" and warning["path"] == str(outbox)
    assert [entry["events"] for entry in logs if entry["event"] == "mqtt.outbox_opened"] == [0]


CRASH = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, camera TEXT NOT NULL,"
           " accepted_at REAL NOT NULL, payload BLOB NOT NULL)")
db.execute("INSERT INTO events (id, camera, accepted_at, payload) VALUES ('a', 'door', 1.0, x'7b7d')")
os._exit(0)  # a crash: the -wal and -shm stay
"""


async def test_a_wal_deleted_after_a_crash_is_said(mosquitto, make_sink, tmp_path):
    outbox = tmp_path / "outbox.sqlite3"
    subprocess.run([sys.executable, "-c", CRASH, str(outbox)], check=True)
    wal = outbox.with_name(outbox.name + "-wal")
    assert wal.exists() and outbox.with_name(outbox.name + "-shm").exists()
    wal.unlink()
    sink = make_sink(mosquitto.port, outbox_path=outbox)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
    assert [entry["path"] for entry in logs if entry["event"] == "mqtt.outbox_wal_missing"] == [str(outbox)]
    assert not [entry for entry in logs if entry["event"] in ("mqtt.outbox_found_empty", "mqtt.outbox_corrupt")]


async def test_a_sound_outbox_says_nothing_but_opened(mosquitto, make_sink, tmp_path):
    outbox = tmp_path / "outbox.sqlite3"
    await accept_while_down(mosquitto, make_sink, outbox, [make_event(0)])
    sink = make_sink(mosquitto.port, outbox_path=outbox)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
    assert [entry["event"] for entry in logs if entry["event"].startswith("mqtt.outbox")] == ["mqtt.outbox_opened"]
    assert json.loads(json.dumps(sink.stats))["outbox_corrupt"] == 0
    with sqlite3.connect(outbox) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
