"""The Gallery page in a real headless Chromium: upload (the gallery's one-face check applies), remove
a photo, remove a person, log out. A daemon without cameras: the page needs only its gallery."""

from __future__ import annotations

import asyncio
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from test_web_page import (TOKEN, config_for, log_in, shoot, started, stopped, stranger_gallery, submit_and_wait,
                           wait_for)

OBAMA = "Obama"


def upload(browser: WebDriver, name: str, image: Path) -> None:
    form = browser.find_element(By.ID, "upload")
    form.find_element(By.NAME, "name").send_keys(name)
    form.find_element(By.NAME, "photos").send_keys(str(image))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def image_count(browser: WebDriver, name: str) -> int | None:
    """The count the page shows for ``name``; None when the person is not listed."""
    for card in browser.find_elements(By.CSS_SELECTOR, ".person"):
        if card.get_attribute("data-name") == name:
            return len(card.find_elements(By.CSS_SELECTOR, "img.crop"))
    return None


def message(browser: WebDriver) -> str:
    found = browser.find_elements(By.ID, "message")
    return found[0].text if found else ""


async def test_photos_are_added_and_removed_from_the_gallery_page(data, tmp_path: Path, browser: WebDriver,
                                                                  screenshots: Path):
    gallery = stranger_gallery(data, tmp_path)
    daemon, run, base = await started(config_for(data, tmp_path, gallery, []))
    try:
        await asyncio.to_thread(log_in, browser, base, TOKEN)
        await asyncio.to_thread(browser.get, f"{base}/gallery")
        await asyncio.to_thread(upload, browser, OBAMA, data.face01_images / "invalid_face_image.png")
        await wait_for(lambda: "face" in browser.find_element(By.CSS_SELECTOR, ".upload-state").text, 60)
        assert OBAMA not in daemon.recognizer.gallery.people  # no face: refused, nothing written
        await asyncio.to_thread(browser.get, f"{base}/gallery")
        await asyncio.to_thread(upload, browser, OBAMA, data.fr_test_images / "obama.jpg")
        await wait_for(lambda: f"to {OBAMA}" in message(browser), 60)
        assert await asyncio.to_thread(image_count, browser, OBAMA) == 2  # the photo and its display copy
        await asyncio.to_thread(shoot, browser, screenshots, "gallery-added")

        await asyncio.to_thread(remove_first_photo, browser, OBAMA)
        await wait_for(lambda: "Removed" in message(browser), 30)
        assert await asyncio.to_thread(image_count, browser, OBAMA) == 1
        await asyncio.to_thread(remove_person, browser, OBAMA)
        await wait_for(lambda: f"Removed {OBAMA}" in message(browser), 30)
        assert await asyncio.to_thread(image_count, browser, OBAMA) is None
        assert OBAMA not in daemon.recognizer.gallery.people
        assert not any(path.name.startswith(OBAMA) for path in gallery.iterdir())

        await asyncio.to_thread(lambda: submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR,
                                                                                      "header form button")))
        await asyncio.to_thread(browser.get, f"{base}/gallery")
        assert await asyncio.to_thread(lambda: browser.find_elements(By.ID, "token"))  # logged out: the form
    finally:
        await stopped(daemon, run)


def remove_first_photo(browser: WebDriver, name: str) -> None:
    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".person") if c.get_attribute("data-name") == name)
    card.find_element(By.CSS_SELECTOR, "figcaption button").click()


def remove_person(browser: WebDriver, name: str) -> None:
    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".person") if c.get_attribute("data-name") == name)
    card.find_element(By.CSS_SELECTOR, ".remove-person button").click()
    browser.switch_to.alert.accept()  # the page asks before removing a person
