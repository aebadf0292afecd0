"""Helpers for the capture tests: short reconnect timings and camera images."""

from __future__ import annotations

import pytest

from face01d.capture import camera as camera_module


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect within tenths of a second so reconnect tests stay short."""
    monkeypatch.setattr(camera_module, "BACKOFF_START_S", 0.05)
    monkeypatch.setattr(camera_module, "AUTH_RETRY_S", 0.3)


@pytest.fixture
def jpegs(small_clip) -> list[bytes]:
    from support.servers import jpeg_frames

    return jpeg_frames(small_clip, limit=10)
