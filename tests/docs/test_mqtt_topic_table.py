"""The README's MQTT topic table lists exactly the topics face01d/sinks/topics.py can produce."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from face01d.sinks.topics import Topics

README = Path(__file__).resolve().parents[2] / "README.md"
PLACEHOLDERS = Topics(prefix="<prefix>", node="<node>")


def topic_patterns() -> dict[str, str]:
    """``{member: pattern}`` for every public property and method of Topics, arguments as ``<parameter>``.

    A member whose result is only the start of other topics (``base``,
    ``camera``) is a building block, not a topic anything is published on.
    """
    produced: dict[str, str] = {}
    for name, member in inspect.getmembers(Topics):
        if name.startswith("_") or name in ("prefix", "node"):
            continue
        if isinstance(member, property):
            produced[name] = getattr(PLACEHOLDERS, name)
        elif inspect.isfunction(member):
            parameters = list(inspect.signature(member).parameters)[1:]
            produced[name] = getattr(PLACEHOLDERS, name)(*(f"<{p}>" for p in parameters))
    return {name: pattern for name, pattern in produced.items()
            if not any(other.startswith(pattern + "/") for other in produced.values())}


def readme_topic_rows(text: str) -> list[str]:
    """The first column (a `code` span) of each row of the first table under "## MQTT"."""
    section = re.search(r"^## MQTT\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "README.md has no '## MQTT' section"
    rows: list[str] = []
    in_table = False
    for line in section.group(1).splitlines():
        if line.startswith("|"):
            in_table = True
            first = line.strip().strip("|").split("|")[0].strip()
            code = re.fullmatch(r"`([^`]+)`", first)
            if code:
                rows.append(code.group(1))
        elif in_table:
            break
    return rows


def test_the_readme_topic_table_is_exactly_what_topics_py_produces():
    rows = readme_topic_rows(README.read_text(encoding="utf-8"))
    patterns = topic_patterns()
    missing = {name: pattern for name, pattern in patterns.items() if pattern not in rows}
    extra = [row for row in rows if row not in patterns.values()]
    problems = [f"no README row for Topics.{name}: `{pattern}`" for name, pattern in sorted(missing.items())]
    problems += [f"README row `{row}` is a topic face01d/sinks/topics.py does not produce" for row in extra]
    assert not problems, "README.md '## MQTT' topic table and face01d/sinks/topics.py disagree:\n  " + "\n  ".join(problems)
    assert len(rows) == len(set(rows)), f"duplicate README rows: {rows}"


def test_the_parsers_see_the_known_topics():
    patterns = topic_patterns()
    assert patterns["status"] == "<prefix>/<node>/status"
    assert patterns["camera_event"] == "<prefix>/<node>/<camera>/event"
    assert patterns["person"] == "<prefix>/<node>/<camera>/person/<name>"
    assert "base" not in patterns and "camera" not in patterns  # building blocks
    table = "## MQTT\n\n| topic | payload |\n|---|---|\n| `a/status` | x |\n| `a/<camera>/event` | y |\n\nprose | `z` |\n"
    assert readme_topic_rows(table) == ["a/status", "a/<camera>/event"]
