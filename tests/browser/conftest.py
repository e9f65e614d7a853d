"""Fixtures of the browser tests: the app on a real port, headless Chromium (Debian's), and a page that
checks, when the test ends, that it broke no rule of its CSP, opened no dialog, and talked to no other
origin. Playwright is imported inside the fixtures: the test module skips itself first when
/usr/bin/chromium is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from service.core.redis_server import free_port
from service.core.settings import Settings
from service.http.app import create_app
from tests.kits.live import Live

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    settings = settings.with_(thresholds={"toxicity": 0.5, "insult": 0.7, "spam": 0.8})
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        yield Live(f"http://127.0.0.1:{port}", settings, http)
    await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, live: Live) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    tab = await context.new_page()
    tab.on("request", lambda r: live.requests.append(r.url))

    async def on_dialog(dialog: Any) -> None:
        live.dialogs.append(dialog.message)
        await dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("console", lambda m: live.console_errors.append(m.text) if m.type == "error" else None)
    await tab.clock.install()  # the 5 s undo window runs on a fake clock the test moves forward
    yield tab
    await context.close()
    assert live.dialogs == []
    assert [u for u in live.requests if not u.startswith(live.base + "/")] == []
    assert [e for e in live.console_errors if "Content Security Policy" in e] == []
