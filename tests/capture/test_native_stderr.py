"""Native stderr capture: fd 2 becomes log records, FFmpeg lines are counted and attributed.

Lines are written with ``os.write(2, …)`` exactly as a C library writes them;
the decoder itself is exercised in ``test_decoder_errors.py``. pytest swaps
fd 2 between a test's phases, so each test installs and uninstalls inside
its own body (``captured()``), never in a fixture.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

from structlog.testing import capture_logs

from face01d import native_stderr
from face01d.native_stderr import DecoderErrors, closed, opened, reading, settle

FFMPEG_LINE = b"[h264 @ 0x55d0c0ffee00] error while decoding MB 12 34\n"


@contextlib.contextmanager
def captured() -> Iterator[None]:
    assert native_stderr.install(), "native stderr was already captured"
    try:
        yield
    finally:
        native_stderr.uninstall()


def native_records(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["event"] == "native stderr"]


def in_thread(fn) -> None:  # noqa: ANN001 - a camera's read thread, as far as fd 2 can tell
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join(10)


def test_native_lines_become_warnings_and_ffmpeg_lines_are_charged_to_the_reading_camera() -> None:
    door, gate = DecoderErrors("door"), DecoderErrors("gate")

    def door_reads() -> None:
        with reading(door):
            os.write(2, FFMPEG_LINE)
            os.write(2, b"    Last message repeated 2 times\n")

    with capture_logs() as logs, captured():
        before = native_stderr.unattributed_decoder_errors()
        in_thread(door_reads)
        os.write(2, b"dlib says hello\n")
        assert settle()
    assert (door.count, gate.count) == (3, 0)
    assert native_stderr.unattributed_decoder_errors() == before
    records = native_records(logs)
    texts = [FFMPEG_LINE.decode().strip(), "Last message repeated 2 times", "dlib says hello"]
    assert [r["text"] for r in records] == texts
    assert records[0]["log_level"] == "warning" and records[0]["camera"] == "door" and records[0]["decoder_error"]
    assert not records[2]["decoder_error"] and "camera" not in records[2]


def test_a_line_while_two_cameras_read_or_none_is_unattributed() -> None:
    door, gate = DecoderErrors("door"), DecoderErrors("gate")
    with captured():
        before = native_stderr.unattributed_decoder_errors()
        with reading(door), reading(gate):
            os.write(2, FFMPEG_LINE)
        os.write(2, FFMPEG_LINE)  # nobody reading
        assert settle()
    assert (door.count, gate.count) == (0, 0)
    assert native_stderr.unattributed_decoder_errors() == before + 2


def test_a_line_between_reads_is_charged_to_the_only_open_capture() -> None:
    door, gate = DecoderErrors("door"), DecoderErrors("gate")
    with captured():
        before = native_stderr.unattributed_decoder_errors()
        opened(door)
        in_thread(lambda: os.write(2, FFMPEG_LINE))  # one of FFmpeg's frame threads, no read running
        opened(gate)
        in_thread(lambda: os.write(2, FFMPEG_LINE))  # two captures open, nobody reading: whose?
        closed(gate)
        closed(door)
        os.write(2, FFMPEG_LINE)  # nothing open any more
        assert settle()
    assert (door.count, gate.count) == (1, 0)
    assert native_stderr.unattributed_decoder_errors() == before + 2


def test_a_line_cut_in_two_by_a_marker_is_still_one_line() -> None:
    door = DecoderErrors("door")
    with capture_logs() as logs, captured():
        os.write(2, FFMPEG_LINE[:20])
        with reading(door):  # another thread's half line, then our enter marker, then the rest
            pass
        os.write(2, FFMPEG_LINE[20:])
        assert settle()
    assert [r["text"] for r in native_records(logs)] == [FFMPEG_LINE.decode().strip()]


def test_python_stderr_stays_off_the_pipe_and_uninstall_gives_fd_2_back() -> None:
    original_stderr, original_fd2 = sys.stderr, os.fstat(2)
    with capture_logs() as logs, captured():
        assert sys.stderr is not original_stderr
        assert os.fstat(sys.stderr.fileno()).st_ino == original_fd2.st_ino  # a duplicate of the original fd 2
        assert os.fstat(2).st_ino != original_fd2.st_ino  # the pipe
        print("a Python line", file=sys.stderr)
        assert settle()
    assert native_records(logs) == []
    assert sys.stderr is original_stderr and os.fstat(2).st_ino == original_fd2.st_ino
    assert not native_stderr.installed()


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    prelude = (
        "import os, sys, faulthandler\n"
        "from face01d import native_stderr\n"
        "from face01d.log import configure_logging\n"
    )
    return subprocess.run([sys.executable, "-c", prelude + body], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONFAULTHANDLER": ""})


def test_in_a_process_native_lines_are_json_and_python_logs_are_not_wrapped() -> None:
    result = run_script(
        "configure_logging('info')\n"
        "native_stderr.install()\n"
        "import structlog\n"
        "structlog.get_logger('t').warning('python warning', n=1)\n"
        "os.write(2, b'[h264 @ 0x1] error while decoding MB 1 2\\n')\n"
        "native_stderr.uninstall()\n"
        "os.write(2, b'raw after uninstall\\n')\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any('"event": "python warning"' in line for line in lines), lines
    [native] = [line for line in lines if '"event": "native stderr"' in line]
    assert '"text": "[h264 @ 0x1] error while decoding MB 1 2"' in native and '"decoder_error": true' in native
    assert lines[-1] == "raw after uninstall"
    assert not any(line.startswith("[h264") for line in lines), "a native line reached stderr raw"


def test_faulthandler_still_writes_to_the_original_stderr_after_a_crash() -> None:
    result = run_script("faulthandler.enable()\nnative_stderr.install()\nfaulthandler._sigsegv()\n")
    assert result.returncode != 0
    assert "Fatal Python error" in result.stderr, result.stderr  # lost in the pipe if faulthandler wrote to fd 2


def test_mediapipe_start_up_chatter_is_a_debug_record_not_a_warning() -> None:
    chatter = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    with capture_logs() as logs, captured():
        os.write(2, chatter)
        assert settle()
    assert native_records(logs) == []
    [record] = [entry for entry in logs if entry["event"] == "native library output"]
    assert record["log_level"] == "debug" and record["text"] == chatter.decode().strip()


def test_a_real_mediapipe_detector_under_the_capture_leaves_stderr_json_and_warning_free() -> None:
    result = run_script(
        "import numpy as np\n"
        "from face01d.config.models import LogFormat\n"
        "configure_logging('info', LogFormat.JSON, all_to_stderr=True)\n"
        "native_stderr.install()\n"
        "from face01d.vision.detectors import MediapipeDetector\n"
        "detector = MediapipeDetector('short')\n"
        "assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []\n"
        "detector.close()\n"
        "native_stderr.uninstall()\n"
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines
    assert not [line for line in lines if '"native stderr"' in line], lines
