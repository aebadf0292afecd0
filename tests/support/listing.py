"""Folder listings that tests compare."""

from __future__ import annotations

from pathlib import Path


def names(folder: Path) -> list[str]:
    """The file names in ``folder``, sorted."""
    return sorted(path.name for path in folder.iterdir())
