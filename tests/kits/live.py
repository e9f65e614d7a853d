"""The app on a real port for the browser tests: a way to post and hold comments, and what the page did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from service.core.settings import Settings
from tests.kits.common import SITE_KEY, mod_headers, site_headers
from tests.kits.held import make_held


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
