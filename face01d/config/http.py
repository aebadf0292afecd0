"""``[http]``, ``[preview]`` and ``[enrollment]``: the HTTP server and what hangs on it.

Off by default and on loopback by default: a server reachable from elsewhere
needs a token. The limits shed slow and idle clients (face01d/http/guard.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from face01d.config.section import Section


class HttpConfig(Section):
    """The metrics and health server (``/metrics``, ``/healthz``, ``/readyz``): off by default, loopback by default."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080  # 0: any free port (tests)
    stats_interval_s: Annotated[float, Field(ge=0)] = 30.0  # the same figures as JSON on MQTT; 0: off
    token: SecretStr | None = None  # clients send "Authorization: Bearer <token>"; required off loopback
    max_connections: Annotated[int, Field(ge=1, le=65536)] = 256  # at once (fewer if the fd limit is low); beyond: 503
    head_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0  # the request line and headers
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0  # a body stalled this long: 408
    send_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0  # a client reading none of its answer: dropped
    keepalive_s: Annotated[float, Field(gt=0, le=3600)] = 5.0  # idle between two requests, then closed

    @model_validator(mode="after")
    def _token_off_loopback(self) -> HttpConfig:
        if self.token is not None and not self.token.get_secret_value():
            raise ValueError("token must not be empty")
        if self.enabled and self.token is None and not _is_loopback(self.host):
            raise ValueError(f"host {self.host!r} is not a loopback address: set a token")
        return self


class PreviewConfig(Section):
    """The live view: an MJPEG stream per camera on the HTTP server, drawn only while somebody watches."""

    enabled: bool = False  # needs [http] enabled; the server's token guards it
    fps: Annotated[float, Field(gt=0, le=30)] = 5.0  # pictures a second at most, per camera (its viewers share them)
    width: Annotated[int, Field(ge=0)] = 960  # pictures are scaled down to this width; 0: the camera's own
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 70
    max_viewers: Annotated[int, Field(ge=1)] = 4  # per camera; beyond, 503
    draw_box: bool = True  # FACE01's drawing options
    draw_name: bool = True
    draw_percentage: bool = True
    draw_thumbnail: bool = True  # the person's NAME_default image beside the box
    draw_track_id: bool = False
    font: Path | None = None  # a TrueType/OpenType font with the gallery's scripts; None: a Noto CJK font if installed


class EnrollmentConfig(Section):
    """Adding people from faces face01d did not know, and noticing gallery changes without a restart."""

    keep_unknown: bool = True  # save each unknown track's face crop and event under unknown_dir
    unknown_dir: Path | None = None  # None: "unknown" beside the outbox ($STATE_DIRECTORY under systemd)
    unknown_max: Annotated[int, Field(ge=1)] = 500  # the oldest crops are deleted beyond this many
    unknown_retention_days: Annotated[float, Field(ge=0)] = 30.0  # 0: keep until unknown_max
    watch_gallery: bool = True  # reload when files in the gallery folder change (inotify)
    max_upload_mb: Annotated[float, Field(gt=0)] = 10.0  # bodies of POST /recognize and POST /gallery/{name}


def _is_loopback(host: str) -> bool:
    import ipaddress  # noqa: PLC0415 - only this check needs it

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
