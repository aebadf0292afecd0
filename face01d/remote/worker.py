"""``face01d worker``: encode looks for any node that reaches the broker.

A worker is the process pool a node would run (``ProcessWorkers``, encode
stage only), fed by a shared subscription instead of a camera. The node
aligns each face (the landmarks and dlib's 150×150 chip, a millisecond) and
the worker runs the network on the chip (``describe``), the same two
functions a local pool runs in one call, so a remote encoding equals the
local one bit for bit. It runs ``[workers] processes`` encoders,
announces one more as its MQTT 5 Receive Maximum (the next crop travels
while the last is encoded: with exactly as many, an encoder idles for each
transfer) and acknowledges a job only once answered, so the broker never
gives it more jobs than that; a job whose model
settings (jitters, encoder) differ from its own is refused, not encoded
into something the node's gallery cannot be compared with. Landmarks are
the node's own business: it aligned the chips with them.

It says how it is on ``<prefix>/workers/<id>/status`` (retained JSON, a Last
Will of ``offline``), which nodes read to know whether anyone is there, and
its counters on ``<prefix>/workers/<id>/stats`` every ``remote_stats_s``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from typing import Any

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.config.models import Config
from face01d.errors import ConfigError
from face01d.remote.link import JobClient, Link
from face01d.remote.protocol import Answer, BadMessage, EncodeTopics, Job, ModelSettings, decode_job, encode_answer
from face01d.systemd import SystemdNotifier
from face01d.workers.base import VisionSettings, WorkerLost
from face01d.workers.processes import ProcessWorkers

log = structlog.get_logger(__name__)

PREFETCH = 1  # jobs held beyond its processes: the next crop arrives while the last is encoded
STOP_PUBLISH_S = 2.0  # at stop: the offline status and the last stats, if the broker takes them this soon


def default_worker_id() -> str:
    """The host's name: one worker per host is the usual set-up (``--id`` for more)."""
    return socket.gethostname() or "worker"


class EncodeWorker:
    """One worker: its process pool, its broker link, its counters."""

    def __init__(self, config: Config, worker_id: str) -> None:
        gallery, workers = config.gallery, config.workers
        settings = VisionSettings(config.detector, gallery.landmarks, gallery.jitters, stages=("encode",))
        self.worker_id = worker_id
        self.model = ModelSettings(gallery.landmarks, gallery.jitters)
        self.processes = workers.processes
        self.jobs = workers.processes + PREFETCH  # its Receive Maximum: the jobs it holds at once
        self._group = workers.remote_group
        self._stats_s = workers.remote_stats_s
        self._topics = EncodeTopics(config.mqtt.topic_prefix)
        self._pool = ProcessWorkers(settings, self.processes)
        will = aiomqtt.Will(self._topics.worker_status(worker_id), self._status(False), qos=1, retain=True)
        self._link = Link(config.mqtt, f"face01d-worker-{worker_id}", will, receive_maximum=self.jobs)
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusals_told: set[tuple[str, str]] = set()
        self.counts = {"received": 0, "done": 0, "refused": 0, "failed": 0, "bad": 0, "unanswerable": 0}
        self.in_flight = self.peak_in_flight = 0

    @property
    def stats(self) -> dict[str, Any]:
        return {"worker": self.worker_id, "group": self._group, "processes": self.processes, "jobs": self.jobs,
                "in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight,
                "connected": self._link.client is not None, **self.counts}

    async def run(self, stopping: asyncio.Event) -> None:
        """Load the models, serve until ``stopping``, then say offline and stop the pool."""
        await self._pool.start()
        await self._link.start(self._session)
        log.info("worker ready", worker=self.worker_id, group=self._group, jobs=self.jobs, **self.model.as_dict())
        SystemdNotifier().notify(READY=1, STATUS=f"encoding for group {self._group}")
        reporter = asyncio.create_task(self._report(stopping))
        try:
            await stopping.wait()
        finally:
            reporter.cancel()
            await self._stop()

    async def _stop(self) -> None:
        client = self._link.client
        if client is not None:
            try:
                async with asyncio.timeout(STOP_PUBLISH_S):
                    await client.publish(self._topics.worker_stats(self.worker_id), json.dumps(self.stats), qos=0)
                    await client.publish(self._topics.worker_status(self.worker_id), self._status(False), 1,
                                         retain=True)
            except (TimeoutError, aiomqtt.MqttError):
                pass
        await self._link.stop()
        for task in self._tasks:
            task.cancel()
        await self._pool.stop()
        log.info("worker stopped", **self.stats)

    def _status(self, online: bool) -> bytes:
        status = {"state": "online" if online else "offline", "group": self._group, "worker": self.worker_id}
        if online:
            status |= {"processes": self.processes, "jobs": self.jobs, "model": self.model.as_dict()}
        return json.dumps(status).encode("utf-8")

    async def _report(self, stopping: asyncio.Event) -> None:
        """The counters on MQTT every ``remote_stats_s`` (QoS 0, latest wins)."""
        while self._stats_s > 0 and not stopping.is_set():
            await asyncio.sleep(self._stats_s)
            client = self._link.client
            if client is not None:
                try:
                    await client.publish(self._topics.worker_stats(self.worker_id), json.dumps(self.stats), qos=0)
                except aiomqtt.MqttError:
                    pass

    # -- jobs ---------------------------------------------------------------------------------

    async def _session(self, client: JobClient) -> None:
        """Take jobs from the shared subscription, say online, serve each job on its own task."""
        await client.subscribe_or_fail(self._topics.shared_jobs(self._group))
        await client.publish(self._topics.worker_status(self.worker_id), self._status(True), 1, retain=True)
        async for message in client.messages:
            task = asyncio.create_task(self._serve(client, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, client: JobClient, message: aiomqtt.Message) -> None:
        """Answer one job to its Response Topic, then acknowledge it (the broker's cue for the next)."""
        self.counts["received"] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            answer = await self._answer(message)
            await self._reply(client, message, answer)
            client.ack(message)
        except aiomqtt.MqttError as exc:  # the connection dropped: the node resends, or falls back
            log.debug("worker.answer_lost", error=str(exc))
        finally:
            self.in_flight -= 1

    async def _answer(self, message: aiomqtt.Message) -> Answer:
        ident = _correlation(message)
        try:
            job = decode_job(bytes(message.payload))  # type: ignore[arg-type]
        except (BadMessage, TypeError) as exc:
            self.counts["bad"] += 1
            log.warning("worker.bad_job", error=str(exc))
            return Answer(ident or "?", self.worker_id, error=f"bad job: {exc}")
        if (why := self.model.differences(job.model)) is not None:
            self.counts["refused"] += 1
            level = log.debug if (job.node, why) in self._refusals_told else log.warning
            self._refusals_told.add((job.node, why))
            level("worker.refused", node=job.node, camera=job.camera, reason=why)  # once per node and reason
            return Answer(job.id, self.worker_id, refused=f"model settings differ: {why}")
        return await self._encode(job)

    async def _encode(self, job: Job) -> Answer:
        started = time.monotonic()
        try:
            faces = await self._pool.describe(f"{job.node}/{job.camera}", job.faces)
        except WorkerLost as exc:
            self.counts["failed"] += 1
            return Answer(job.id, self.worker_id, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - the node hears why, as from a local pool
            self.counts["failed"] += 1
            log.warning("worker.job_failed", error=f"{type(exc).__name__}: {exc}")
            return Answer(job.id, self.worker_id, error=f"{type(exc).__name__}: {exc}")
        self.counts["done"] += 1
        return Answer(job.id, self.worker_id, tuple(faces), encode_ms=round((time.monotonic() - started) * 1000, 1))

    async def _reply(self, client: JobClient, message: aiomqtt.Message, answer: Answer) -> None:
        topic = getattr(message.properties, "ResponseTopic", None)
        if not topic:
            self.counts["unanswerable"] += 1
            return
        properties = Properties(PacketTypes.PUBLISH)
        properties.CorrelationData = answer.id.encode("utf-8")
        await client.publish(topic, encode_answer(answer), qos=1, properties=properties)


def _correlation(message: aiomqtt.Message) -> str | None:
    data = getattr(message.properties, "CorrelationData", None)
    return bytes(data).decode("utf-8", "replace") if data else None


async def serve(config: Config, worker_id: str) -> None:
    """The ``face01d worker`` service: until SIGTERM or SIGINT."""
    if not config.mqtt.enabled:
        raise ConfigError("face01d worker takes its jobs from the MQTT broker: set [mqtt] enabled = true")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await EncodeWorker(config, worker_id).run(stopping)
