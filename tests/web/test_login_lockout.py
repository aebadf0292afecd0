"""Wrong tokens at the login form: five from one address, then that address waits (429, Retry-After),
without its token being compared; a right token clears the count. Real HTTP through face01d's server."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.middleware import Middleware
from structlog.testing import capture_logs

from face01d.config.models import Config, EnrollmentConfig, HttpConfig
from face01d.http import Readiness, make_app
from face01d.metrics import Figures, Metrics
from face01d.web import WebAuth, make_web, web_routes
from face01d.web.lockout import LoginLockout
from support.http_client import serve_app

TOKEN = "lockout-token"


def test_five_wrong_tokens_then_the_address_waits_for_the_oldest_to_leave_the_window() -> None:
    lockout = LoginLockout(max_failures=5, window_s=900)
    with capture_logs() as logs:
        for second in range(5):
            assert lockout.wait_s("10.0.0.7", now=second) == 0
            lockout.failed("10.0.0.7", now=second)
    assert lockout.wait_s("10.0.0.7", now=5) == 895  # the first wrong token leaves the window at 900
    assert lockout.wait_s("10.0.0.8", now=5) == 0  # another address is not affected
    assert lockout.wait_s("10.0.0.7", now=900) == 0  # one failure has left the window: one more try
    assert [entry["event"] for entry in logs] == ["web login locked out"]  # said once
    lockout.succeeded("10.0.0.7")
    assert lockout.wait_s("10.0.0.7", now=6) == 0


def test_the_table_of_addresses_is_bounded() -> None:
    lockout = LoginLockout(max_failures=1, max_addresses=3)
    for number in range(10):
        lockout.failed(f"10.0.0.{number}", now=0)
    assert [lockout.wait_s(f"10.0.0.{n}", now=1) > 0 for n in range(10)] == [False] * 7 + [True] * 3


async def test_the_login_form_answers_429_after_five_wrong_tokens(tmp_path: Path) -> None:
    config = Config(http=HttpConfig(enabled=True, token=TOKEN),
                    enrollment=EnrollmentConfig(keep_unknown=False, unknown_dir=tmp_path / "unknown"))
    metrics = Metrics(lambda: Figures())
    page = make_web(config, enrollment=None, recognizer=lambda: None, reload=lambda: None, metrics=metrics)
    assert page is not None
    app = make_app(metrics, Readiness(), TOKEN, extra=web_routes(page),
                   auth=Middleware(WebAuth, token=TOKEN, sessions=page.sessions))
    async with serve_app(app, timeout=10) as client:
        origin = {"Origin": str(client.base_url).rstrip("/")}

        async def login(token: str) -> httpx.Response:
            return await client.post("/login", data={"token": token}, headers=origin)

        assert [(await login("guess")).status_code for _ in range(5)] == [401] * 5
        refused = await login(TOKEN)  # even the right token: it is not compared while the address waits
        assert refused.status_code == 429 and "Too many wrong tokens" in refused.text
        assert 890 <= int(refused.headers["retry-after"]) <= 900
        page.lockout.succeeded("127.0.0.1")  # the window has passed, as far as this test is concerned
        assert (await login(TOKEN)).status_code == 303
