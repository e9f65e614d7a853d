"""Sign-in at ``/moderate/login``: the form read within the request timeout, and attempts throttled.

Every attempt is counted in Redis (so every API process shares the counts) per client address (a keyed
hash of its canonical IP, IPv6 by /64) and in total, in fixed windows of ``LOGIN_WINDOW_S``; over
``LOGIN_ATTEMPTS_PER_CLIENT`` or ``LOGIN_ATTEMPTS_TOTAL`` the attempt is a ``429`` with ``Retry-After``
before any key is compared. Behind a reverse proxy every client has the proxy's address, so the
per-client limit then works as a second total limit.
"""

from __future__ import annotations

import contextlib
import time
from urllib.parse import parse_qsl

from aiohttp import web

from service.core.privacy import canonical_ip, client_hash
from service.http.common import KEYS, REDIS, SETTINGS, read_body

LOGIN_WINDOW_S = 60
LOGIN_ATTEMPTS_PER_CLIENT = 10
LOGIN_ATTEMPTS_TOTAL = 100
LOGIN_BODY_MAX = 4096  # a form with one key field


def _client_scope(request: web.Request) -> str:
    ip = request.remote or ""
    with contextlib.suppress(ValueError):
        ip = canonical_ip(ip)
    return client_hash("moderate-login", ip, request.app[SETTINGS].hash_secret)


async def login_retry_after(request: web.Request) -> int | None:
    """Count this attempt; the seconds until the window ends when it is over a limit, else ``None``."""
    now = time.time()
    window = int(now // LOGIN_WINDOW_S)
    keys = request.app[KEYS]
    pipe = request.app[REDIS].pipeline(transaction=False)
    for scope in (_client_scope(request), "all"):
        pipe.incr(keys.login_attempts(scope, window))
        pipe.expire(keys.login_attempts(scope, window), 2 * LOGIN_WINDOW_S)
    client, _, total, _ = await pipe.execute()
    if int(client) > LOGIN_ATTEMPTS_PER_CLIENT or int(total) > LOGIN_ATTEMPTS_TOTAL:
        return max(1, int(LOGIN_WINDOW_S - now % LOGIN_WINDOW_S))
    return None


async def login_form(request: web.Request) -> dict[str, str]:
    """The sign-in form's fields; a body that is too slow is a 408 and a large one a 413 (``read_body``)."""
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    raw = await read_body(request, LOGIN_BODY_MAX)
    try:
        pairs = parse_qsl(raw.decode("utf-8", "replace"), max_num_fields=16)
    except ValueError:
        return {}
    return dict(pairs)
