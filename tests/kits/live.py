"""The app on a real port for the browser tests: a way to post and hold comments, and what the page did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from service.core.settings import Settings
from tests.kits.common import MOD_KEY, SITE_KEY, mod_headers, site_headers
from tests.kits.held import make_held

if TYPE_CHECKING:
    from playwright.async_api import Page

UNDO_MS = 5000  # the page's undo window (app.js UNDO_MS)


@dataclass
class Live:
    """The app on a real port, a way to post comments to it, and what the browser did."""

    base: str
    settings: Settings
    http: aiohttp.ClientSession
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    async def post(self, payload: dict[str, Any], key: str = SITE_KEY) -> str:
        resp = await self.http.post(f"{self.base}/v1/comments", json=payload, headers=site_headers(key))
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["id"])

    async def held(self, key: str = SITE_KEY, **kwargs: Any) -> str:
        return await make_held(self.settings, lambda payload: self.post(payload, key), **kwargs)

    async def comment(self, comment_id: str) -> dict[str, Any]:
        url = f"{self.base}/v1/moderation/comments/{comment_id}"
        resp = await self.http.get(url, headers=mod_headers())
        return dict(await resp.json())

    async def status(self, comment_id: str) -> str:
        return str((await self.comment(comment_id))["status"])

    def decisions_sent(self) -> int:
        return sum(1 for url in self.requests if url.endswith("/v1/moderation/decisions"))


async def sign_in(page: Page, live: Live, cards: int | None = None) -> None:
    """Sign in on the page with the test moderator key; with ``cards``, wait for that many in the list."""
    from playwright.async_api import expect  # only where the browser tests run

    await page.goto(f"{live.base}/moderate")
    await page.fill("#key", MOD_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#who:text('alice')")
    if cards is not None:
        await expect(page.locator("#list article.card")).to_have_count(cards)
