"""Headless Chromium for the dashboard's tests (selenium + Debian's chromedriver).

``scripts/ensure-chromium`` installs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``.
The browser may reach loopback only: every other host resolves to nothing and
would go through a proxy that is not there, and Chromium's own background traffic
(updates, sync, metrics) is switched off.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 20.0
_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-features=OptimizationHints,Translate,MediaRouter",
    "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)  # fmt: skip


def available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


class Browser:
    """One Chromium with helpers that wait (never sleep) for what a test expects."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in _FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        self.errors: list[dict[str, Any]] = []

    def quit(self) -> None:
        self.driver.quit()

    def open(self, url: str) -> None:
        """Load ``url`` afresh (a URL that differs only in its #fragment would
        otherwise keep the page, and what was typed into it)."""
        self.driver.get("about:blank")
        self.driver.get(url)

    def console_errors(self) -> list[str]:
        """Errors logged in the console since the last call (scripts, failed loads)."""
        entries = self.driver.get_log("browser")
        return [e["message"] for e in entries if e.get("level") == "SEVERE"]

    def wait(self, cond: Callable[[], Any], what: str) -> Any:
        def check(_: object) -> Any:
            try:
                return cond()
            except StaleElementReferenceException:  # the page re-rendered meanwhile
                return False

        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.05).until(check, what)

    def find(self, css: str) -> WebElement:
        return self.wait(lambda: self._visible(css), f"an element {css!r}")

    def _visible(self, css: str) -> WebElement | None:
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found and found[0].is_displayed() else None

    def phone(self, on: bool, width: int = 390, height: int = 844) -> None:
        """Emulate a phone's screen (headless windows are never narrower than 500 px)."""
        if on:
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        else:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def click(self, css: str) -> None:
        """Click ``css``, again if a poll re-rendered it under the click."""
        self.wait(lambda: (el := self._visible(css)) is not None and (el.click() or True),
                  f"a click on {css!r}")  # fmt: skip

    def press(self, css: str, keys: str) -> None:
        """Type ``keys`` into ``css`` (focused by the keyboard, not the mouse)."""
        self.wait(lambda: (el := self._visible(css)) is not None and (el.send_keys(keys) or True),
                  f"keys into {css!r}")  # fmt: skip

    def text_of(self, css: str) -> str:
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].text if found else ""

    def wait_text(self, css: str, text: str) -> WebElement:
        return self.wait(
            lambda: (el := self._visible(css)) is not None and text in el.text and el,
            f"{text!r} in {css!r}",
        )

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def session_storage(self) -> dict[str, str]:
        raw = self.js("return JSON.stringify(Object.assign({}, sessionStorage));")
        value: dict[str, str] = json.loads(raw)
        return value

    def screenshot(self, path: Path, max_height: int = 1500) -> int:
        """Save a PNG of the whole page (up to ``max_height`` CSS px, through the
        DevTools protocol, which can capture beyond the viewport); its size in bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.js("window.scrollTo(0, 0)")
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        content = metrics["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": metrics["cssLayoutViewport"]["clientWidth"],
                "height": min(max_height, content["height"]), "scale": 1}  # fmt: skip
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path.stat().st_size
