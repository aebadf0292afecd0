"""The manifest (what a version is), the topics, and chunking within the broker's packet limit.

A manifest is small JSON, retained at ``<prefix>/gallery/manifest`` and sent
after the chunks: it names the payload by SHA-256, and the chunks live under
that hash, so a manifest can only ever point at a complete, matching set.
Subscribers act on a change of hash; the version is a counter for people
(logs, metrics, Home Assistant), one more than the version the broker held.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass

from face01d.galleryshare.payload import FORMAT, MAX_PAYLOAD_BYTES, PayloadError, Settings
from face01d.sinks.link import PUBLISH_OVERHEAD
from face01d.sinks.topics import sanitize_segment

CHUNK_MAX_BYTES = 128 * 1024  # also for brokers that announce no maximum (AWS IoT takes 128 KiB)
PROPERTIES_ALLOWANCE = 64  # MQTT 5 properties of a chunk (content type) and the packet id, generously
MIN_CHUNK_BYTES = 256
MAX_CHUNKS = 65_536
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class GalleryTopics:
    """Where the shared gallery lives under the topic prefix."""

    prefix: str

    @property
    def manifest(self) -> str:
        return f"{self.prefix}/gallery/manifest"

    def chunk(self, sha256: str, index: int) -> str:
        return f"{self.prefix}/gallery/{sha256}/{index}"

    def chunks(self, sha256: str) -> str:
        """The filter that gathers every chunk of one payload."""
        return f"{self.prefix}/gallery/{sha256}/+"

    @property
    def requests(self) -> str:
        """Enrollment requests to the publisher: outside ``gallery/#``, which only the publisher writes."""
        return f"{self.prefix}/gallery-requests"

    def responses(self, node: str, request_id: str) -> str:
        return f"{self.prefix}/gallery-responses/{sanitize_segment(node)}/{request_id}"

    def chunk_index(self, sha256: str, topic: str) -> int | None:
        """The chunk number of ``topic``, None when it is no chunk of ``sha256``."""
        head, _, tail = topic.rpartition("/")
        return int(tail) if head == f"{self.prefix}/gallery/{sha256}" and tail.isdigit() else None


@dataclass(frozen=True, slots=True)
class Manifest:
    version: int
    sha256: str
    size: int
    chunks: int
    settings: Settings
    people: int
    encodings: int
    publisher: str
    published_at: float

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "version": self.version, "sha256": self.sha256, "size": self.size,
                "chunks": self.chunks, "settings": self.settings.as_dict(), "people": self.people,
                "encodings": self.encodings, "publisher": self.publisher, "published_at": self.published_at}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """PayloadError for anything but a well-formed manifest of this format."""
        try:
            body = json.loads(data)
            settings = Settings(str(body["settings"]["model"]), str(body["settings"]["landmarks"]),
                                int(body["settings"]["jitters"]))
            manifest = cls(int(body["version"]), str(body["sha256"]), int(body["size"]), int(body["chunks"]),
                           settings, int(body["people"]), int(body["encodings"]), str(body["publisher"]),
                           float(body["published_at"]))
        except (ValueError, TypeError, KeyError) as error:
            raise PayloadError(f"not a gallery manifest: {error!r}") from None
        if body.get("format") != FORMAT:
            raise PayloadError(f"manifest format {body.get('format')!r}, this node reads {FORMAT}")
        manifest.check()
        return manifest

    def check(self) -> None:
        if not _SHA256.fullmatch(self.sha256):
            raise PayloadError("manifest: sha256 is not 64 hex digits")
        if not 0 < self.size <= MAX_PAYLOAD_BYTES or not 0 < self.chunks <= min(self.size, MAX_CHUNKS):
            raise PayloadError(f"manifest: {self.size} bytes in {self.chunks} chunks is not plausible")


def new_manifest(payload_sha: str, size: int, chunks: int, settings: Settings, counts: tuple[int, int],
                 publisher: str, previous: Manifest | None) -> Manifest:
    """The next version after ``previous`` (the broker's), for a payload of ``size`` bytes."""
    version = previous.version + 1 if previous is not None else 1
    return Manifest(version, payload_sha, size, chunks, settings, counts[0], counts[1], publisher, time.time())


def chunk_size(maximum_packet_size: int | None, topic: str) -> int:
    """Payload bytes per chunk so that each PUBLISH fits the broker's Maximum Packet Size."""
    room = CHUNK_MAX_BYTES
    if maximum_packet_size is not None:
        room = min(room, maximum_packet_size - PUBLISH_OVERHEAD - len(topic.encode("utf-8")) - PROPERTIES_ALLOWANCE)
    if room < MIN_CHUNK_BYTES:
        raise PayloadError(f"the broker's maximum packet size of {maximum_packet_size} leaves no room for a chunk")
    return room


def split(payload: bytes, size: int) -> list[bytes]:
    return [payload[start:start + size] for start in range(0, len(payload), size)] or [b""]


def chunk_count(payload_size: int, size: int) -> int:
    return max(1, math.ceil(payload_size / size))
