"""Protocols sites already run, spoken by commentmod: Perspective, Akismet, Coral's external moderation
phase, plus ``POST /v1/score`` and the decisions feed. Each answers from a worker's decision."""

from __future__ import annotations

from aiohttp import web

from service.http.protocols import akismet, coral, perspective, sitefeed


def add_routes(app: web.Application) -> None:
    perspective.add_routes(app)
    akismet.add_routes(app)
    coral.add_routes(app)
    sitefeed.add_routes(app)
