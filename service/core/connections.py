"""The one Redis client factory every process uses (API, worker, CLI): bounded timeouts, hiredis packing."""

from __future__ import annotations

from redis.asyncio import Redis

from service.core.redispack import connection_class_for


def redis_client(url: str, timeout_s: float | None) -> Redis:
    """A client with bounded socket timeouts, so a slow Redis turns into a clear 503, not a hang."""
    return Redis.from_url(
        url,
        connection_class=connection_class_for(url),
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        max_connections=256,
    )
