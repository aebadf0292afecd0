"""Shared helpers for enrollment tests: a writable copy of FACE01's gallery, real images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def gallery_copy(tmp_path: Path, data) -> Path:
    """FACE01's gallery (Japanese names), copied so tests may add and remove people."""
    target = tmp_path / "gallery"
    shutil.copytree(data.face01_gallery, target)
    target.chmod(0o755)  # the shared data is read-only, and so would the copy be
    return target
