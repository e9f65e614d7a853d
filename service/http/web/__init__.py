"""The moderators' page (``/moderate``) and the JSON endpoints it works over."""

from __future__ import annotations

from aiohttp import web

from service.http.web.api import add_api_routes
from service.http.web.pages import add_page_routes


def add_routes(app: web.Application) -> None:
    add_api_routes(app)
    add_page_routes(app)
