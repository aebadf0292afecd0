"""docs/config.md and config.toml cannot drift from face01d/config/models.py."""

from __future__ import annotations

import re
from pathlib import Path

from face01d.config import reference

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_TOML = REPO_ROOT / "config.toml"

_SECTION = re.compile(r"^#?\s*\[(\[)?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?$")
_ACTIVE_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_COMMENTED_KEY = re.compile(r"^#\s?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\S")  # "# key = ...", at the start of a line


def toml_keys(text: str) -> dict[str, set[str]]:
    """``{section: keys}`` of a commented config.toml: keys set, and keys shown commented out as ``# key = ...``.

    A commented-out table header (``# [http]``) opens its section too. Indented
    comments continue the text of the line above and are not keys.
    """
    keys: dict[str, set[str]] = {}
    section: str | None = None
    for line in text.splitlines():
        header = _SECTION.match(line)
        if header:
            section = header.group(2)
            keys.setdefault(section, set())
            continue
        if section is None:
            continue  # the file's opening comment
        match = _ACTIVE_KEY.match(line) if not line.lstrip().startswith("#") else _COMMENTED_KEY.match(line)
        if match:
            keys[section].add(match.group(1))
    return keys


def test_docs_config_md_is_what_the_generator_writes():
    committed = reference.DEFAULT_OUTPUT.read_text(encoding="utf-8") if reference.DEFAULT_OUTPUT.exists() else ""
    assert committed == reference.render(), (
        f"docs/config.md is out of date with face01d/config/models.py: run `{reference.GENERATOR}` and commit it"
    )


def test_config_toml_shows_every_key_of_the_schema_and_nothing_else():
    schema = {section: set(keys) for section, keys in reference.schema_keys().items()}
    shown = toml_keys(CONFIG_TOML.read_text(encoding="utf-8"))
    problems: list[str] = []
    for section in sorted(schema.keys() | shown.keys()):
        if section not in shown:
            problems.append(f"[{section}]: section missing from config.toml (keys: {', '.join(sorted(schema[section]))})")
            continue
        if section not in schema:
            problems.append(f"[{section}]: section in config.toml that the schema does not have")
            continue
        missing = sorted(schema[section] - shown[section])
        unknown = sorted(shown[section] - schema[section])
        if missing:
            problems.append(f"[{section}]: in the schema but not in config.toml (set or as `# key = ...`): "
                            + ", ".join(missing))
        if unknown:
            problems.append(f"[{section}]: in config.toml but not in the schema: " + ", ".join(unknown))
    assert not problems, "config.toml and face01d/config/models.py disagree:\n  " + "\n  ".join(problems)


def test_toml_keys_reads_set_and_commented_keys_but_not_prose():
    text = (
        "# FACE01D_MQTT__PASSWORD=... header prose\n[daemon]\nnode_id = \"x\"  # a = b\n# lock_file = \"...\"\n"
        "                              # auto: every frame = prose\n# Every key is shown\n"
        "[[cameras]]\nname = \"a\"\n# [http]\n# enabled = false\n"
    )
    assert toml_keys(text) == {"daemon": {"node_id", "lock_file"}, "cameras": {"name"}, "http": {"enabled"}}


def test_the_generator_names_every_section_and_key():
    text = reference.render()
    for section, keys in reference.schema_keys().items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"| `{key}` |" in text
