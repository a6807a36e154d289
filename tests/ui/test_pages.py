"""The dashboard in real headless Chromium against real ``hotfn start`` servers.

The invoke, calls, log and chart tests run on the real engine (a hot Python fn on
hotfn's FDK): what the page shows is then what a user would see, logs included.
The token test needs no engine: its server is never asked to call anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.server_support import ServerProcess
from tests.ui.browser import Browser
from tests.ui.conftest import TOKEN

pytestmark = [pytest.mark.docker, pytest.mark.browser]
MAX_PNG = 150 * 1024


def fn_url(deployed: dict[str, Any], name: str = "fn") -> str:
    return f"{deployed['url']}/ui/#/fns/{deployed[name]['id']}"


def shot(browser: Browser, directory: Path, name: str) -> None:
    size = browser.screenshot(directory / f"ui-{name}.png")
    assert size < MAX_PNG, f"ui-{name}.png is {size} bytes"


def test_every_page_loads_without_console_errors_and_lists_fns(
    browser: Browser, deployed: dict[str, Any], screenshots: Path
) -> None:
    browser.open(f"{deployed['url']}/ui")  # redirects to /ui/
    fns = browser.find("#fns-title")
    assert "Fns (2)" in fns.text
    listed = {el.text for el in browser.driver.find_elements(By.CSS_SELECTOR, "tr[data-fn] a")}
    assert {"hello", "idle", "shop"} <= listed
    browser.find("#server-charts figure")
    assert browser.console_errors() == []
    shot(browser, screenshots, "overview")

    browser.open(f"{deployed['url']}/ui/#/apps/{deployed['app']['id']}")
    browser.wait_text("h1", "App shop")
    browser.wait_text("#app-triggers", "Triggers (1)")
    page = browser.text_of("main")
    assert "/hello" in page and "http-stream" in page and "64 MB" in page
    assert browser.console_errors() == []
    shot(browser, screenshots, "app")

    browser.open(fn_url(deployed))
    browser.wait_text("h1", "Fn hello")
    browser.find("#fn-charts figure")
    settings = browser.text_of("main")
    assert deployed["fn"]["image"] in settings and "team" in settings
    assert "/t/shop/hello" in settings and f"/invoke/{deployed['fn']['id']}" in settings
    assert browser.console_errors() == []


def test_invoke_from_the_form_shows_the_answer_then_the_call_and_its_log(
    browser: Browser, deployed: dict[str, Any], screenshots: Path
) -> None:
    browser.open(fn_url(deployed))
    browser.find("#invoke-body").send_keys("log:hello from the browser")
    headers = browser.find("#invoke-headers")
    headers.send_keys("X-Trace: ui-test")
    browser.find("#invoke-send").click()
    status = browser.wait_text("#invoke-status", "Status 200")
    assert " ms" in status.text
    assert browser.text_of("#invoke-answer") == "log:hello from the browser"
    call_id = browser.js(
        "return [...document.querySelectorAll('#invoke-headers-out tr')]"
        ".find(r => r.cells[0].textContent === 'fn-call-id').cells[1].textContent"
    )
    assert len(call_id) == 26
    # The call is listed, and opening it shows its record and log.
    browser.find(f"tr[data-call='{call_id}']")
    row = browser.text_of(f"tr[data-call='{call_id}']")
    assert "success" in row
    browser.click(f"tr[data-call='{call_id}'] button")
    browser.wait_text("#call-log-title", call_id)
    browser.wait_text("#call-log-text", "hello from the browser")
    assert browser.console_errors() == []
    shot(browser, screenshots, "fn")


def test_charts_change_after_calls(browser: Browser, deployed: dict[str, Any]) -> None:
    fn = deployed["idle"]
    browser.open(fn_url(deployed, "idle"))
    rate = browser.find("#fn-rate")
    assert rate.get_attribute("data-sum") == "0.000"
    browser.open(f"{deployed['url']}/ui/")
    server_before = float(browser.find("#server-rate").get_attribute("data-sum") or 0)
    with httpx.Client(base_url=deployed["url"], timeout=60) as api:
        for _ in range(3):
            assert api.post(f"/invoke/{fn['id']}", content=b"x").status_code == 200
    # The page polls the API: the server's chart picks the calls up by itself.
    browser.wait(
        lambda: float(browser.find("#server-rate").get_attribute("data-sum") or 0) > server_before,
        "the server's calls/s chart to count the new calls",
    )
    browser.open(fn_url(deployed, "idle"))
    browser.wait(
        lambda: browser.find("#fn-first").get_attribute("data-sum") == "1.000",
        "one first call in the fn's first-calls chart",
    )
    assert float(browser.find("#fn-rate").get_attribute("data-sum") or 0) > 0
    assert "p99" in (browser.find("#fn-latency svg").get_attribute("aria-label") or "")
    assert browser.console_errors() == []


def test_token_server_shows_the_prompt_and_nothing_else_until_the_right_token(
    browser: Browser, token_server: ServerProcess, screenshots: Path
) -> None:
    browser.open(f"{token_server.url}/ui/")
    browser.find("#token-input")
    assert "secret-app" not in browser.driver.page_source
    assert browser.text_of("#crumbs") == "" and browser.session_storage() == {}
    assert browser.console_errors() == []  # asking whether a token is needed is no 401
    shot(browser, screenshots, "token")

    browser.find("#token-input").send_keys("wrong")
    browser.find("#token button[type=submit]").click()
    browser.wait_text("#token-error", "not this server's token")
    assert "secret-app" not in browser.driver.page_source
    assert browser.session_storage() == {}
    assert all("401" in e for e in browser.console_errors())  # the refused try only

    field = browser.find("#token-input")
    field.clear()
    field.send_keys(TOKEN)
    browser.find("#token button[type=submit]").click()
    browser.wait_text("#apps-title", "Apps (1)")
    assert "secret-app" in browser.text_of("main")
    assert browser.session_storage() == {"hotfn-token": TOKEN}
    browser.find("#signout").click()
    browser.find("#token-input")
    assert browser.session_storage() == {} and "secret-app" not in browser.text_of("main")
    assert browser.console_errors() == []


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "message"),
    [
        ("x", "text/plain", "not a header", 'line 1: "not a header" is not a header'),
        ("x", "text/plain", "X-Ok: 1\nBad Name: v", 'line 2: "Bad Name" is not a valid header'),
        ("x", "text/plain", "Host: evil", "Host is set by the browser"),
        ("x", "json", "", 'Content type "json" is not a media type'),
        ("{oops", "application/json", "", "Body is not valid JSON"),
    ],
)
def test_bad_input_in_the_form_gets_a_clear_message(
    browser: Browser, deployed: dict[str, Any], body: str, content_type: str, headers: str,
    message: str,
) -> None:  # fmt: skip
    browser.open(fn_url(deployed, "idle"))
    browser.find("#invoke-body").send_keys(body)
    kind = browser.find("#invoke-type")
    kind.clear()
    kind.send_keys(content_type)
    browser.find("#invoke-headers").send_keys(headers)
    browser.find("#invoke-send").click()
    browser.wait_text("#invoke-error", message)
    assert browser.text_of("#invoke-result") == ""  # nothing was sent
    assert browser.console_errors() == []


def test_phone_width_keyboard_and_labels(
    browser: Browser, deployed: dict[str, Any], screenshots: Path
) -> None:
    browser.phone(True)
    try:
        browser.open(fn_url(deployed))
        browser.find("#fn-charts figure")
        assert browser.js("return innerWidth") == 390
        # Nothing wider than the screen: no sideways scrolling of the page.
        wider = browser.js(
            "const w = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 0.5)"
            ".map(e => `${e.tagName} in ${e.closest('table')?.caption?.textContent}`)"
        )
        assert wider == []
        root = "document.documentElement"
        assert browser.js(f"return {root}.scrollWidth <= {root}.clientWidth")
        unlabelled = browser.js(
            "return [...document.querySelectorAll('input, select, textarea')]"
            ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))"
            ".map(e => e.id)"
        )
        assert unlabelled == []
        assert browser.js("return document.querySelectorAll('[aria-live]').length") >= 2
        # The form works from the keyboard alone: focus the body, type, Enter on the button.
        browser.find("#invoke-body").send_keys("typed")
        browser.js("document.getElementById('invoke-send').focus()")
        browser.driver.switch_to.active_element.send_keys("\n")
        browser.wait_text("#invoke-answer", "typed")
        shot(browser, screenshots, "phone")
    finally:
        browser.phone(False)
    assert browser.console_errors() == []


def test_calls_filter_by_status(browser: Browser, deployed: dict[str, Any]) -> None:
    fn = deployed["idle"]
    with httpx.Client(base_url=deployed["url"], timeout=60) as api:
        assert api.post(f"/invoke/{fn['id']}", content=b"raise").status_code == 502
        assert api.post(f"/invoke/{fn['id']}", content=b"fine").status_code == 200
    browser.open(fn_url(deployed, "idle"))

    def statuses() -> set[str]:
        status_cells = "#calls tr[data-call] td:nth-child(2)"
        cells = browser.driver.find_elements(By.CSS_SELECTOR, status_cells)
        return {el.text.split()[0] for el in cells}

    browser.wait(lambda: {"success", "error"} <= statuses(), "both kinds of call listed")
    Select(browser.find("#status-filter")).select_by_value("error")
    browser.wait(lambda: statuses() == {"error"}, "only failed calls listed")
    browser.press("#calls tr[data-call] button", "\n")  # open it from the keyboard
    browser.wait_text("#call-log", "error")
    assert browser.console_errors() == []
