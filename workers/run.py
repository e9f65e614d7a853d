"""``commentmod worker``: load the models once, then consume until SIGTERM (first: drain; second: exit)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from service.core.connections import redis_client
from service.core.logs import get_logger
from service.core.metrics import CONTENT_TYPE
from service.core.sealing import use_key
from service.core.settings import Settings
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline
from workers.webhooks import WebhookSender

log = get_logger("commentmod.worker")


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _install_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, name: str) -> None:
    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("worker_forced_exit", worker=name, signal=signum)
            os._exit(1)  # second signal: leave now; unacked messages stay claimable
        log.info("worker_draining", worker=name, signal=signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def _metrics_server(worker: Worker, host: str, port: int) -> web.AppRunner | None:
    """Serve the worker's Prometheus metrics on ``host``:``port`` (the ``COMMENTMOD_HOST`` / ``--host``
    of the API: 127.0.0.1 unless told otherwise); a busy port is a warning, not a crash."""
    if port <= 0:
        return None

    async def handle(_: web.Request) -> web.Response:
        try:
            await worker.metrics.queue.refresh(worker.redis, worker.keys)
        except Exception as exc:
            log.warning("metrics_refresh_failed", error=type(exc).__name__)
        return web.Response(body=worker.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        log.warning("metrics_port_unavailable", port=port, error=str(exc))
        await runner.cleanup()
        return None
    return runner


async def serve_worker(
    settings: Settings, pipeline: ScoringPipeline, stop: asyncio.Event | None = None
) -> None:
    assert settings.redis_url, "the CLI resolves the Redis URL first"
    name = settings.worker_name or default_worker_name()
    stop = stop or asyncio.Event()
    use_key(settings.hash_secret)  # personal fields of stored comments are sealed under it
    _install_signals(asyncio.get_running_loop(), stop, name)
    redis = redis_client(settings.redis_url, max(settings.block_ms / 1000 + 5, 10))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring") as executor:
        worker = Worker(settings, redis, pipeline, executor, name)
        sender = WebhookSender(settings, redis, name)
        runner = await _metrics_server(worker, settings.host, settings.metrics_port)
        try:
            await asyncio.gather(worker.run(stop), sender.run(stop))
        finally:
            if runner is not None:
                await runner.cleanup()
            await redis.aclose()


def load_pipeline(settings: Settings) -> ScoringPipeline:
    """The models as a worker runs them: torch threads set, loaded, warmed up, and the heap frozen."""
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    started = time.perf_counter()
    pipeline = ScoringPipeline.from_settings(settings)  # blocking model load, before the loop starts
    pipeline.warm_up()  # before joining the group: the first batch is scored at full speed
    log.info("models_loaded", models=pipeline.models, ms=round((time.perf_counter() - started) * 1000))
    # Keep the ~400k objects of the libraries and the model out of every later collection: a full one
    # took ~0.2-0.3 s mid-run, holding the GIL the scoring thread needs.
    gc.freeze()
    return pipeline


def run_worker(settings: Settings) -> int:
    asyncio.run(serve_worker(settings, load_pipeline(settings)))
    return 0
