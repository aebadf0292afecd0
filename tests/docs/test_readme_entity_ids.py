"""The entity ids in the README's Home Assistant automations are the ones Home Assistant really builds.

Home Assistant (before 2025.10, and wherever it ignores ``default_entity_id``)
names an MQTT entity ``<domain>.<slug(device name)>_<slug(entity name)>``,
with its own ``slugify`` (python-slugify: lower case, apostrophes dropped,
every other run of non-alphanumerics one ``_``, none at the ends). This test
builds the README example's discovery payloads (node ``face01d``, camera
``door`` with ``access = true``, person ``Alice``), derives each entity's id
from its names by those rules, independently of face01d's own code, checks
the payload's ``default_entity_id`` says the same, and checks that every
face01d id the README's YAML uses is one of them, that the door is opened
from the ``access`` event's ``granted`` and never from ``recognized``, and
that the device trigger's ``discovery_id`` is the one its config topic gives.
"""

from __future__ import annotations

import re
from pathlib import Path

from face01d.sinks.discovery import DiscoveryContext, all_configs
from face01d.sinks.topics import Topics

README = Path(__file__).resolve().parents[2] / "README.md"
NODE, CAMERA, PEOPLE = "face01d", "door", ["Alice"]  # the README's example: ASCII names only
_YAML = re.compile(r"```yaml\n(.*?)```", re.S)
_ENTITY = re.compile(r"\bentity_id:\s*([a-z_]+\.[a-z0-9_]+)")
_DISCOVERY_ID = re.compile(r"\bdiscovery_id:\s*(.+?)\s*$", re.M)


def ha_slugify(text: str) -> str:
    """Home Assistant's ``homeassistant.util.slugify`` for ASCII text."""
    text = re.sub(r"(?<=\d),(?=\d)", "", text.lower().replace("'", ""))
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "unknown"


def example_configs() -> list[tuple[str, dict]]:
    ctx = DiscoveryContext(Topics("face01", NODE), NODE, access_cameras=frozenset({CAMERA}))
    return all_configs(ctx, [CAMERA], PEOPLE)


def built_ids() -> dict[str, dict]:
    """``{entity id Home Assistant builds: payload}`` for every entity of the example."""
    ids = {}
    for topic, payload in example_configs():
        component = topic.split("/")[1]
        if "name" in payload:  # device triggers are not entities
            ids[f"{component}.{ha_slugify(payload['device']['name'])}_{ha_slugify(payload['name'])}"] = payload
    return ids


def yaml_blocks(text: str) -> list[str]:
    return _YAML.findall(text)


def face01d_entity_ids(text: str) -> set[str]:
    """Entity ids in the YAML blocks that are face01d's (their object id starts with the device's slug)."""
    found = {match for block in yaml_blocks(text) for match in _ENTITY.findall(block)}
    return {entity for entity in found if entity.split(".", 1)[1].startswith(f"{ha_slugify(NODE)}_")}


def test_default_entity_ids_are_what_home_assistant_builds_from_the_names() -> None:
    for entity_id, payload in built_ids().items():
        assert payload["default_entity_id"] == entity_id


def test_the_readme_uses_the_ids_home_assistant_builds() -> None:
    text = README.read_text(encoding="utf-8")
    used = face01d_entity_ids(text)
    assert used, "the README's automations name no face01d entity"
    assert used <= built_ids().keys(), f"not built by Home Assistant: {sorted(used - built_ids().keys())}"


def test_the_door_opens_on_a_granted_access_event_only() -> None:
    text = README.read_text(encoding="utf-8")
    [door] = [block for block in yaml_blocks(text) if "lock.unlock" in block]
    [event_entity] = [e for e, p in built_ids().items() if p.get("event_types") and CAMERA in p["state_topic"]]
    assert set(_ENTITY.findall(door)) - {"lock.front_door"} == {event_entity}
    assert "event_type == 'access'" in door and "e.granted" in door
    assert "'recognized'" not in door


def test_the_device_triggers_discovery_id_is_its_config_topics() -> None:
    text = README.read_text(encoding="utf-8")
    triggers = {" ".join(topic.split("/")[2:4]) for topic, p in example_configs() if "automation_type" in p}
    used = {match for block in yaml_blocks(text) for match in _DISCOVERY_ID.findall(block)}
    assert used and used <= triggers, (used, triggers)
