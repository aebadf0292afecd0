"""Logging: info to stdout, warnings to stderr, JSON without a TTY, secrets never rendered."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging, structlog
from face01d.config.models import LogFormat
from face01d.log import configure_logging
configure_logging("debug", LogFormat.AUTO, all_to_stderr={all_to_stderr})
log = structlog.get_logger("t")
log.debug("dbg", camera="door")
log.info("hello", camera="door", name="金正恩")
log.warning("careful", password="hunter2")
logging.getLogger("paho").error("from stdlib %s", "logging")
"""


def run(all_to_stderr: bool) -> subprocess.CompletedProcess[str]:
    code = SCRIPT.format(all_to_stderr=all_to_stderr)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_info_and_debug_to_stdout_warnings_and_errors_to_stderr() -> None:
    result = run(all_to_stderr=False)
    out, err = records(result.stdout), records(result.stderr)
    assert [r["event"] for r in out] == ["dbg", "hello"]
    assert [r["level"] for r in err] == ["warning", "error"]
    assert out[1]["name"] == "金正恩" and "金正恩" in result.stdout
    assert err[1]["event"] == "from stdlib logging" and err[1]["logger"] == "paho"  # stdlib records structured too


def test_secrets_are_never_rendered() -> None:
    result = run(all_to_stderr=False)
    assert "hunter2" not in result.stdout + result.stderr
    assert records(result.stderr)[0]["password"] == "**********"


def test_with_events_on_stdout_every_log_goes_to_stderr() -> None:
    result = run(all_to_stderr=True)
    assert result.stdout == ""
    assert [r["event"] for r in records(result.stderr)] == ["dbg", "hello", "careful", "from stdlib logging"]
