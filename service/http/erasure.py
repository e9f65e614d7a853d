"""``DELETE /v1/authors/{author}`` (moderator key): erase an author's data for a deletion request.

``author`` is the pseudonym shown as ``author`` in the moderator view. The answer counts the erased
comments; an author with none left is a ``200`` with ``0`` (erasing is idempotent). What is erased:
``service.core.erasure``.
"""

from __future__ import annotations

import re

from aiohttp import web

from service.core.erasure import erase_author
from service.core.logs import get_logger
from service.http.common import KEYS, REDIS, SETTINGS, ApiError, require

log = get_logger("commentmod.erasure")

AUTHOR_ID = re.compile(r"[0-9a-f]{32}")


async def delete_author(request: web.Request) -> web.Response:
    moderator = require(request, "moderator")
    author = request.match_info["author"]
    if not AUTHOR_ID.fullmatch(author):
        raise ApiError(422, "validation_failed", "not an author id", fields={"author": "32 hex digits"})
    app = request.app
    erased = await erase_author(app[REDIS], app[KEYS], author, app[SETTINGS].hash_secret)
    log.info("author_erased", moderator=moderator.name, comments=erased)
    return web.json_response({"author": author, "erased_comments": erased})


def add_routes(app: web.Application) -> None:
    app.router.add_delete("/v1/authors/{author}", delete_author)
