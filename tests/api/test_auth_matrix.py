"""Authentication matrix over every ``/v1`` route the app registers (found at run time, so new routes
are covered): no key or an unknown key 401, the wrong kind of key 403, checked before the body is read;
another site's comment 404; two keys valid at once for one site (rotation).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.core.settings import Settings
from service.http.app import create_app
from tests.kits.common import MOD_KEY, OTHER_SITE_KEY, SITE_KEY
from tests.kits.faultkit import Report, payload

ROTATED_KEY = "site-a-rotated-key-9876543210"


def _kind(path: str) -> str:
    return "moderator" if path.startswith(("/v1/moderation", "/v1/authors")) else "site"


@pytest.fixture
async def rclient(settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    keys = {SITE_KEY: "site-a", ROTATED_KEY: "site-a", OTHER_SITE_KEY: "site-b"}
    async with TestClient(TestServer(create_app(settings.with_(api_keys=keys)))) as client:
        yield client


def _routes(client: TestClient) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    out = []
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/v1/") and route.method not in ("HEAD", "OPTIONS", "*"):
            out.append((route.method, path))
    return sorted(set(out))


def _fill(path: str, comment_id: str) -> str:
    values = {"comment_id": comment_id, "site": "site-a", "author": "0" * 32}
    return re.sub(r"\{(\w+)[^}]*\}", lambda m: values.get(m.group(1), "x"), path)


async def test_every_v1_route_needs_the_right_kind_of_key(rclient: Any, figures: Report) -> None:
    resp = await rclient.post("/v1/comments", json=payload(1, "auth"), headers=_bearer(SITE_KEY))
    assert resp.status == 202
    comment_id = (await resp.json())["id"]
    routes = _routes(rclient)
    wrong_kind = {"site": MOD_KEY, "moderator": SITE_KEY}
    cases = 0
    problems: list[str] = []
    for method, template in routes:
        path = _fill(template, comment_id)
        attempts: list[tuple[str, dict[str, str], int]] = [
            ("no key", {}, 401),
            ("unknown key", _bearer("not-a-key-0123456789"), 401),
            ("empty bearer", {"Authorization": "Bearer "}, 401),
            ("basic scheme", {"Authorization": f"Basic {SITE_KEY}"}, 401),
            ("key prefix", _bearer(SITE_KEY[:-1]), 401),
            ("wrong kind", _bearer(wrong_kind[_kind(template)]), 403),
        ]
        if template.startswith("/v1/integrations/"):  # signed requests (Coral): no key opens them
            attempts = [(label, headers, 401) for label, headers, _ in attempts]
        for label, headers, expected in attempts:
            # A body that would fail validation: authentication must answer first.
            async with rclient.request(
                method, path, data=b"{not json", headers={**headers, "Content-Type": "application/json"}
            ) as resp:
                cases += 1
                body = await resp.json(content_type=None) if resp.content_type == "application/json" else {}
                if resp.status != expected or not isinstance(body, dict) or "error" not in body:
                    problems.append(f"{method} {template} [{label}]: {resp.status} {str(body)[:80]}")
    figures("auth_matrix", routes=len(routes), cases=cases, problems=len(problems))
    assert routes, "no /v1 routes found"
    assert not problems, problems


async def test_another_sites_comment_is_404_and_rotated_keys_both_work(rclient: Any) -> None:
    posted = {}
    for key in (SITE_KEY, ROTATED_KEY):  # both keys of site-a are valid at once
        resp = await rclient.post("/v1/comments", json=payload(2, "rotate"), headers=_bearer(key))
        assert resp.status == 202, await resp.text()
        posted[key] = (await resp.json())["id"]
    for reader in (SITE_KEY, ROTATED_KEY):  # either key reads what the other posted
        for cid in posted.values():
            resp = await rclient.get(f"/v1/comments/{cid}", headers=_bearer(reader))
            assert resp.status == 200
    for cid in posted.values():  # site-b cannot see site-a's comments, and learns nothing
        resp = await rclient.get(f"/v1/comments/{cid}", headers=_bearer(OTHER_SITE_KEY))
        unknown = await rclient.get(f"/v1/comments/{'0' * 28}", headers=_bearer(OTHER_SITE_KEY))
        assert resp.status == unknown.status == 404
        assert await resp.json() == await unknown.json()
    resp = await rclient.get(
        f"/v1/comments/{posted[SITE_KEY]}", headers={"Authorization": f"bearer {SITE_KEY}"}
    )
    assert resp.status == 200  # the scheme is case-insensitive


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
