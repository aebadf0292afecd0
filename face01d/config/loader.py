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

from pydantic import BaseModel, SecretStr, ValidationError
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
        return (_TypedEnv(settings_cls, env_settings), init_settings)  # environment first: it overrides the file


class _TypedEnv(PydanticBaseSettingsSource):
    """The ``FACE01D_*`` values with "true"/"false" made booleans where the key is one.

    Booleans are strict (``enabled = "yes"`` in the file is an error), but an
    environment variable is always a string: its "true" and "false" are read
    as TOML would read them; anything else reaches validation as it is.
    """

    def __init__(self, settings_cls: type[BaseSettings], env: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ delegates to the env source

    def __call__(self) -> dict[str, Any]:
        return _booleans_from_env(self._env(), Config)


def _booleans_from_env(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    typed = dict(data)
    for key, value in data.items():
        field = model.model_fields.get(key)
        annotation = field.annotation if field is not None else None
        if annotation is bool and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            typed[key] = value.strip().lower() == "true"
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
            typed[key] = _booleans_from_env(value, annotation)
    return typed


def load_config(path: Path | None) -> Config:
    """The validated configuration from ``path`` (None: defaults) plus ``FACE01D_*`` variables."""
    text = _read_text(path) if path is not None else ""
    data = _parse_toml(text, path)
    try:
        config = _EnvOverriddenConfig(**data)
    except ValidationError as error:
        raise ConfigError(_describe(error, path, text)) from None
    base_dir = path.resolve().parent if path is not None else Path.cwd()
    where: Where = lambda loc: _origin(loc, path, text)  # noqa: E731
    return _resolve_paths(Config.model_validate(config.model_dump()), base_dir, where)


def require_enabled_camera(config: Config, path: Path | None) -> None:
    """``run`` with nothing to watch is a mistake, not a quiet success (exit 3)."""
    problem = no_camera_problem(config)
    if problem is not None:
        where = str(path) if path is not None else "(defaults)"
        raise ConfigError(f"{where}: cameras: {problem}")


def no_camera_problem(config: Config) -> str | None:
    """Why ``config`` watches nothing, or None when a camera is enabled."""
    if not config.cameras:
        return "no [[cameras]] table: there is nothing to watch"
    if not any(camera.enabled for camera in config.cameras):
        return "every camera has enabled = false: there is nothing to watch"
    return None


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
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


Where = Callable[[list[Any]], str]  # key path → "file:line" (or the environment variable)
Absolute = Callable[[Path | None, list[Any]], Path | None]


def _resolve_paths(config: Config, base_dir: Path, where: Where) -> Config:
    """Relative paths in the file mean relative to the file, not to the cwd."""

    def absolute(value: Path | None, loc: list[Any]) -> Path | None:
        if value is None:
            return None
        try:
            return (base_dir / value.expanduser()).resolve()
        except (OSError, RuntimeError, ValueError) as error:  # NUL byte, symlink loop, unknown ~user
            key = ".".join(str(part) for part in loc)
            raise ConfigError(f"{where(loc)}: {key}: not a usable path: {error}") from None

    cameras = [_resolve_camera(camera, index, absolute, where) for index, camera in enumerate(config.cameras)]
    daemon, gallery, snapshots, mqtt = config.daemon, config.gallery, config.snapshots, config.mqtt
    return config.model_copy(
        update={
            "daemon": daemon.model_copy(update={"lock_file": absolute(daemon.lock_file, ["daemon", "lock_file"])}),
            "gallery": gallery.model_copy(
                update={
                    "path": absolute(gallery.path, ["gallery", "path"]),
                    "cache_dir": absolute(gallery.cache_dir, ["gallery", "cache_dir"]),
                }
            ),
            "snapshots": snapshots.model_copy(update={"dir": absolute(snapshots.dir, ["snapshots", "dir"])}),
            "mqtt": mqtt.model_copy(
                update={
                    "password_file": absolute(mqtt.password_file, ["mqtt", "password_file"]),
                    "ca_file": absolute(mqtt.ca_file, ["mqtt", "ca_file"]),
                    "certfile": absolute(mqtt.certfile, ["mqtt", "certfile"]),
                    "keyfile": absolute(mqtt.keyfile, ["mqtt", "keyfile"]),
                    "keyfile_password_file": absolute(mqtt.keyfile_password_file, ["mqtt", "keyfile_password_file"]),
                    "outbox_path": absolute(mqtt.outbox_path, ["mqtt", "outbox_path"]),
                }
            ),
            "preview": config.preview.model_copy(update={"font": absolute(config.preview.font, ["preview", "font"])}),
            "enrollment": config.enrollment.model_copy(
                update={"unknown_dir": absolute(config.enrollment.unknown_dir, ["enrollment", "unknown_dir"])}
            ),
            "cameras": cameras,
        }
    )


def _resolve_camera(camera: CameraConfig, index: int, absolute: Absolute, where: Where) -> CameraConfig:
    """A file source made absolute; a ``password_file`` read into ``password``.

    Cameras are a list, which FACE01D_* variables cannot address, so a
    password file is how a camera's secret stays out of config.toml.
    """
    update: dict[str, Any] = {}
    if camera.kind is CameraKind.FILE:
        update["source"] = str(absolute(Path(str(camera.source)), ["cameras", index, "source"]))
    if camera.password_file is not None:
        loc = ["cameras", index, "password_file"]
        path = absolute(camera.password_file, loc)
        update["password"] = SecretStr(_read_secret(path, f"camera {camera.name}", where(loc)))
        update["password_file"] = None
    return camera.model_copy(update=update)


def _read_secret(path: Path | None, whose: str, where: str) -> str:
    try:
        return Path(str(path)).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{where}: {path}: cannot read the password file of {whose}: {error}") from None


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data: secrets, and passwords inside URLs, masked."""
    data = config.model_dump(mode="json")
    for camera in data["cameras"]:
        if isinstance(camera["source"], str):
            camera["source"] = redact_url(camera["source"])
    return data
