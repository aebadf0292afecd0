"""ACLs: the lines a face01d node needs (README, "Broker security") are enough, and a denied event is not "delivered".

The broker is a real mosquitto with a password file and an ``acl_file``; a
recorder logged in as Home Assistant (read access to everything face01d
says) checks what got through, and the broker's own log shows nothing the
node tried was denied.
"""

from __future__ import annotations

import asyncio

import pytest
import structlog
from mqtt_helpers import NODE, fast_timing, make_event, make_sink, wait_until  # noqa: F401
from support.broker import HA_PASSWORD, HA_USER, MQTT_PASSWORD, MQTT_USER

# What README.md's "Broker security" shows, for prefix "face01", node "node1", discovery prefix "homeassistant".
NODE_ACL = f"""\
# face01d node "{NODE}": its own topics, its discovery configs, and
# Home Assistant's birth message.
user {MQTT_USER}
topic write face01/{NODE}/#
topic write homeassistant/+/{NODE}/#
topic read homeassistant/status

user {HA_USER}
topic read face01/#
topic readwrite homeassistant/#
"""

# The same with mosquitto's %u, for one account per node named after its node_id.
PATTERN_ACL = f"""\
pattern write face01/%u/#
pattern write homeassistant/+/%u/#
pattern read homeassistant/status

user {HA_USER}
topic read face01/#
topic readwrite homeassistant/#
"""

# Everything the node says except its events.
NO_EVENTS_ACL = f"""\
user {MQTT_USER}
topic write face01/{NODE}/status
topic write face01/{NODE}/stats
topic write face01/{NODE}/+/status
topic write face01/{NODE}/+/last_recognized
topic write face01/{NODE}/+/person/#
topic write face01/{NODE}/+/recognized/#
topic write homeassistant/+/{NODE}/#
topic read homeassistant/status

user {HA_USER}
topic read face01/#
"""

EVENT_TOPIC = f"face01/{NODE}/door/event"
STATUS_TOPIC = f"face01/{NODE}/status"


def _say_everything(sink) -> None:
    """One of each kind of message a node publishes."""
    sink.camera_status("door", True)
    sink.publish_event(make_event(1))  # also last_recognized, the device trigger
    sink.set_presence("door", "Alice", True)
    sink.publish_snapshot("door", b"\xff\xd8jpeg\xff\xd9")
    sink.publish_stats({"frames": 1})


@pytest.mark.parametrize(("acl", "user", "password"),
                         [(NODE_ACL, MQTT_USER, MQTT_PASSWORD), (PATTERN_ACL, NODE, "n0de-Pa55")],
                         ids=["per-user", "pattern-%u"])
async def test_the_documented_acl_lets_everything_through(mosquitto_acl, mqtt_recorder, make_sink, acl, user, password):
    broker = mosquitto_acl(acl, users={user: password})
    recorder = mqtt_recorder(broker, "#", auth=(HA_USER, HA_PASSWORD))
    sink = make_sink(broker.port, username=user, password=password, publish_snapshots=True)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    _say_everything(sink)
    await recorder.wait_for(lambda ms: any(m.topic == EVENT_TOPIC for m in ms))
    topics = {m.topic for m in recorder.messages()}
    assert STATUS_TOPIC in topics and any(t.startswith(f"homeassistant/binary_sensor/{NODE}/") for t in topics)
    assert {f"face01/{NODE}/door/last_recognized", f"face01/{NODE}/stats", f"face01/{NODE}/door/snapshot"} <= topics
    with structlog.testing.capture_logs() as logs:  # the birth message: subscribing was allowed
        recorder.publish("homeassistant/status", "online")
        await wait_until(lambda: any(e["event"] == "mqtt.home_assistant_online" for e in logs))
    await sink.stop()
    assert "Denied" not in broker.log(), [line for line in broker.log().splitlines() if "Denied" in line]
    assert sink.stats["rejected"] == 0 and sink.stats["state_rejected"] == 0


async def test_an_event_the_acl_denies_is_set_aside_not_delivered(mosquitto_acl, mqtt_recorder, make_sink):
    broker = mosquitto_acl(NO_EVENTS_ACL)
    recorder = mqtt_recorder(broker, "#", auth=(HA_USER, HA_PASSWORD))
    sink = make_sink(broker.port, username=MQTT_USER, password=MQTT_PASSWORD)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["connected"])
        sink.publish_event(make_event(1))
        sink.publish_event(make_event(2))
        await wait_until(lambda: sink.stats["outbox"] == 0 and not sink.stats["queued"], timeout=3.0)
        await recorder.wait_for(lambda ms: any(m.topic.endswith("/last_recognized") for m in ms))
        await asyncio.sleep(0.3)
    assert broker.count_log(f"Denied PUBLISH from face01d-{NODE}") >= 2  # the broker did refuse them
    rejected = [e for e in logs if e["event"] == "mqtt.event_rejected"]
    assert [e["event_id"] for e in rejected] == ["event-0001", "event-0002"], logs
    assert "not authorized" in rejected[0]["error"].lower()
    assert sink.stats["rejected"] == 2 and sink.stats["connected"] and sink.stats["reconnects"] == 0
    assert not recorder.payloads(EVENT_TOPIC)
