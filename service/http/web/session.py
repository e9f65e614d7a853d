"""Moderator page sessions: a random id in an HttpOnly cookie, the session (name + CSRF token) in Redis.

Redis holds ``Keys.session(sha256(id))`` -> ``{moderator, csrf, key, created}`` with a TTL, so the cookie
value never appears in Redis. ``key`` is a digest of the moderator key used to sign in: a session is
valid only while that key is still configured, so removing a key ends its sessions too. Writes made
with the cookie must carry the session's CSRF token in ``X-CSRF-Token`` (compared in constant time).
An ``Authorization: Bearer`` moderator key works everywhere too and needs no CSRF token: browsers
never attach it on their own (``service.http.moderation.moderator_for`` checks either).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from service.http.common import KEYS, REDIS, SETTINGS

COOKIE = "cm_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 8 * 3600  # a working day; signing in again is cheap
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Session:
    moderator: str
    csrf: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def _key_still_valid(request: web.Request, key_digest: str, moderator: str) -> bool:
    valid = False
    for key, name in request.app[SETTINGS].moderator_keys.items():  # no early exit
        if hmac.compare_digest(_digest(key).encode(), key_digest.encode()) and name == moderator:
            valid = True
    return valid


def is_tls(request: web.Request) -> bool:
    """True when the browser talks TLS to us, directly or through a proxy that says so."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


async def open_session(request: web.Request, moderator: str, key: str) -> tuple[str, Session]:
    """Create a session for ``moderator`` signed in with ``key``; returns the cookie value and the session."""
    session_id = secrets.token_urlsafe(32)
    session = Session(moderator=moderator, csrf=secrets.token_urlsafe(32))
    name = request.app[KEYS].session(_digest(session_id))
    redis = request.app[REDIS]
    mapping = {
        "moderator": moderator,
        "csrf": session.csrf,
        "key": _digest(key),
        "created": repr(time.time()),
    }
    pipe = redis.pipeline(transaction=True)
    pipe.hset(name, mapping=mapping)
    pipe.expire(name, SESSION_TTL_S)
    await pipe.execute()
    return session_id, session


async def current_session(request: web.Request) -> Session | None:
    """The session named by the request's cookie, or ``None`` (no cookie, unknown or expired)."""
    session_id = request.cookies.get(COOKIE, "")
    if not 20 <= len(session_id) <= 100:
        return None
    data = await request.app[REDIS].hgetall(request.app[KEYS].session(_digest(session_id)))
    if not data or "moderator" not in data or "csrf" not in data:
        return None
    if not _key_still_valid(request, data.get("key", ""), data["moderator"]):
        return None
    return Session(moderator=data["moderator"], csrf=data["csrf"])


async def close_session(request: web.Request) -> None:
    session_id = request.cookies.get(COOKIE, "")
    if session_id:
        await request.app[REDIS].delete(request.app[KEYS].session(_digest(session_id)))


def set_cookie(request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_tls(request),
    )


def clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=is_tls(request))


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode("utf-8", "replace"))
