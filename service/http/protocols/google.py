"""Google API conventions for the Perspective-compatible endpoints: error bodies and key lookup."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from service.http.common import SETTINGS, decode_text, read_body
from service.http.protocols.base import site_of_key

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


class GoogleError(web.HTTPException):
    """``{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}`` as Google APIs answer."""

    def __init__(self, code: int, message: str, retry_after: int | None = None) -> None:
        self.status_code = code
        body = {"error": {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}}
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        super().__init__(text=json.dumps(body), content_type="application/json", headers=headers)


def google_site(request: web.Request) -> str:
    """The site of the API key in ``?key=`` or ``Authorization: Bearer``; 403 without one, 400 when
    invalid (Google's answers: a wrong key is an invalid argument)."""
    key = request.query.get("key")
    if key is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token if scheme.lower() == "bearer" else None
    if not key:
        raise GoogleError(403, "The request is missing a valid API key.")
    site = site_of_key(request.app, key)
    if site is None:
        raise GoogleError(400, "API key not valid. Please pass a valid API key.")
    return site


async def google_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a Google-shaped 400."""
    if request.content_type not in {"application/json", "text/plain", "application/octet-stream", ""}:
        raise GoogleError(415, f"Invalid content type: {request.content_type}; send application/json")
    try:
        raw = await read_body(request, request.app[SETTINGS].max_body_bytes)
        payload = json.loads(decode_text(raw))
    except web.HTTPException as exc:
        raise GoogleError(exc.status if exc.status == 413 else 400, "Invalid request body.") from exc
    except (ValueError, RecursionError) as exc:
        raise GoogleError(400, "Invalid JSON payload received.") from exc
    if not isinstance(payload, dict):
        raise GoogleError(400, "Invalid JSON payload received. Expected an object.")
    return payload


def unknown_names(payload: dict[str, Any], known: frozenset[str], where: str = "") -> None:
    for name in payload:
        if name not in known:
            raise GoogleError(
                400, f'Invalid JSON payload received. Unknown name "{where}{name}": Cannot find field.'
            )
