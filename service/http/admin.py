"""Rules and author standing (moderators), and the decision callback (sites)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from aiohttp import web

from service.core import moderation, reputation
from service.core.rules import parse_rules, rules_from_json
from service.core.store import audit_entry
from service.core.webhook_urls import UrlRefused, check_url
from service.http.common import KEYS, METRICS, REDIS, SETTINGS, ApiError, read_json, require
from service.http.moderation import moderator_for

_SITE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_AUTHOR = re.compile(r"^[0-9a-f]{32}$")


def _site_param(request: web.Request) -> str:
    site = request.match_info.get("site", "")
    if not _SITE.match(site):
        raise ApiError(404, "not_found", "no such site")
    return site


async def get_rules(request: web.Request) -> web.Response:
    await moderator_for(request)  # a moderator key, or the moderators' page session
    site = _site_param(request)
    redis, keys = request.app[REDIS], request.app[KEYS]
    rules = rules_from_json(await redis.get(keys.rules(site)))
    audit = [json.loads(e) for e in await redis.lrange(keys.rules_audit(site), -20, -1)]
    return web.json_response({"site": site, "rules": rules.to_json(), "audit": audit})


async def put_rules(request: web.Request) -> web.Response:
    moderator = await moderator_for(request)  # page writes carry the session's CSRF token
    site = _site_param(request)
    parsed = parse_rules(await read_json(request))
    if isinstance(parsed, dict):
        raise ApiError(422, "validation_failed", "some rules are invalid", fields=parsed)
    redis, keys = request.app[REDIS], request.app[KEYS]
    entry = json.loads(audit_entry(f"moderator:{moderator}", "rules", "", ""))
    entry["rules"] = parsed.to_json()
    pipe = redis.pipeline(transaction=True)
    pipe.set(keys.rules(site), parsed.dumps())
    pipe.rpush(keys.rules_audit(site), json.dumps(entry, ensure_ascii=False))
    pipe.ltrim(keys.rules_audit(site), -1000, -1)
    await pipe.execute()
    await moderation.record(redis, keys, {**entry, "site": site})
    request.app[METRICS].moderator_actions.labels("rules").inc()
    return web.json_response({"site": site, "rules": parsed.to_json()})


async def put_author(request: web.Request) -> web.Response:
    """Trust, ban or reset an author of a site, by author hash (shown to moderators as ``author``)."""
    moderator = await moderator_for(request)  # a moderator key, or the page session with its CSRF token
    site = _site_param(request)
    author = request.match_info["author"]
    if not _AUTHOR.match(author):
        raise ApiError(404, "not_found", "no such author")
    payload = await read_json(request)
    standing = payload.get("standing") if isinstance(payload, dict) else None
    extra = [k for k in payload if k != "standing"] if isinstance(payload, dict) else []
    if standing not in reputation.STANDINGS or extra:
        fields = {
            "standing": f"one of {', '.join(reputation.STANDINGS)}",
            **dict.fromkeys(extra, "unknown field"),
        }
        raise ApiError(422, "validation_failed", "bad standing", fields=fields)
    redis, keys = request.app[REDIS], request.app[KEYS]
    result = await reputation.set_standing(redis, keys, site, author, standing)
    entry = json.loads(audit_entry(f"moderator:{moderator}", "standing", "", result.standing))
    await moderation.record(redis, keys, {**entry, "site": site, "author": author})
    request.app[METRICS].moderator_actions.labels(f"author_{result.standing}").inc()
    return web.json_response({"site": site, "author": author, "standing": result.standing,
                              "approved": result.approved})  # fmt: skip


def _check_url(url: Any, allow_private: bool) -> str:
    """An http(s) URL with a valid host that is not a loopback, link-local or private address."""
    try:
        return check_url(url, allow_private)
    except UrlRefused as exc:
        raise ApiError(422, "validation_failed", "bad url", fields={"url": exc.reason}) from None


async def put_webhook(request: web.Request) -> web.Response:
    """A site sets its decision callback; the answer carries the signing secret (keep it)."""
    site = require(request, "site").name
    payload = await read_json(request)
    assert payload is not None
    if set(payload) - {"url"}:
        fields = {k: "unknown field" for k in payload if k != "url"}
        raise ApiError(422, "validation_failed", "only url", fields=fields)
    url = _check_url(payload.get("url"), request.app[SETTINGS].webhook_allow_private)
    secret = "whsec_" + secrets.token_urlsafe(32)
    await request.app[REDIS].hset(request.app[KEYS].webhook(site), mapping={"url": url, "secret": secret})
    return web.json_response({"url": url, "secret": secret})


async def get_webhook(request: web.Request) -> web.Response:
    site = require(request, "site").name
    url = await request.app[REDIS].hget(request.app[KEYS].webhook(site), "url")
    return web.json_response({"url": url or request.app[SETTINGS].webhooks.get(site)})


async def delete_webhook(request: web.Request) -> web.Response:
    site = require(request, "site").name
    await request.app[REDIS].delete(request.app[KEYS].webhook(site))
    return web.json_response({"url": None})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/moderation/rules/{site}", get_rules)
    app.router.add_put("/v1/moderation/rules/{site}", put_rules)
    app.router.add_put("/v1/moderation/authors/{site}/{author}", put_author)
    app.router.add_get("/v1/webhook", get_webhook)
    app.router.add_put("/v1/webhook", put_webhook)
    app.router.add_delete("/v1/webhook", delete_webhook)
