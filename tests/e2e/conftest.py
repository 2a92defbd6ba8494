"""Real headless Chromium (Debian's) driven by Playwright, against pytest-django's live_server."""
import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM, called from the same
# thread by the test's fixtures, would otherwise refuse to run.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"Chromium not found at {CHROMIUM}: run scripts/setup --browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(accept_downloads=True, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    try:
        page.screenshot(path=str(tmp_path / "last.png"))
    finally:
        context.close()
