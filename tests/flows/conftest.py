"""One temporary Prefect server for every flow test of the run, and the headless browser of the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """Run flows against a throw-away Prefect server (SQLite in a temporary folder)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright. CI installs chromium (.ci/run); elsewhere a test
    using it is skipped when /usr/bin/chromium is missing, and fails instead when $CI is set, so CI can never
    skip it silently."""
    if not Path(CHROMIUM).is_file():
        message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install -e .[test]")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()
