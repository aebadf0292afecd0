"""MQTT topic layout: the one place that says where face01d publishes what.

Camera and person names come from users (folder names, config), so every
segment is made safe here: MQTT forbids NUL and gives ``+``, ``#`` and ``/``
a meaning, and a name like ``a/b`` must not silently add a topic level.
Unicode is kept — ``金正恩`` is a valid topic segment and what users expect.

Layout (``<node>`` is the daemon's node id)::

    <prefix>/<node>/status                    online / offline (retained, Last Will)
    <prefix>/<node>/<camera>/status           online / offline (retained)
    <prefix>/<node>/<camera>/event            recognition events (JSON, not retained)
    <prefix>/<node>/<camera>/person/<name>    ON / OFF presence (retained, expiring)
    <prefix>/<node>/<camera>/snapshot         JPEG of the latest recognition
    <prefix>/<node>/<camera>/last_recognized  the latest ``recognized`` event (JSON, retained)
    <prefix>/<node>/<camera>/recognized/<name>  that event again, for a device trigger (not retained)
    <prefix>/<node>/stats                     counters (JSON, not retained)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_SEGMENT_CHARS = 64
_RESERVED = frozenset("+#/")
_BAD_PREFIX = re.compile(r"[+#\x00]")


def _unsafe(char: str) -> bool:
    """True for characters MQTT forbids or advises against in topics.

    MQTT 5 §1.5.4: no U+0000; control characters and non-characters
    SHOULD NOT appear; lone surrogates cannot be encoded as UTF-8 at all.
    """
    code = ord(char)
    if char in _RESERVED or unicodedata.category(char) in ("Cc", "Cs"):
        return True
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def sanitize_segment(text: str, max_chars: int = MAX_SEGMENT_CHARS) -> str:
    """One topic level made from user text: unsafe characters become ``_``."""
    cleaned = "".join("_" if _unsafe(char) else char for char in str(text).strip())
    return cleaned[:max_chars] or "_"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names of one node; ``prefix`` may span several levels."""

    prefix: str
    node: str

    def __post_init__(self) -> None:
        prefix = self.prefix.strip("/")
        if not prefix or _BAD_PREFIX.search(prefix):
            raise ValueError(f"invalid topic prefix: {self.prefix!r}")
        object.__setattr__(self, "prefix", prefix)

    @property
    def base(self) -> str:
        return f"{self.prefix}/{sanitize_segment(self.node)}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    def camera(self, camera: str) -> str:
        return f"{self.base}/{sanitize_segment(camera)}"

    def camera_event(self, camera: str) -> str:
        return f"{self.camera(camera)}/event"

    def camera_status(self, camera: str) -> str:
        return f"{self.camera(camera)}/status"

    def person(self, camera: str, name: str) -> str:
        return f"{self.camera(camera)}/person/{sanitize_segment(name)}"

    def snapshot(self, camera: str) -> str:
        return f"{self.camera(camera)}/snapshot"

    def last_recognized(self, camera: str) -> str:
        return f"{self.camera(camera)}/last_recognized"

    def trigger(self, camera: str, name: str) -> str:
        return f"{self.camera(camera)}/recognized/{sanitize_segment(name)}"
