"""The node's side of remote encoding: ``RemoteEncoder``, a VisionWorkers that encodes through the broker.

A look becomes a job: the faces aligned here (dlib's 150×150 chips, cut
from the frame on the node's own align thread), published
QoS 1 on ``<prefix>/encode/jobs`` with the node's answers topic as MQTT 5
Response Topic, the job id as Correlation Data and a Message Expiry no
longer than a job's deadline (whole seconds, at least one: MQTT's unit).
Workers read the jobs through a shared subscription, so the broker spreads
them; no cluster of our own.

Each job has a deadline (``remote_timeout_s``); unanswered, it is sent once
more, and an answer to either copy is used, the first only: later ones are
counted and dropped by job id (``ledger.py``). Still unanswered, or refused
(a worker with other model settings), or with nobody to send it to (the
broker is away, no worker of the group is online), the look is encoded
locally or counted lost, as ``remote_fallback`` says, and said once per
outage: a warning when it begins, a line when answers come back, counters
in ``stats`` and ``health`` for ``/readyz``.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import aiomqtt
import numpy as np
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.config.models import MqttConfig, SetArea, WorkersConfig
from face01d.faces import Detection, EncodedFace, FaceBox
from face01d.remote.ledger import Ledger, Roster
from face01d.remote.link import JobClient, Link
from face01d.remote.protocol import (Answer, BadMessage, EncodeTopics, Job, ModelSettings, decode_answer,
                                     encode_job)
from face01d.sinks.link import PacketTooLarge, check_packet_size
from face01d.stats import Percentiles
from face01d.vision.encoder import AlignedFaces, FaceAligner
from face01d.workers.base import PoolHealth, VisionSettings, VisionWorkers, WorkerLost

log = structlog.get_logger(__name__)

ATTEMPTS = 2  # the job, and one resend
CONNECT_WAIT_S = 3.0  # start() waits this long for the broker, then goes on (jobs fall back meanwhile)
STATUS_SETTLE_S = 0.5  # after subscribing, the retained statuses arrive: until then, send anyway
OUTAGE_HOLD_S = 30.0  # a job that found no answer makes the pool unhealthy this long (under WatchdogSec)


class RemoteUnavailable(Exception):
    """No usable answer for a job: why, in words (the fallback's reason)."""


class RemoteEncoder:
    """Encoding on ``face01d worker`` services through the broker; detection is not offered."""

    def __init__(self, config: WorkersConfig, settings: VisionSettings, mqtt: MqttConfig, node_id: str,
                 fallback: VisionWorkers | None = None) -> None:
        self._config = config
        self._node = node_id
        self._model = ModelSettings(settings.landmarks, settings.jitters)
        self._aligner: FaceAligner | None = None  # loaded by start(), used on its one thread only
        self._aligning = ThreadPoolExecutor(1, thread_name_prefix="face01d-align")
        self._pool = settings.pool
        self._topics = EncodeTopics(mqtt.topic_prefix)
        self._answers = self._topics.answers(node_id)
        self._link = Link(mqtt, f"{mqtt.client_id or f'face01d-{node_id}'}-encode")
        self._fallback = fallback
        self._ledger = Ledger()
        self._roster = Roster(config.remote_group)
        self._subscribed_at: float | None = None
        self._subscribed = asyncio.Event()
        self._outage: str | None = None  # why jobs fall back, until one is answered again (logged once)
        self._failed_at: float | None = None  # time.monotonic() of the last fallback
        self._round_trip, self._worker_ms = Percentiles(), Percentiles()  # the whole job; the worker's part
        self.counts = {"jobs": 0, "sent": 0, "resent": 0, "answered": 0, "duplicate": 0, "late": 0, "refused": 0,
                       "failed": 0, "timed_out": 0, "unavailable": 0, "fallback_local": 0, "lost": 0, "bad": 0}

    # -- VisionWorkers ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background (waiting a little for the broker) and start the local fallback pool."""
        await self._link.start(self._session)
        pool = self._fallback.start() if self._fallback is not None else asyncio.sleep(0)
        aligner = asyncio.get_running_loop().run_in_executor(self._aligning, FaceAligner, self._model.landmarks)
        self._aligner, *_ = await asyncio.gather(aligner, pool, self._wait_subscribed())
        log.info("remote encoding started", group=self._config.remote_group, answers=self._answers,
                 fallback=self._config.remote_fallback, connected=self._subscribed.is_set())

    async def detect(self, camera: str, image: np.ndarray, set_area: SetArea | None = None) -> list[Detection]:
        raise NotImplementedError("remote workers only encode: detection stays on this node")

    async def encode(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        """The encodings from a remote worker; if none answers, the fallback's (or WorkerLost)."""
        if not boxes:
            return []
        job = Job(uuid.uuid4().hex, self._node, camera, self._model, await self._align(image, boxes))
        self.counts["jobs"] += 1
        try:
            answer = await self._run(job)
        except RemoteUnavailable as why:
            return await self._fall_back(camera, image, boxes, str(why))
        self._restored()
        return list(answer.faces)

    async def stop(self) -> None:
        """Abandon the jobs in flight (WorkerLost, as a process pool does), disconnect, stop the fallback pool."""
        self._ledger.abandon(WorkerLost("the remote encoder was stopped"))
        self._aligner = None  # a look asked for from now on is lost (WorkerLost), not the executor's RuntimeError
        self._aligning.shutdown(wait=False)
        await self._link.stop()
        if self._fallback is not None:
            await self._fallback.stop()

    async def _align(self, image: np.ndarray, boxes: Sequence[FaceBox]) -> AlignedFaces:
        """The chips of ``boxes``, cut from the BGR frame as it is: the pixels of the crop a local pool
        would encode, so, bit for bit, its chips (tests/remote). dlib holds the GIL here, under a
        millisecond a look."""
        aligner = self._aligner
        if aligner is None:
            raise WorkerLost("the remote encoder is not running")  # not started yet, or stopped
        return await asyncio.get_running_loop().run_in_executor(self._aligning, aligner.align, image, boxes, "bgr")

    # -- what it says -------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, object]:
        return {"connected": self._link.client is not None, "workers_online": self._roster.online,
                "in_flight": self._ledger.in_flight, "problem": self.problem, **self.counts,
                "round_trip_ms": _brief(self._round_trip), "worker_encode_ms": _brief(self._worker_ms)}

    def health(self) -> dict[str, PoolHealth]:
        """The pool as /readyz and the watchdog read it: ``reason`` only while nobody can be recognised.

        That is when jobs have no answer and looks are lost; with the local
        fallback, looks are still encoded, so the pool stays available and
        ``alive`` (workers of the group online, one wanted) shows the loss.
        An outage noticed on a job counts for ``OUTAGE_HOLD_S``, then only
        what is known without jobs (the broker, the statuses) does. The
        workers are not ours to restart, so the watchdog ignores this pool.
        """
        problem = self.problem
        lost = problem is not None and self._config.remote_fallback == "lost"
        reason = f"{problem}; looks are lost" if lost else None
        return {self._pool: PoolHealth(self._roster.online, 1, reason, restart_helps=False)}

    @property
    def problem(self) -> str | None:
        """Why remote encoding does not work now, in words, or None."""
        why = self._unavailable()
        if why is None and self._failed_at is not None and time.monotonic() - self._failed_at < OUTAGE_HOLD_S:
            why = self._outage
        return None if why is None else f"remote encoding: {why}"

    # -- a job ---------------------------------------------------------------------------------

    async def _run(self, job: Job) -> Answer:
        """Send, wait, resend once; the first answer to either copy, or RemoteUnavailable."""
        started = time.monotonic()
        payload = encode_job(job)
        future = self._ledger.open(job.id)
        try:
            for attempt in range(ATTEMPTS):
                if (answer := await self._attempt(job.id, payload, future, attempt)) is not None:
                    return self._accepted(answer, started)
            self.counts["timed_out"] += 1
            raise RemoteUnavailable(f"no worker answered within {ATTEMPTS} × {self._config.remote_timeout_s:g} s")
        finally:
            self._ledger.close(job.id)

    async def _attempt(self, job_id: str, payload: bytes, future: asyncio.Future[Answer],
                       attempt: int) -> Answer | None:
        """One copy of the job out, then its deadline; None when it passed unanswered."""
        if future.done():  # the first copy's answer came in just as its deadline passed: no resend
            return future.result()
        client = self._usable_client()
        try:
            check_packet_size(client, self._topics.jobs, payload)  # over it, the broker would drop the connection
        except PacketTooLarge as exc:
            raise RemoteUnavailable(f"a job of {len(payload)} bytes: {exc}") from None
        try:
            async with asyncio.timeout(self._config.remote_timeout_s):
                await client.publish(self._topics.jobs, payload, qos=1, properties=self._properties(job_id))
                self.counts["sent" if attempt == 0 else "resent"] += 1
                return await asyncio.shield(future)
        except TimeoutError:
            return None
        except aiomqtt.MqttError as exc:
            raise RemoteUnavailable(f"the broker did not take the job: {exc}") from None

    def _usable_client(self) -> JobClient:
        if (why := self._unavailable()) is not None:
            self.counts["unavailable"] += 1
            raise RemoteUnavailable(why)
        assert self._link.client is not None
        return self._link.client

    def _unavailable(self) -> str | None:
        """Why no job can be sent now, or None."""
        if self._link.client is None or self._subscribed_at is None:
            return "not connected to the MQTT broker"
        settled = time.monotonic() - self._subscribed_at >= STATUS_SETTLE_S
        if settled and self._roster.online == 0:
            return f"no worker of group {self._config.remote_group!r} online"
        return None

    def _properties(self, job_id: str) -> Properties:
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = self._answers
        properties.CorrelationData = job_id.encode("ascii")
        properties.MessageExpiryInterval = max(1, math.floor(self._config.remote_timeout_s))
        return properties

    def _accepted(self, answer: Answer, started: float) -> Answer:
        if answer.refused is None and answer.error is None:
            self.counts["answered"] += 1
            self._round_trip.add((time.monotonic() - started) * 1000)
            if answer.encode_ms is not None:
                self._worker_ms.add(answer.encode_ms)
            return answer
        self.counts["refused" if answer.refused is not None else "failed"] += 1
        what = "refused the job" if answer.refused is not None else "failed"
        raise RemoteUnavailable(f"worker {answer.worker} {what}: {answer.refused or answer.error}")

    async def _fall_back(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox],
                         why: str) -> list[EncodedFace]:
        if self._outage is None:
            log.warning("remote.encode_unavailable", reason=why, fallback=self._config.remote_fallback)
        self._outage, self._failed_at = why, time.monotonic()
        if self._fallback is None:
            self.counts["lost"] += 1
            raise WorkerLost(f"remote encoding: {why}")
        self.counts["fallback_local"] += 1
        return await self._fallback.encode(camera, image, boxes)

    def _restored(self) -> None:
        if self._outage is not None:
            log.info("remote.encode_restored", workers_online=self._roster.online, was=self._outage)
            self._outage = self._failed_at = None

    # -- the connection ------------------------------------------------------------------------

    async def _wait_subscribed(self) -> None:
        try:
            await asyncio.wait_for(self._subscribed.wait(), CONNECT_WAIT_S)
        except TimeoutError:
            log.warning("remote encoding: broker not reached yet; looks fall back until it is",
                        fallback=self._config.remote_fallback)

    async def _session(self, client: JobClient) -> None:
        """Subscribe to the answers and the workers' statuses, then hear them until the connection drops."""
        try:
            await client.subscribe_or_fail(self._answers)
            await client.subscribe_or_fail(self._topics.all_statuses)
            self._subscribed_at = time.monotonic()
            self._subscribed.set()
            async for message in client.messages:
                self._heard(message)
        finally:
            self._subscribed_at = None
            self._subscribed.clear()
            self._roster.clear()

    def _heard(self, message: aiomqtt.Message) -> None:
        payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
        topic = message.topic.value
        if topic != self._answers:
            worker = topic.split("/")[-2]
            if (online := self._roster.heard(worker, payload)) is not None:
                log.info("remote.worker_online" if online else "remote.worker_offline", worker=worker,
                         workers_online=self._roster.online)
            return
        try:
            answer = decode_answer(payload)
        except BadMessage as exc:
            self.counts["bad"] += 1
            log.warning("remote.bad_answer", error=str(exc))
            return
        outcome = self._ledger.resolve(_correlated(answer, message))
        if outcome != "used":
            self.counts[outcome] += 1


def _brief(percentiles: Percentiles) -> dict[str, object] | None:
    """p50, p99 and n, without the histogram (these go into the JSON stats message as they are)."""
    summary = percentiles.summary()
    return None if summary is None else {key: summary[key] for key in ("p50", "p99", "n")}


def _correlated(answer: Answer, message: aiomqtt.Message) -> Answer:
    """The answer under the id of its Correlation Data (MQTT 5's own link to the job), when it has one."""
    data = getattr(message.properties, "CorrelationData", None)
    if not data:
        return answer
    ident = bytes(data).decode("ascii", "replace")
    return answer if ident == answer.id else Answer(ident, answer.worker, answer.faces, answer.refused, answer.error)


def remote_stats(workers: VisionWorkers) -> dict[str, object] | None:
    """The remote encoder's counters when ``workers`` encode remotely (a SplitWorkers' encoder), else None."""
    encoder = getattr(workers, "encoder", workers)
    return encoder.stats if isinstance(encoder, RemoteEncoder) else None
