"""Native libraries' writes to file descriptor 2 become structured log records.

OpenCV's FFmpeg backend (and dlib, mediapipe's C++) print straight to fd 2,
past structlog: a corrupt frame in the middle of a video was only a raw
``[h264 @ 0x55…] error while decoding MB 12 34`` line in the journal, never
counted, never seen by ``run --once``. ``install()`` points fd 2 at a pipe
and keeps Python's own stderr (``sys.stderr``, the log handlers,
faulthandler) on a duplicate of the original descriptor; a reader thread
turns each native line into a ``native stderr`` warning with its text.

OpenCV sets FFmpeg's log level to ERROR, so every FFmpeg-looking line
(``[component @ 0x…]``) is an error and is counted as a decoder error. It is
charged to the one camera with an FFmpeg capture open (``opened()`` …
``closed()``), if only one is; else to the camera whose read thread is inside
a read (``reading()``) when the line arrives, if exactly one is; else to a
process-wide counter. The first rule matters: FFmpeg decodes H.264 on frame
threads of its own, which report a damaged frame when they finish it, often
after the read that handed them the packet has returned. "When the line
arrives" is decided in the pipe itself, not by the clock: those calls write
markers into the same pipe, so a line written during a read is always read
between that read's two markers, however late the reader thread runs. The
marker bytes never reach the log.
"""

from __future__ import annotations

import contextlib
import faulthandler
import fcntl
import itertools
import os
import re
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from typing import TextIO

import structlog

from face01d.log import retarget_streams

log = structlog.get_logger("face01d.native")

PIPE_SIZE = 1 << 20  # room for a burst of native lines while the reader waits for the GIL
READ_CHUNK = 1 << 16
LOG_LINES_PER_S = 50  # beyond this, lines are still counted but only summarised in the log
SYNC_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 2.0
FFMPEG_LINE = re.compile(rb"^\[[^\]\[@]+ @ 0x[0-9a-fA-F]+\] ")
REPEATED_LINE = re.compile(rb"^\s*Last message repeated (\d+) times")
# mediapipe's C++ start-up chatter (absl, glog, TFLite), as ``vision.detectors.quiet_native_stderr``
# knows it: a debug record there, a debug record here, never a warning
LIBRARY_CHATTER = re.compile(
    rb"^(?:INFO: |WARNING: All log messages before absl|[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\]|"
    rb".*(?:TensorFlow Lite|XNNPACK|absl::|mediapipe|inference_feedback_manager|gl_context|landmark_projection))"
)
_MARK = b"\x00face01d:"  # never produced by a native library's text output
_ENTER, _LEAVE, _OPEN, _CLOSE, _SYNC, _STOP = b">", b"<", b"(", b")", b"=", b"."
_OWN_RECORD = b"native stderr"  # a log line of ours that came back through fd 2: never re-logged


class DecoderErrors:
    """One camera's count of FFmpeg error lines; only the reader thread writes it."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.count = 0
        self.key = next(_keys)


_keys = itertools.count(1)
_unattributed = DecoderErrors("")
_capture: _Capture | None = None
_install_lock = threading.Lock()


def install() -> bool:
    """Capture fd 2 for the rest of the process (the daemon's start); False if already done or impossible."""
    global _capture
    with _install_lock:
        if _capture is not None:
            return False
        try:
            _capture = _Capture()
        except (OSError, ValueError, AttributeError) as error:  # no usable fd 2: nothing to capture
            log.warning("native stderr not captured", error=repr(error))
            return False
        return True


def uninstall() -> None:
    """Give fd 2 back (the daemon's very end); what was already written is logged first."""
    global _capture
    with _install_lock:
        capture, _capture = _capture, None
    if capture is not None:
        capture.close()


def installed() -> bool:
    """Whether fd 2 is ours: code that points fd 2 elsewhere for a while (mediapipe's
    ``quiet_native_stderr``) need not, and should not, hide lines the reader would count."""
    return _capture is not None


def unattributed_decoder_errors() -> int:
    """FFmpeg error lines that no single camera could be charged with (several open, none reading)."""
    return _unattributed.count


@contextlib.contextmanager
def reading(errors: DecoderErrors | None) -> Iterator[None]:
    """Around one blocking read in a camera's thread: native lines meanwhile are that camera's."""
    capture = _capture
    if capture is None or errors is None:
        yield
        return
    capture.mark(_ENTER, errors)
    try:
        yield
    finally:
        capture.mark(_LEAVE, errors)


def opened(errors: DecoderErrors | None) -> None:
    """Before a camera opens its FFmpeg capture: while it is the only one, every FFmpeg line is its."""
    _mark(_OPEN, errors)


def closed(errors: DecoderErrors | None) -> None:
    """After the capture was released (or failed to open)."""
    _mark(_CLOSE, errors)


def _mark(kind: bytes, errors: DecoderErrors | None) -> None:
    capture = _capture
    if capture is not None and errors is not None:
        capture.mark(kind, errors)


def settle(timeout: float = SYNC_TIMEOUT_S) -> bool:
    """Block until every line written to fd 2 before this call is counted (a file's end); True if so."""
    capture = _capture
    return True if capture is None else capture.sync(timeout)


class _Capture:
    """fd 2 → pipe → reader thread; Python's stderr kept on a duplicate of the original fd 2."""

    def __init__(self) -> None:
        sys.stderr.flush()
        self._original = os.dup(2)
        read_fd, self._write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._old_stderr = sys.stderr
        self._stderr = open(  # noqa: SIM115 - closed by close()
            os.dup(self._original), "w", buffering=1, encoding="utf-8", errors="backslashreplace"
        )
        self._faulthandler = faulthandler.is_enabled()
        self._redirect_python(self._old_stderr, self._stderr)
        os.dup2(self._write_fd, 2)
        self._known: weakref.WeakValueDictionary[int, DecoderErrors] = weakref.WeakValueDictionary()
        self._closed = False
        self._syncs: dict[int, threading.Event] = {}
        self._sync_keys = itertools.count(1)
        self._reader = _Reader(read_fd, self._known, self._syncs, self._stderr)
        self._thread = threading.Thread(target=self._reader.run, name="native-stderr", daemon=True)
        self._thread.start()

    def _redirect_python(self, old: TextIO, new: TextIO) -> None:
        """sys.stderr, log handlers and faulthandler move to ``new``: none of them may write into the pipe."""
        sys.stderr = new
        retarget_streams(old, new)
        if self._faulthandler:
            faulthandler.enable(file=new, all_threads=True)

    def mark(self, kind: bytes, errors: DecoderErrors) -> None:
        if self._closed:  # the descriptor may already be another file's
            return
        self._known[errors.key] = errors
        self._write(kind + str(errors.key).encode())

    def sync(self, timeout: float) -> bool:
        if self._closed:
            return True
        key = next(self._sync_keys)
        reached = self._syncs[key] = threading.Event()
        self._write(_SYNC + str(key).encode())
        done = reached.wait(timeout)
        self._syncs.pop(key, None)
        return done

    def close(self) -> None:
        self.sync(STOP_TIMEOUT_S)
        self._closed = True
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(self._original, 2)
        self._write(_STOP)
        self._thread.join(STOP_TIMEOUT_S)
        os.close(self._write_fd)  # children that inherited fd 2 keep the pipe; the reader left on _STOP
        self._redirect_python(self._stderr, self._old_stderr)
        os.close(self._original)
        self._stderr.close()

    def _write(self, payload: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write_fd, _MARK + payload + b"\n")


class _Reader:
    """The reader thread's state: which cameras are inside a read, the line in progress, the log budget."""

    def __init__(
        self,
        fd: int,
        known: weakref.WeakValueDictionary[int, DecoderErrors],
        syncs: dict[int, threading.Event],
        raw: TextIO,
    ) -> None:
        self._fd, self._known, self._syncs, self._raw = fd, known, syncs, raw
        self._reading: set[int] = set()
        self._open: Counter[int] = Counter()
        self._pending = b""
        self._last_charged: DecoderErrors | None = None
        self._window_start, self._logged, self._suppressed = 0.0, 0, 0

    def run(self) -> None:
        """Until the stop marker (or the pipe's end); a failure on one chunk loses only that chunk."""
        try:
            while chunk := os.read(self._fd, READ_CHUNK):
                if not self._feed_safely(chunk):
                    break
        finally:
            self._flush_suppressed()
            os.close(self._fd)

    def _feed_safely(self, chunk: bytes) -> bool:
        try:
            return self._feed(chunk)
        except Exception:  # noqa: BLE001 - a dead reader would fill the pipe and block every writer
            log.exception("native stderr reader failed on a chunk")
            return True

    def _feed(self, chunk: bytes) -> bool:
        """Handle every complete line of ``chunk``; False once the stop marker is read."""
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        carry = b""
        for line in lines:
            line, carry = carry + line, b""
            if _MARK not in line:
                self._line(line)
                continue
            carry, _, marker = line.partition(_MARK)  # text before it: another thread's half line
            if not self._marker(marker):
                return False
        self._pending = carry + self._pending
        return True

    def _marker(self, marker: bytes) -> bool:
        kind, digits = marker[:1], marker[1:]
        key = int(digits) if digits.isdigit() else 0
        if kind == _ENTER:
            self._reading.add(key)
        elif kind == _LEAVE:
            self._reading.discard(key)
        elif kind == _OPEN:
            self._open[key] += 1
        elif kind == _CLOSE:
            self._open -= Counter({key: 1})  # drops the key at zero
        elif kind == _SYNC and (event := self._syncs.get(key)) is not None:
            event.set()
        return kind != _STOP

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        if _OWN_RECORD in line:  # a handler still on fd 2: pass it through rather than loop
            self._raw.write(line.decode("utf-8", "replace") + "\n")
            return
        decoder_error, camera = self._count(line)
        text = line.decode("utf-8", "replace").strip()
        if not decoder_error and LIBRARY_CHATTER.match(line):
            log.debug("native library output", text=text)
            return
        self._log(text, decoder_error, camera)

    def _count(self, line: bytes) -> tuple[bool, str | None]:
        """Charge an FFmpeg line to its camera, else to nobody: (counted, camera)."""
        repeated = REPEATED_LINE.match(line)
        if repeated and self._last_charged is not None:  # FFmpeg folds identical lines into this one
            self._last_charged.count += int(repeated.group(1))
            return True, self._last_charged.camera or None
        self._last_charged = None
        if not FFMPEG_LINE.match(line):
            return False, None
        self._last_charged = self._culprit() or _unattributed
        self._last_charged.count += 1
        return True, self._last_charged.camera or None

    def _culprit(self) -> DecoderErrors | None:
        """The one camera with a capture open, else the one camera inside a read, else nobody."""
        if len(self._open) == 1:
            return self._known.get(next(iter(self._open)))
        if len(self._reading) == 1:
            return self._known.get(next(iter(self._reading)))
        return None

    def _log(self, text: str, decoder_error: bool, camera: str | None) -> None:
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._flush_suppressed()
            self._window_start, self._logged = now, 0
        if self._logged >= LOG_LINES_PER_S:
            self._suppressed += 1
            return
        self._logged += 1
        fields = {"camera": camera} if camera else {}
        log.warning("native stderr", text=text, decoder_error=decoder_error, **fields)

    def _flush_suppressed(self) -> None:
        if self._suppressed:
            log.warning("native stderr lines not logged", lines=self._suppressed, limit_per_s=LOG_LINES_PER_S)
            self._suppressed = 0
