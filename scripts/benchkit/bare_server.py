"""The baseline: a bare aiohttp handler that reads the body and answers 202 (no validation, no Redis).

python scripts/benchkit/bare_server.py --port P
"""

from __future__ import annotations

import argparse
import secrets

from aiohttp import web


async def post_comment(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"id": secrets.token_hex(14), "status": "pending"}, status=202)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/v1/comments", post_comment)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, shutdown_timeout=2)


if __name__ == "__main__":
    main()
