"""The asyncio Redis clients pack commands with hiredis: the same bytes as redis-py's own packer."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from service.core.connections import redis_client
from service.core.redispack import (
    PackedConnection,
    PackedSSLConnection,
    PackedUnixDomainSocketConnection,
    connection_class_for,
)

ARGUMENTS = [
    ("SET", "k", "plain"),
    ("SET", "k", "é€😀 and zero-width\u200b"),
    ("SET", b"k", b"\x00\xff binary"),
    ("SET", "k", memoryview(b"view")),
    ("ZADD", "z", 0.1, "a", 1e-7, "b", 1e20, "c", -0.0, "d", float("inf"), "e"),
    ("HINCRBY", "h", "f", 2**70),
    ("SET", "k", "x" * 100_000),  # past redis-py's 6,000-byte chunking cutoff
    ("CONFIG GET", "maxmemory"),  # a two-word command name goes out as two arguments
    ("EVALSHA", "a" * 40, 2, "k1", "k2", "arg", 17, 1757000000.123456),
]


@pytest.mark.parametrize("args", ARGUMENTS, ids=lambda a: str(a[0]))
def test_packed_bytes_equal_redis_py_own_packer(args: tuple[object, ...]) -> None:
    ours = b"".join(bytes(chunk) for chunk in PackedConnection().pack_command(*args))
    theirs = b"".join(bytes(chunk) for chunk in Connection().pack_command(*args))
    assert ours == theirs


@pytest.mark.parametrize("bad", [None, True, [1]])
def test_what_hiredis_refuses_gets_redis_py_own_error(bad: object) -> None:
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "k", bad)


def test_each_url_scheme_keeps_its_connection_kind() -> None:
    assert connection_class_for("redis://127.0.0.1:6379/0") is PackedConnection
    assert connection_class_for("rediss://cache.example:6380/0") is PackedSSLConnection
    assert connection_class_for("unix:///run/redis.sock") is PackedUnixDomainSocketConnection
    assert issubclass(PackedSSLConnection, SSLConnection)
    assert issubclass(PackedUnixDomainSocketConnection, UnixDomainSocketConnection)


async def test_the_service_client_round_trips_through_a_real_server(redis_server_url: str) -> None:
    client = redis_client(redis_server_url, 5)
    try:
        assert isinstance(await client.connection_pool.get_connection(), PackedConnection)
        await client.set("redispack:k", "é€😀")
        async with client.pipeline(transaction=False) as pipe:
            pipe.hset("redispack:h", mapping={"n": 2**40, "f": 0.25})
            pipe.hgetall("redispack:h")
            _, stored = await pipe.execute()
        script = client.register_script("return {KEYS[1], ARGV[1]}")
        assert await client.get("redispack:k") == "é€😀"
        assert stored == {"n": str(2**40), "f": "0.25"}
        assert await script(keys=["redispack:k"], args=[1.5]) == ["redispack:k", "1.5"]
    finally:
        await client.delete("redispack:k", "redispack:h")
        await client.aclose()
