"""Helpers shared by the gallery tests (a uniquely named module: every test
folder may have a conftest, so ``from conftest import`` would be ambiguous)."""

from __future__ import annotations

import shutil
from pathlib import Path

SETTINGS_KEY = "hog-up1/small/j1"


def copy_into(folder: Path, source: Path, name: str) -> Path:
    """Copy one data file into a tmp gallery under a new name."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, folder / name))
