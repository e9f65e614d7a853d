"""``commentmod eval``: measure the toxicity and spam scorers on the labelled data sets.

    commentmod eval --data ../shared/data [--limit N] [--obfuscated DIR] [--json OUT] [--sets a,b]
                    [--languages de,pt,ko,en | --no-languages | --only-languages]

Per data set: rows, positive rate, ROC-AUC, PR-AUC, precision and recall at the configured thresholds
(``Settings.thresholds``), precision at a realistic prevalence where one applies, texts per second.
alt-profanity-check is scored on the same rows wherever that is fair (not on Davidson or the Jigsaw slice:
its training data). Spam sets are measured out of fold (see :mod:`workers.evaluation.spam_eval`). Rows per
language (German, Portuguese, Korean, more English) and their summary: :mod:`workers.evaluation.languages`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from service.core.settings import Settings
from workers.evaluation import languages as per_language
from workers.evaluation.datasets import EvalSet, toxicity_sets
from workers.evaluation.report import Table, format_table, score_row
from workers.scoring.config import PipelineConfig, ToxicityConfig

NEWS_PREVALENCE = 0.076  # UCC's unhealthy share, close to real news-site prevalence
ScoreFn = Callable[[Sequence[str]], list[float]]


class CachedScorer:
    """Scores each distinct text once per run (UCC's two label variants share their texts)."""

    def __init__(self, name: str, fn: ScoreFn, batch_size: int = 64) -> None:
        self.name, self.fn, self.batch_size = name, fn, batch_size
        self.cache: dict[str, float] = {}
        self.speed: dict[int, float] = {}

    def __call__(self, texts: list[str]) -> tuple[list[float], float]:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        started = time.perf_counter()
        for i in range(0, len(todo), self.batch_size):
            batch = todo[i : i + self.batch_size]
            self.cache.update(zip(batch, self.fn(batch), strict=True))
        key = hash(tuple(texts))
        if todo:
            self.speed[key] = len(todo) / max(time.perf_counter() - started, 1e-9)
        return [self.cache[t] for t in texts], self.speed.get(key, float("nan"))


def toxicity_fn(config: ToxicityConfig) -> ScoreFn:
    from workers.scoring.toxicity import ToxicityScorer

    scorer = ToxicityScorer.from_config(config)
    return lambda texts: [s["toxicity"] for s in scorer.score(list(texts))]


def profanity_fn() -> ScoreFn:
    from profanity_check import predict_prob

    return lambda texts: [float(p) for p in predict_prob(list(texts))]


def toxicity_table(
    s: EvalSet, scorers: Sequence[CachedScorer], threshold: float | dict[str, float], prefix: str = ""
) -> Table:
    """One set's table; ``threshold`` per scorer name where it is a dict (else one for all)."""
    pos_rate = sum(s.labels) / max(len(s.labels), 1)
    prevalence = None if s.positives_only else NEWS_PREVALENCE
    t = Table(prefix + s.name, s.description, len(s.texts), pos_rate, prevalence)
    for scorer in scorers:
        if scorer.name == "alt-profanity-check":
            if not s.profanity_fair:
                continue
            thr = 0.5  # the package's own predict() cut
        else:
            thr = threshold if isinstance(threshold, float) else threshold[scorer.name]
        scores, speed = scorer(s.texts)
        row = score_row(scorer.name, s.labels, scores, thr, prevalence, s.positives_only)
        row.texts_per_s = speed
        if s.positives_only:
            row.note = "positives only: recall at threshold"
        t.rows.append(row)
    return t


def _scorers(settings: Settings, args: argparse.Namespace) -> list[CachedScorer]:
    """The primary toxicity model, the multilingual one (when configured) and alt-profanity-check."""
    out = []
    configs = [] if args.no_toxicity else [ToxicityConfig.from_settings(settings)]
    multilingual = PipelineConfig.from_settings(settings).multilingual
    if configs and multilingual is not None:
        configs.append(multilingual)
    for config in configs:
        try:
            out.append(CachedScorer(f"toxicity:{config.source.name}", toxicity_fn(config), args.batch_size))
        except Exception as exc:  # a missing model must not hide the other figures
            print(f"toxicity scorer unavailable ({type(exc).__name__}: {exc}); skipping it", file=sys.stderr)
    if not args.no_profanity:
        out.append(CachedScorer("alt-profanity-check", profanity_fn(), 1024))
    return out


def evaluate(settings: Settings, args: argparse.Namespace) -> list[Table]:
    """Every table, printed as soon as it is ready."""
    tables: list[Table] = []

    def emit(t: Table) -> None:
        tables.append(t)
        print(format_table(t) + "\n", flush=True)

    data, limit = Path(args.data), args.limit
    scorers = _scorers(settings, args) if not args.no_toxicity or not args.no_profanity else []
    tox_threshold = float(settings.thresholds.get("toxicity", 0.5))
    wanted = set(args.sets.split(",")) if args.sets else None
    if scorers and not args.only_languages:
        for s in toxicity_sets(data, limit):
            if wanted is None or s.name in wanted:
                emit(toxicity_table(s, scorers, tox_threshold))
        if args.obfuscated:
            for s in toxicity_sets(Path(args.obfuscated), limit, only_present=True):
                if wanted is None or s.name in wanted:
                    emit(toxicity_table(s, scorers, tox_threshold, prefix="obfuscated:"))
    if scorers and not args.no_languages:
        shipped = _shipped_thresholds(settings)

        def table(language: str, s: EvalSet) -> Table:
            language_threshold = settings.language_thresholds.get(
                language, shipped.get(language, tox_threshold)
            )
            return toxicity_table(s, scorers, _thresholds(settings, scorers, language_threshold), "")

        _languages(data, args, table, emit, tables)
    if not args.no_spam and not args.only_languages:
        from workers.evaluation.spam_eval import spam_tables

        for t in spam_tables(data, float(settings.thresholds.get("spam", 0.8)), limit):
            emit(t)
    return tables


def _shipped_thresholds(settings: Settings) -> dict[str, float]:
    """The per-language thresholds the multilingual model ships (none when it is switched off)."""
    from workers.scoring.language import model_thresholds

    config = PipelineConfig.from_settings(settings).multilingual
    return model_thresholds(config.source) if config is not None else {}


def _thresholds(settings: Settings, scorers: Sequence[CachedScorer], language: float) -> dict[str, float]:
    """Per scorer: the multilingual model is measured at its language's threshold, the others at the
    service's toxicity threshold (alt-profanity-check keeps its own 0.5 in ``toxicity_table``)."""
    multilingual = f"toxicity:{settings.multilingual_model}"
    general = float(settings.thresholds.get("toxicity", 0.5))
    return {s.name: language if s.name == multilingual else general for s in scorers}


def _languages(
    data: Path,
    args: argparse.Namespace,
    table: Callable[[str, EvalSet], Table],
    emit: Callable[[Table], None],
    done: list[Table],
) -> None:
    """The per-language tables, then one summary with the English reference rows already measured."""
    wanted = args.languages.split(",") if args.languages else None
    rows = per_language.language_tables(data, args.limit, wanted, table, emit)
    reference = [("en", t) for t in done if t.name in per_language.ENGLISH_REFERENCE]
    if rows:
        print("== per language\n" + per_language.summary(reference + rows) + "\n", flush=True)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    tables = evaluate(settings, args)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(t) for t in tables], indent=2, default=str) + "\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``eval`` to the top-level subparsers."""
    p = subparsers.add_parser("eval", help="measure the scorers on the labelled data sets")
    p.add_argument("--data", required=True, help="folder with the labelled data sets (../shared/data)")
    p.add_argument("--limit", type=int, default=None, help="at most N rows per set (stratified sample)")
    p.add_argument("--obfuscated", default=None, help="folder from scripts/obfuscate_dev_sets.py")
    p.add_argument("--json", default=None, help="also write every figure to this JSON file")
    p.add_argument(
        "--sets", default=None, help="only these toxicity sets, comma-separated (e.g. ucc_unhealthy)"
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-toxicity", action="store_true", help="skip the toxicity model")
    p.add_argument("--no-profanity", action="store_true", help="skip alt-profanity-check")
    p.add_argument("--no-spam", action="store_true", help="skip the spam sets")
    p.add_argument("--languages", default=None, help="per-language rows for these only (e.g. de,pt,ko)")
    p.add_argument("--no-languages", action="store_true", help="skip the per-language rows")
    p.add_argument("--only-languages", action="store_true", help="only the per-language rows")
    p.set_defaults(func=run)
