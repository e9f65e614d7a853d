"""``GET /openapi.json``: an OpenAPI 3.1 description of every route (site API, moderation API, the moderator
page and the protocols). The component schemas live in ``openapi_components.json`` next to this module;
the operations are declared here. ``tests/api/test_openapi.py`` runs schemathesis against a live server
to keep both true, and checks every route of the app is described."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from aiohttp import web

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
Security = list[dict[str, list[str]]]
SITE: Security = [{"siteKey": []}]
MODERATOR: Security = [{"moderatorKey": []}, {"pageSession": []}]
GOOGLE_KEY: Security = [{"googleKey": []}, {"siteKey": []}]
AKISMET_KEY: Security = []  # the key travels in the form (api_key) or as the host's first label
CORAL: Security = []  # the X-Coral-Signature header


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def answer(description: str, schema: dict[str, Any] | None = None, media: str = JSON) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out.update(body(schema, media))
    return out


ERROR = answer("an error: a JSON body naming the problem (and each bad field)", ref("Error"))
GOOGLE_ERROR = answer("a Google-shaped error", ref("GoogleError"))
TEXT = {"type": "string"}
ANY_OBJECT = {"type": "object"}


def op(
    summary: str, tag: str, security: list[Any], responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """One operation; every one also documents its errors as ``default``."""
    default = extra.pop("default", ERROR)
    return {
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": {**responses, "default": default},
        **extra,
    }


def param(
    name: str, where: str = "query", schema: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or TEXT, **extra}


COMMENT_ID = param("comment_id", "path", {"type": "string", "pattern": "^[0-9a-f]{28}$"})
LIMIT_CURSOR = [param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}), param("cursor")]
PREFER = param("Prefer", "header", description="wait=N: wait up to N seconds for the decision")
AKISMET_ANSWER = answer(
    "Akismet's answer: true, false, valid, invalid, a missing-field message, or thanks", TEXT, "text/plain"
)
USAGE = {
    "description": "the month's usage, or invalid (text/plain) for a bad key",
    "content": {JSON: {"schema": ref("AkismetUsage")}, "text/plain": {"schema": TEXT}},
}
AKISMET_ERRORS = {
    "description": "503 with Retry-After (no worker answered), or a JSON error",
    "content": {"text/plain": {"schema": TEXT}, JSON: {"schema": ref("Error")}},
}


def _site_paths() -> dict[str, Any]:
    comment_in = {
        "content": {
            JSON: {"schema": ref("CommentInput")},
            FORM: {"schema": ref("FormInput")},
            "multipart/form-data": {"schema": ref("FormInput")},
        },
        "required": True,
    }
    return {
        "/v1/comments": {
            "post": op(
                "Submit a comment for moderation",
                "site",
                SITE,
                {
                    "202": answer("accepted, pending a decision", ref("Accepted")),
                    "200": answer("decided within Prefer: wait", ref("Comment")),
                },
                requestBody=comment_in,
                parameters=[PREFER, param("Idempotency-Key", "header")],
            ),
            "get": op(
                "The site's decisions in order (sync without webhooks)",
                "site",
                SITE,
                {"200": answer("a page of decisions", ref("Feed"))},
                parameters=[
                    param("since", description="a next_cursor"),
                    param("thread"),
                    param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500}),
                ],
            ),
        },
        "/v1/comments/{comment_id}": {
            "get": op(
                "A comment's status and verdict",
                "site",
                SITE,
                {"200": answer("the comment", ref("Comment"))},
                parameters=[COMMENT_ID],
            ),
        },
        "/v1/score": {
            "post": op(
                "Score a comment without storing it",
                "site",
                SITE,
                {"200": answer("verdict, scores, reasons, spans", ref("Score"))},
                requestBody={**body(ref("CommentInput")), "required": True},
            ),
        },
    }


def _webhook_paths() -> dict[str, Any]:
    return {
        "/v1/webhook": {
            "get": op(
                "The site's decision callback", "site", SITE, {"200": answer("the webhook", ANY_OBJECT)}
            ),
            "put": op(
                "Set the site's decision callback",
                "site",
                SITE,
                {"200": answer("the webhook", ANY_OBJECT)},
                requestBody=body(ref("WebhookInput")),
            ),
            "delete": op(
                "Remove the site's decision callback",
                "site",
                SITE,
                {"200": answer("removed", ANY_OBJECT), "204": answer("removed")},
            ),
        },
    }


def _moderation_paths() -> dict[str, Any]:
    def get(summary: str, params: list[Any]) -> dict[str, Any]:
        return {
            "get": op(summary, "moderation", MODERATOR, {"200": answer("ok", ANY_OBJECT)}, parameters=params)
        }

    def act(summary: str) -> dict[str, Any]:
        return {
            "post": op(
                summary,
                "moderation",
                MODERATOR,
                {"200": answer("the comment", ANY_OBJECT)},
                parameters=[COMMENT_ID],
                requestBody=body(ref("Note")),
            )
        }

    filters = [param(n) for n in ("status", "site", "thread", "reason", "author", "q")]
    out = {
        "/v1/moderation/queue": get("Held comments, oldest first", LIMIT_CURSOR),
        "/v1/moderation/queue/counts": get("Held counts", []),
        "/v1/moderation/comments": get("Comments by status, with filters", [*LIMIT_CURSOR, *filters]),
        "/v1/moderation/comments/{comment_id}": get(
            "One comment with its audit trail", [COMMENT_ID, param("include")]
        ),
        "/v1/moderation/comments/{comment_id}/history": get("A comment's history", [COMMENT_ID]),
        "/v1/moderation/comments/{comment_id}/context": get(
            "Thread, parent and author context", [COMMENT_ID]
        ),
        "/v1/moderation/audit": get(
            "Every moderator action, newest first", [*LIMIT_CURSOR, param("since"), param("actor")]
        ),
        "/v1/moderation/activity": get("Moderator activity", []),
        "/v1/moderation/decisions": {
            "post": op(
                "Decide several comments",
                "moderation",
                MODERATOR,
                {"200": answer("per-comment results", ANY_OBJECT)},
                requestBody=body(ref("BulkDecision")),
            )
        },
    }
    for action in ("approve", "reject", "reinstate", "unpublish"):
        out[f"/v1/moderation/comments/{{comment_id}}/{action}"] = act(f"{action.capitalize()} a comment")
    return out


def _admin_paths() -> dict[str, Any]:
    out: dict[str, Any] = {
        "/v1/moderation/rules/{site}": {
            "get": op(
                "A site's rules",
                "moderation",
                MODERATOR,
                {"200": answer("the rules", ANY_OBJECT)},
                parameters=[param("site", "path")],
            ),
            "put": op(
                "Replace a site's rules",
                "moderation",
                MODERATOR,
                {"200": answer("the rules", ANY_OBJECT)},
                parameters=[param("site", "path")],
                requestBody=body(ANY_OBJECT),
            ),
        },
        "/v1/moderation/authors/{site}/{author}": {
            "put": op(
                "Set an author's standing",
                "moderation",
                MODERATOR,
                {"200": answer("standing", ANY_OBJECT)},
                parameters=[param("site", "path"), param("author", "path")],
                requestBody=body(ref("Standing")),
            ),
        },
    }
    out["/v1/authors/{author}"] = {
        "delete": op("Erase an author's personal data (every site)", "moderation", [{"moderatorKey": []}],
                     {"200": answer("what was erased", ANY_OBJECT)}, parameters=[param("author", "path")])
    }  # fmt: skip
    return out


def _protocol_paths() -> dict[str, Any]:
    key = param("key", description="the site's API key (or Authorization: Bearer)")
    akismet = {
        f"/1.1/{name}": {
            "post": op(
                summary,
                "akismet",
                AKISMET_KEY,
                {"200": AKISMET_ANSWER},
                requestBody={**body(ref("AkismetForm"), FORM), "required": True},
                default=AKISMET_ERRORS,
            )
        }
        for name, summary in (
            ("verify-key", "Akismet: is this key valid?"),
            ("comment-check", "Akismet: is this comment spam (or toxic)?"),
            ("submit-spam", "Akismet: this was spam (a moderator label)"),
            ("submit-ham", "Akismet: this was not spam (a moderator label)"),
        )
    }
    return {
        "/v1alpha1/comments:analyze": {
            "post": op(
                "Perspective-compatible scoring",
                "perspective",
                GOOGLE_KEY,
                {"200": answer("attribute scores", ref("AnalyzeResponse"))},
                parameters=[key],
                requestBody={**body(ref("AnalyzeRequest")), "required": True},
                default=GOOGLE_ERROR,
            ),
        },
        "/v1alpha1/comments:suggestscore": {
            "post": op(
                "Perspective-compatible feedback (a moderator label)",
                "perspective",
                GOOGLE_KEY,
                {"200": answer("recorded", ref("SuggestResponse"))},
                parameters=[key],
                requestBody={**body(ref("SuggestRequest")), "required": True},
                default=GOOGLE_ERROR,
            ),
        },
        **akismet,
        **{
            f"/{version}/usage-limit": {
                method: op(
                    "Akismet: this month's usage (no limit here)",
                    "akismet",
                    AKISMET_KEY,
                    {"200": USAGE},
                    parameters=[param("api_key")],
                    default=AKISMET_ERRORS,
                )
                for method in ("get", "post")
            }
            for version in ("1.1", "1.2")
        },
        "/v1/integrations/coral/{site}": {
            "post": op(
                "Coral's external moderation phase (X-Coral-Signature)",
                "coral",
                CORAL,
                {"204": answer("publish"), "200": answer("hold or reject", ref("CoralResponse"))},
                parameters=[param("site", "path"), param("X-Coral-Signature", "header")],
                requestBody={**body(ref("CoralRequest")), "required": True},
            ),
        },
    }


PAGE_ERROR = {
    "description": "the sign-in page again with the problem, or a JSON error",
    "content": {"text/html": {"schema": TEXT}, JSON: {"schema": ref("Error")}},
}


def _service_paths() -> dict[str, Any]:
    html = answer("the page", TEXT, "text/html")
    return {
        "/healthz": {"get": op("Liveness", "service", [], {"200": answer("alive", ref("Status"))})},
        "/readyz": {
            "get": op(
                "Readiness: Redis and a fresh worker",
                "service",
                [],
                {"200": answer("ready", ref("Status")), "503": answer("not ready", ref("Status"))},
            )
        },
        "/metrics": {
            "get": op("Prometheus metrics", "service", [], {"200": answer("metrics", TEXT, "text/plain")})
        },
        "/openapi.json": {
            "get": op("This description", "service", [], {"200": answer("OpenAPI 3.1", ANY_OBJECT)})
        },
        "/moderate": {"get": op("The moderator page", "page", [], {"200": html})},
        "/moderate/login": {
            "post": op(
                "Sign in with a moderator key",
                "page",
                [],
                {"303": answer("signed in: to the page")},
                requestBody=body(ref("Login"), FORM),
                default=PAGE_ERROR,
            )
        },
        "/moderate/logout": {
            "post": op(
                "Sign out (X-CSRF-Token with a session)",
                "page",
                [],
                {"200": answer("signed out", ANY_OBJECT)},
            )
        },
        "/moderate/static/{name}": {
            "get": op(
                "The page's static files",
                "page",
                [],
                {"200": {"description": "the file"}},
                parameters=[param("name", "path")],
            )
        },
    }


@functools.cache
def spec() -> dict[str, Any]:
    components = json.loads(resources.files("service.http").joinpath("openapi_components.json").read_text())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "commentmod",
            "version": "1",
            "description": (
                "Self-hosted comment moderation. Site API (site key), moderation API (moderator key), "
                "and the protocols sites already run: Perspective, Akismet and Coral's moderation phase."
            ),
        },
        "paths": {
            **_site_paths(),
            **_webhook_paths(),
            **_moderation_paths(),
            **_admin_paths(),
            **_protocol_paths(),
            **_service_paths(),
        },
        "components": components,
    }


async def openapi_json(_: web.Request) -> web.Response:
    return web.json_response(spec())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi.json", openapi_json)
