"""The suite's output: a table on stdout and the same rows as JSON."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from common import Row, fmt

SECTIONS = {
    "baseline": "1. Baseline: face_recognition's fast webcam loop",
    "e2e": "2. face01d end to end (pace none, cache warm)",
    "open": "2. face01d end to end: gallery without 金正恩",
    "stage": "3. Per stage (exit report of the row-2 runs)",
    "live": "4. Live mode (pace native; each row: the worst camera or event)",
    "cameras": "9. Live 1080p30 cameras on one node, every frame detected",
    "gallery": "5. Gallery scale (synthetic identities)",
    "startup": "6. Start-up",
}
LABEL_WIDTH = 58
VALUE_WIDTH = 30
TARGET_WIDTH = 16


def width(text: str) -> int:
    """Terminal columns: CJK names take two each."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    if width(text) > columns:
        while width(text) > columns - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (columns - width(text))


def value_text(row: Row) -> str:
    if row.value is None:
        return "n/a"
    digits = 3 if row.unit == "s" else (2 if row.unit in ("x", "ms/face") else 1)
    return f"{fmt(row.value, digits)} {row.unit}".strip() if isinstance(row.value, (int, float)) else str(row.value)


def result_text(row: Row) -> str:
    if row.status == "missed":
        return "MISSED " + row.margin.removeprefix("missed").strip()
    if row.status == "n/a":
        return f"n/a ({row.margin})" if row.margin else "n/a"
    return row.margin


def machine_lines(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{name} {version}" for name, version in machine.get("packages", {}).items())
    git = machine.get("git", {})
    load = machine.get("load_average_at_start")
    lines = [
        f"face01d benchmark, {machine.get('date')}",
        f"machine: {machine.get('cpu')}, {machine.get('cores')} cores ({machine.get('usable_cores')} usable), "
        f"Python {machine.get('python')}, {machine.get('platform')}",
        f"packages: {packages}",
        f"git: {git.get('commit', '?')} with {git.get('uncommitted_files', '?')} uncommitted files; "
        f"load average at start: {' '.join(map(str, load)) if load else 'n/a'}",
    ]
    if load and load[0] > 0.5:
        lines.append("WARNING: the machine was busy before the run started; timings are pessimistic and noisy")
    return lines


def table_lines(rows: list[Row]) -> list[str]:
    header = f"{pad('row', LABEL_WIDTH)} {pad('measured', VALUE_WIDTH)} {pad('target', TARGET_WIDTH)} result"
    lines, section = [header, "-" * len(header)], None
    for row in rows:
        prefix = row.id.split(".", 1)[0]
        if SECTIONS.get(prefix, prefix) != section:
            section = SECTIONS.get(prefix, prefix)
            lines.append(f"{section}")
        lines.append(f"  {pad(row.label, LABEL_WIDTH - 2)} {pad(value_text(row), VALUE_WIDTH)} "
                     f"{pad(row.target or '-', TARGET_WIDTH)} {result_text(row)}")
        if row.note:
            lines.append(f"      {row.note}")
    return lines


def summary(rows: list[Row]) -> dict[str, int]:
    counts = Counter(row.status for row in rows)
    return {status: counts.get(status, 0) for status in ("met", "missed", "n/a", "error", "info")}


def print_report(machine: dict[str, Any], rows: list[Row], seconds: float) -> None:
    counts = summary(rows)
    lines = [*machine_lines(machine), "", *table_lines(rows), "",
             f"targets: {counts['met']} met, {counts['missed']} missed, {counts['n/a']} not reported, "
             f"{counts['error']} rows failed; the run took {seconds:.0f} s"]
    print("\n".join(lines), flush=True)


def write_json(path: Path, machine: dict[str, Any], rows: list[Row], seconds: float, extra: dict[str, Any]) -> None:
    payload = {"machine": machine, "duration_s": round(seconds, 1), "summary": summary(rows), **extra,
               "rows": [row.as_dict() for row in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
