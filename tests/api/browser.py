"""Debian's headless Chromium driven by selenium, from async tests.

WebDriver calls block, and the API under test runs in the test's event loop, so every call
goes through a thread; waits are the browser's own (WebDriverWait on what the page shows).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

T = TypeVar("T")


def start_chromium() -> webdriver.Chrome:
    """Headless Chromium (`bash scripts/browser.sh` installs it)."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        raise RuntimeError("chromium and chromedriver are missing: run `bash scripts/browser.sh`")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    chromium = webdriver.Chrome(service=Service(driver), options=options)
    # A new page's elements are looked for until it has loaded them (up to 10 s).
    chromium.implicitly_wait(10)
    return chromium


class Browser:
    """One browser tab, used from the event loop."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.base_url + path)

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.base_url)

    async def find(self, css: str) -> WebElement:
        return await self.run(self.driver.find_element, By.CSS_SELECTOR, css)

    async def text(self, css: str) -> str:
        return (await self.find(css)).text

    async def rows(self, css: str) -> list[list[str]]:
        """The visible text of each cell of each body row of a table."""

        def read() -> list[list[str]]:
            rows = self.driver.find_elements(By.CSS_SELECTOR, f"{css} tbody tr")
            return [
                [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")] for row in rows
            ]

        return await self.run(read)

    async def follow(self, css: str = "", *, link: str = "") -> None:
        """Click what leads to another page (a link, a form's button), and wait for that page."""
        by, what = (By.LINK_TEXT, link) if link else (By.CSS_SELECTOR, css)
        element = await self.run(self.driver.find_element, by, what)
        old_page = await self.run(self.driver.find_element, By.TAG_NAME, "html")
        await self.run(element.click)
        # Mid-navigation Chromium may answer a look at the old page with an inspector error
        # instead of "stale": that is "not yet", so the wait asks again.
        wait = WebDriverWait(
            self.driver, 20, poll_frequency=0.05, ignored_exceptions=(WebDriverException,)
        )
        await self.run(wait.until, staleness_of(old_page))

    async def type(self, css: str, value: str) -> None:
        await self.run((await self.find(css)).send_keys, value)

    async def paste(self, css: str, value: str) -> None:
        """Put `value` in a text field as a paste does (in one go, any character)."""
        element = await self.find(css)
        await self.run(
            self.driver.execute_script, "arguments[0].value = arguments[1]", element, value
        )

    async def choose(self, css: str, visible_text: str) -> None:
        """Pick an option of a select by what it shows."""
        await self.run(Select(await self.find(css)).select_by_visible_text, visible_text)

    async def click(self, css: str) -> None:
        await self.run((await self.find(css)).click)

    async def wait_for_text(self, css: str, text: str, timeout: float = 20) -> None:
        """Until the element shows `text` (the page's own script changes it)."""

        def shown(driver: webdriver.Chrome) -> bool:
            return driver.find_element(By.CSS_SELECTOR, css).text == text

        await self.run(WebDriverWait(self.driver, timeout, poll_frequency=0.05).until, shown)
