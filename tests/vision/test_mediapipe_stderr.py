"""mediapipe's native start-up lines stay off the daemon's structured stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

NATIVE_LINES = ("INFO: Created TensorFlow Lite XNNPACK delegate", "WARNING: All log messages before absl::InitializeLog",
                "inference_feedback_manager.cc")

SCRIPT = textwrap.dedent("""
    import numpy as np
    from face01d.config.models import LogFormat
    from face01d.log import configure_logging
    from face01d.vision.detectors import MediapipeDetector

    configure_logging("{level}", LogFormat.JSON, all_to_stderr=True)
    detector = MediapipeDetector("short")
    assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []
    assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []
    detector.close()
""")


def run_detector(level: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(level=level)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_native_start_up_lines_are_one_debug_record_not_raw_stderr():
    done = run_detector("debug")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    raw = [line for line in lines if not line.startswith("{")]
    assert not raw, f"non-JSON lines on stderr: {raw}"
    records = [json.loads(line) for line in lines]
    native = [record for record in records if record.get("event") == "native library output"]
    assert native and all(record["level"] == "debug" for record in native)
    assert any(NATIVE_LINES[0] in text for record in native for text in record["lines"])  # it was captured


def test_at_info_level_stderr_has_none_of_them():
    done = run_detector("info")
    for marker in NATIVE_LINES:
        assert marker not in done.stderr, done.stderr
