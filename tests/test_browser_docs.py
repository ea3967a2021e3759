"""A real browser on /docs and /redoc: Debian's headless Chromium, driven through chromedriver by
Selenium, against the app served by uvicorn, with every host but 127.0.0.1 unresolvable, so a
script or stylesheet fetched from a CDN would leave the page blank.

Chromium comes from Debian's `chromium` and `chromium-driver` packages; `make test` installs them
when they are missing. Outside CI a machine without them skips this file with a message; under
`CI=true` that is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from app.main import create_app
from tests.stripe_support import serve_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    message = (
        f"headless Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): "
        "apt-get install chromium chromium-driver (make test does it)"
    )
    if IN_CI:
        raise RuntimeError(message + " — CI=true: the browser test must run")
    pytest.skip(message, allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once Chromium is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="rapport-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        # No network but this machine: a CDN URL fails to resolve, as it would offline.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver path is given, so Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def served_docs(settings: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    application = create_app(settings)
    spec = application.openapi()
    with serve_app(application) as served:
        yield served.url, spec


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [(m, p) for p, item in spec["paths"].items() for m in item if m in methods]


# ReDoc's sidebar badge ("API docs by Redocly") always asks the CDN for its logo and hides the
# image when that fails: decoration, not a part of the page, so its failure is expected offline.
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _severe_console_errors(driver: Any) -> list[str]:
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not e["message"].startswith(REDOC_BADGE)
    ]


def test_swagger_ui_shows_every_operation_with_no_network(
    browser: Any, served_docs: tuple[str, dict[str, Any]]
) -> None:
    url, spec = served_docs
    browser.get(f"{url}/docs")
    expected = _operations(spec)
    WebDriverWait(browser, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(expected)
    )
    shown = {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.lower(),
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock")
    }
    assert shown == set(expected)
    assert browser.find_element(By.CSS_SELECTOR, ".info .title").text.startswith("Rapport API")
    assert browser.find_elements(By.CSS_SELECTOR, ".btn.authorize"), "no Authorize button"
    assert _severe_console_errors(browser) == []


def test_redoc_renders_the_operations_with_no_network(
    browser: Any, served_docs: tuple[str, dict[str, Any]]
) -> None:
    url, spec = served_docs
    browser.get(f"{url}/redoc")
    expected = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    WebDriverWait(browser, 90).until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']"))
            >= len(expected)
        )
    )
    sections = browser.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")
    shown = {s.get_attribute("data-section-id").removeprefix("operation/") for s in sections}
    assert shown == expected
    assert _severe_console_errors(browser) == []
