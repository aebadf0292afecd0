"""The web page in a real headless Chromium against a real daemon (issue 15).

A stranger's clip (金正恩's, with him taken out of the gallery) plays in an
earlier run of the daemon, then on two cameras: log in (a wrong token is
refused), watch a live view paint, see the ``unknown`` events with their
crops and the day's timeline, find the stranger's crops of both runs in one
group, refuse a change without the CSRF token, and "This is Taro" him. The
next run of his clip raises ``recognized`` Taro, shown with his crop. Every
browser call runs in a thread: the daemon serving the page runs on this
test's event loop.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from face01d.app import Daemon
from face01d.config.models import (CameraConfig, Config, DaemonConfig, DetectorConfig, EnrollmentConfig,
                                   GalleryConfig, HttpConfig, MqttConfig, PreviewConfig, SnapshotConfig,
                                   WorkersConfig)

KIM = "金正恩"
TOKEN = "page-token"
TARO = "Taro"


async def wait_for(condition: Callable[[], object], timeout: float = 120.0, every: float = 0.2) -> None:
    """Poll ``condition`` (run in a thread: it may drive the browser) until it is true."""
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(_holds, condition):
            await asyncio.sleep(every)


def _holds(condition: Callable[[], object]) -> bool:
    """The condition; False when the page it was reading was replaced meanwhile (a form's answer arriving)."""
    try:
        return bool(condition())
    except StaleElementReferenceException:
        return False


def stranger_gallery(data, tmp_path: Path) -> Path:
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for image in data.face01_gallery.iterdir():
        if not image.name.startswith(KIM):
            shutil.copy(image, gallery / image.name)
    return gallery


def config_for(data, tmp_path: Path, gallery: Path, cameras: list[CameraConfig]) -> Config:
    return Config(daemon=DaemonConfig(lock_file=tmp_path / "lock"),
                  gallery=GalleryConfig(path=gallery, cache_dir=tmp_path / "cache"),
                  detector=DetectorConfig(kind="mediapipe", set_width=640),
                  workers=WorkersConfig(detect="thread", encode="thread", threads=1),
                  mqtt=MqttConfig(enabled=False), snapshots=SnapshotConfig(enabled=False),
                  http=HttpConfig(enabled=True, port=0, token=TOKEN),
                  preview=PreviewConfig(enabled=True, width=480, fps=5),
                  enrollment=EnrollmentConfig(unknown_dir=tmp_path / "unknown"), cameras=cameras)


async def started(config: Config) -> tuple[Daemon, asyncio.Task[int], str]:
    daemon = Daemon(config, None, once=False, stdout_events=False)
    run = asyncio.create_task(daemon.run())
    async with asyncio.timeout(120):
        while not (daemon.readiness.ready and daemon.http_port) and not run.done():
            await asyncio.sleep(0.05)
    assert not run.done(), "the daemon ended while starting"
    return daemon, run, f"http://127.0.0.1:{daemon.http_port}"


async def stopped(daemon: Daemon, run: asyncio.Task[int]) -> None:
    daemon.request_stop("test")
    assert await asyncio.wait_for(run, 60) == 0


def log_in(browser: WebDriver, base: str, token: str) -> None:
    browser.get(f"{base}/")  # not logged in: sent to the form
    browser.find_element(By.ID, "token").send_keys(token)
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#login button"))


def submit_and_wait(browser: WebDriver, button: WebElement) -> None:
    """Click a form's button and wait until its page is gone: the POST was answered (a session cookie set
    or cleared) before the caller navigates, or a ``browser.get`` would race it."""
    button.click()
    WebDriverWait(browser, 30).until(staleness_of(button))


def painted(browser: WebDriver, selector: str) -> bool:
    """Whether some image matching ``selector`` has decoded pixels."""
    return bool(browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].some(i => i.complete && i.naturalWidth > 0)", selector))


def post_status(browser: WebDriver, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of a same-origin POST made by the page's own cookie, without a CSRF token."""
    return int(browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: arguments[1],"
        " body: 'x=1'}).then(r => done(r.status));", path, headers or {}))


def shoot(browser: WebDriver, folder: Path, name: str) -> None:
    browser.save_screenshot(str(folder / f"{name}.png"))


async def test_the_page_from_login_to_naming_a_stranger(data, tmp_path: Path, browser: WebDriver,
                                                        screenshots: Path):
    gallery = stranger_gallery(data, tmp_path)
    unknown = tmp_path / "unknown"
    await an_earlier_run_keeps_a_crop(data, tmp_path, gallery, unknown)
    cameras = [CameraConfig(name="door", source=str(data.kim_video), pace="native"),
               CameraConfig(name="hall", source=str(data.kim_video), pace="none")]
    daemon, run, base = await started(config_for(data, tmp_path, gallery, cameras))
    try:
        await api_and_login_checks(base, browser, screenshots)
        await cameras_page(browser, screenshots)
        await wait_for(lambda: len(list(unknown.glob("*.jpg"))) >= 3)  # the earlier run's, and this run's
        await events_page(browser, base, "unknown", "Unknown", screenshots, "events")
        await csrf_refused(browser, base)
        crops = len(list(unknown.glob("*.jpg")))
        await name_the_group(browser, base, crops, screenshots)
        assert any(path.name.startswith(f"{TARO}_") for path in gallery.iterdir())
        assert TARO in daemon.recognizer.gallery.people  # reloaded before the page answered
    finally:
        await stopped(daemon, run)
    await next_run_recognises_taro(data, tmp_path, gallery, browser, screenshots)


async def an_earlier_run_keeps_a_crop(data, tmp_path: Path, gallery: Path, unknown: Path) -> None:
    """The stranger seen on another day: a daemon of its own, stopped once his crop is kept."""
    cameras = [CameraConfig(name="gate", source=str(data.kim_video), pace="none")]
    daemon, run, _ = await started(config_for(data, tmp_path, gallery, cameras))
    try:
        await wait_for(lambda: len(list(unknown.glob("*.jpg"))) >= 1)
    finally:
        await stopped(daemon, run)


async def api_and_login_checks(base: str, browser: WebDriver, screenshots: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
        assert (await client.get("/metrics")).status_code == 401  # the API without its token
        assert (await client.get("/unknown")).status_code == 401
        wrong = await client.post("/login", data={"token": "nope"}, headers={"Origin": base})
        assert wrong.status_code == 401
        right = await client.post("/login", data={"token": TOKEN}, headers={"Origin": base})
        assert right.status_code == 303
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # plain http
    await asyncio.to_thread(log_in, browser, base, "wrong-token")
    assert "Wrong token" in await asyncio.to_thread(lambda: browser.find_element(By.ID, "error").text)
    await asyncio.to_thread(shoot, browser, screenshots, "login-refused")
    await asyncio.to_thread(log_in, browser, base, TOKEN)
    assert await asyncio.to_thread(lambda: browser.find_elements(By.ID, "nav-cameras"))


async def cameras_page(browser: WebDriver, screenshots: Path) -> None:
    await wait_for(lambda: painted(browser, "#camera-door img.preview"), 30)  # the MJPEG live view, by cookie
    await asyncio.sleep(1.0)  # a few more frames drawn, for the screenshot
    await asyncio.to_thread(shoot, browser, screenshots, "cameras")


async def events_page(browser: WebDriver, base: str, kind: str, name: str, screenshots: Path, shot: str) -> None:
    """The Events page filtered to ``kind`` shows ``name`` with a painted crop, and the day's timeline."""
    def shown() -> bool:
        browser.get(f"{base}/events?type={kind}")
        rows = browser.find_elements(By.CSS_SELECTOR, f"#events tr.event.{kind}")
        return any(row.get_attribute("data-name") == name for row in rows) and painted(browser, "#events img.crop")

    await wait_for(shown, 90, every=1.0)
    await wait_for(lambda: painted(browser, "#timeline"), 30, every=0.5)
    await asyncio.to_thread(shoot, browser, screenshots, shot)


async def csrf_refused(browser: WebDriver, base: str) -> None:
    await asyncio.to_thread(browser.get, f"{base}/unknown")
    assert await asyncio.to_thread(post_status, browser, "/web/unknown/abc/ignore",
                                   {"Content-Type": "application/x-www-form-urlencoded"}) == 403
    assert await asyncio.to_thread(post_status, browser, f"/gallery/{TARO}", {"Content-Type": "image/jpeg"}) == 403


async def name_the_group(browser: WebDriver, base: str, crops: int, screenshots: Path) -> None:
    """One group holds every crop of the stranger; "This is Taro" enrolls them."""
    def one_group() -> bool:
        browser.get(f"{base}/unknown")
        sizes = [group.get_attribute("data-size") for group in browser.find_elements(By.CSS_SELECTOR, ".group")]
        return sizes == [str(crops)] and painted(browser, ".group img.crop")

    await wait_for(one_group, 120, every=1.0)
    await asyncio.to_thread(shoot, browser, screenshots, "unknown")

    def enroll() -> None:
        form = browser.find_element(By.CSS_SELECTOR, ".group form.enroll")
        form.find_element(By.NAME, "name").send_keys(TARO)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    await asyncio.to_thread(enroll)
    await wait_for(lambda: f"as {TARO}" in (browser.find_element(By.ID, "message").text
                                            if browser.find_elements(By.ID, "message") else ""), 120)
    assert await asyncio.to_thread(lambda: not browser.find_elements(By.CSS_SELECTOR, ".group"))
    await asyncio.to_thread(shoot, browser, screenshots, "unknown-enrolled")


async def next_run_recognises_taro(data, tmp_path: Path, gallery: Path, browser: WebDriver,
                                   screenshots: Path) -> None:
    cameras = [CameraConfig(name="door", source=str(data.kim_video), pace="none")]
    daemon, run, base = await started(config_for(data, tmp_path, gallery, cameras))
    try:
        await asyncio.to_thread(log_in, browser, base, TOKEN)  # a new daemon: sessions do not outlive it
        await events_page(browser, base, "recognized", TARO, screenshots, "events-recognized")
        await asyncio.to_thread(browser.get, f"{base}/gallery")
        people = await asyncio.to_thread(
            lambda: [p.get_attribute("data-name") for p in browser.find_elements(By.CSS_SELECTOR, ".person")])
        assert TARO in people
        await asyncio.to_thread(shoot, browser, screenshots, "gallery")
    finally:
        await stopped(daemon, run)
