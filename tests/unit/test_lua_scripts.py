"""The Lua scripts: one ``.lua`` file each in service/core/lua, named in one registry
(``service.core.scripts``), each opening with its KEYS and ARGV, each valid Lua for Redis."""

from __future__ import annotations

import itertools
from importlib import resources
from pathlib import Path

import redis.asyncio as aioredis

from service.core import scripts


def _registered() -> dict[str, scripts.Lua]:
    return {lua.name: lua for lua in vars(scripts).values() if isinstance(lua, scripts.Lua)}


def test_every_lua_file_is_registered_once() -> None:
    folder = resources.files("service.core") / "lua"
    files = sorted(p.name.removesuffix(".lua") for p in folder.iterdir() if p.name.endswith(".lua"))
    assert files, "no .lua files found as package data"
    assert sorted(_registered()) == files


def test_every_script_opens_with_its_keys_and_argv() -> None:
    for name, lua in _registered().items():
        header = "\n".join(itertools.takewhile(lambda line: line.startswith("--"), lua.source.splitlines()))
        assert header.startswith(f"-- {name}: "), f"{name}.lua: the header names the script first"
        assert "-- KEYS[" in header and "-- ARGV[" in header, f"{name}.lua: the header names KEYS and ARGV"
        assert "<prefix>:" in header, f"{name}.lua: the header shows the key layout"


async def test_every_script_loads_into_redis_under_its_registered_sha(redis_server_url: str) -> None:
    """SCRIPT LOAD compiles each script (a syntax error fails here, not at the first write), and the SHA
    it answers is the one the registered script sends with EVALSHA."""
    client = aioredis.Redis.from_url(redis_server_url, decode_responses=True)
    try:
        for lua in _registered().values():
            assert await client.script_load(lua.source) == lua.on(client).sha
    finally:
        await client.aclose()


def test_no_python_module_holds_lua() -> None:
    """Lua lives in service/core/lua only: a ``redis.call`` in a Python source is a script in a string."""
    root = Path(__file__).resolve().parents[2]
    found = [
        str(path.relative_to(root))
        for package in ("service", "workers")
        for path in sorted((root / package).rglob("*.py"))
        if "redis.call(" in path.read_text(encoding="utf-8")
    ]
    assert not found, "Lua in Python strings (move it to service/core/lua/<name>.lua):\n" + "\n".join(found)
