"""Fixtures for the browser tests: the whole stack (as `make run` starts it) and Chromium.

The stack comes from the end-to-end suite's fixtures. The browser is Debian's chromium
(`make test-tools` installs it), driven by Playwright for Python: Playwright's own browser
downloads are never used, so the tests need nothing from outside the package registries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..e2e.conftest import stack, start_stack

__all__ = ["CHROMIUM", "OUTPUT", "browser", "output_dir", "page", "stack", "start_stack"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
"""Screenshots land here (git-ignored, removed by `make clean`)."""


@pytest.fixture
def output_dir() -> Path:
    """Where a test saves what a person would look at."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's headless chromium, through Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (no stored user choice) at a desktop size; its console errors fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"errors on the page: {errors}"
