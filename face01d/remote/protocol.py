"""What travels between a node and its remote encoders: topics, jobs, answers.

A job is the faces already aligned on the node: dlib's 150×150 chips, cut
by the function the process pool runs (``FaceAligner``) from the same
pixels, so a remote encoding is the local one, bit for bit. A
chip is 67 kB where the crop of a face in a 1080p frame was about 1.4 MB:
the broker, the node and the worker then move a twentieth of the bytes, and
a worker's core goes to the network, not to the transport. Both directions
use one small framing, no new dependency: a 4-byte big-endian header
length, a JSON header, then the binary body (the chips' raw pixels, or the
answer's float64 encodings), which JSON with base64 would make a third
larger and slower.

Topics (``<prefix>`` is ``[mqtt] topic_prefix``)::

    <prefix>/encode/jobs                  jobs, QoS 1; workers read $share/<group>/<prefix>/encode/jobs
    <prefix>/<node>/encode/answers        a node's answers (the jobs' MQTT 5 Response Topic)
    <prefix>/workers/<worker>/status      a worker's retained status (JSON; Last Will: offline)
    <prefix>/workers/<worker>/stats       a worker's counters (JSON, QoS 0, not retained)

The job id is the MQTT 5 Correlation Data and is in the header too.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from face01d.faces import EncodedFace
from face01d.sinks.topics import Topics, sanitize_segment
from face01d.vision.encoder import CHIP_SIDE, AlignedFaces

VERSION = 2  # 2: chips (aligned on the node) instead of the crop and its boxes
ENCODER_MODEL = "dlib_face_recognition_resnet_model_v1"  # vision/models.py's "encoder" file
WORKER_APPLIES = ("jitters", "encoder")  # the settings a worker applies; landmarks are applied by the node
_LENGTH = struct.Struct(">I")
MAX_HEADER = 64 * 1024  # a header beyond this is not ours
MAX_BOXES = 100  # [detector] max_faces' own limit


class BadMessage(ValueError):
    """A payload that is not a face01d job or answer (or of another version)."""


@dataclass(frozen=True, slots=True)
class EncodeTopics:
    """Where jobs, answers and worker statuses go, under the same prefix as everything else."""

    prefix: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", Topics(self.prefix, "_").prefix)  # validated as the sink's

    @property
    def jobs(self) -> str:
        return f"{self.prefix}/encode/jobs"

    def shared_jobs(self, group: str) -> str:
        return f"$share/{sanitize_segment(group)}/{self.jobs}"

    def answers(self, node: str) -> str:
        return f"{self.prefix}/{sanitize_segment(node)}/encode/answers"

    def worker_status(self, worker: str) -> str:
        return f"{self.prefix}/workers/{sanitize_segment(worker)}/status"

    def worker_stats(self, worker: str) -> str:
        return f"{self.prefix}/workers/{sanitize_segment(worker)}/stats"

    @property
    def all_statuses(self) -> str:
        return f"{self.prefix}/workers/+/status"


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """What makes two encodings comparable. The node applies ``landmarks`` itself (it aligns the chips),
    so a worker compares only what it applies, ``WORKER_APPLIES``, and refuses a job that differs there."""

    landmarks: str
    jitters: int
    encoder: str = ENCODER_MODEL

    def as_dict(self) -> dict[str, Any]:
        return {"landmarks": self.landmarks, "jitters": self.jitters, "encoder": self.encoder}

    @classmethod
    def from_dict(cls, data: Any) -> ModelSettings:  # noqa: ANN401 - JSON
        try:
            return cls(str(data["landmarks"]), int(data["jitters"]), str(data["encoder"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadMessage(f"bad model settings: {exc}") from None

    def differences(self, other: ModelSettings) -> str | None:
        """None when equal in what a worker applies, else what differs, in words (the refusal's reason)."""
        mine, theirs = self.as_dict(), other.as_dict()
        diffs = [f"{key} {theirs[key]!r} (mine: {mine[key]!r})" for key in WORKER_APPLIES if mine[key] != theirs[key]]
        return "; ".join(diffs) or None


@dataclass(frozen=True, slots=True)
class Job:
    """One encode order: the faces of one look, aligned (chips and yaws)."""

    id: str
    node: str
    camera: str
    model: ModelSettings
    faces: AlignedFaces


@dataclass(frozen=True, slots=True)
class Answer:
    """A worker's reply: the encodings, or why there are none (a refusal or an error)."""

    id: str
    worker: str
    faces: tuple[EncodedFace, ...] = ()
    refused: str | None = None
    error: str | None = None
    encode_ms: float | None = None  # how long the worker held it (a wait for its encoder included)


def _frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(head)) + head + body


def _unframe(payload: bytes) -> tuple[dict[str, Any], memoryview]:
    view = memoryview(payload)
    if len(view) < _LENGTH.size:
        raise BadMessage("too short")
    (length,) = _LENGTH.unpack_from(view)
    if length > MAX_HEADER or _LENGTH.size + length > len(view):
        raise BadMessage("bad header length")
    try:
        header = json.loads(bytes(view[_LENGTH.size:_LENGTH.size + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMessage(f"bad header: {exc}") from None
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise BadMessage(f"not a version {VERSION} message")
    return header, view[_LENGTH.size + length:]


def encode_job(job: Job) -> bytes:
    """The job as sent: the chips' raw pixels (C order) after the header."""
    chips = np.ascontiguousarray(job.faces.chips)
    header = {"v": VERSION, "id": job.id, "node": job.node, "camera": job.camera, "model": job.model.as_dict(),
              "shape": list(chips.shape), "dtype": chips.dtype.str, "yaws": list(job.faces.yaws)}
    return _frame(header, chips.tobytes())


def decode_job(payload: bytes) -> Job:
    """A job as received; BadMessage for anything else (the pixels are copied: the payload may go)."""
    header, body = _unframe(payload)
    try:
        shape, dtype = tuple(int(n) for n in header["shape"]), np.dtype(header["dtype"])
        yaws = tuple(float(y) for y in header["yaws"])
        ids = str(header["id"]), str(header["node"]), str(header["camera"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"bad job header: {exc}") from None
    if dtype != np.uint8 or len(shape) != 4 or shape[1:] != (CHIP_SIDE, CHIP_SIDE, 3) \
            or not 0 < shape[0] <= MAX_BOXES or len(yaws) != shape[0]:
        raise BadMessage(f"a job is 1 to {MAX_BOXES} {CHIP_SIDE}×{CHIP_SIDE} RGB uint8 chips, a yaw each")
    if int(np.prod(shape)) != len(body):
        raise BadMessage(f"pixels: {len(body)} bytes for shape {shape}")
    chips = np.frombuffer(body, np.uint8).reshape(shape).copy()
    return Job(*ids, ModelSettings.from_dict(header.get("model")), AlignedFaces(chips, yaws))


def encode_answer(answer: Answer) -> bytes:
    """Encodings as raw float64 (bit for bit), yaws in the header; or the refusal or error."""
    header: dict[str, Any] = {"v": VERSION, "id": answer.id, "worker": answer.worker}
    if answer.refused is not None or answer.error is not None:
        return _frame({**header, "refused": answer.refused, "error": answer.error})
    body = np.array([f.encoding for f in answer.faces], dtype="<f8").reshape(len(answer.faces), 128)
    return _frame({**header, "yaws": [f.yaw for f in answer.faces], "ms": answer.encode_ms}, body.tobytes())


def decode_answer(payload: bytes) -> Answer:
    header, body = _unframe(payload)
    try:
        ident, worker = str(header["id"]), str(header.get("worker", "?"))
        if header.get("refused") is not None or header.get("error") is not None:
            return Answer(ident, worker, refused=header.get("refused"), error=header.get("error"))
        yaws = [float(y) for y in header["yaws"]]
        encode_ms = float(header["ms"]) if header.get("ms") is not None else None
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"bad answer header: {exc}") from None
    if len(body) != len(yaws) * 128 * 8:
        raise BadMessage(f"encodings: {len(body)} bytes for {len(yaws)} faces")
    rows = np.frombuffer(body, "<f8").astype(np.float64).reshape(len(yaws), 128)
    faces = tuple(EncodedFace(row.copy(), yaw) for row, yaw in zip(rows, yaws))
    return Answer(ident, worker, faces, encode_ms=encode_ms)
