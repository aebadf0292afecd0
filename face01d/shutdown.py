"""One shutdown stage: bounded in time, and never the end of the stages after it (Viseron's staged teardown)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog

log = structlog.get_logger(__name__)


async def stage(name: str, work: Awaitable[None], timeout: float) -> None:
    """Await ``work`` for at most ``timeout`` seconds; a timeout or an error is logged, not raised."""
    try:
        async with asyncio.timeout(timeout):  # not wait_for: 3.11's can swallow a cancellation
            await work
    except TimeoutError:
        log.warning("shutdown stage timed out", stage=name, timeout_s=timeout)
    except Exception:
        log.exception("shutdown stage failed", stage=name)
