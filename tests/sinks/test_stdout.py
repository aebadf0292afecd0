"""The stdout sink: JSON lines, order, UTF-8, and readers that stop reading."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from structlog.testing import capture_logs

from face01d.events.model import Event, EventType
from face01d.sinks.base import Sink
from face01d.sinks.stdout import StdoutSink
from face01d.faces import FaceBox

REPO_ROOT = Path(__file__).resolve().parents[2]


def event(name: str, index: int = 0) -> Event:
    return Event(
        type=EventType.RECOGNIZED, node="n1", camera="玄関", name=name, captured_at=1_700_000_000.0 + index,
        distance=0.31234, percentage=99.1234, box=FaceBox(1, 2, 3, 0), frame_width=640, frame_height=480,
    )


async def test_events_are_json_lines_in_order_with_japanese_kept(tmp_path):
    path = tmp_path / "out.jsonl"
    with open(path, "w", encoding="utf-8") as stream:
        sink = StdoutSink(stream)
        assert isinstance(sink, Sink)
        await sink.start()
        names = ["安倍晋三", "麻生太郎", "obama"] * 100
        for index, name in enumerate(names):
            sink.publish_event(event(name, index))
        await sink.stop(timeout=5)
    raw = path.read_bytes()
    assert "安倍晋三".encode() in raw and b"\\u" not in raw
    lines = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert [line["name"] for line in lines] == names
    assert lines[0]["camera"] == "玄関" and lines[0]["captured_at"] == "2023-11-14T22:13:20.000Z"
    assert lines[0]["type"] == "recognized" and lines[0]["box"] == {"top": 1, "right": 2, "bottom": 3, "left": 0}
    assert sink.stats == {"written": 300, "dropped": 0, "failed": 0}


async def test_output_is_utf8_even_when_the_text_layer_says_ascii(tmp_path):
    path = tmp_path / "out.jsonl"
    with open(path, "w", encoding="ascii") as stream:
        sink = StdoutSink(stream)
        await sink.start()
        sink.publish_event(event("金正恩"))
        await sink.stop(timeout=5)
    assert json.loads(path.read_bytes().decode("utf-8"))["name"] == "金正恩"


async def test_a_full_queue_drops_and_counts(tmp_path):
    with open(tmp_path / "out.jsonl", "w", encoding="utf-8") as stream:
        sink = StdoutSink(stream, queue_size=2)
        for index in range(5):
            sink.publish_event(event("a", index))
        await sink.start()
        await sink.stop(timeout=5)
        sink.publish_event(event("after stop"))
    assert sink.stats == {"written": 2, "dropped": 4, "failed": 0}
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


async def test_a_closed_pipe_is_logged_once_and_further_events_dropped():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = open(write_fd, "w", encoding="utf-8")
    sink = StdoutSink(stream)
    with capture_logs() as logs:
        await sink.start()
        for index in range(10):
            sink.publish_event(event("obama", index))
        await sink.stop(timeout=5)
    stream.close()  # the descriptor now points at /dev/null: closing flushes without error
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [entry["event"] for entry in warnings] == ["stdout closed by the reader; events are no longer written"]
    assert sink.stats == {"written": 0, "dropped": 10, "failed": 0}


async def test_a_reader_that_stops_reading_blocks_neither_the_loop_nor_stop():
    read_fd, write_fd = os.pipe()
    stream = open(write_fd, "w", encoding="utf-8")
    sink = StdoutSink(stream, queue_size=5000)
    await sink.start()
    started = time.monotonic()
    for index in range(3000):  # ≈ 1 MB of lines: far more than a pipe buffer
        sink.publish_event(event("x" * 200, index))
    await asyncio.sleep(0.05)
    with capture_logs() as logs:
        await sink.stop(timeout=0.2)
    assert time.monotonic() - started < 2
    assert any(entry["event"] == "stdout not drained" for entry in logs)
    assert 0 < sink.stats["written"] < 3000
    os.close(read_fd)  # the blocked write now fails with EPIPE and the thread ends
    sink._thread.join(timeout=5)
    assert not sink._thread.is_alive()
    stream.close()  # pointed at /dev/null after the EPIPE, so this flush succeeds


SCRIPT = """
import asyncio, sys, structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
from face01d.events.model import Event, EventType
from face01d.sinks.stdout import StdoutSink

async def main():
    sink = StdoutSink()
    await sink.start()
    for index in range(20000):
        sink.publish_event(Event(EventType.UNKNOWN, "n", "c", "Unknown", 1e9 + index))
        if index % 100 == 0:
            await asyncio.sleep(0.001)
    await sink.stop(timeout=5)
    print("stats", sink.stats, file=sys.stderr)

asyncio.run(main())
"""


def test_piping_into_head_ends_cleanly_without_a_traceback():
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    first = proc.stdout.readline()  # what `| head -n 1` does, then it exits
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=60)
    text = stderr.decode()
    assert json.loads(first)["type"] == "unknown"
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert text.count("stdout closed by the reader") == 1, text


async def test_stop_without_start_counts_the_queue_as_dropped():
    with open(os.devnull, "w", encoding="utf-8") as stream:
        sink = StdoutSink(stream)
        sink.publish_event(event("a"))
        await sink.stop(timeout=5)
    assert sink.stats == {"written": 0, "dropped": 1, "failed": 0}
