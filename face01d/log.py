"""structlog set-up: info and debug to stdout, warnings and errors to stderr.

Following structlog's own advice, standard-library logging (paho, asyncio,
httpx) is routed through the same renderer with ``ProcessorFormatter``, so
third-party records are structured too. JSON lines when the stream is not a
terminal (journald, pipes), the readable console renderer when it is. With
``--stdout`` the events own stdout (FACE01's pipe) and every log record goes to
stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from face01d.config.models import LogFormat

_SECRET_KEYS = ("password", "secret", "token", "passwd")
_NOISY_LIBRARIES = ("httpx", "httpcore", "asyncio")


def _redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Belt and braces: a field whose name says secret is never rendered."""
    for key in event_dict:
        if any(word in key.lower() for word in _SECRET_KEYS):
            event_dict[key] = "**********"
    return event_dict


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _redact_secrets,
]


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def _renderer(fmt: LogFormat, stream: TextIO) -> Any:
    if fmt is LogFormat.CONSOLE or (fmt is LogFormat.AUTO and stream.isatty()):
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def _handler(stream: TextIO, fmt: LogFormat) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_PROCESSORS,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _renderer(fmt, stream),
            ],
        )
    )
    return handler


def configure_logging(level: str = "info", fmt: LogFormat = LogFormat.AUTO, all_to_stderr: bool = False) -> None:
    """Install the handlers on the root logger; safe to call more than once."""
    low = _handler(sys.stderr if all_to_stderr else sys.stdout, fmt)
    low.addFilter(_BelowWarning())
    high = _handler(sys.stderr, fmt)
    high.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [low, high]
    root.setLevel(level.upper())
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def retarget_streams(old: object, new: TextIO) -> None:
    """Move every stream handler writing to ``old`` onto ``new``.

    ``native_stderr.install()`` points fd 2 at a pipe; a handler left on the
    old ``sys.stderr`` (fd 2) would feed its own records back into that pipe.
    """
    loggers = [logging.getLogger(), *(item for item in logging.Logger.manager.loggerDict.values())]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)
