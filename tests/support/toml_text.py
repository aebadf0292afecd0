"""Writing TOML from Python values, for tests that build config files (tomllib only reads)."""

from __future__ import annotations

import json
import math
from typing import Any


def toml_string(text: str) -> str:
    """JSON's escapes are TOML basic-string escapes; TOML also wants DEL escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def render_config(sections: dict[str, dict[str, Any]], cameras: list[dict[str, Any]]) -> str:
    """A config file: one table per section, then one [[cameras]] table per camera."""
    lines: list[str] = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{toml_string(key)} = {toml_value(value)}" for key, value in table.items()]
    for camera in cameras:
        lines.append("[[cameras]]")
        lines += [f"{toml_string(key)} = {toml_value(value)}" for key, value in camera.items()]
    return "\n".join(lines) + "\n"
