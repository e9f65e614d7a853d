"""Moderator decisions as labels: ``commentmod export-labels`` and ``commentmod calibrate``.

Both read the same Redis as the service: ``COMMENTMOD_REDIS_URL``, or the embedded one of a data dir
(reused if ``commentmod up`` is running there, else started for the duration of the command).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.models import CommentRecord
from service.core.settings import Settings
from service.core.store import DecisionStore

PAGE = 500


@contextmanager
def _redis_url(settings: Settings) -> Iterator[str]:
    from service.core.redis_server import EmbeddedRedis, running_redis_url

    url = running_redis_url(settings)
    if url is not None:
        yield url
        return
    if not (settings.data_dir / "redis").exists():
        raise SystemExit("commentmod: no Redis: set COMMENTMOD_REDIS_URL or pass --data-dir of an install")
    embedded = EmbeddedRedis(settings.data_dir, settings.redis_fsync)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


@asynccontextmanager
async def _store(url: str, settings: Settings) -> AsyncIterator[tuple[Redis, DecisionStore, Keys]]:
    redis = Redis.from_url(url, decode_responses=True)
    keys = Keys(settings.stream_prefix)
    try:
        yield redis, DecisionStore(redis, keys), keys
    finally:
        await redis.aclose()


async def _records(redis: Redis, store: DecisionStore, key: str) -> AsyncIterator[CommentRecord]:
    start = 0
    while True:
        ids = await redis.zrange(key, start, start + PAGE - 1)
        if not ids:
            return
        found = await store.get_many(list(ids))
        for cid in ids:
            if cid in found:
                yield found[cid]
        start += PAGE


def label_of(record: CommentRecord) -> dict[str, Any] | None:
    """A moderator decision as a training label; None for automatic-only decisions."""
    if not record.decided_by or not record.decided_by.startswith("moderator:"):
        return None
    decision = record.decision
    return {
        "comment_id": record.id,
        "site": record.site,
        "text": record.fields.body,
        "scores": decision.scores if decision else {},
        "verdict": decision.verdict if decision else None,
        "reasons": [r["code"] for r in decision.reasons] if decision else [],
        "moderator_decision": "approve" if record.status == "published" else "reject",
        "moderator": record.decided_by.split(":", 1)[1],
        "decided_at": record.decided_at,
    }


async def _export(settings: Settings, url: str, out: IO[str]) -> int:
    count = 0
    async with _store(url, settings) as (redis, store, keys):
        for status in ("published", "rejected"):
            async for record in _records(redis, store, keys.by_status(status)):
                label = label_of(record)
                if label is not None:
                    out.write(json.dumps(label, ensure_ascii=False) + "\n")
                    count += 1
    return count


async def _all_scores(settings: Settings, url: str) -> tuple[list[dict[str, Any]], list[dict[str, float]]]:
    """Moderator labels, and the scores of every decided comment (for hold-rate quantiles)."""
    labels: list[dict[str, Any]] = []
    scores: list[dict[str, float]] = []
    async with _store(url, settings) as (redis, store, keys):
        for key in (keys.by_status("published"), keys.by_status("rejected"), keys.held):
            async for record in _records(redis, store, key):
                if record.decision and record.decision.scores:
                    scores.append(record.decision.scores)
                label = label_of(record)
                if label is not None:
                    labels.append(label)
    return labels, scores


def precision_recall(labels: list[dict[str, Any]], score: str, threshold: float) -> tuple[float, float, int]:
    """Moderator rejects are positives: how well does ``score >= threshold`` find them?"""
    tp = fp = fn = 0
    for label in labels:
        flagged = label["scores"].get(score, 0.0) >= threshold
        positive = label["moderator_decision"] == "reject"
        tp += flagged and positive
        fp += flagged and not positive
        fn += positive and not flagged
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return precision, recall, tp + fn


def threshold_for_rate(values: list[float], rate: float) -> float | None:
    """The smallest threshold that holds at most ``rate`` of these scores."""
    if not values:
        return None
    ordered = sorted(values, reverse=True)
    allowed = int(rate * len(ordered))
    if allowed >= len(ordered):
        return round(ordered[-1], 4)
    return round(min(1.0, ordered[allowed] + 1e-4), 4)


MIN_LABELS = 50  # fewer moderator decisions than this: no suggested threshold, a warning instead


def calibration_report(
    labels: list[dict[str, Any]],
    scores: list[dict[str, float]],
    thresholds: dict[str, float],
    rate: float,
    min_labels: int = MIN_LABELS,
) -> list[dict[str, Any]]:
    """Per score: precision and recall of its threshold against moderator decisions, and a suggested
    threshold, withheld (``None``, with a ``warning``) while there are fewer than ``min_labels``."""
    rows = []
    enough = len(labels) >= min_labels
    warning = None if enough else f"only {len(labels)} moderator decisions, {min_labels} needed to suggest"
    for name, threshold in sorted(thresholds.items()):
        values = [s[name] for s in scores if name in s]
        precision, recall, positives = precision_recall(labels, name, threshold)
        held_now = sum(v >= threshold for v in values) / len(values) if values else float("nan")
        rows.append({
            "score": name, "threshold": threshold, "labels": len(labels), "rejects": positives,
            "precision": precision, "recall": recall, "hold_rate_now": held_now,
            "suggested_threshold": threshold_for_rate(values, rate) if enough else None,
            "target_hold_rate": rate, "warning": warning,
        })  # fmt: skip
    return rows


_NOTE = (
    "precision/recall: moderator rejects as positives among moderated comments (held ones only,\n"
    "so recall is optimistic); suggested: the threshold that holds the target share of all decided.\n"
)


def _print_report(rows: list[dict[str, Any]], out: IO[str]) -> None:
    header = ("score", "threshold", "labels", "precision", "recall", "held now", "suggested")
    out.write("{:<12}{:>10}{:>8}{:>11}{:>8}{:>10}{:>11}\n".format(*header))
    for r in rows:
        suggested = r["suggested_threshold"] if r["suggested_threshold"] is not None else float("nan")
        values = (r["score"], r["threshold"], r["labels"], r["precision"], r["recall"], r["hold_rate_now"])
        out.write("{:<12}{:>10.3f}{:>8}{:>11.3f}{:>8.3f}{:>10.3f}".format(*values) + f"{suggested:>11.4f}\n")
    out.write(_NOTE)


def _cmd_export(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        with _redis_url(settings) as url:
            count = asyncio.run(_export(settings, url, out))
    finally:
        if args.out:
            out.close()
    print(f"exported {count} moderator decisions", file=sys.stderr)
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    with _redis_url(settings) as url:
        labels, scores = asyncio.run(_all_scores(settings, url))
    rows = calibration_report(labels, scores, settings.thresholds, args.target_hold_rate, args.min_labels)
    if rows and rows[0]["warning"]:
        print(f"warning: {rows[0]['warning']}: no threshold suggested", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    else:
        _print_report(rows, sys.stdout)
    return 0


def register(sub: Any) -> None:
    export = sub.add_parser("export-labels", help="moderator decisions as JSON lines for retraining")
    export.add_argument("--data-dir", type=Path)
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    export.set_defaults(func=_cmd_export)
    calibrate = sub.add_parser("calibrate", help="precision/recall of thresholds vs moderator decisions")
    calibrate.add_argument("--data-dir", type=Path)
    calibrate.add_argument("--target-hold-rate", type=float, default=0.05)
    calibrate.add_argument("--json", action="store_true")
    calibrate.add_argument(
        "--min-labels", type=int, default=MIN_LABELS, help="moderator decisions needed to suggest a threshold"
    )
    calibrate.set_defaults(func=_cmd_calibrate)
