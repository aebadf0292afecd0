"""Jobs carry faces and answers carry encodings: the TLS and ACL set-up the README gives is enough.

A real mosquitto with an ``acl_file`` (the README's lines for prefix
"face01", node "node1") and one with TLS only; a worker and a node encode
through each, and Home Assistant's account, which reads the rest of
face01/#, is denied the jobs and the answers.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from face01d.workers import WorkerLost
from remote_helpers import last_stats, node
from support.broker import HA_PASSWORD, HA_USER, MQTT_PASSWORD, MQTT_USER

WORKER_USER, WORKER_PASSWORD = "face01d-encoder", "enc0der-Pa55"

# What README.md's "Remote encoding" shows, for prefix "face01", node "node1".
REMOTE_ACL = f"""\
user {MQTT_USER}
topic write face01/node1/#
topic read face01/node1/encode/answers
topic write face01/encode/jobs
topic read face01/workers/+/status

user {WORKER_USER}
topic read face01/encode/jobs
topic write face01/+/encode/answers
topic write face01/workers/#

user {HA_USER}
topic deny face01/encode/#
topic deny face01/+/encode/#
topic read face01/#
"""


async def until(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_readme_acl_lets_jobs_through_and_keeps_them_from_others(
        mosquitto_acl, mqtt_recorder, start_worker, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    broker = mosquitto_acl(REMOTE_ACL, users={WORKER_USER: WORKER_PASSWORD})
    watcher = mqtt_recorder(broker, "face01/#", auth=(HA_USER, HA_PASSWORD))
    start_worker(broker, "a", watcher, mqtt={"username": WORKER_USER, "password": WORKER_PASSWORD})
    remote = node(broker, mqtt={"username": MQTT_USER, "password": MQTT_PASSWORD}, remote_fallback="lost")
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        faces = await remote.encode("cam", kim_frame, kim_boxes)
        assert len(faces) == 1 and remote.counts["answered"] == 1
        await until(lambda: any(m.topic == "face01/workers/a/stats" for m in watcher.messages()))
        assert not [m.topic for m in watcher.messages() if "/encode/" in m.topic]  # no face, no encoding
        assert "denied" not in broker.log().lower()  # nothing node or worker did was refused
    finally:
        await remote.stop()


async def test_jobs_travel_over_tls(
        mosquitto_tls, mqtt_recorder, start_worker, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    tls = {"tls": True, "ca_file": str(mosquitto_tls.tls.ca)}
    start_worker(mosquitto_tls, "a", mqtt_recorder(mosquitto_tls, "face01/workers/#"), mqtt=tls)
    remote = node(mosquitto_tls, mqtt=tls, remote_fallback="lost")
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        assert len(await remote.encode("cam", kim_frame, kim_boxes)) == 1
    finally:
        await remote.stop()




async def test_without_its_read_line_a_worker_hears_no_job(
        mosquitto_acl, mqtt_recorder, start_worker, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    """mosquitto grants the $share subscription and applies the ACL to each job (the plain topic):
    the worker's read line is what lets jobs reach it."""
    broker = mosquitto_acl(REMOTE_ACL.replace("topic read face01/encode/jobs\n", ""),
                           users={WORKER_USER: WORKER_PASSWORD})
    watcher = mqtt_recorder(broker, "face01/#", auth=(HA_USER, HA_PASSWORD))
    start_worker(broker, "a", watcher, mqtt={"username": WORKER_USER, "password": WORKER_PASSWORD})
    remote = node(broker, mqtt={"username": MQTT_USER, "password": MQTT_PASSWORD}, remote_fallback="lost",
                  remote_timeout_s=1.0)
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        with pytest.raises(WorkerLost, match="no worker answered"):
            await remote.encode("cam", kim_frame, kim_boxes)
        await until(lambda: last_stats(watcher, "a").get("received") == 0)
    finally:
        await remote.stop()
