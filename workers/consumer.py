"""The scoring worker: the stream consumer (workers/stream.py) with the scoring handler plugged in.

Delivery is at least once. A message is acknowledged only after its decision is stored (or it was
already decided: the fenced store makes redelivery a no-op). Every processing attempt is counted in
Redis; a message that reaches ``max_deliveries`` goes to the dead-letter stream and its comment is held
with ``scoring_failed``. Entries idle past ``claim_idle_ms`` (a worker died or stalled) are reclaimed
with XAUTOCLAIM by any worker; a worker keeps the entries of the batch in hand claimed (XCLAIM
JUSTID), so a slow batch is not taken from it. On stop, the current batch finishes; unread or
unfinished entries stay in the group's pending list for the others.

``ScoringHandler`` is the work on one batch (load, score off the event loop, decide, explain, store);
``Worker`` assembles it with the consumer, the dead-letter callback, the heartbeat and housekeeping.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from redis.asyncio import Redis

from service.core import reputation
from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.metrics import WorkerMetrics
from service.core.models import CommentRecord, Decision, StreamJob
from service.core.privacy import author_hash
from service.core.rules import RuleHit, RulesCache
from service.core.settings import Settings
from service.core.store import DecisionStore
from workers.deadletter import DeadLetters
from workers.languages import LANGUAGE_UNSUPPORTED, apply_language, thresholds_for, unsupported_action
from workers.policy import AuthorPolicy, Verdict, author_policy, decide
from workers.scoring.config import HistoryConfig
from workers.scoring.fairness import comment_cost, fair_rounds
from workers.scoring.history import history_signals_many, remember_spam_domains
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.spam import find_links
from workers.scoring.types import CommentText, Scores, Signal
from workers.stream import Entry, Failure, Heartbeat, Outcome, StreamConsumer, StreamSpec, trim_acknowledged

log = get_logger("commentmod.worker")

# The site rules' thresholds, the rule hits and the author's standing, per comment.
PolicyContext = tuple[dict[str, float], list[RuleHit], AuthorPolicy]


@dataclass(frozen=True, slots=True)
class Work:
    job: StreamJob
    record: CommentRecord
    attempt: int


def to_comment_text(record: CommentRecord) -> CommentText:
    f = record.fields
    return CommentText(
        id=record.id,
        body=f.body,
        name=f.name,
        email=f.email,
        thread=f.thread or "",
        author_url=f.author_url or "",
        ip=f.ip or "",
        site=record.site,
        honeypot=f.honeypot or "",
        form_elapsed_ms=f.form_elapsed_ms,
        language=f.language or "",
    )


LOOKAHEAD = 1024  # comments in hand at most before a batch stops taking in entries between rounds


def _jobs(messages: list[Entry]) -> list[StreamJob]:
    return [StreamJob(f.get("id", ""), f.get("request_id", ""), mid) for mid, f in messages]


def _site_of(item: Work) -> str:
    return item.record.site


def _author_of(item: Work) -> str:
    return item.record.fields.email.strip().lower() or (item.record.fields.ip or "")


def _cost_of(item: Work) -> int:
    return comment_cost(item.record.fields.body)


def _decision(item: Work, scores: Scores, verdict: Verdict) -> Decision:
    return Decision(
        verdict=verdict.verdict,
        scores=scores.values,
        reasons=[r.to_json() for r in verdict.reasons],
        signals=[{"code": s.code, "weight": round(s.weight, 3)} for s in scores.signals],
        models=scores.models,
        attempt=item.attempt,
        language=scores.language.to_json() if scores.language else None,
    )


def _failure(job: StreamJob, attempt: int, error: str) -> Failure:
    return Failure(job.message_id, {"id": job.comment_id, "request_id": job.request_id}, attempt, error)


def _log_scored(item: Work, scores: Scores, verdict: Verdict, result: str, scoring_ms: float) -> None:
    """The canonical line per comment."""
    log.info(
        "comment_scored",
        comment_id=item.record.id,
        request_id=item.job.request_id,
        site=item.record.site,
        verdict=verdict.verdict,
        scores=scores.values,
        reasons=[r.code for r in verdict.reasons],
        signals=[s.code for s in scores.signals],
        models=scores.models,
        language=scores.language.code if scores.language else None,
        attempt=item.attempt,
        scoring_ms=round(scoring_ms, 2),
        latency_ms=round((time.time() - item.record.created_at) * 1000, 1),
        stored=result,
    )


class ScoringHandler:
    """Scores one batch of intake-stream entries end to end (a handful of Redis round trips in all)."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        keys: Keys,
        store: DecisionStore,
        pipeline: ScoringPipeline,
        executor: Executor,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.store = store
        self.pipeline = pipeline
        self.executor = executor
        self.metrics = metrics
        self.rules = RulesCache()
        # Between rounds, entries that arrived meanwhile join the batch (a non-blocking read; the Worker
        # plugs it in), so a comment arriving during a flood waits for one round, not the whole batch.
        self.more: Callable[[], Awaitable[list[Entry]]] | None = None

    async def __call__(self, messages: list[Entry]) -> Outcome:
        work, done, failed = await self._load(_jobs(messages))
        self.metrics.batch.observe(len(messages))
        pending, scored_any = work, bool(work)
        while pending:  # one fair round at a time, each stored before the next (workers/scoring/fairness.py)
            part, *rest = fair_rounds(pending, _site_of, _author_of, _cost_of)
            decided, unscored = await self._round(part)
            done += decided
            failed += unscored
            pending = [item for later in rest for item in later]
            if pending and self.more is not None and len(pending) < LOOKAHEAD:
                fresh, finished, refused = await self._load(_jobs(await self.more()))
                pending, done, failed = pending + fresh, done + finished, failed + refused
                scored_any = scored_any or bool(fresh)
        return Outcome([j.message_id for j in done], failed, self._release_memory if scored_any else None)

    async def _round(self, work: list[Work]) -> tuple[list[StreamJob], list[Failure]]:
        """Score, decide, explain and store one fair round of a batch (``workers/scoring/fairness.py``)."""
        texts = [to_comment_text(w.record) for w in work]
        history, contexts = await asyncio.gather(self._history(texts), self._policy_context(work))
        started = time.perf_counter()
        scored, unscored = await self._score(work, texts, history)
        scoring_ms = (time.perf_counter() - started) * 1000
        self.metrics.scoring.observe(scoring_ms / 1000)
        context = {w.job.message_id: c for w, c in zip(work, contexts, strict=True)}
        verdicts = [self._verdict(item, scores, *context[item.job.message_id]) for item, scores in scored]
        await self._store_explained(scored, verdicts, scoring_ms / max(len(work), 1))
        failed: list[Failure] = []
        for item, error in unscored:
            failed.append(_failure(item.job, item.attempt, error))
            if item.attempt < self.settings.max_deliveries:
                log.warning("scoring_retry_later", comment_id=item.record.id, attempt=item.attempt)
        return [item.job for item, _ in scored], failed

    def _verdict(
        self, item: Work, scores: Scores, rules: dict[str, float], hits: list[RuleHit], author: AuthorPolicy
    ) -> Verdict:
        """The policy's verdict, with the thresholds of the comment's language and its language reason."""
        shipped = self.pipeline.language_thresholds
        thresholds = thresholds_for(self.settings, shipped, scores.language, rules)
        verdict = decide(scores, thresholds, hits, author)
        return apply_language(verdict, scores.language, unsupported_action(self.settings, item.record.site))

    async def _store_explained(
        self, scored: list[tuple[Work, Scores]], verdicts: list[Verdict], scoring_ms: float
    ) -> None:
        """Store the verdicts that need no explanation first (a published comment does not wait for the
        explanations of its round's held ones), then explain the others and store them."""
        needs = [any(r.code == "toxicity" for r in v.reasons) for v in verdicts]
        for explain in (False, True):
            chosen = [i for i, need in enumerate(needs) if need == explain]
            if not chosen:
                continue
            part, found = [scored[i] for i in chosen], [verdicts[i] for i in chosen]
            await self._store(part, await self._explain(part, found) if explain else found, scoring_ms)

    async def _release_memory(self) -> None:
        """After the ack: the decisions need not wait for it."""
        await asyncio.get_running_loop().run_in_executor(self.executor, self.pipeline.release_memory)

    async def _load(self, jobs: list[StreamJob]) -> tuple[list[Work], list[StreamJob], list[Failure]]:
        """Count this attempt and fetch each comment; sort out what needs no scoring, and what was
        delivered too often already (a worker crashed on it: dead-lettered without scoring)."""
        pipe = self.redis.pipeline(transaction=False)
        for job in jobs:
            pipe.hincrby(self.keys.attempts, job.comment_id, 1)
            pipe.hgetall(self.keys.comment(job.comment_id))
        rows = await pipe.execute()
        work: list[Work] = []
        done: list[StreamJob] = []
        failed: list[Failure] = []
        for i, job in enumerate(jobs):
            attempt, data = int(rows[2 * i]), rows[2 * i + 1]
            if not data or data.get("status") != "pending":
                if not data:
                    log.warning("comment_missing", comment_id=job.comment_id, message_id=job.message_id)
                await self.redis.hdel(self.keys.attempts, job.comment_id)
                done.append(job)  # already decided (redelivery) or gone: nothing to do
            elif attempt > self.settings.max_deliveries:
                failed.append(_failure(job, attempt, "delivery limit reached"))
            else:
                work.append(Work(job, CommentRecord.from_hash(job.comment_id, data), attempt))
        return work, done, failed

    async def _history(self, texts: list[CommentText]) -> list[list[Signal]]:
        """Record the batch in the spam history and read its signals back (one pipeline)."""
        if not texts:
            return []
        config = HistoryConfig.from_settings(self.settings)
        return await history_signals_many(self.redis, self.keys, texts, config, time.time())

    async def _score(
        self, work: list[Work], texts: list[CommentText], history: list[list[Signal]]
    ) -> tuple[list[tuple[Work, Scores]], list[tuple[Work, str]]]:
        if not work:
            return [], []
        loop = asyncio.get_running_loop()
        try:
            scores = await loop.run_in_executor(self.executor, self.pipeline.score_batch, texts, history)
            return list(zip(work, scores, strict=True)), []
        except Exception as exc:
            log.warning("batch_scoring_failed", size=len(work), error=type(exc).__name__)
        return await self._score_one_by_one(work, texts, history)

    async def _score_one_by_one(
        self, work: list[Work], texts: list[CommentText], history: list[list[Signal]]
    ) -> tuple[list[tuple[Work, Scores]], list[tuple[Work, str]]]:
        """Isolate a poison message: score the batch item by item."""
        loop = asyncio.get_running_loop()
        ok: list[tuple[Work, Scores]] = []
        failed: list[tuple[Work, str]] = []
        for item, text, hist in zip(work, texts, history, strict=True):
            try:
                result = await loop.run_in_executor(self.executor, self.pipeline.score_batch, [text], [hist])
                ok.append((item, result[0]))
            except Exception as exc:
                failed.append((item, f"{type(exc).__name__}: {str(exc)[:200]}"))
        return ok, failed

    async def _explain(self, scored: list[tuple[Work, Scores]], verdicts: list[Verdict]) -> list[Verdict]:
        """Every verdict with a toxicity reason (held, or rejected by a rule or a ban): add the character
        spans that drove the score (a few small model batches, starting from the decision's score)."""
        chosen = [i for i, v in enumerate(verdicts) if any(r.code == "toxicity" for r in v.reasons)]
        if not chosen:
            return verdicts
        bodies = [scored[i][0].record.fields.body for i in chosen]
        languages = [scored[i][1].language for i in chosen]
        known = [scored[i][1].toxicity for i in chosen]
        bases = [b for b in known if b is not None]
        loop = asyncio.get_running_loop()
        try:
            explain = functools.partial(
                self.pipeline.explain, bodies, bases if len(bases) == len(known) else None, languages
            )
            spans = await loop.run_in_executor(self.executor, explain)
        except Exception as exc:  # an explanation is a nicety: never let it block a decision
            log.warning("explain_failed", error=type(exc).__name__, count=len(chosen))
            self.metrics.explain_failures.inc()
            return verdicts
        out = list(verdicts)
        for i, found in zip(chosen, spans, strict=True):
            reasons = tuple(
                replace(r, spans=tuple((s, e) for s, e in found)) if r.code == "toxicity" else r
                for r in out[i].reasons
            )
            out[i] = Verdict(out[i].verdict, reasons)
        return out

    async def _policy_context(self, items: list[Work]) -> list[PolicyContext]:
        """Site rules (read fresh each batch: changes apply at once) and author standing per comment."""
        if not items:
            return []
        sites = sorted({w.record.site for w in items})
        raw_rules = dict(zip(sites, await self.redis.mget([self.keys.rules(s) for s in sites]), strict=True))
        key = self.settings.hash_secret
        authors = [(w.record.site, author_hash(w.record.fields.email, key)) for w in items]
        standings = await reputation.standings(self.redis, self.keys, authors)
        out: list[PolicyContext] = []
        for item, standing in zip(items, standings, strict=True):
            compiled = self.rules.get(raw_rules[item.record.site])
            body = item.record.fields.body
            hits = compiled.check(body, item.record.fields.thread or "", len(find_links(body)))
            author = author_policy(standing, item.record.fields.ip, self.settings, compiled.rules)
            out.append((dict(compiled.rules.thresholds), hits, author))
        return out

    async def _store(
        self, scored: list[tuple[Work, Scores]], verdicts: list[Verdict], scoring_ms: float
    ) -> None:
        """Store the batch's decisions in one pipeline (each a no-op if that comment was decided
        meanwhile), then author counts and spam domains for the ones written, and the canonical lines."""
        decisions = [_decision(item, scores, v) for (item, scores), v in zip(scored, verdicts, strict=True)]
        results = await self.store.decide_many(
            [
                (item.record.id, item.record.created_at, d)
                for (item, _), d in zip(scored, decisions, strict=True)
            ]
        )
        written = [(item, v) for (item, _), v, r in zip(scored, verdicts, results, strict=True) if r == "ok"]
        # Automatic publishes earn no trust: only moderators' approvals do (service/core/reputation.py).
        spam = [item.record for item, v in written if any(r.code == "spam" for r in v.reasons)]
        await remember_spam_domains(self.redis, self.keys, [to_comment_text(r) for r in spam])
        for _, verdict in written:
            self.metrics.decisions.labels(verdict.verdict, self.metrics.model).inc()
            for reason in verdict.reasons:
                self.metrics.reasons.labels(reason.code).inc()
                if reason.code == LANGUAGE_UNSUPPORTED:
                    self.metrics.language_unsupported.labels(reason.signals[0]).inc()
        for (item, scores), verdict, result in zip(scored, verdicts, results, strict=True):
            _log_scored(item, scores, verdict, result, scoring_ms)


class Worker:
    """The scoring worker assembled from settings: the intake stream's consumer with the scoring
    handler, the dead-letter callback, the heartbeat and housekeeping (trim) plugged in."""

    def __init__(
        self, settings: Settings, redis: Redis, pipeline: ScoringPipeline, executor: Executor, name: str
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys = Keys(settings.stream_prefix)
        self.store = store = DecisionStore(redis, keys, settings.retention_s)
        self.pipeline = pipeline
        self.name = name
        self.metrics = metrics = WorkerMetrics(model=pipeline.models.get("toxicity", ""))
        self.handler = ScoringHandler(settings, redis, keys, store, pipeline, executor, metrics)
        spec = StreamSpec(
            keys.stream, keys.group, settings.batch_size, settings.block_ms, settings.claim_idle_ms,
            settings.max_deliveries,
        )  # fmt: skip
        self.consumer = StreamConsumer(
            redis, spec, name, self.handler,
            dead_letter=DeadLetters(redis, keys, store, metrics.dead, pipeline.models),
            housekeeping=self.housekeeping,
            heartbeat=Heartbeat(redis, keys.workers, name, settings.heartbeat_ttl_s, metrics.heartbeat),
        )  # fmt: skip
        self.handler.more = self.consumer.read_more  # kept claimed with the batch in hand

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand always finishes first."""
        await self.consumer.ensure_group()
        log.info("worker_started", worker=self.name, models=self.pipeline.models)
        try:
            await self.consumer.run(stop)
        finally:
            log.info("worker_stopped", worker=self.name)

    async def drain(self) -> int:
        """Score everything queued now (retries included) and return how many entries were handled."""
        return await self.consumer.drain()

    async def ensure_group(self) -> None:
        await self.consumer.ensure_group()

    async def _read_new(self) -> list[Entry]:
        return await self.consumer.read_new(self.settings.block_ms)

    async def handle(self, messages: list[Entry]) -> None:
        """Process one batch handed in by the caller, then acknowledge it through ``_ack``."""
        await self.consumer.process(messages, ack=self._ack)

    async def _ack(self, message_ids: list[str]) -> None:
        await self.consumer.ack(message_ids)

    async def housekeeping(self) -> None:
        await trim_acknowledged(self.redis, self.keys.stream)
        await self.store.trim_indexes()
