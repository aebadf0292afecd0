"""Typed, validated settings: the single place that says what face01d accepts.

Every section forbids unknown keys, so a typo in ``config.toml`` is an error
that names the key rather than a setting silently ignored. Models are frozen:
stages receive them at start-up and never mutate them.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from face01d.config.access import AccessConfig
from face01d.config.http import EnrollmentConfig, HttpConfig, PreviewConfig
from face01d.config.section import Section
from face01d.recognition.decision import DEFAULT_GATES, DEFAULT_POLICY
from face01d.similarity import percentage_to_tolerance

# Measured by bench/open_set.py (see face01d/recognition/decision.py and the
# README's "Tracks and decisions"): face_recognition's 0.6 names a stranger
# in 269 of 272 frames of the sample clip; 0.50 with a 0.08 margin and 3 of 5
# looks names him in none.
DEFAULT_TOLERANCE = DEFAULT_POLICY.tolerance


def _usable_name(name: str) -> str:
    """A name that is a topic segment and a folder name: it must be both as written."""
    if re.search(r"[/\\+#\x00-\x1f\x7f]", name) or name.startswith(".") or name != name.strip():
        raise ValueError("must not contain / \\ + # or control characters, start with '.', or have outer spaces")
    return name


# A camera's name and the node_id: both become MQTT topic segments and folder names.
UsableName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_usable_name)]


class LogFormat(str, Enum):
    AUTO = "auto"  # console on a TTY, JSON lines otherwise
    JSON = "json"
    CONSOLE = "console"


class DaemonConfig(Section):
    node_id: UsableName = "face01d"
    lock_file: Path | None = None  # None: derived from the config file's path
    log_format: LogFormat = LogFormat.AUTO
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0

    @field_validator("node_id")
    @classmethod
    def _not_a_shared_topic(cls, value: str) -> str:
        """<prefix>/<node>/# is a node's own (and its ACL pattern's): these would be the shared gallery's
        or the worker pool's topics."""
        if value.casefold() in RESERVED_NODE_IDS:
            raise ValueError(f"{value!r} is reserved for the shared gallery's and the worker pool's topics")
        return value


RESERVED_NODE_IDS = frozenset({"gallery", "gallery-requests", "gallery-responses", "encode", "workers"})


class DetectorKind(str, Enum):
    HOG = "hog"
    CNN = "cnn"  # dlib MMOD: accurate but very slow on a CPU (≈30 s per 1 Mpx image)
    MEDIAPIPE = "mediapipe"


class SetArea(str, Enum):
    """FACE01's crop area: the part of the frame that is searched for faces."""

    NONE = "NONE"
    TOP_LEFT = "TOP_LEFT"
    TOP_RIGHT = "TOP_RIGHT"
    BOTTOM_LEFT = "BOTTOM_LEFT"
    BOTTOM_RIGHT = "BOTTOM_RIGHT"
    CENTER = "CENTER"


class DetectorConfig(Section):
    kind: DetectorKind = DetectorKind.HOG
    upsampling: Annotated[int, Field(ge=0, le=4)] = 1  # dlib HOG / CNN only
    mediapipe_model: Literal["short", "full"] = "short"  # short: faces within ~2 m
    min_detection_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5  # mediapipe only
    set_width: Annotated[int, Field(ge=0)] = 0  # 0: analyse at the frame's own width
    set_area: SetArea = SetArea.NONE
    min_face_px: Annotated[int, Field(ge=0)] = 0  # faces narrower than this are ignored
    max_faces: Annotated[int, Field(ge=1, le=100)] = 10  # the largest are kept
    # Detect on one analysed frame in N and let tracks follow the faces in
    # between. "auto": every frame for mediapipe (~10 ms at 640 px), one in
    # five for HOG and CNN (~60 ms and more at 640 px; bench/run).
    detect_every: Annotated[int, Field(ge=1, le=30)] | Literal["auto"] = "auto"

    @property
    def detection_interval(self) -> int:
        """``detect_every`` with "auto" resolved for this detector."""
        if self.detect_every != "auto":
            return int(self.detect_every)
        return 1 if self.kind is DetectorKind.MEDIAPIPE else AUTO_DETECT_EVERY_DLIB


AUTO_DETECT_EVERY_DLIB = 5


class TrackingConfig(Section):
    """Tracks follow a face across frames; a track's name is decided from several looks.

    See face01d/tracking and face01d/recognition/decision.py for why each
    default is what it is.
    """

    confirm_hits: Annotated[int, Field(ge=1, le=30)] = 2  # detections before a track is confirmed
    max_absence_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # unseen this long: the track ends
    min_iou: Annotated[float, Field(gt=0, lt=1)] = 0.3  # overlap that continues a track
    decision_deadline_s: Annotated[float, Field(gt=0, le=30)] = 1.0  # pending longer: decided unknown
    margin: Annotated[float, Field(ge=0, le=1)] = DEFAULT_POLICY.margin  # best person this much nearer than the next
    votes_needed: Annotated[int, Field(ge=1, le=20)] = DEFAULT_POLICY.votes_needed  # K agreeing looks ...
    vote_window: Annotated[int, Field(ge=1, le=50)] = DEFAULT_POLICY.window  # ... among the last N
    reencode_s: Annotated[float, Field(gt=0, le=600)] = 1.0  # decided unknown: look again this often
    better_view: Annotated[float, Field(gt=1, le=10)] = 1.5  # or when a look is this much better
    min_face_px: Annotated[int, Field(ge=0)] = DEFAULT_GATES.min_face_px  # quality gates: narrower faces do not vote
    min_sharpness: Annotated[float, Field(ge=0)] = DEFAULT_GATES.min_sharpness  # variance of the Laplacian at 64×64
    max_yaw: Annotated[float, Field(gt=0)] = DEFAULT_GATES.max_yaw  # nose offset / eye distance

    @model_validator(mode="after")
    def _k_of_n(self) -> TrackingConfig:
        if self.votes_needed > self.vote_window:
            raise ValueError("votes_needed must not exceed vote_window")
        return self


class WorkersConfig(Section):
    """Where detection and encoding run. dlib's encoder holds the GIL, so a second
    core works on encodings only from another process; HOG (dlib-bin) releases
    the GIL, and mediapipe is fast enough on one thread, so detection stays on
    threads unless measured otherwise (bench/workers.py).

    ``encode = "remote"`` sends each look to ``face01d worker`` services
    through the MQTT broker (face01d/remote); ``processes`` is then also
    how many jobs a worker runs at once (its MQTT 5 Receive Maximum)."""

    detect: Literal["thread", "process"] = "thread"
    encode: Literal["thread", "process", "remote"] = "process"
    # None: one per enabled camera, at least one per core, at most 16 (face01d.workers.factory.thread_count)
    threads: Annotated[int, Field(ge=1, le=64)] | None = None
    processes: Annotated[int, Field(ge=1, le=64)] = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1))
    # encode = "remote": the workers that share the jobs ($share/<group>/<prefix>/encode/jobs)
    remote_group: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_usable_name)] = "face01d-encoders"
    remote_timeout_s: Annotated[float, Field(gt=0, le=30)] = 0.5  # a job unanswered this long is resent, once
    remote_fallback: Literal["local", "lost"] = "local"  # no answer after the resend: encode here, or lose the look
    remote_stats_s: Annotated[float, Field(ge=0)] = 30.0  # a worker's counters on MQTT this often; 0: off


class GalleryConfig(Section):
    path: Path = Path("gallery")
    tolerance: Annotated[float, Field(gt=0.0, le=1.5)] | None = None
    similar_percentage: Annotated[float, Field(gt=0.0, lt=100.0)] | None = None
    landmarks: Literal["small", "large"] = "small"  # dlib 5-point or 68-point model
    jitters: Annotated[int, Field(ge=1, le=100)] = 1
    cache_dir: Path | None = None  # None: $CACHE_DIRECTORY or ~/.cache/face01d/gallery-<hash of path>
    # Share the gallery through the MQTT broker (needs [mqtt]): publish = true on the one node that enrolls
    # (retained on <prefix>/gallery/...); source = "broker" on the others, which then never read path.
    publish: bool = False  # true on the one node that enrolls: its folder's gallery, retained on <prefix>/gallery/...
    source: Literal["folder", "broker"] = "folder"  # broker: the published one, swapped live; a copy in cache_dir

    @model_validator(mode="after")
    def _one_threshold(self) -> GalleryConfig:
        if self.tolerance is not None and self.similar_percentage is not None:
            raise ValueError("set either tolerance or similar_percentage, not both")
        if self.publish and self.source == "broker":
            raise ValueError("publish = true needs source = \"folder\": the publisher encodes its own folder")
        return self

    @property
    def effective_tolerance(self) -> float:
        """The distance threshold, whichever way the user chose to say it."""
        if self.similar_percentage is not None:
            return percentage_to_tolerance(self.similar_percentage)
        return self.tolerance if self.tolerance is not None else DEFAULT_TOLERANCE


class CameraKind(str, Enum):
    FILE = "file"
    RTSP = "rtsp"
    MJPEG = "mjpeg"  # multipart/x-mixed-replace over HTTP(S)
    SNAPSHOT = "snapshot"  # a JPEG fetched from an HTTP(S) URL at an interval
    USB = "usb"


_SCHEME_KIND = {"rtsp": CameraKind.RTSP, "rtsps": CameraKind.RTSP}


class CameraConfig(Section):
    name: UsableName
    source: str | int  # path, rtsp:// or http(s):// URL, USB index, or "auto"
    kind: CameraKind | None = None  # None: inferred from source (http needs it: mjpeg or snapshot)
    enabled: bool = True
    frame_skip: Annotated[int, Field(ge=0)] | Literal["auto"] = 0  # analyse one frame, skip N; auto: keep up
    fps_limit: Annotated[float, Field(ge=0)] = 0.0  # 0: no limit
    pace: Literal["native", "none"] = "native"  # files: play at file fps, or as fast as analysed
    set_area: SetArea | None = None  # None: [detector].set_area
    # FFmpeg's decoding threads (files, RTSP). One decodes 1080p H.264 at ~230 frames/s here and costs a
    # fifth less CPU a frame than one per core; many cameras then spread over the cores themselves.
    # 0: FFmpeg's choice (one per core), for a 4K or H.265 camera that one thread cannot keep up with.
    decode_threads: Annotated[int, Field(ge=0, le=16)] = 1
    snapshot_interval_s: Annotated[float, Field(gt=0)] = 1.0  # snapshot cameras only
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None  # read at start; keeps the secret out of this file
    auth: Literal["basic", "digest"] = "basic"
    stall_timeout_s: Annotated[float, Field(gt=0)] = 10.0  # no frame this long → reconnect
    reconnect_max_s: Annotated[float, Field(gt=0)] = 60.0
    max_body_mb: Annotated[float, Field(gt=0, le=1024)] = 16.0  # http: a bigger snapshot or MJPEG part is an error
    access: bool = False  # a door: liveness and one access event per track, by the [access] rules

    @model_validator(mode="after")
    def _infer_kind(self) -> CameraConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set either password or password_file, not both")
        if self.kind is None:
            object.__setattr__(self, "kind", infer_camera_kind(self.source))
        return self


def infer_camera_kind(source: str | int) -> CameraKind:
    """Guess the kind of camera from its source; HTTP is ambiguous and must be said."""
    if isinstance(source, int) or source == "auto" or str(source).isdigit() or str(source).startswith("/dev/video"):
        return CameraKind.USB
    scheme = str(source).split("://", 1)[0].lower() if "://" in str(source) else ""
    if scheme in _SCHEME_KIND:
        return _SCHEME_KIND[scheme]
    if scheme in ("http", "https"):
        raise ValueError("an http(s) source needs kind = 'mjpeg' or kind = 'snapshot'")
    return CameraKind.FILE


class MqttConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    tls: bool = False
    ca_file: Path | None = None
    certfile: Path | None = None  # client certificate (mTLS), PEM; needs keyfile and tls = true
    keyfile: Path | None = None  # the client certificate's private key, PEM; keep it 0600
    keyfile_password_file: Path | None = None  # the passphrase of an encrypted keyfile (first line), read on connect
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    client_id: str | None = None  # None: face01d-<node_id>
    topic_prefix: str = "face01"
    qos: Literal[0, 1, 2] = 1
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 60
    queue_size: Annotated[int, Field(ge=1)] = 1000  # events in memory on their way to / from the outbox
    # The durable outbox (SQLite, 0600 in a 0700 folder): every event is written there before it is
    # published and deleted after the broker's PUBACK, so outages, crashes and power cuts lose nothing.
    # None: $STATE_DIRECTORY/outbox.sqlite3 under systemd, else
    # $XDG_STATE_HOME (~/.local/state)/face01d/<node_id>-outbox.sqlite3. Relative: to the config file.
    outbox_path: Path | None = None
    outbox_max_events: Annotated[int, Field(ge=1)] = 10000  # beyond, the oldest are dropped (counted, warned)
    outbox_max_age_s: Annotated[float, Field(gt=0)] = 7 * 24 * 3600.0  # older events are dropped (counted, warned)
    publish_snapshots: bool = False
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    friendly_name: str | None = None  # the Home Assistant device's name; None: the node id

    @model_validator(mode="after")
    def _one_password(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set either password or password_file, not both")
        return self

    @model_validator(mode="after")
    def _client_certificate(self) -> MqttConfig:
        """A half-configured client certificate, or one that would go unused on a plain
        connection, is a mistake to report now, not a refusal by the broker later."""
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("set both certfile and keyfile (a client certificate and its key), or neither")
        if self.certfile is not None and not self.tls:
            raise ValueError("certfile and keyfile need tls = true")
        if self.keyfile_password_file is not None and self.keyfile is None:
            raise ValueError("keyfile_password_file without a keyfile")
        return self

    @field_validator("topic_prefix", "discovery_prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        if not value or re.search(r"[+#\x00]", value) or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be a non-empty topic without +, #, NUL or a leading/trailing /")
        return value


class SnapshotConfig(Section):
    enabled: bool = True
    dir: Path = Path("snapshots")
    save_face: bool = True
    save_frame: bool = False
    face_margin: Annotated[float, Field(ge=0, le=2)] = 0.3  # fraction of the box added around it
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 90
    retention_days: Annotated[float, Field(ge=0)] = 30  # 0: keep forever
    max_mb: Annotated[float, Field(ge=0)] = 1024  # 0: no size cap
    queue_size: Annotated[int, Field(ge=1)] = 64
    queue_mb: Annotated[float, Field(gt=0)] = 64.0  # images waiting to be written; beyond, frames are dropped
    blur_unknown: bool = False  # save_frame: blur every face in the frame that is not a registered person


class EventsConfig(Section):
    cooldown_s: Annotated[float, Field(ge=0)] = 30.0  # per person per camera
    presence_timeout_s: Annotated[float, Field(gt=0)] = 10.0  # unseen this long → "left"


class Config(Section):
    daemon: DaemonConfig = DaemonConfig()
    gallery: GalleryConfig = GalleryConfig()
    detector: DetectorConfig = DetectorConfig()
    workers: WorkersConfig = WorkersConfig()
    tracking: TrackingConfig = TrackingConfig()
    cameras: list[CameraConfig] = []
    mqtt: MqttConfig = MqttConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    events: EventsConfig = EventsConfig()
    http: HttpConfig = HttpConfig()
    preview: PreviewConfig = PreviewConfig()
    enrollment: EnrollmentConfig = EnrollmentConfig()
    access: AccessConfig = AccessConfig()

    @model_validator(mode="after")
    def _preview_needs_the_server(self) -> Config:
        if self.preview.enabled and not self.http.enabled:
            raise ValueError("[preview] enabled needs the HTTP server: set [http] enabled = true")
        return self

    @model_validator(mode="after")
    def _shared_gallery_needs_mqtt(self) -> Config:
        if (self.gallery.publish or self.gallery.source == "broker") and not self.mqtt.enabled:
            raise ValueError("[gallery] publish and source = \"broker\" share the gallery through MQTT: "
                             "set [mqtt] enabled = true")
        return self

    @model_validator(mode="after")
    def _remote_needs_the_broker(self) -> Config:
        """Remote jobs travel through [mqtt]; a job outliving the decision deadline would decide nothing."""
        if self.workers.encode != "remote":
            return self
        if not self.mqtt.enabled:
            raise ValueError('[workers] encode = "remote" needs the MQTT broker: set [mqtt] enabled = true')
        if self.workers.remote_timeout_s > self.tracking.decision_deadline_s:
            raise ValueError("[workers] remote_timeout_s must not exceed [tracking] decision_deadline_s")
        return self

    @field_validator("cameras")
    @classmethod
    def _unique_camera_names(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        names = [camera.name for camera in cameras]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique: {', '.join(duplicates)}")
        return cameras
