"""Headless Chromium for the browser tests: Debian's `chromium` and `chromium-driver` via Selenium.

A missing browser fails the test (CI's `.ci/run` installs both), it never skips.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any


@contextmanager
def headless_chromium(
    *, purpose: str, window_size: str, extra_arguments: Sequence[str] = (), capabilities: Mapping[str, Any]
) -> Iterator[Any]:
    """A Selenium driver on headless Chromium at `window_size` ("W,H"), quit afterwards."""
    import pytest

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail(
            f"the {purpose} test drives headless Chromium: install Debian's packages with "
            "`apt-get install -y chromium chromium-driver` (CI's .ci/run does) and `pip install selenium`"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={window_size}",
        "--force-device-scale-factor=1",
        *extra_arguments,
    ):
        options.add_argument(argument)
    for name, value in capabilities.items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()
