"""The event payload's JSON Schema (face01d/events/event.schema.json), for tests.

Every event a test sees — printed by ``--stdout``, published on MQTT, or made
by ``Event.to_dict`` — is checked against the file consumers are pointed to,
so the schema cannot drift from what the daemon sends.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

EVENT_SCHEMA_PATH = Path(__file__).resolve().parents[2] / "face01d" / "events" / "event.schema.json"


@cache
def event_validator() -> Draft202012Validator:
    schema = json.loads(EVENT_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate_event(event: Any) -> Any:
    """``event`` unchanged, or an AssertionError listing every way it breaks the schema."""
    errors = sorted(event_validator().iter_errors(event), key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)
        raise AssertionError(f"event does not match {EVENT_SCHEMA_PATH.name}:\n{details}\nevent: {event!r}")
    return event


def parse_event(text: str | bytes) -> dict[str, Any]:
    """One event's JSON (a ``--stdout`` line or an MQTT payload), validated."""
    return validate_event(json.loads(text))
