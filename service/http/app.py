"""The aiohttp application factory. ``create_app(settings)`` does no I/O; clients open in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping

from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from structlog.contextvars import bind_contextvars

from service.core.connections import redis_client
from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.metrics import CONTENT_TYPE, ApiMetrics
from service.core.models import RandomHex
from service.core.queue import Enqueuer, QueueUnavailable, RateLimits
from service.core.sealing import use_key
from service.core.settings import Settings
from service.core.store import DecisionStore
from service.http import admin as http_admin
from service.http import comments as http_comments
from service.http import desk as http_desk
from service.http import erasure as http_erasure
from service.http import moderation as http_moderation
from service.http import openapi as http_openapi
from service.http import protocols as http_protocols
from service.http.auth import KeyRing
from service.http.common import (
    COMMENT_ID,
    DRAINING,
    ENQUEUER,
    IDS,
    KEYRING,
    KEYS,
    METRICS,
    REDIS,
    REQUEST_ID,
    SETTINGS,
    STORE,
    WAITER,
    json_error,
)
from service.http.waiter import DecisionWaiter
from service.http.web import add_routes as add_moderate_page

log = get_logger("commentmod.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url, "the CLI resolves the Redis URL before building the app"
    redis = redis_client(settings.redis_url, settings.enqueue_timeout_s)
    listener = redis_client(settings.redis_url, None)
    keys = app[KEYS]
    app[REDIS] = redis
    app[STORE] = DecisionStore(redis, keys, settings.retention_s)
    limits = RateLimits(
        window_s=settings.rate_window_s,
        site=settings.site_rate_limit,
        client=settings.client_rate_limit,
        per_site=settings.site_rate_limits,
        hash_key=settings.hash_secret,
    )
    enqueuer = Enqueuer(redis, keys, settings.enqueue_timeout_s, limits)
    waiter = DecisionWaiter(listener, keys)
    app[ENQUEUER], app[WAITER] = enqueuer, waiter
    await enqueuer.start()
    await waiter.start()
    yield
    await enqueuer.close()
    await waiter.close()
    await listener.aclose()
    await redis.aclose()


def request_middleware(metrics: ApiMetrics, draining: asyncio.Event, ids: RandomHex) -> Middleware:
    """The one middleware: bind a request id, turn every failure into a JSON error, count the request
    and write one canonical log line. What it needs is bound here once, not looked up per request."""
    access = log.bind()  # the configured logger itself: no lazy proxy lookups per request
    log_requests = access.is_enabled_for(logging.INFO)  # at warning the line's fields are never built

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Only ``request_id`` is ever bound to structlog's context and every request binds it first,
        # so it is overwritten rather than cleared (clearing copies the whole context).
        request_id = _request_id(request.headers.get("X-Request-Id"), ids)
        bind_contextvars(request_id=request_id)
        request[REQUEST_ID] = request_id
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # JSON errors (ApiError) and redirects travel as exceptions
                if exc.status < 400 or exc.content_type == "application/json":
                    status = exc.status
                    _stamp(exc.headers, request_id, draining)
                    raise
                response = json_error(exc.status, _http_error_code(exc.status), exc.reason)
            except Exception as exc:
                response = _error_response(exc)
            status = response.status
            _stamp(response.headers, request_id, draining)
            return response
        finally:
            elapsed = time.perf_counter() - started
            resource = request.match_info.route.resource
            route = resource.canonical if resource else "unmatched"
            metrics.observe_request(route, request.method, status, elapsed)
            if log_requests:
                access.info(
                    "http_request",
                    method=request.method,
                    path=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    comment_id=request.get(COMMENT_ID),
                )

    return middleware


def _stamp(headers: MutableMapping[str, str], request_id: str, draining: asyncio.Event) -> None:
    """Every answer, returned or raised, carries its request id, and ``Connection: close`` while the
    API drains (so clients move to another instance)."""
    headers["X-Request-Id"] = request_id
    if draining.is_set():
        headers["Connection"] = "close"


def _error_response(exc: Exception) -> web.Response:
    if isinstance(exc, QueueUnavailable | RedisConnectionError | RedisTimeoutError):
        log.warning("redis_unavailable", error=type(exc).__name__)
        return json_error(503, "unavailable", "storage is unavailable, retry later", retry_after=2)
    log.exception("unhandled_error", exc_info=exc)
    return json_error(500, "internal_error", "unexpected error")


def _http_error_code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        429: "rate_limited",
        415: "unsupported_media_type",
    }.get(status, "error")


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


def _request_id(sent: str | None, ids: RandomHex) -> str:
    """The caller's ``X-Request-Id`` when it is 1-64 plain ASCII id characters, else a new one (a header
    of undecodable bytes or control characters must never reach the logs or a batched Redis write)."""
    if sent and _REQUEST_ID.fullmatch(sent[:64]):
        return sent[:64]
    return ids.take16()


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    redis, keys, settings = request.app[REDIS], request.app[KEYS], request.app[SETTINGS]
    if request.app[DRAINING].is_set():
        return web.json_response({"status": "draining"}, status=503)
    try:
        await redis.ping()
        beats = await redis.hvals(keys.workers)
    except (RedisConnectionError, RedisTimeoutError):
        return web.json_response({"status": "unavailable", "redis": False, "workers": 0}, status=503)
    now = time.time()
    fresh = sum(1 for beat in beats if now - float(beat) <= settings.heartbeat_ttl_s)
    ok = fresh > 0
    body = {"status": "ready" if ok else "no_workers", "redis": True, "workers": fresh}
    return web.json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    app_metrics = request.app[METRICS]
    with contextlib.suppress(RedisConnectionError, RedisTimeoutError):  # Redis away: serve what we have
        await app_metrics.queue.refresh(request.app[REDIS], request.app[KEYS])
    return web.Response(body=app_metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def create_app(settings: Settings) -> web.Application:
    """Build the application; opening Redis happens later, in cleanup_ctx."""
    app_metrics, draining, ids = ApiMetrics(), asyncio.Event(), RandomHex()
    app = web.Application(
        middlewares=[request_middleware(app_metrics, draining, ids)], client_max_size=settings.max_body_bytes
    )
    app[IDS] = ids
    app[SETTINGS] = settings
    use_key(settings.hash_secret)  # personal fields of stored comments are sealed under it
    app[KEYS] = Keys(settings.stream_prefix)
    app[KEYRING] = KeyRing(settings.api_keys, settings.moderator_keys)
    app[METRICS] = app_metrics
    app[DRAINING] = draining
    app.cleanup_ctx.append(_redis_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    http_comments.add_routes(app)
    http_moderation.add_routes(app)
    http_desk.add_routes(app)
    http_admin.add_routes(app)
    http_erasure.add_routes(app)
    http_protocols.add_routes(app)
    http_openapi.add_routes(app)
    add_moderate_page(app)
    return app
