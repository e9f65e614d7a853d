"""The moderators' page (``/moderate``); its JSON endpoints are the moderator API (http/moderation.py)."""

from __future__ import annotations

from aiohttp import web

from service.http.web.pages import add_page_routes


def add_routes(app: web.Application) -> None:
    add_page_routes(app)
