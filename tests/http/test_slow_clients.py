"""Slow, idle and surplus clients are shed: real sockets against face01d's HttpServer on a loopback port.

The app is a small Starlette one (a health route, an upload that reads its
body, an endless stream), served with short limits so each case takes about
a second. The misbehaving clients are blocking sockets run in a thread
(``support.slow_clients``) while the server runs in the test's loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from structlog.testing import capture_logs

from face01d.http.guard import Limits
from support.http_client import serve_app
from support.slow_clients import HALF_HEAD, SlowClient, close_all, connect, wait_closed

LIMITS = Limits(max_connections=40, head_timeout_s=1.0, body_timeout_s=1.0, send_timeout_s=1.0, keepalive_s=1.0)
MARGIN_S = 1.0  # timers on a loaded two-core machine


class Endless:
    """ASGI app: 64 KiB parts for as long as the client takes them; ``ended`` once it is gone."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(until_disconnect(receive))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while not watcher.done():
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
            await asyncio.sleep(0)
        self.ended.set()


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def make_app(endless: Endless) -> Starlette:
    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("alive")

    async def upload(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    return Starlette(routes=[Route("/healthz", healthz), Route("/upload", upload, methods=["POST"]),
                             Route("/endless", endless)])


@pytest.fixture
async def client() -> httpx.AsyncClient:
    async with serve_app(make_app(Endless()), LIMITS, timeout=5) as client:
        yield client


def post_head(length: int, connection: str = "keep-alive") -> bytes:
    return f"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\nContent-Length: {length}\r\n\r\n".encode()


async def slow_clients(port: int, count: int, first_bytes: bytes) -> list[SlowClient]:
    return [await asyncio.to_thread(connect, port, first_bytes) for _ in range(count)]


async def test_half_heads_are_closed_within_the_head_timeout_and_others_are_served(client: httpx.AsyncClient):
    slow = await slow_clients(client.base_url.port, 30, HALF_HEAD)
    waiting = asyncio.create_task(asyncio.to_thread(wait_closed, slow, LIMITS.head_timeout_s + 5))
    assert (await client.get("/healthz")).text == "alive"  # meanwhile the server answers
    still_open = await waiting
    close_all(slow)
    assert not still_open
    assert max(c.closed_after for c in slow) < LIMITS.head_timeout_s + MARGIN_S
    assert min(c.closed_after for c in slow) > LIMITS.head_timeout_s - 0.1


async def test_a_connection_that_sends_nothing_is_closed_within_the_head_timeout(client: httpx.AsyncClient):
    [idle] = await slow_clients(client.base_url.port, 1, b"")
    assert not await asyncio.to_thread(wait_closed, [idle], LIMITS.head_timeout_s + 5)
    idle.sock.close()
    assert idle.closed_after < LIMITS.head_timeout_s + MARGIN_S


async def test_a_head_trickled_byte_by_byte_is_closed_at_the_head_timeout_all_the_same(client: httpx.AsyncClient):
    def trickle() -> float:
        with socket.create_connection(("127.0.0.1", client.base_url.port)) as sock:
            started = time.monotonic()
            try:
                for byte in HALF_HEAD:
                    sock.sendall(bytes([byte]))
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
        raise AssertionError("the whole half head went in: the connection was never closed")

    elapsed = await asyncio.to_thread(trickle)
    assert LIMITS.head_timeout_s - 0.1 < elapsed < LIMITS.head_timeout_s + MARGIN_S


async def test_a_kept_alive_connections_next_head_has_its_timeout_too(client: httpx.AsyncClient):
    def second_request_halfway() -> float:
        with socket.create_connection(("127.0.0.1", client.base_url.port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(10)
            answer = b""
            while not answer.endswith(b"alive"):
                answer += sock.recv(4096)
            sock.sendall(HALF_HEAD)  # data: uvicorn's keep-alive timer stops here
            started = time.monotonic()
            while sock.recv(4096):
                pass
            return time.monotonic() - started

    elapsed = await asyncio.to_thread(second_request_halfway)
    assert LIMITS.head_timeout_s - 0.1 < elapsed < LIMITS.head_timeout_s + MARGIN_S


async def test_a_body_that_stops_halfway_gets_408_within_the_body_timeout(client: httpx.AsyncClient):
    [half] = await slow_clients(client.base_url.port, 1, post_head(100) + b"x" * 50)
    assert not await asyncio.to_thread(wait_closed, [half], LIMITS.body_timeout_s + 5)
    half.sock.close()
    assert half.received.startswith(b"HTTP/1.1 408 ")
    assert half.closed_after < LIMITS.body_timeout_s + MARGIN_S


async def test_a_slow_but_steady_body_is_read_whole(client: httpx.AsyncClient):
    """The deadline is per read: pieces 0.4 s apart, 2 s in all, twice the body timeout."""
    def send_slowly() -> bytes:
        with socket.create_connection(("127.0.0.1", client.base_url.port)) as sock:
            sock.sendall(post_head(50, "close"))
            for _ in range(5):
                time.sleep(0.4)
                sock.sendall(b"x" * 10)
            sock.settimeout(5)
            return b"".join(iter(lambda: sock.recv(4096), b""))  # to the server's close

    answer = await asyncio.to_thread(send_slowly)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n50"), answer


async def test_connections_beyond_the_cap_get_503_at_once_and_a_freed_place_serves_again(client: httpx.AsyncClient):
    held = await slow_clients(client.base_url.port, LIMITS.max_connections, b"")
    started = time.monotonic()
    [refused] = await slow_clients(client.base_url.port, 1, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not await asyncio.to_thread(wait_closed, [refused], 2)
    assert refused.received.startswith(b"HTTP/1.1 503 ")
    assert time.monotonic() - started < LIMITS.head_timeout_s / 2  # not queued until a held one times out
    close_all([refused, *held])
    await asyncio.sleep(0.2)  # the server sees the closes
    assert (await client.get("/healthz")).text == "alive"


async def test_an_idle_kept_alive_connection_is_closed_after_keepalive(client: httpx.AsyncClient):
    [kept] = await slow_clients(client.base_url.port, 1, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not await asyncio.to_thread(wait_closed, [kept], LIMITS.keepalive_s + 5)
    kept.sock.close()
    assert kept.received.startswith(b"HTTP/1.1 200 ") and kept.received.endswith(b"alive")
    assert LIMITS.keepalive_s - 0.1 < kept.closed_after < LIMITS.keepalive_s + MARGIN_S


async def test_a_client_that_reads_nothing_is_dropped_after_the_send_timeout():
    endless = Endless()
    async with serve_app(make_app(endless), LIMITS) as client:
        with capture_logs() as logs:
            started = time.monotonic()
            [reader] = await slow_clients(client.base_url.port, 1, b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            async with asyncio.timeout(30):  # the kernel's buffers fill first, then the send timeout runs
                await endless.ended.wait()
        reader.sock.close()
        assert time.monotonic() - started > LIMITS.send_timeout_s
        assert [entry.get("send") for entry in logs if entry["event"] == "http clients shed"] == [1]
        assert (await client.get("/healthz")).text == "alive"


async def test_a_client_that_hangs_up_mid_upload_is_one_info_line_and_no_traceback(
        client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture):
    def hang_up() -> None:
        with socket.create_connection(("127.0.0.1", client.base_url.port)) as sock:
            sock.sendall(post_head(1000) + b"x" * 100)

    with capture_logs() as logs, caplog.at_level(logging.INFO):
        await asyncio.to_thread(hang_up)
        async with asyncio.timeout(5):
            while not any(entry["event"] == "http client gone mid-request" for entry in logs):
                await asyncio.sleep(0.02)
        assert (await client.get("/healthz")).text == "alive"
    gone = [entry for entry in logs if entry["event"] == "http client gone mid-request"]
    assert gone == [{"event": "http client gone mid-request", "log_level": "info", "method": "POST",
                     "path": "/upload"}]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING], caplog.text
