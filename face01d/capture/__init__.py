"""Capture: camera sources, the per-camera supervisor and the frame hand-off."""

from face01d.capture.camera import (
    Backoff,
    Camera,
    CameraStats,
    FrameGate,
    StatusCallback,
    make_source,
    slot_for,
)
from face01d.capture.slot import FrameSlot
from face01d.capture.source import CameraThread, Source, SourceAuthError, SourceError
from face01d.urls import redact_url

__all__ = [
    "Backoff",
    "Camera",
    "CameraStats",
    "CameraThread",
    "FrameGate",
    "FrameSlot",
    "Source",
    "SourceAuthError",
    "SourceError",
    "StatusCallback",
    "make_source",
    "redact_url",
    "slot_for",
]
