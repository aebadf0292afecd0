"""Read ``config.toml``, apply environment overrides, validate, resolve paths.

Environment variables override any key of the file, so secrets can stay out
of it: ``FACE01D_<SECTION>__<KEY>`` (e.g. ``FACE01D_MQTT__PASSWORD``), parsed
by pydantic-settings with ``__`` as the nesting delimiter. Every error names
the file, the key path and, where it can be found, the line.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from face01d.config.models import CameraConfig, CameraKind, Config
from face01d.errors import ConfigError
from face01d.urls import redact_url

ENV_PREFIX = "FACE01D_"
ENV_DELIMITER = "__"


class _EnvOverriddenConfig(BaseSettings, Config):
    """``Config`` whose keys may also come from ``FACE01D_*`` variables (they win)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid", frozen=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # environment first: it overrides the file


def load_config(path: Path | None) -> Config:
    """The validated configuration from ``path`` (None: defaults) plus ``FACE01D_*`` variables."""
    text = _read_text(path) if path is not None else ""
    data = _parse_toml(text, path)
    try:
        config = _EnvOverriddenConfig(**data)
    except ValidationError as error:
        raise ConfigError(_describe(error, path, text)) from None
    base_dir = path.resolve().parent if path is not None else Path.cwd()
    return _resolve_paths(Config.model_validate(config.model_dump()), base_dir)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None


def _parse_toml(text: str, path: Path | None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _describe(error: ValidationError, path: Path | None, text: str) -> str:
    """One line per problem: ``file:line: key.path: message``."""
    lines = []
    for problem in error.errors():
        loc = [part for part in problem["loc"] if not str(part).startswith("function-after")]
        key = ".".join(str(part) for part in loc) or "(top level)"
        where = _origin(loc, path, text)
        lines.append(f"{where}: {key}: {problem['msg']}")
    return "\n".join(lines)


def _origin(loc: list[Any], path: Path | None, text: str) -> str:
    env_name = ENV_PREFIX + ENV_DELIMITER.join(str(part) for part in loc).upper()
    if env_name in os.environ:
        return f"environment {env_name}"
    line = _line_of(loc, text)
    name = str(path) if path is not None else "(defaults)"
    return f"{name}:{line}" if line else name


def _line_of(loc: list[Any], text: str) -> int | None:
    """Best-effort line number of a key path such as ('mqtt', 'port') or ('cameras', 1, 'source')."""
    lines = text.splitlines()
    start = _section_start(loc, lines)
    if start is None:
        return None
    key = next((str(part) for part in reversed(loc) if isinstance(part, str)), None)
    for number in range(start, len(lines)):
        if number > start and lines[number].lstrip().startswith("["):
            break
        if key and re.match(rf"\s*{re.escape(key)}\s*=", lines[number]):
            return number + 1
    return start + 1


def _section_start(loc: list[Any], lines: list[str]) -> int | None:
    if not loc:
        return None
    section = str(loc[0])
    nth = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    headers = [i for i, line in enumerate(lines) if re.match(rf"\s*\[\[?\s*{re.escape(section)}\s*\]?\]", line)]
    return headers[nth] if nth < len(headers) else None


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    """Relative paths in the file mean relative to the file, not to the cwd."""

    def absolute(value: Path | None) -> Path | None:
        return None if value is None else (base_dir / value.expanduser()).resolve()

    cameras = [_resolve_camera(camera, absolute) for camera in config.cameras]
    return config.model_copy(
        update={
            "daemon": config.daemon.model_copy(update={"lock_file": absolute(config.daemon.lock_file)}),
            "gallery": config.gallery.model_copy(
                update={"path": absolute(config.gallery.path), "cache_dir": absolute(config.gallery.cache_dir)}
            ),
            "snapshots": config.snapshots.model_copy(update={"dir": absolute(config.snapshots.dir)}),
            "mqtt": config.mqtt.model_copy(
                update={"password_file": absolute(config.mqtt.password_file), "ca_file": absolute(config.mqtt.ca_file)}
            ),
            "cameras": cameras,
        }
    )


def _resolve_camera(camera: CameraConfig, absolute: Callable[[Path | None], Path | None]) -> CameraConfig:
    """A file source made absolute; a ``password_file`` read into ``password``.

    Cameras are a list, which FACE01D_* variables cannot address, so a
    password file is how a camera's secret stays out of config.toml.
    """
    update: dict[str, Any] = {}
    if camera.kind is CameraKind.FILE:
        update["source"] = str(absolute(Path(str(camera.source))))
    if camera.password_file is not None:
        path = absolute(camera.password_file)
        update["password"] = SecretStr(_read_secret(path, f"camera {camera.name}"))
        update["password_file"] = None
    return camera.model_copy(update=update)


def _read_secret(path: Path, whose: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the password file of {whose}: {error}") from None


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data: secrets, and passwords inside URLs, masked."""
    data = config.model_dump(mode="json")
    for camera in data["cameras"]:
        if isinstance(camera["source"], str):
            camera["source"] = redact_url(camera["source"])
    return data
