"""``commentmod worker``: load the models once, then consume until SIGTERM (first: drain; second: exit)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from service.app import redis_client
from service.logs import get_logger
from service.settings import Settings
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline

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


async def serve_worker(
    settings: Settings, pipeline: ScoringPipeline, stop: asyncio.Event | None = None
) -> None:
    assert settings.redis_url, "the CLI resolves the Redis URL first"
    name = settings.worker_name or default_worker_name()
    stop = stop or asyncio.Event()
    _install_signals(asyncio.get_running_loop(), stop, name)
    redis = redis_client(settings.redis_url, max(settings.block_ms / 1000 + 5, 10))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring") as executor:
        try:
            await Worker(settings, redis, pipeline, executor, name).run(stop)
        finally:
            await redis.aclose()


def run_worker(settings: Settings) -> int:
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    pipeline = ScoringPipeline.from_settings(settings)  # blocking model load, before the loop starts
    asyncio.run(serve_worker(settings, pipeline))
    return 0
