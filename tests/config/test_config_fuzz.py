"""Fuzzing the config loader: whatever the document, the answer is a Config or
one ConfigError whose every line names the file (and line) or the key path;
never a traceback, never another exception type."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from face01d.config.loader import load_config
from face01d.config.models import CameraConfig, Config
from face01d.errors import ConfigError
from support.toml_text import render_config as render

SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SECTIONS = {name: field.annotation for name, field in Config.model_fields.items() if name != "cameras"}
UNKNOWN = "no_such_key"

# Every line: "<file>[:<line>]: <key.path>: <message>", "environment X: key: ...", or "<file>: <what>".
LINE = re.compile(r"^(?:environment FACE01D_\S+: \S+: |.+?\.toml(?::\d+)?: (?:\S+: )?).+")

plain_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), plain_text)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "name", "x y"]), scalars, max_size=2),
)


@st.composite
def tables(draw: st.DrawFn, keys: list[str]) -> dict[str, Any]:
    return draw(st.dictionaries(st.sampled_from([*keys, UNKNOWN]), values, max_size=4))


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Real sections and keys with values of any type (often the wrong one), unknown keys now and then."""
    names = draw(st.lists(st.sampled_from([*SECTIONS, "mqqt"]), unique=True, max_size=3))
    sections = {name: draw(tables(list(SECTIONS[name].model_fields) if name in SECTIONS else [])) for name in names}
    camera_keys = list(CameraConfig.model_fields)
    cameras = draw(st.lists(st.fixed_dictionaries({"name": plain_text, "source": plain_text}).flatmap(
        lambda base: tables(camera_keys).map(lambda extra: {**base, **extra})), max_size=2))
    return sections, cameras


FRAGMENTS = [*"[]=\"'{},.#\n 0123456789abcdefgh_-+", "[[cameras]]", "[mqtt]", "[daemon]", "port", "name",
             "source", "node_id", "enabled", "true", "\\u", "\n"]
toml_ish = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)


def outcome(path: Path) -> str:
    """'ok' or the ConfigError's text; any other exception fails the test with its traceback."""
    try:
        load_config(path)
    except ConfigError as error:
        message = str(error)
        assert message, "an empty error message"
        for line in message.splitlines():
            assert LINE.match(line), f"a line names neither file nor key: {line!r}"
        return message
    return "ok"


@SETTINGS
@given(document=documents())
def test_any_document_gives_a_config_or_a_config_error(tmp_path: Path, document) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(render(*document), encoding="utf-8")
    outcome(path)


@SETTINGS
@given(document=documents(), section=st.sampled_from(sorted(SECTIONS)))
def test_an_unknown_key_is_always_named(tmp_path: Path, document, section: str) -> None:
    sections, cameras = document
    sections = {**sections, section: {**sections.get(section, {}), UNKNOWN: 1}}
    path = tmp_path / "fuzz.toml"
    path.write_text(render(sections, cameras), encoding="utf-8")
    message = outcome(path)
    assert message != "ok"
    assert f"{section}.{UNKNOWN}" in message or "not valid TOML" in message or "cameras" in message


@SETTINGS
@given(text=toml_ish)
def test_toml_ish_text_gives_a_config_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    outcome(path)


@pytest.mark.parametrize("text", [
    "[mqtt]\nport = [1, 'a']\n",
    "[[cameras]]\nname = 3\nsource = {a = 1}\nenabled = 'yes'\n",
    '[daemon]\nnode_id = "p/#+"\nno_such_key = 1\n',
    "[gallery\n",
    "[snapshots]\ndir = \"a\\u0000\"\n",
])
def test_the_command_exits_3_without_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "face01d", "config", "check", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"face01d: error: {path}") and "Traceback" not in result.stderr
