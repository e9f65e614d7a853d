"""Where one worker's CPU goes, per comment: the model's own passes, explanations, the spam text model,
the heap trim, and the event loop (Redis round trips, spam history, rules, JSON, decisions); and,
apart, the CPU the redis-server spent serving it.

    python scripts/profile_worker.py                    # 4,096 bench comments
    python scripts/profile_worker.py --comments 1024

It starts a private redis-server (no persistence), writes the comments through the intake's own
``Enqueuer`` (the fields ``make bench`` posts), then runs one ``Worker`` in this process on them batch
by batch with 1 torch thread (as in ``make bench``), timing each phase with the CPU time of the
thread that ran it. The raw model (``score`` alone
on the same texts, in the same batch size) is timed before and after, and the mean of the two passes is
the baseline, so the table says what the worker adds even if the machine's speed drifts meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit.procs import Procs, cpu_seconds, start_redis
from benchkit.texts import payload, synthetic_comments

from service.core.connections import redis_client
from service.core.keys import Keys
from service.core.logs import configure_logging
from service.core.models import CommentFields
from service.core.queue import Enqueuer, EnqueueRequest
from service.core.settings import Settings
from workers.consumer import Worker
from workers.run import load_pipeline
from workers.scoring.pipeline import ScoringPipeline


class PhaseClock:
    """Thread CPU seconds spent inside wrapped callables, by phase name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - started

        return timed


async def enqueue(settings: Settings, texts: list[str]) -> list[str]:
    redis = redis_client(settings.redis_url or "", 10)
    enqueuer = Enqueuer(redis, Keys(settings.stream_prefix), 10)
    await enqueuer.start()
    requests = [  # the fields `make bench` posts
        EnqueueRequest(
            uuid.uuid4().hex,
            "bench",
            CommentFields(**json.loads(payload(i, body))),
            time.time(),
            f"profile-{i}",
        )
        for i, body in enumerate(texts)
    ]
    await asyncio.gather(*(enqueuer.enqueue(r) for r in requests))
    await enqueuer.close()
    await redis.aclose()
    return [r.comment_id for r in requests]


def raw_seconds(score: Callable[[list[str]], Any], texts: list[str], batch: int) -> float:
    started = time.thread_time()
    for i in range(0, len(texts), batch):
        score(texts[i : i + batch])
    return time.thread_time() - started


async def run_worker(
    settings: Settings, pipeline: ScoringPipeline, ids: list[str]
) -> tuple[float, dict[str, int]]:
    """Every queued comment through ``Worker.handle``; (event-loop thread CPU seconds, count by status)."""
    redis = redis_client(settings.redis_url or "", 10)
    with ThreadPoolExecutor(max_workers=1) as executor:
        worker = Worker(settings, redis, pipeline, executor, "profile")
        await worker.ensure_group()
        started = time.thread_time()
        while messages := await worker._read_new():
            await worker.handle(messages)
        loop_seconds = time.thread_time() - started
    async with redis.pipeline(transaction=False) as pipe:
        for comment_id in ids:
            pipe.hget(worker.keys.comment(comment_id), "status")
        statuses = await pipe.execute()
    await redis.aclose()
    return loop_seconds, {s: statuses.count(s) for s in sorted(set(map(str, statuses)))}


def instrument(pipeline: ScoringPipeline, clock: PhaseClock) -> None:
    """Time the pipeline's parts; the model passes that explanations make are counted as theirs."""
    seconds = clock.seconds
    pipeline.toxicity.score = clock.wrap("model", pipeline.toxicity.score)  # type: ignore[method-assign]
    pipeline.spam.text_scores = clock.wrap("spam text model", pipeline.spam.text_scores)  # type: ignore[method-assign]
    pipeline.score_batch = clock.wrap("score_batch", pipeline.score_batch)  # type: ignore[method-assign]
    pipeline.release_memory = clock.wrap("heap trim", pipeline.release_memory)  # type: ignore[method-assign]
    explain = clock.wrap("explanations", pipeline.explain)

    def explain_counting_its_model_time(*args: Any, **kwargs: Any) -> Any:
        before = seconds.get("model", 0.0)
        try:
            return explain(*args, **kwargs)
        finally:
            seconds["model in explanations"] = (
                seconds.get("model in explanations", 0.0) + seconds.get("model", 0.0) - before
            )

    pipeline.explain = explain_counting_its_model_time  # type: ignore[method-assign]


def report(
    n: int, raw: float, loop: float, statuses: dict[str, int], clock: PhaseClock, redis_cpu: float
) -> None:
    s = clock.seconds
    decisions = s.get("model", 0.0) - s.get("model in explanations", 0.0)
    rows = {
        "model passes (decisions)": decisions,
        "explanations": s.get("explanations", 0.0),
        "spam text model": s.get("spam text model", 0.0),
        "rest of score_batch": s.get("score_batch", 0.0) - decisions - s.get("spam text model", 0.0),
        "heap trim": s.get("heap trim", 0.0),
        "event loop": loop,
    }
    total = sum(rows.values())
    counts = ", ".join(f"{count} {status}" for status, count in statuses.items())
    raw_ms = raw / n * 1000
    print(f"{n} comments ({counts}); raw model {raw_ms:.3f} ms CPU per comment (1 torch thread, mean of 2)")
    print(f"{'phase':28} {'ms CPU/comment':>15} {'share':>7}")
    for name, value in rows.items():
        print(f"{name:28} {value / n * 1000:15.3f} {value / total:7.1%}")
    print(f"{'worker in all':28} {total / n * 1000:15.3f}   raw / worker = {raw / total:.1%}")
    print(f"{'redis-server (apart)':28} {redis_cpu / n * 1000:15.3f}   while the worker ran")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=7, help="synthetic comments' seed (the bench's: 7)")
    args = parser.parse_args(argv)
    texts = synthetic_comments(args.comments, seed=args.seed)
    with tempfile.TemporaryDirectory() as folder:
        procs = Procs(Path(folder))
        try:
            redis, url = start_redis(procs, Path(folder) / "redis", "no", "redis")
            env = {"COMMENTMOD_REDIS_URL": url, "COMMENTMOD_BLOCK_MS": "20"}
            settings = Settings.from_env(env, torch_threads=1)  # thread CPU time sees every op
            configure_logging("json", "warning")  # as the bench runs its workers
            ids = asyncio.run(enqueue(settings, texts))
            pipeline = load_pipeline(settings)  # as `commentmod worker` does (heap frozen too)
            score = pipeline.toxicity.score  # the raw model, before ``instrument`` wraps it
            raw_before = raw_seconds(score, texts, settings.batch_size)
            clock = PhaseClock()
            instrument(pipeline, clock)
            redis_before = cpu_seconds(redis.pid)
            loop, statuses = asyncio.run(run_worker(settings, pipeline, ids))
            redis_cpu = cpu_seconds(redis.pid) - redis_before
            raw = (raw_before + raw_seconds(score, texts, settings.batch_size)) / 2
        finally:
            procs.stop_all()
    report(len(texts), raw, loop, statuses, clock, redis_cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
