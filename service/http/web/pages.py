"""The moderators' page: sign-in form, the HTML shell, sign-out and the static script and styles.

The HTML carries no comment data: ``app.js`` fetches it from the JSON endpoints and inserts it with
``textContent`` only. Every response here carries a strict CSP (no inline script or style at all).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from service.core.logs import get_logger
from service.http.common import KEYRING, SETTINGS
from service.http.web.session import (
    CSRF_HEADER,
    clear_cookie,
    close_session,
    csrf_ok,
    current_session,
    open_session,
    set_cookie,
)
from service.http.web.signin import login_form, login_retry_after

log = get_logger("commentmod.moderate")

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "desk.js": "text/javascript", "app.css": "text/css"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/moderate/static/app.css">
</head>
"""

_LOGIN = """<body class="login">
<main class="login-box">
<h1>commentmod</h1>
<p>Sign in with your moderator key.</p>
<form method="post" action="/moderate/login">
<label for="key">Moderator key</label>
<input id="key" type="password" name="key" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
{error}
</main>
</body>
</html>
"""

_SHELL = """<body data-csrf="{csrf}" data-moderator="{moderator}" data-thresholds="{thresholds}">
<a class="skip" href="#list">Skip to the comments</a>
<header class="top">
<h1>commentmod</h1>
<nav id="tabs" aria-label="Lists">
<button type="button" data-view="held" aria-pressed="true">Held</button>
<button type="button" data-view="published" aria-pressed="false">Published</button>
<button type="button" data-view="rejected" aria-pressed="false">Rejected</button>
</nav>
<div class="tools">
<details id="activity" class="tool"><summary>Activity</summary>
<div class="panel" id="activity-panel"><p>Loading…</p></div></details>
<details id="rules" class="tool"><summary>Site rules</summary>
<div class="panel">
<form id="rules-form" novalidate>
<p class="row"><label for="rules-site">Site</label>
<input id="rules-site" name="site" required maxlength="64">
<button type="button" id="rules-load">Load</button></p>
<div id="rules-fields"></div>
<div class="advanced"><label for="rules-doc">The rules as JSON (what the form sends; editing it sends it
as written)</label>
<textarea id="rules-doc" rows="4" spellcheck="false"></textarea></div>
<p class="row"><button type="submit" id="rules-save">Save rules</button>
<span id="rules-status" role="status"></span></p>
</form></div></details>
<details id="keys" class="tool"><summary>Keyboard <kbd>?</kbd></summary>
<div class="panel"><p><kbd>j</kbd>/<kbd>k</kbd> next/previous, <kbd>x</kbd> select, <kbd>a</kbd> approve
(or reinstate), <kbd>r</kbd> reject (or unpublish), <kbd>u</kbd> undo (5 s), <kbd>c</kbd> context,
<kbd>s</kbd> scores, <kbd>/</kbd> search, <kbd>?</kbd> this help, <kbd>Esc</kbd> leave a field.</p>
</div></details>
</div>
<span class="who">Signed in as <b id="who"></b></span>
<form id="logout" method="post" action="/moderate/logout"><button type="submit">Sign out</button></form>
</header>
<section id="toolbar" aria-label="Filters and bulk actions"></section>
<section id="counts" aria-label="Held comments per reason"></section>
<p id="announce" role="status" aria-live="polite"></p>
<main id="list" tabindex="-1"></main>
<div id="more"></div>
<aside id="toasts" aria-live="assertive" aria-label="Notifications"></aside>
<script src="/moderate/static/app.js" defer></script>
</body>
</html>
"""


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def _login_page(error: str = "", status: int = 200) -> web.Response:
    note = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _html(_HEAD.format(title="commentmod — sign in") + _LOGIN.format(error=note), status)


async def page(request: web.Request) -> web.Response:
    session = await current_session(request)
    if session is None:
        return _login_page()
    thresholds = json.dumps(request.app[SETTINGS].thresholds)
    shell = _SHELL.format(
        csrf=escape(session.csrf, quote=True),
        moderator=escape(session.moderator, quote=True),
        thresholds=escape(thresholds, quote=True),
    )
    return _html(_HEAD.format(title="commentmod — held comments") + shell)


def _same_origin(request: web.Request) -> bool:
    """Refuse a sign-in form posted from another site (login CSRF).

    Browsers send ``Sec-Fetch-Site``; they send ``Origin: null`` for our own form because the page's
    ``Referrer-Policy`` is ``no-referrer``, so a null origin passes only with ``Sec-Fetch-Site: same-origin``.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site in {"cross-site", "same-site"}:
        return False
    origin = request.headers.get("Origin")
    if origin == "null":
        return fetch_site == "same-origin"
    return origin is None or urlsplit(origin).netloc == request.host


async def login(request: web.Request) -> web.Response:
    if not _same_origin(request):
        return _login_page("This form must be sent from this site.", 403)
    retry_after = await login_retry_after(request)
    if retry_after is not None:
        response = _login_page("Too many sign-in attempts. Try again in a minute.", 429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    key = (await login_form(request)).get("key")
    principal = request.app[KEYRING].lookup(f"Bearer {key}") if isinstance(key, str) else None
    if principal is None or principal.kind != "moderator":
        log.info("moderate_login_failed")
        return _login_page("That is not a moderator key.", 401)
    await close_session(request)  # never keep a session id from before sign-in
    assert isinstance(key, str)
    session_id, _ = await open_session(request, principal.name, key)
    log.info("moderate_login", moderator=principal.name)
    response = web.Response(status=303, headers={**SECURITY_HEADERS, "Location": "/moderate"})
    set_cookie(request, response, session_id)
    return response


async def logout(request: web.Request) -> web.Response:
    session = await current_session(request)
    if session is not None and not csrf_ok(session, request.headers.get(CSRF_HEADER)):
        return web.json_response(
            {"error": "csrf_failed", "message": f"missing or wrong {CSRF_HEADER} header"},
            status=403,
            headers=SECURITY_HEADERS,
        )
    await close_session(request)
    response = web.json_response({"signed_out": True}, headers=SECURITY_HEADERS)
    clear_cookie(request, response)
    return response


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "Content-Type": STATIC_FILES[name]}
    return web.FileResponse(STATIC_DIR / name, headers=headers)


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/moderate", page)
    app.router.add_post("/moderate/login", login)
    app.router.add_post("/moderate/logout", logout)
    app.router.add_get("/moderate/static/{name}", static)
