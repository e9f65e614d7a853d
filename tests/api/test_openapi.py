"""``GET /openapi.json`` describes every route, and schemathesis (a property-based tester made for OpenAPI)
holds a live server to it: documented status codes, content types and response shapes, never a 5xx.
Bounded: a few generated requests per operation."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from aiohttp import web
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.core.redis_server import free_port
from service.core.settings import Settings
from service.http.app import create_app
from service.http.openapi import spec
from tests.kits.common import MOD_KEY, SITE_KEY


class LiveServer:
    """The app on a real port, served by its own event loop in a thread (schemathesis calls are blocking)."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.port = settings, free_port()
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self._runner = web.AppRunner(create_app(self.settings))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> LiveServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def live(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings.from_env(
        {},
        redis_url=redis_server_url,
        data_dir=tmp_path_factory.mktemp("openapi"),
        stream_prefix="t" + secrets.token_hex(6),
        api_keys={SITE_KEY: "site-a"},
        moderator_keys={MOD_KEY: "alice"},
        coral_secrets={"site-a": ("coral-secret-123",)},
        protocol_wait_s=0.2,
        log_format="json",
    )
    with LiveServer(settings) as server:
        yield server


schema = schemathesis.openapi.from_dict(spec())  # the description is static: loaded at collection


def _key(path: str) -> str:
    return MOD_KEY if path.startswith(("/v1/moderation", "/v1/authors")) else SITE_KEY


@schema.parametrize()
@hypothesis.settings(max_examples=4, deadline=None, suppress_health_check=list(hypothesis.HealthCheck),
                     phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])  # fmt: skip
def test_live_server_keeps_to_its_description(case: Any, live: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {_key(case.path)}"}
    case.call_and_validate(
        base_url=live.url,
        headers=headers,
        checks=[
                    status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_every_route_is_described() -> None:
    app = create_app(Settings())
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    described = {(method, path) for path, item in spec()["paths"].items() for method in item}
    assert routes - described == set()  # every route the app serves is described


async def test_openapi_json_is_served(client: Any) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    body = await resp.json()
    assert body["openapi"].startswith("3.1") and "/v1alpha1/comments:analyze" in body["paths"]
