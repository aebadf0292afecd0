"""Running the real daemon: a generated config, ``face01d run --once --stdout``, parsed output.

The config sets only what the benchmark needs (everything else keeps the
daemon's defaults, so sections added later do not break it): JSON logs, no
MQTT, no snapshots, the gallery cache and the instance lock in the suite's
temporary folder.
Events arrive as JSON lines on stdout, logs as JSON lines on stderr; the
exit log record ``camera report`` carries each camera's counters.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import PYTHON, BenchError, Completed, clean_env, json_lines, last_lines, run_process

FACE01D = Path(PYTHON).parent / "face01d"


def face01d_command(*args: str) -> list[str]:
    """The installed console script (what a user runs), else ``python -m face01d``."""
    return [str(FACE01D), *args] if FACE01D.exists() else [PYTHON, "-m", "face01d", *args]


@dataclass(frozen=True)
class CameraSpec:
    name: str
    source: Path
    pace: str = "none"


@dataclass(frozen=True)
class DaemonSpec:
    """Everything that differs between the suite's daemon runs."""

    cameras: tuple[CameraSpec, ...]
    gallery: Path
    cache_dir: Path
    detector: str = "hog"
    set_width: int = 640
    sections: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()  # extra keys by section ("mqtt", ...)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def config_text(spec: DaemonSpec, lock_file: Path, cameras_enabled: bool = True) -> str:
    sections: list[tuple[str, dict[str, Any]]] = [
        ("[daemon]", {"log_format": "json", "log_level": "info", "lock_file": lock_file}),
        ("[gallery]", {"path": spec.gallery, "cache_dir": spec.cache_dir}),
        ("[detector]", {"kind": spec.detector, "set_width": spec.set_width}),
        ("[mqtt]", {"enabled": False}),
        ("[snapshots]", {"enabled": False}),
    ]
    for name, keys in spec.sections:  # over the defaults above, or a section of its own
        header = f"[{name}]"
        found = [body for h, body in sections if h == header]
        if found:
            found[0].update(keys)
        else:
            sections.append((header, dict(keys)))
    for camera in spec.cameras:
        sections.append(("[[cameras]]", {"name": camera.name, "source": camera.source, "pace": camera.pace,
                                         "enabled": cameras_enabled}))
    return "".join(f"{header}\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in body.items()) + "\n"
                   for header, body in sections)


def write_config(spec: DaemonSpec, path: Path, cameras_enabled: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(spec, path.with_suffix(".lock"), cameras_enabled), encoding="utf-8")
    return path


@dataclass
class DaemonRun:
    completed: Completed
    events: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # camera → its "camera report"

    @property
    def wall_s(self) -> float:
        return self.completed.wall_s

    def recognized(self) -> list[dict[str, Any]]:
        return [event for event in self.events if event.get("type") == "recognized"]

    def gallery_encoded_now(self) -> int | None:
        for record in self.logs:
            if record.get("event") == "gallery loaded":
                return record.get("encoded_now")
        return None


def run_daemon(config: Path, timeout: float) -> DaemonRun:
    """``face01d run --once --stdout -c config``; BenchError unless it exits 0."""
    done = run_process(face01d_command("run", "--once", "--stdout", "-c", str(config)), timeout,
                       env=clean_env(), check=False)
    if done.returncode != 0:
        raise BenchError(f"face01d exited {done.returncode}: {last_lines(done.stderr)}")
    logs = json_lines(done.stderr)
    reports = {r.get("camera", "?"): r for r in logs if r.get("event") == "camera report"}
    return DaemonRun(done, json_lines(done.stdout), logs, reports)


WARM = ("import sys; from face01d.config.models import GalleryConfig; "
        "from face01d.recognition.recognizer import load_gallery; "
        "load_gallery(GalleryConfig(path=sys.argv[1], cache_dir=sys.argv[2]))")


def warm_cache(spec: DaemonSpec, folder: Path, timeout: float) -> None:
    """Encode the gallery into its cache as the daemon loads it (``run`` refuses a config with every camera
    disabled, so the gallery is loaded on its own, in a process of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    run_process([PYTHON, "-c", WARM, str(spec.gallery), str(spec.cache_dir)], timeout, env=clean_env())


def timed_run(spec: DaemonSpec, folder: Path, name: str, timeout: float) -> DaemonRun:
    """Warm the gallery cache, then the measured run."""
    warm_cache(spec, folder, timeout)
    return run_daemon(write_config(spec, folder / f"{name}.toml"), timeout)


def gallery_without(source: Path, person: str, target: Path) -> Path:
    """A copy of a FACE01-layout gallery without ``person``'s images."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    kept = [p for p in sorted(source.iterdir()) if p.is_file() and p.name.split("_", 1)[0] != person]
    for path in kept:
        shutil.copy2(path, target / path.name)
    if not kept:
        raise BenchError(f"nothing left in {source} without {person}")
    return target
