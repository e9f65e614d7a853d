"""Shared pieces of the HTTP layer: app keys, JSON errors, authentication, bounded body reading."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from service.auth import KeyRing, Principal
from service.keys import Keys
from service.metrics import ApiMetrics
from service.queue import Enqueuer
from service.settings import Settings
from service.store import DecisionStore
from service.waiter import DecisionWaiter

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
KEYRING = web.AppKey("keyring", KeyRing)
KEYS = web.AppKey("keys", Keys)
STORE = web.AppKey("store", DecisionStore)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)
WAITER = web.AppKey("waiter", DecisionWaiter)
METRICS = web.AppKey("metrics", ApiMetrics)
REQUEST_ID = web.RequestKey("request_id", str)
COMMENT_ID = web.RequestKey("comment_id", str)


class ApiError(web.HTTPException):
    """An HTTP error with a JSON body ``{"error": code, "message": ..., ...}``."""

    def __init__(self, http_status: int, code: str, message: str, **extra: Any) -> None:
        self.status_code = http_status
        headers = {}
        if "retry_after" in extra:
            headers["Retry-After"] = str(extra.pop("retry_after"))
        body = {"error": code, "message": message, **extra}
        super().__init__(
            text=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=headers
        )


def json_error(http_status: int, code: str, message: str, **extra: Any) -> web.Response:
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
    body = {"error": code, "message": message, **extra}
    return web.json_response(body, status=http_status, headers=headers)


def require(request: web.Request, kind: str) -> Principal:
    """The caller's principal, which must be of ``kind``: 401 without a valid key, 403 for the other kind."""
    principal = request.app[KEYRING].lookup(request.headers.get("Authorization"))
    if principal is None:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <key>")
    if principal.kind != kind:
        raise ApiError(403, "forbidden", f"this endpoint needs a {kind} key")
    return principal


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes, answering 413 beyond it (with or without Content-Length)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(16 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding", "the body is not valid UTF-8") from exc
