"""Shared pieces of the HTTP layer: app keys, JSON errors, authentication, bounded body reading."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from aiohttp import web
from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.metrics import ApiMetrics
from service.core.models import RandomHex
from service.core.queue import Enqueuer
from service.core.settings import Settings
from service.core.store import DecisionStore
from service.http.auth import KeyRing, Principal
from service.http.waiter import DecisionWaiter

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
KEYRING = web.AppKey("keyring", KeyRing)
KEYS = web.AppKey("keys", Keys)
STORE = web.AppKey("store", DecisionStore)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)
WAITER = web.AppKey("waiter", DecisionWaiter)
METRICS = web.AppKey("metrics", ApiMetrics)
IDS = web.AppKey("ids", RandomHex)  # random hex for request and comment ids
DRAINING = web.AppKey("draining", asyncio.Event)  # set on SIGTERM: /readyz 503, Connection: close
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
        # ASCII with \u escapes, as json_error's body: echoed input (an unknown field's name) may hold a
        # lone surrogate, which JSON can escape but UTF-8 cannot encode.
        super().__init__(text=json.dumps(body), content_type="application/json", headers=headers)


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
    """Read at most ``limit`` bytes within the request timeout: 413 beyond the size, 408 when too slow."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"request body over {limit} bytes")
    if request.content.is_eof():  # the whole body came with the headers: nothing to wait for
        raw = request.content.read_nowait()
        if len(raw) > limit:
            raise ApiError(413, "payload_too_large", f"request body over {limit} bytes")
        return raw
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(request.app[SETTINGS].request_timeout_s):
            while chunk := await request.content.read(16 * 1024):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "payload_too_large", f"request body over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise ApiError(408, "request_timeout", "the request body arrived too slowly") from exc
    return b"".join(chunks)


async def read_json(request: web.Request, allow_empty: bool = False) -> dict[str, Any] | None:
    """A JSON object body: 415 for another content type, 400 when malformed or not an object.

    With ``allow_empty``, an empty body (of any content type) is ``None``.
    """
    if allow_empty and request.content_length == 0:
        return None
    raw = await read_body(request, request.app[SETTINGS].max_body_bytes)
    if allow_empty and not raw.strip():
        return None
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    return json_object(raw)


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from body bytes, or 400 (``invalid_encoding`` or ``invalid_json``).

    orjson straight from the bytes (it checks the UTF-8 itself); for what it refuses (NaN, 1e999,
    escaped lone surrogates, invalid UTF-8) the standard library on the decoded text, so the outcome
    is the same as ``json.loads``. (orjson reads integers beyond 64 bits as floats: no field accepts
    either.)"""
    try:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = json.loads(decode_text(raw))
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return payload


def small_int(raw: str, low: int, high: int) -> int | None:
    """An ASCII decimal integer in [low, high], else None (``str.isdigit`` also accepts '²')."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding", "the body is not valid UTF-8") from exc
